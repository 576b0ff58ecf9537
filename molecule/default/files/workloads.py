#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workloads behind a lab node (stdlib only): workloads.py ACTION 'JSON'. Run ON the node, as root.

setup     {"pod": {"table": 119, "block4", "block6", "addr4", "addr6"} | null,
           "vm": {"gw4", "addr4", "gw6", "addr6"} | null, "docker_user": bool}
          A pod the way Coil wires one: its block routed to lo in the export table with protocol 30 (coild's
          route exporter), a veth whose host side holds the host addresses and whose container side, in the
          network namespace `pod`, holds the pod's /32 and /128 with default routes to the host; the per-pod
          host routes (protocol 30) in the main table. A VM: namespace `vm` on a veth enslaved to the bridge
          `vmbr0`, which holds the gateway addresses of the subnets the node announces. docker_user: the
          node runs Docker, whose FORWARD drop policy would stop the node's own pod <-> VM forwarding (the
          mesh's tunnels are opened by the product): DOCKER-USER gets an accept for pod and bridge ports.
check     {"workloads": {name: {"node", "ns", "addr4", "addr6"}}, "loopbacks": {node: {"loopback4", "loopback6"}},
           "self": node, "wait": seconds}
          Every local workload pings every other workload and every node's loopback; the node pings every
          workload from its own loopbacks. Both families. Each pair is retried until it answers or `wait`
          runs out. A failure prints the node's route to the target, so a missing route (BGP did not deliver:
          a product fault) reads differently from a route with no answer (a slow guest, or the far end).
main-clean {"table": 119, "pod_hosts": [addresses of the per-pod host routes this test put in main]}
          Reads the export table and the main table (ip -j, both families): nothing of the export table may be
          in main, and no route with Coil's protocol but the pod host routes. Fails when the export table has
          no route of a family (the check would prove nothing).
teardown  {"table": 119, "pod": {...} | null, "vm": {...} | null, "docker_user": bool}: undoes setup.
Prints what it saw; exits 1 on failure.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

COIL_PROTOCOL = 30  # coild's default --protocol-id for the routes it exports and the per-pod host routes
POD_HOST4 = "169.254.1.1"  # the host side of the pod's veth (Coil uses the node's own addresses there)
POD_HOST6 = "fe80::1"
DOCKER_USER_PORTS = ("podhost", "vmbr0")


def run(cmd: list[str], check: bool = False) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        print(f"FAIL {' '.join(cmd)}: {res.stdout}{res.stderr}")
        sys.exit(1)
    return res


def sh(*cmds: list[str]) -> None:
    for cmd in cmds:
        run(cmd, check=True)


# ---------------------------------------------------------------- pure parts (unit-tested)


def main_table_leaks(export: list[dict], main: list[dict], pod_hosts: list[str]) -> list[str]:
    """What of the export table (ip -j route show table T) is in the main table (ip -j route show table main).

    A leak is a main route to a destination the export table has (whatever its protocol: zebra, kernel,
    bgp...), or a main route with Coil's protocol that is not one of the per-pod host routes the test put
    there (Coil's own). Both lists are ip's JSON objects, one family or both.
    """
    exported = {_dst(r) for r in exported_routes(export)}
    allowed = {_dst({"dst": a}) for a in pod_hosts}
    leaks = []
    for r in main:
        dst = _dst(r)
        if dst in exported:
            leaks.append(f"{dst} (protocol {r.get('protocol', '?')}) is in the export table and in main")
        elif str(r.get("protocol")) in (str(COIL_PROTOCOL), "coil") and dst not in allowed:
            leaks.append(f"{dst} has Coil's protocol {COIL_PROTOCOL} in main but is no pod's host route")
    return leaks


def exported_routes(export: list[dict]) -> list[dict]:
    """The routes of the export table that someone put there (Coil): not the kernel's own routes of a VRF
    bound to the table (its link-local and multicast prefixes, protocol kernel), not local/broadcast ones."""
    return [
        r
        for r in export
        if _dst(r)
        and r.get("protocol") != "kernel"
        and r.get("type", "unicast") not in ("local", "broadcast", "multicast", "anycast")
    ]


def _dst(route: dict) -> str | None:
    dst = route.get("dst")
    if not dst or dst == "default":
        return dst
    return str(ipaddress.ip_network(dst, strict=False))


def ping_plan(workloads: dict, loopbacks: dict, me: str) -> list[tuple[str | None, str, str]]:
    """(namespace or None for the node itself, source label, target address) of every ping this node runs.

    Each workload on this node pings every other workload and every node's loopback; the node itself pings
    every workload (sourced from its loopback, see ping()). Both families.
    """
    plan = []
    for name, w in sorted(workloads.items()):
        if w["node"] != me:
            continue
        for other, o in sorted(workloads.items()):
            if other != name:
                plan += [(w["ns"], name, o["addr4"]), (w["ns"], name, o["addr6"])]
        for _node, lo in sorted(loopbacks.items()):
            plan += [(w["ns"], name, lo["loopback4"]), (w["ns"], name, lo["loopback6"])]
    for _name, w in sorted(workloads.items()):
        plan += [(None, me, w["addr4"]), (None, me, w["addr6"])]
    return plan


# ---------------------------------------------------------------- actions


def setup(arg: dict) -> int:
    pod, vm = arg.get("pod"), arg.get("vm")
    if pod:
        table = str(pod["table"])
        proto = str(COIL_PROTOCOL)
        sh(
            ["ip", "route", "replace", pod["block4"], "dev", "lo", "table", table, "proto", proto],
            ["ip", "-6", "route", "replace", pod["block6"], "dev", "lo", "table", table, "proto", proto],
        )
        if run(["ip", "netns", "pids", "pod"]).returncode != 0:
            run(["ip", "netns", "add", "pod"], check=True)
        if run(["ip", "link", "show", "podhost"]).returncode != 0:
            run(["ip", "link", "add", "podhost", "type", "veth", "peer", "name", "eth0", "netns", "pod"], check=True)
        sh(
            ["ip", "addr", "replace", f"{POD_HOST4}/32", "dev", "podhost"],
            ["ip", "addr", "replace", f"{POD_HOST6}/64", "dev", "podhost", "nodad"],
            ["ip", "link", "set", "podhost", "up"],
            ["ip", "-n", "pod", "link", "set", "lo", "up"],
            ["ip", "-n", "pod", "addr", "replace", f"{pod['addr4']}/32", "dev", "eth0"],
            ["ip", "-n", "pod", "addr", "replace", f"{pod['addr6']}/128", "dev", "eth0", "nodad"],
            ["ip", "-n", "pod", "link", "set", "eth0", "up"],
            ["ip", "-n", "pod", "route", "replace", POD_HOST4, "dev", "eth0", "scope", "link"],
            ["ip", "-n", "pod", "route", "replace", "default", "via", POD_HOST4, "dev", "eth0"],
            ["ip", "-n", "pod", "-6", "route", "replace", "default", "via", POD_HOST6, "dev", "eth0"],
            ["ip", "route", "replace", f"{pod['addr4']}/32", "dev", "podhost", "scope", "link", "proto", proto],
            ["ip", "-6", "route", "replace", f"{pod['addr6']}/128", "dev", "podhost", "proto", proto],
        )
    if vm:
        if run(["ip", "netns", "pids", "vm"]).returncode != 0:
            run(["ip", "netns", "add", "vm"], check=True)
        if run(["ip", "link", "show", "vmbr0"]).returncode != 0:
            run(["ip", "link", "add", "vmbr0", "type", "bridge"], check=True)
        if run(["ip", "link", "show", "vmhost"]).returncode != 0:
            run(["ip", "link", "add", "vmhost", "type", "veth", "peer", "name", "eth0", "netns", "vm"], check=True)
        sh(
            ["ip", "link", "set", "vmhost", "master", "vmbr0", "up"],
            ["ip", "addr", "replace", vm["gw4"], "dev", "vmbr0"],
            ["ip", "addr", "replace", vm["gw6"], "dev", "vmbr0", "nodad"],
            ["ip", "link", "set", "vmbr0", "up"],
            ["ip", "-n", "vm", "link", "set", "lo", "up"],
            ["ip", "-n", "vm", "addr", "replace", vm["addr4"], "dev", "eth0"],
            ["ip", "-n", "vm", "addr", "replace", vm["addr6"], "dev", "eth0", "nodad"],
            ["ip", "-n", "vm", "link", "set", "eth0", "up"],
            ["ip", "-n", "vm", "route", "replace", "default", "via", vm["gw4"].split("/")[0]],
            ["ip", "-n", "vm", "-6", "route", "replace", "default", "via", vm["gw6"].split("/")[0]],
        )
    if arg.get("docker_user"):
        _docker_user("-I")
    for cmd in (
        ["ip", "route", "show", "table", "all", "proto", str(COIL_PROTOCOL)],
        ["ip", "-6", "route", "show", "table", "all", "proto", str(COIL_PROTOCOL)],
    ):
        print(" ".join(cmd) + ":\n" + run(cmd).stdout.strip())
    return 0


def _docker_user(op: str) -> None:
    for tool in ("iptables", "ip6tables"):
        if run([tool, "-n", "-L", "DOCKER-USER"]).returncode != 0:
            continue
        for port in DOCKER_USER_PORTS:
            for direction in ("-i", "-o"):
                rule = ["DOCKER-USER", direction, port, "-j", "ACCEPT"]
                present = run([tool, "-C", *rule]).returncode == 0
                if op == "-I" and not present:
                    run([tool, "-I", *rule], check=True)
                elif op == "-D":
                    while run([tool, "-D", *rule]).returncode == 0:
                        pass


def _ping(ns: str | None, target: str, source: str | None) -> bool:
    cmd = ["ping", "-n", "-q", "-c", "1", "-W", "2"]
    if source:
        cmd += ["-I", source]
    if ns:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    return run([*cmd, target]).returncode == 0


def check(arg: dict) -> int:
    me, loopbacks = arg["self"], arg["loopbacks"]
    plan = ping_plan(arg["workloads"], loopbacks, me)
    deadline = time.monotonic() + float(arg.get("wait", 90))

    def one(item):
        ns, _label, target = item
        source = None if ns else loopbacks[me]["loopback6" if ":" in target else "loopback4"]
        tries = 0
        while True:
            tries += 1
            if _ping(ns, target, source):
                return item, True, tries, ""
            if time.monotonic() > deadline:
                route = run(["ip", "route", "get", target]).stdout.strip() or "no route"
                return item, False, tries, route
            time.sleep(2)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, plan))
    failed = 0
    for (ns, label, target), ok, tries, route in results:
        where = f"{label} ({'namespace ' + ns if ns else 'node, from its loopback'})"
        if ok:
            print(f"PASS {where} -> {target}" + (f" (answered at try {tries})" if tries > 1 else ""))
        else:
            failed += 1
            hint = (
                "no route on this node: BGP did not deliver it (product fault)"
                if route == "no route" or "unreachable" in route
                else "a route exists but nothing answered (far end, its return route, or a frozen guest)"
            )
            print(f"FAIL {where} -> {target} after {tries} tries: {hint}; this node's route: {route}")
    print(f"{len(results) - failed}/{len(results)} pings answered")
    return 1 if failed else 0


def main_clean(arg: dict) -> int:
    table = str(arg["table"])
    ok = True
    leaks = []
    for family in ("-4", "-6"):
        export = json.loads(run(["ip", "-j", family, "route", "show", "table", table], check=True).stdout or "[]")
        main = json.loads(run(["ip", "-j", family, "route", "show", "table", "main"], check=True).stdout or "[]")
        exported = exported_routes(export)
        print(f"table {table} ({family}): {[(r.get('dst'), r.get('protocol')) for r in export]}")
        prefixes = {_dst(r) for r in exported}
        seen = [
            (r.get("dst"), r.get("protocol"))
            for r in main
            if _dst(r) in prefixes or str(r.get("protocol")) in (str(COIL_PROTOCOL), "coil")
        ]
        print(f"main ({family}), routes to the export table's prefixes or with protocol {COIL_PROTOCOL}: {seen}")
        if not exported:
            print(f"FAIL table {table} has no {family} route of Coil's: nothing to prove (did setup run?)")
            ok = False
        leaks += main_table_leaks(export, main, arg.get("pod_hosts", []))
    for leak in leaks:
        print(f"FAIL {leak}")
    if not leaks and ok:
        print(f"PASS nothing of table {table} is in the main table (both families)")
    return 0 if ok and not leaks else 1


def teardown(arg: dict) -> int:
    pod, vm = arg.get("pod"), arg.get("vm")
    for ns in ("pod", "vm"):
        run(["ip", "netns", "delete", ns])  # deletes eth0 and, with it, its peer on the host
    run(["ip", "link", "delete", "vmbr0"])
    if pod:
        table = str(pod["table"])
        run(["ip", "route", "delete", pod["block4"], "table", table])
        run(["ip", "-6", "route", "delete", pod["block6"], "table", table])
    if arg.get("docker_user"):
        _docker_user("-D")
    print(f"removed: pod {'yes' if pod else 'none'}, vm {'yes' if vm else 'none'}")
    return 0


ACTIONS = {"setup": setup, "check": check, "main-clean": main_clean, "teardown": teardown}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ACTIONS:
        print(f"usage: {sys.argv[0]} {'|'.join(ACTIONS)} JSON")
        sys.exit(2)
    sys.exit(ACTIONS[sys.argv[1]](json.loads(sys.argv[2])))
