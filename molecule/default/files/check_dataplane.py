#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data-plane proof run ON a lab node (stdlib only).

Argument: JSON {"self": host, "hosts": [mesh hosts], "wg_interface": name, "mtu": gre_mtu,
                "identities": {host: identity from the meshover.mesh.mesh_identities filter}}
Checks, for every expected peer: ping over WireGuard to its transport6, ping over its GRE tunnel to its
link-local, a recent WireGuard handshake, a DF packet of exactly the tunnel MTU crosses and one byte
more does not; and that the node has no peer or tunnel beyond the expected ones.
Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def ping(addr: str, size: int | None = None, count: int = 3) -> bool:
    cmd = ["ping", "-6", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "2"]
    if size is not None:
        cmd += ["-M", "do", "-s", str(size)]
    return run([*cmd, addr]).returncode == 0


def main() -> int:
    want = json.loads(sys.argv[1])
    ids = want["identities"]
    peers = {
        h: {
            "transport6": ids[h]["transport6"].split("/")[0],
            "link_local": ids[h]["link_local"].split("/")[0],
            "tunnel": ids[h]["gre_name"],
        }
        for h in want["hosts"]
        if h != want["self"]
    }
    wg_if = want["wg_interface"]
    results: list[tuple[bool, str]] = []

    for name, p in sorted(peers.items()):
        # A few tries: a handshake may be needed first, BFD/ND settle.
        ok = any(ping(p["transport6"]) for _ in range(5))
        results.append((ok, f"wireguard ping {name} {p['transport6']}"))
        ll = f"{p['link_local']}%{p['tunnel']}"
        ok = any(ping(ll) for _ in range(5))
        results.append((ok, f"gre ping {name} {ll}"))
        # ICMPv6 payload = MTU - 40 (IPv6) - 8 (ICMPv6)
        payload = want["mtu"] - 48
        results.append((ping(ll, payload, 2), f"gre DF {want['mtu']} bytes crosses to {name}"))
        results.append((not ping(ll, payload + 1, 2), f"gre DF {want['mtu'] + 1} bytes does NOT cross to {name}"))

    dump = run(["wg", "show", wg_if, "dump"]).stdout.strip().splitlines()[1:]
    now = time.time()
    handshakes = {}
    for line in dump:
        f = line.split("\t")
        handshakes[f[3].split("/")[0]] = int(f[4])
    expected_t6 = {p["transport6"] for p in peers.values()}
    results.append((set(handshakes) == expected_t6, f"wg peers {sorted(handshakes)} == expected {sorted(expected_t6)}"))
    for t6, ts in sorted(handshakes.items()):
        results.append((ts > 0 and now - ts < 180, f"recent handshake with {t6} ({int(now - ts)} s ago)"))

    links = json.loads(run(["ip", "-j", "link", "show", "type", "ip6gre"]).stdout or "[]")
    have = {link["ifname"] for link in links if link.get("ifalias", "").startswith("meshover:")}
    tunnels = {p["tunnel"] for p in peers.values()}
    results.append((have == tunnels, f"meshover tunnels {sorted(have)} == expected {sorted(tunnels)}"))
    up = {link["ifname"] for link in links if "UP" in link.get("flags", [])}
    results.append((tunnels <= up, f"all tunnels up ({sorted(tunnels - up)} down)"))

    for ok, text in results:
        print(("PASS " if ok else "FAIL ") + text)
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
