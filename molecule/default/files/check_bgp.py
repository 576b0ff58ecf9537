#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Routing proof run ON a lab node (stdlib only).

Argument: JSON {"self": host, "hosts": [mesh hosts], "identities": {host: identity (mesh_identities filter)},
                "wg_interface": name, "pings": [extra addresses to ping from the own IPv4 loopback],
                "wait": seconds the whole set may take to pass (default 90)}
Checks: one Established session per other host in IPv4 and IPv6 unicast (and no other session), BFD up
to every other host, ping of every other host's loopbacks (v6 and v4) sourced from the own loopback,
the extra pings (Coil / PureLB hand-off), and that no WireGuard transport address is in BGP: each
peer's transport6 is still routed over the WireGuard interface. Prints one line per check, exits 1 on failure.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def vtysh_json(vtysh: list[str], command: str) -> dict:
    out = run([*vtysh, "-c", command]).stdout
    try:
        return json.loads(out)
    except ValueError:
        return {}


def ping(addr: str, source: str) -> bool:
    family = "-6" if ":" in addr else "-4"
    return any(
        run(["ping", family, "-n", "-q", "-c", "2", "-i", "0.2", "-W", "2", "-I", source, addr]).returncode == 0
        for _ in range(5)
    )


def sessions(vtysh: list[str]) -> dict[str, dict[str, str]]:
    """af -> {interface: state}"""
    summary = vtysh_json(vtysh, "show bgp summary json")
    return {
        af: {name: peer.get("state", "?") for name, peer in summary.get(af, {}).get("peers", {}).items()}
        for af in ("ipv4Unicast", "ipv6Unicast")
    }


def evaluate(want: dict, vtysh: list[str]) -> list[tuple[bool, str]]:
    """Every check once: [(passed, line)]."""
    ids = want["identities"]
    me = ids[want["self"]]
    others = {h: ids[h] for h in want["hosts"] if h != want["self"]}
    tunnels = {ids[h]["gre_name"] for h in others}
    results: list[tuple[bool, str]] = []
    for af, peers in sessions(vtysh).items():
        established = sorted(t for t, v in peers.items() if v == "Established")
        results.append(
            (
                set(peers) == tunnels and len(established) == len(tunnels),
                f"{af}: {len(established)}/{len(tunnels)} Established {peers}",
            )
        )
    bfd = {p.get("interface"): p.get("status") for p in (vtysh_json(vtysh, "show bfd peers json") or [])}
    results.append((all(bfd.get(t) == "up" for t in tunnels), f"BFD up to {sorted(tunnels)}: {bfd}"))
    if not all(ok for ok, _ in results):
        return results  # no use pinging over sessions that are not up yet

    for name, peer in sorted(others.items()):
        results.append((ping(peer["loopback6"], me["loopback6"]), f"ping {name} loopback6 {peer['loopback6']}"))
        if peer.get("loopback4") and me.get("loopback4"):
            results.append((ping(peer["loopback4"], me["loopback4"]), f"ping {name} loopback4 {peer['loopback4']}"))
        route = run(["ip", "-6", "route", "get", peer["transport6"]]).stdout
        results.append(
            (
                f"dev {want['wg_interface']}" in route and "proto bgp" not in route,
                f"transport6 of {name} routed over {want['wg_interface']}, not BGP: {route.strip()}",
            )
        )
    for addr in want.get("pings", []):
        results.append((ping(addr, me["loopback4"] if ":" not in addr else me["loopback6"]), f"ping hand-off {addr}"))

    # Nothing of the WireGuard transport subnet is in BGP at all.
    transport_net = ipaddress.ip_network(me["transport6"] + "/64", strict=False)
    routes = vtysh_json(vtysh, "show bgp ipv6 unicast json").get("routes", {})
    leaked = [p for p in routes if ipaddress.ip_network(p).overlaps(transport_net)]
    results.append(
        (not leaked, f"no transport prefix in the BGP table ({len(routes)} IPv6 prefixes, leaked: {leaked})")
    )
    return results


def main() -> int:
    want = json.loads(sys.argv[1])
    vtysh = want["vtysh"]  # argv, from the product's playbooks/tasks/frr_vtysh.yml
    # The whole set is asked again until it passes or the wait is over: on a busy host a restarted
    # FRR may have its sessions up a few seconds before its routes are in the kernel. What still
    # fails at the deadline is printed, with how long and how often it was tried.
    start = time.time()
    deadline = start + want.get("wait", 90)
    tries = 0
    while True:
        tries += 1
        results = evaluate(want, vtysh)
        if all(ok for ok, _ in results) or time.time() > deadline:
            break
        time.sleep(2)
    for ok, line in results:
        print(("PASS " if ok else "FAIL ") + line)
    print(f"after {time.time() - start:.1f} s, {tries} tries")
    if not all(ok for ok, _ in results):
        # What the node had at the deadline: tells a missing address or route (the product) from a slow lab.
        for cmd in (
            ["ip", "-br", "addr", "show", "dev", "lo"],
            ["ip", "-4", "route", "show", "proto", "bgp"],
            ["ip", "-6", "route", "show", "proto", "bgp"],
        ):
            print(f"DIAG {' '.join(cmd)}: {run(cmd).stdout.strip()!r}")
        for command in ("show bgp ipv4 unicast", "show interface lo"):
            out = run([*vtysh, "-c", command]).stdout.strip()
            print(f"DIAG vtysh {command}: {out[-1500:]!r}")
        # bgpd's own account of each session that is not up (why it stays Idle: its last reset, the BFD
        # status it holds, which may differ from bfdd's), and bfdd's sessions.
        neighbours = vtysh_json(vtysh, "show bgp neighbors json")
        down = sorted({t for peers in sessions(vtysh).values() for t, v in peers.items() if v != "Established"})
        for tunnel in down:
            n = neighbours.get(tunnel, {})
            keys = ("bgpState", "remoteAs", "lastResetDueTo", "lastResetCode", "connectionsEstablished")
            print(f"DIAG bgpd {tunnel}: { ({k: n.get(k) for k in keys} | {'peerBfdInfo': n.get('peerBfdInfo')})!r}")
        for p in vtysh_json(vtysh, "show bfd peers json") or []:
            keys = ("interface", "peer", "local", "status", "uptime", "downtime", "diagnostic", "remote-diagnostic")
            print(f"DIAG bfdd: { ({k: p.get(k) for k in keys})!r}")
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
