#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Firewall and listen-address proof run ON a lab node (stdlib only; iproute2, nftables).

Usage: check_firewall.py listen            (on the target: its own sockets and table)
       check_firewall.py probe JSON        (on another node or the underlay's router, against the target)
       check_firewall.py detour JSON       (from the underlay, through a mesh node: {"lo6", "via", "exporter_port"})
JSON: {"from": "overlay" or "underlay", "underlay": target's underlay IPv6 address (on-link for the
prober), "lo6": target's overlay loopback, "link_local": target's GRE link-local address, "tunnel": this
node's tunnel to the target, "exporter_port": N}.

- listen: no FRR daemon listens on TCP but bgpd on 179 (no vty port, mgmtd's 2623 included), bgpd's 179
  is IPv6 only, table inet meshover is loaded.
- probe from the underlay (the lab's router, on the target's segment): BGP (179) and the exporter port
  do not answer (dropped, so the connect times out). For the exporter, a /128 route to the target's
  loopback via its underlay address is added for the probe and removed afterwards.
- probe over the overlay (a mesh node): BGP over the GRE tunnel and the exporter on the loopback answer.
- detour: from the underlay (the router), the target's loopback routed through a mesh node's underlay
  address `via` (on-link): ping answers, BGP and the exporter don't (the mesh node's forward chain drops
  what enters a tunnel from outside the overlay).
Prints one PASS/FAIL line per check; exits 1 if any failed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

TIMEOUT = 3.0
results: list[bool] = []


def check(ok: bool, what: str) -> None:
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'}: {what}", flush=True)


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def connect(addr: str, port: int, scope: str | None = None) -> str:
    """'open', 'refused' or 'timeout' (a drop)."""
    target = (addr, port, 0, socket.if_nametoindex(scope)) if scope else (addr, port, 0, 0)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.settimeout(TIMEOUT)
        try:
            s.connect(target)
            return "open"
        except ConnectionRefusedError:
            return "refused"
        except (TimeoutError, socket.timeout):
            return "timeout"
        except OSError as exc:
            return f"error {exc}"


def empty_vrfs() -> list[str]:
    """VRF devices that no interface is enslaved to."""
    try:
        vrfs = json.loads(sh("ip", "-j", "link", "show", "type", "vrf") or "[]")
    except json.JSONDecodeError:
        return []
    empty = []
    for link in vrfs:
        name = link.get("ifname")
        try:
            slaves = json.loads(sh("ip", "-j", "link", "show", "master", name) or "[]") if name else [None]
        except json.JSONDecodeError:
            slaves = [None]
        if not slaves:
            empty.append(name)
    return empty


FRR_DAEMONS = ("zebra", "mgmtd", "bgpd", "staticd", "bfdd", "watchfrr")


def listen() -> None:
    sockets = [line.split(None, 5) for line in sh("ss", "-Hltnp").splitlines()]
    sockets = [(f[3], f[5] if len(f) > 5 else "") for f in sockets if len(f) > 3]
    local = [addr for addr, _users in sockets]
    # By process: any TCP listener of an FRR daemon but bgpd's 179 is a vty port (mgmtd's is 2623). By
    # port too, in case ss could not name the process: FRR's vty ports are 2601-2623.
    frr = [f"{addr} {users}" for addr, users in sockets if any(f'"{d}"' in users for d in FRR_DAEMONS)]
    extra = [a for a in frr if not (a.split()[0].endswith(":179") and '"bgpd"' in a)]
    vty = [a for a in local if a.rsplit(":", 1)[-1].isdigit() and 2601 <= int(a.rsplit(":", 1)[-1]) <= 2623]
    check(
        any('"bgpd"' in a for a in frr) and not extra and not vty,
        f"no FRR daemon listens on TCP but bgpd on 179, no vty port 2601-2623 (found {extra + vty})",
    )
    bgp = [a for a in local if a.endswith(":179")]
    # FRR < 10 with the Coil hand-off has a BGP instance in the VRF meshover-coil, which bgpd also listens
    # in. No interface is enslaved to that VRF, so no packet can arrive there: the listener is unreachable.
    empty = empty_vrfs()
    allowed = {"[::]:179"} | {f"[::]%{vrf}:179" for vrf in empty}
    check(
        "[::]:179" in bgp and set(bgp) <= allowed,
        f"bgpd listens on [::]:179 only, besides VRFs with no interface {empty} (found {bgp})",
    )
    check("chain input" in sh("nft", "list", "table", "inet", "meshover"), "table inet meshover is loaded")


def probe(cfg: dict) -> None:
    port = cfg["exporter_port"]
    if cfg["from"] == "overlay":
        got = connect(cfg["link_local"], 179, cfg["tunnel"])
        check(got == "open", f"BGP over the GRE tunnel ([{cfg['link_local']}%{cfg['tunnel']}]:179) answers: {got}")
        got = connect(cfg["lo6"], port)
        check(got == "open", f"exporter over the overlay ([{cfg['lo6']}]:{port}) answers: {got}")
        return
    got = connect(cfg["underlay"], 179)
    check(got == "timeout", f"BGP from the underlay ([{cfg['underlay']}]:179) is dropped: {got}")
    route = f"{cfg['lo6']}/128"
    dev = sh("ip", "-6", "route", "get", cfg["underlay"]).split(" dev ")[1].split()[0]
    subprocess.run(["ip", "-6", "route", "add", route, "via", cfg["underlay"], "dev", dev, "metric", "1"], check=True)
    try:
        via = sh("ip", "-6", "route", "get", cfg["lo6"])
        got = connect(cfg["lo6"], port)
        check(f"dev {dev}" in via and got == "timeout", f"exporter from the underlay (via {dev}) is dropped: {got}")
    finally:
        subprocess.run(["ip", "-6", "route", "del", route, "via", cfg["underlay"], "dev", dev], check=False)


def ping(addr: str) -> bool:
    return subprocess.run(["ping", "-n", "-c", "2", "-W", "2", addr], capture_output=True, check=False).returncode == 0


def detour(cfg: dict) -> None:
    """From the underlay to the target's loopback, routed through a third node (its underlay address
    `via`): the third node forwards the packets into its tunnel to the target. Ping goes through (the
    detour exists); BGP and the exporter must not (the third node's forward chain drops them)."""
    route = f"{cfg['lo6']}/128"
    dev = sh("ip", "-6", "route", "get", cfg["via"]).split(" dev ")[1].split()[0]
    subprocess.run(["ip", "-6", "route", "add", route, "via", cfg["via"], "dev", dev, "metric", "1"], check=True)
    try:
        via = sh("ip", "-6", "route", "get", cfg["lo6"])
        check(f"via {cfg['via']}" in via, f"the probe's route to {cfg['lo6']} goes through {cfg['via']}: {via.strip()}")
        reached = any(ping(cfg["lo6"]) for _ in range(3))
        check(reached, f"ping through the third node reaches the target's loopback (the detour exists): {reached}")
        for port, what in ((179, "BGP"), (cfg["exporter_port"], "exporter")):
            got = connect(cfg["lo6"], port)
            check(got == "timeout", f"{what} ([{cfg['lo6']}]:{port}) through the third node is dropped: {got}")
    finally:
        subprocess.run(["ip", "-6", "route", "del", route, "via", cfg["via"], "dev", dev], check=False)


def main() -> int:
    if sys.argv[1:2] == ["listen"]:
        listen()
    elif sys.argv[1:2] == ["probe"] and len(sys.argv) == 3:
        probe(json.loads(sys.argv[2]))
    elif sys.argv[1:2] == ["detour"] and len(sys.argv) == 3:
        detour(json.loads(sys.argv[2]))
    else:
        print(__doc__)
        return 2
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
