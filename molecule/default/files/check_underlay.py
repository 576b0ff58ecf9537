#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The underlay as the internet is (issue 15), checked ON a lab node (stdlib only; iproute2, wg, vtysh).

Usage: check_underlay.py slaac JSON      {"iface", "address", "lifetime", "lifetimes", "manager", "valid",
                                          "ra_interval"}
       check_underlay.py endpoint JSON   {"wg", "peer", "key", "prefix"}
       check_underlay.py pair JSON       {"wg", "peer", "key", "tunnel", "direct", "via_dev", "loopbacks"}
       check_underlay.py sessions JSON   {"vtysh": argv, "tunnels": [..], "before": {tunnel: [up_ms, drops]} or null}
       check_underlay.py reach JSON      {"loopbacks": [..], "within": s}

- slaac: the uplink configured by router advertisements still has its SLAAC address and a default route
  learned from an RA, at least `lifetimes` router lifetimes after forwarding went on (the mtime of
  /etc/sysctl.d/90-meshover.conf; waits for the rest), and an RA renewed its address within two RA
  intervals (valid: the RAs' valid lifetime; ra_interval: their longest interval). manager "kernel"
  (the default): its accept_ra is 2, written before forwarding; "NetworkManager": NetworkManager
  manages it (nmcli), accept_ra stays 0 (NetworkManager does the RAs) and meshover wrote nothing for it.
- endpoint: the WireGuard endpoint this node sees for peer starts with prefix (the NAT's address).
- pair: with direct, the tunnel and the WireGuard peer exist and the peer's loopbacks are routed into the
  tunnel; without, neither exists and the loopbacks are routed through via_dev (transit). Pings answer.
- sessions: prints {tunnel: [uptime ms, connections dropped]} as JSON; with before, each session's uptime
  grew by at least the time in between and it dropped nothing (no reset).
- reach: how long until every loopback answers a ping again (after a NAT flush); fails after `within` s.
Prints one PASS/FAIL line per check; exits 1 if any failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

SYSCTL_FILE = "/etc/sysctl.d/90-meshover.conf"
results: list[bool] = []


def check(ok: bool, what: str) -> None:
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'}: {what}", flush=True)


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60).stdout


def ip_json(*argv: str) -> list:
    try:
        return json.loads(sh("ip", "-j", *argv) or "[]")
    except json.JSONDecodeError:
        return []


def ping(addr: str, tries: int = 3) -> bool:
    for _ in range(tries):
        if subprocess.run(["ping", "-n", "-c", "1", "-W", "2", addr], capture_output=True, check=False).returncode == 0:
            return True
    return False


def route_dev(addr: str) -> str:
    out = sh("ip", "route", "get", addr)
    return out.split(" dev ")[1].split()[0] if " dev " in out else f"(no route: {out.strip()})"


def slaac(cfg: dict) -> None:
    iface, need = cfg["iface"], cfg["lifetime"] * cfg["lifetimes"]
    since = time.time() - os.stat(SYSCTL_FILE).st_mtime
    if since < need:
        print(f"forwarding on {since:.0f} s ago: waiting {need - since:.0f} s more", flush=True)
        time.sleep(need - since)
        since = need
    with open(f"/proc/sys/net/ipv6/conf/{iface}/accept_ra", encoding="utf-8") as f:
        accept_ra = f.read().strip()
    with open(SYSCTL_FILE, encoding="utf-8") as f:
        text = f.read()
    key = f"net.ipv6.conf.{iface.replace('.', '/')}.accept_ra"
    if cfg.get("manager", "kernel") == "NetworkManager":
        state = sh("nmcli", "-g", "GENERAL.STATE,IP6.ADDRESS", "device", "show", iface).split("\n")
        check(state[0].startswith("100"), f"NetworkManager manages {iface}, connected: {state}")
        check(accept_ra == "0", f"{iface} accept_ra stays 0 (NetworkManager does its RAs): {accept_ra}")
        check(key not in text, f"{SYSCTL_FILE} says nothing of {iface} (meshover left it to NetworkManager)")
    else:
        check(accept_ra == "2", f"{iface} accept_ra is 2 (found on the node, not set by the user): {accept_ra}")
        key += " = 2"
        before = key in text and text.index(key) < text.index("forwarding = 1")
        check(before, f"{SYSCTL_FILE} sets {key} before forwarding")
    forwarding = open("/proc/sys/net/ipv6/conf/all/forwarding", encoding="utf-8").read().strip()
    addrs = [a for link in ip_json("-6", "addr", "show", "dev", iface) for a in link.get("addr_info", [])]
    mine = [a for a in addrs if a.get("local") == cfg["address"]]
    check(
        forwarding == "1" and bool(mine) and mine[0].get("valid_life_time", 0) < 4294967295,
        f"{since:.0f} s ({since / cfg['lifetime']:.1f} router lifetimes) after forwarding went on, {iface} keeps its "
        f"SLAAC address {cfg['address']} (valid {mine[0].get('valid_life_time') if mine else None} s)",
    )
    # Each RA renews the address's valid lifetime (radvd's AdvValidLifetime, 86400 s), so a value within
    # two RA intervals of it says RAs are still being processed now, whoever processes them.
    valid = mine[0].get("valid_life_time", 0) if mine else 0
    check(
        cfg["valid"] - 2 * cfg["ra_interval"] <= valid <= cfg["valid"],
        f"{iface}'s address was renewed by an RA within the last {cfg['valid'] - valid} s "
        f"(at most {2 * cfg['ra_interval']})",
    )
    routes = ip_json("-6", "route", "show", "default", "proto", "ra")
    ours = [r for r in routes if r.get("dev") == iface]
    if cfg.get("manager", "kernel") == "NetworkManager":
        # NetworkManager installs the route without a kernel expiry and removes it itself when the
        # router lifetime runs out without an RA
        check(bool(ours), f"{iface} has NetworkManager's default route from router advertisements: {ours}")
    else:
        check(
            bool(ours) and 0 < int(ours[0].get("expires", 0)) <= cfg["lifetime"],
            f"{iface} has a default route from router advertisements, renewed (expires in "
            f"{ours[0].get('expires') if ours else None} s of {cfg['lifetime']}): {ours}",
        )


def wg_endpoints(wg: str) -> dict[str, str]:
    out = {}
    for line in sh("wg", "show", wg, "endpoints").splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


def endpoint(cfg: dict) -> None:
    got = wg_endpoints(cfg["wg"]).get(cfg["key"])
    check(
        got is not None and got.startswith(cfg["prefix"]),
        f"WireGuard sees {cfg['peer']} at {got} (expected {cfg['prefix']}...)",
    )


def pair(cfg: dict) -> None:
    peer, tunnel = cfg["peer"], cfg["tunnel"]
    has_tunnel = bool(ip_json("link", "show", "dev", tunnel)) if os.path.exists(f"/sys/class/net/{tunnel}") else False
    has_peer = cfg["key"] in sh("wg", "show", cfg["wg"], "peers").split()
    if cfg["direct"]:
        check(has_tunnel and has_peer, f"{peer}: direct pair, tunnel {tunnel} {has_tunnel}, WireGuard peer {has_peer}")
        dev = tunnel
    else:
        check(
            not has_tunnel and not has_peer,
            f"{peer}: transit pair, no tunnel {tunnel} ({has_tunnel}) and no WireGuard peer ({has_peer})",
        )
        dev = cfg["via_dev"]
    for addr in cfg["loopbacks"]:
        deadline, got = time.monotonic() + 90, ""
        while time.monotonic() < deadline:  # BGP may still be converging after the change
            got = route_dev(addr)
            if got == dev:
                break
            time.sleep(2)
        check(got == dev, f"{peer}'s loopback {addr} is routed via {dev}: {got}")
        check(ping(addr), f"{peer}'s loopback {addr} answers a ping")


def bgp_sessions(vtysh: list[str], tunnels: list[str]) -> dict[str, list[int]]:
    out = subprocess.run([*vtysh, "-c", "show bgp neighbors json"], capture_output=True, text=True, check=False)
    try:
        data = json.loads(out.stdout)
    except json.JSONDecodeError:
        data = {}
    return {
        t: [int(data.get(t, {}).get("bgpTimerUpMsec", 0)), int(data.get(t, {}).get("connectionsDropped", -1))]
        for t in tunnels
    }


def reset_evidence(vtysh: list[str], tunnel: str) -> str:
    """Why FRR says the session last went down, and whether the guest kernel logged a fault: a reset by the
    product (a notification, an interface that went away) reads differently from a lab fault (an oops)."""
    out = subprocess.run(
        [*vtysh, "-c", f"show bgp neighbors {tunnel} json"], capture_output=True, text=True, check=False
    )
    try:
        n = json.loads(out.stdout).get(tunnel, {})
    except json.JSONDecodeError:
        n = {}
    why = {k: n[k] for k in ("lastResetDueTo", "lastErrorCodeSubcode", "lastNotificationReason") if k in n}
    kernel = [
        line for line in sh("dmesg").splitlines() if any(w in line for w in ("Oops", "BUG:", "general protection"))
    ]
    return f"FRR: {why or 'no reason given'}; guest kernel faults: {kernel[:3] or 'none'}"


def sessions(cfg: dict) -> None:
    now = bgp_sessions(cfg["vtysh"], cfg["tunnels"])
    stamp = time.time()
    print(json.dumps({"at": stamp, "sessions": now}))
    before = cfg.get("before")
    if not before:
        check(all(up > 0 for up, _drops in now.values()), f"sessions up: {now}")
        return
    waited_ms = (stamp - before["at"]) * 1000
    for tunnel, (up, drops) in now.items():
        up0, drops0 = before["sessions"][tunnel]
        ok = up >= up0 + waited_ms - 5000 and drops == drops0
        check(
            ok,
            f"BGP on {tunnel} not reset: up {up0 / 1000:.0f} s -> {up / 1000:.0f} s over {waited_ms / 1000:.0f} s, "
            f"connections dropped {drops0} -> {drops}" + ("" if ok else f" ({reset_evidence(cfg['vtysh'], tunnel)})"),
        )


def reach(cfg: dict) -> None:
    t0 = time.monotonic()
    pending = list(cfg["loopbacks"])
    while pending and time.monotonic() - t0 < cfg["within"]:
        pending = [a for a in pending if not ping(a, tries=1)]
    took = time.monotonic() - t0
    check(not pending, f"every loopback answers again {took:.0f} s after the NAT flush (limit {cfg['within']} s)")


def main() -> int:
    modes = {"slaac": slaac, "endpoint": endpoint, "pair": pair, "sessions": sessions, "reach": reach}
    if len(sys.argv) != 3 or sys.argv[1] not in modes:
        print(__doc__)
        return 2
    modes[sys.argv[1]](json.loads(sys.argv[2]))
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
