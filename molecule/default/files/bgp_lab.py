#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Routing scenarios run ON a lab node (stdlib only): bgp_lab.py ACTION 'JSON'.

handoff       {"coil": {"table": 119, "prefix": P, "address": A} | null, "vip": {"interface": I, "address": A} | null}
              puts a Coil-style route into the export table (and an address inside it on lo), or a VIP on
              PureLB's interface.
hijack        {"asn": own ASN, "victim6": prefix, "victim4": prefix | null, "peer_if": tunnel towards the observer}
              originates another node's loopbacks and lifts the node's own outbound filter, so only the
              observer's inbound origin validation can stop them. Proves they are advertised.
hijack-check  {"victim6", "victim4", "victim_asn", "victim_if"}: on the observer, every path to the
              victim's loopbacks originates in the victim's ASN and the kernel routes them to the victim.
restore       {}: frr-reload.py --reload of the rendered /etc/frr/frr.conf (undoes hijack).
kill          {"unit": unit}: SIGKILL watchfrr, then wait until systemd has FRR running again.
Every JSON also carries "vtysh": FRR's vtysh on the node as an argv. Prints what it saw; exits 1 on failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time


def run(cmd: list[str], check: bool = False) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        print(f"FAIL {' '.join(cmd)}: {res.stdout}{res.stderr}")
        sys.exit(1)
    return res


# FRR's vtysh on this node as an argv (`<podman|docker> exec frr vtysh` or `vtysh`): every action's
# JSON carries it as "vtysh", found by the product's playbooks/tasks/frr_vtysh.yml.
VTYSH: list[str] = ["vtysh"]


def vtysh(*commands: str) -> str:
    args = [a for c in commands for a in ("-c", c)]
    return run([*VTYSH, *args]).stdout


def handoff(arg: dict) -> int:
    coil, vip = arg.get("coil"), arg.get("vip")
    if coil:
        run(["ip", "route", "replace", coil["prefix"], "dev", "lo", "table", str(coil["table"])], check=True)
        run(["ip", "addr", "replace", coil["address"], "dev", "lo"], check=True)
        print(run(["ip", "route", "show", "table", str(coil["table"])]).stdout)
    if vip:
        if run(["ip", "link", "show", vip["interface"]]).returncode != 0:
            run(["ip", "link", "add", vip["interface"], "type", "dummy"], check=True)
        run(["ip", "link", "set", vip["interface"], "up"], check=True)
        run(["ip", "addr", "replace", vip["address"], "dev", vip["interface"]], check=True)
        print(run(["ip", "addr", "show", vip["interface"]]).stdout)
    return 0


def hijack(arg: dict) -> int:
    cmds = ["configure terminal", f"ipv6 route {arg['victim6']} blackhole"]
    if arg.get("victim4"):
        cmds.append(f"ip route {arg['victim4']} blackhole")
    cmds += [
        f"router bgp {arg['asn']}",
        "address-family ipv6 unicast",
        f"network {arg['victim6']}",
        "no neighbor MESH route-map MO-OUT-IPV6 out",
        "exit-address-family",
    ]
    if arg.get("victim4"):
        cmds += [
            "address-family ipv4 unicast",
            f"network {arg['victim4']}",
            "no neighbor MESH route-map MO-OUT-IPV4 out",
            "exit-address-family",
        ]
    vtysh(*cmds)
    ok = True
    for af, victim in (("ipv6", arg["victim6"]), ("ipv4", arg.get("victim4"))):
        if not victim:
            continue
        seen = False
        for _ in range(20):
            adv = vtysh(f"show bgp {af} unicast neighbors {arg['peer_if']} advertised-routes json")
            seen = victim in (json.loads(adv or "{}").get("advertisedRoutes") or {})
            if seen:
                break
            time.sleep(1)
        print(("PASS" if seen else "FAIL") + f" hijacker advertises {victim} to {arg['peer_if']}")
        ok = ok and seen
    return 0 if ok else 1


def hijack_check(arg: dict) -> int:
    time.sleep(5)  # give the bogus updates time to arrive (and be filtered)
    ok = True
    for af, victim in (("ipv6", arg["victim6"]), ("ipv4", arg.get("victim4"))):
        if not victim:
            continue
        data = json.loads(vtysh(f"show bgp {af} unicast {victim} json") or "{}")
        paths = [p.get("aspath", {}).get("string", "") for p in data.get("paths", [])]
        good = bool(paths) and all(p.split()[-1] == str(arg["victim_asn"]) for p in paths if p)
        print(("PASS" if good else "FAIL") + f" {victim}: paths {paths} all originate in AS{arg['victim_asn']}")
        route = run(["ip", "-6" if af == "ipv6" else "-4", "route", "get", victim.split("/")[0]]).stdout.strip()
        direct = f"dev {arg['victim_if']}" in route
        print(("PASS" if direct else "FAIL") + f" kernel routes {victim} to the owner: {route}")
        ok = ok and good and direct
    return 0 if ok else 1


def restore(_arg: dict) -> int:
    base = VTYSH[:-1]  # the container's exec prefix, or nothing (package mode)
    res = run([*base, "/usr/lib/frr/frr-reload.py", "--reload", "/etc/frr/frr.conf"])
    print(("PASS" if res.returncode == 0 else "FAIL") + " frr-reload of the rendered configuration")
    return res.returncode


def unit_prop(unit: str, prop: str) -> str:
    return run(["systemctl", "show", "-p", prop, "--value", unit]).stdout.strip()


def kill(arg: dict) -> int:
    unit = arg["unit"]
    before_pid = run(["pgrep", "-x", "watchfrr"]).stdout.split()
    restarts = unit_prop(unit, "NRestarts")
    if not before_pid:
        print(f"FAIL no watchfrr running ({unit} {unit_prop(unit, 'ActiveState')})")
        return 1
    run(["kill", "-9", *before_pid])
    start = time.time()
    while time.time() - start < 120:
        pid = run(["pgrep", "-x", "watchfrr"]).stdout.split()
        if pid and pid != before_pid and unit_prop(unit, "ActiveState") == "active":
            print(
                f"PASS {unit} back after {time.time() - start:.1f} s (watchfrr {before_pid} -> {pid}, "
                f"NRestarts {restarts} -> {unit_prop(unit, 'NRestarts')})"
            )
            return 0
        time.sleep(1)
    print(f"FAIL {unit} not back after 120 s: {unit_prop(unit, 'ActiveState')}")
    return 1


ACTIONS = {"handoff": handoff, "hijack": hijack, "hijack-check": hijack_check, "restore": restore, "kill": kill}

if __name__ == "__main__":
    ARG = json.loads(sys.argv[2])
    VTYSH = ARG["vtysh"]
    sys.exit(ACTIONS[sys.argv[1]](ARG))
