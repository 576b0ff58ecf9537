#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Routing scenarios run ON a lab node (stdlib only): bgp_lab.py ACTION 'JSON'.

handoff       {"coil": {"table": 119, "prefix": P, "address": A} | null,
               "vip": {"interface": I, "addresses": [A, ...]} | null}
              puts a Coil-style route into the export table (and an address inside it on lo), or VIPs (IPv4
              and IPv6) on PureLB's interface.
hijack        {"asn": own ASN, "victim6": prefix, "victim4": prefix | null, "peer_if": tunnel towards the observer}
              originates another node's loopbacks and lifts the node's own outbound filter, so only the
              observer's inbound origin validation can stop them. Proves they are advertised.
hijack-check  {"victim6", "victim4", "victim_asn", "victim_if"}: on the observer, every path to the
              victim's loopbacks originates in the victim's ASN and the kernel routes them to the victim.
              With "hijacker_if" (and "forged_asn"): first waits until the session on that tunnel is
              Established with the peer speaking as forged_asn, then also no route to the victim's
              loopbacks was accepted from that tunnel.
forge         {"asn": own ASN, "forged_asn": another member's ASN, "peer_if", "victim6", "victim4" | null}:
              after hijack, the node speaks to the peer on peer_if with forged_asn instead of its own
              (`local-as ... no-prepend replace-as`): its paths there start (and, for what it originates,
              end) with forged_asn. Proves the session is back and the victim's loopbacks are advertised.
more-specific {"asn": own ASN, "owner_asn": ASN the prefixes are forged to originate in, "prefix4", "prefix6",
              "peer_if"}: originates more-specifics of another node's meshover_announce with the owner's ASN
              prepended (the path is `<own> <owner>`, as transit would be) and lifts the outbound filter.
              Proves they are advertised on peer_if.
more-specific-check {"prefix4", "prefix6"}: on the observer, neither more-specific is in BGP nor in the kernel.
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
        for address in vip["addresses"]:
            nodad = ["nodad"] if ":" in address else []  # PureLB's addresses are usable at once
            run(["ip", "addr", "replace", address, "dev", vip["interface"], *nodad], check=True)
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
    victims = [("ipv6", arg["victim6"])] + ([("ipv4", arg["victim4"])] if arg.get("victim4") else [])
    return 0 if advertised(arg["peer_if"], victims) else 1


def hijack_check(arg: dict) -> int:
    hijacker = arg.get("hijacker_if")
    ok = wait_established(hijacker, arg.get("forged_asn")) if hijacker else True
    time.sleep(5)  # give the bogus updates time to arrive (and be filtered)
    for af, victim in (("ipv6", arg["victim6"]), ("ipv4", arg.get("victim4"))):
        if not victim:
            continue
        if hijacker:
            learned = json.loads(vtysh(f"show bgp {af} unicast neighbors {hijacker} routes json") or "{}")
            taken = victim in (learned.get("routes") or {})
            print(("FAIL" if taken else "PASS") + f" {victim}: nothing accepted from {hijacker}")
            ok = ok and not taken
        data = json.loads(vtysh(f"show bgp {af} unicast {victim} json") or "{}")
        paths = [p.get("aspath", {}).get("string", "") for p in data.get("paths", [])]
        good = bool(paths) and all(p.split()[-1] == str(arg["victim_asn"]) for p in paths if p)
        print(("PASS" if good else "FAIL") + f" {victim}: paths {paths} all originate in AS{arg['victim_asn']}")
        route = run(["ip", "-6" if af == "ipv6" else "-4", "route", "get", victim.split("/")[0]]).stdout.strip()
        direct = f"dev {arg['victim_if']}" in route
        print(("PASS" if direct else "FAIL") + f" kernel routes {victim} to the owner: {route}")
        ok = ok and good and direct
    return 0 if ok else 1


def wait_established(peer_if: str, remote_as: int | None = None, timeout: int = 120) -> bool:
    """Until the session on peer_if is Established (with the peer speaking as remote_as when given)."""
    state = {}
    start = time.time()
    while time.time() - start < timeout:
        state = (json.loads(vtysh(f"show bgp neighbors {peer_if} json") or "{}") or {}).get(peer_if) or {}
        if state.get("bgpState") == "Established" and remote_as in (None, state.get("remoteAs")):
            print(f"PASS session on {peer_if} Established, peer AS{state.get('remoteAs')}")
            return True
        time.sleep(2)
    print(f"FAIL session on {peer_if}: {state.get('bgpState')} AS{state.get('remoteAs')} after {timeout} s")
    return False


def advertised(peer_if: str, prefixes: list[tuple[str, str]]) -> bool:
    """Until every (af, prefix) is in the advertised routes to peer_if (20 s each)."""
    ok = True
    for af, prefix in prefixes:
        seen = False
        for _ in range(20):
            adv = vtysh(f"show bgp {af} unicast neighbors {peer_if} advertised-routes json")
            seen = prefix in (json.loads(adv or "{}").get("advertisedRoutes") or {})
            if seen:
                break
            time.sleep(1)
        print(("PASS" if seen else "FAIL") + f" advertises {prefix} to {peer_if}")
        ok = ok and seen
    return ok


def forge(arg: dict) -> int:
    vtysh(
        "configure terminal",
        f"router bgp {arg['asn']}",
        f"neighbor {arg['peer_if']} local-as {arg['forged_asn']} no-prepend replace-as",
    )
    victims = [("ipv6", arg["victim6"])] + ([("ipv4", arg["victim4"])] if arg.get("victim4") else [])
    up = wait_established(arg["peer_if"])
    return 0 if up and advertised(arg["peer_if"], victims) else 1


def more_specific(arg: dict) -> int:
    vtysh(
        "configure terminal",
        f"ip route {arg['prefix4']} blackhole",
        f"ipv6 route {arg['prefix6']} blackhole",
        "route-map MO-LAB-FORGE permit 10",
        f"set as-path prepend {arg['owner_asn']}",
        "exit",
        f"router bgp {arg['asn']}",
        "address-family ipv4 unicast",
        f"network {arg['prefix4']} route-map MO-LAB-FORGE",
        "exit-address-family",
        "address-family ipv6 unicast",
        f"network {arg['prefix6']} route-map MO-LAB-FORGE",
        "exit-address-family",
    )
    # the outbound filter (lifted already by hijack; on its own this lifts it, an error if it is gone is fine)
    for af in ("ipv4", "ipv6"):
        vtysh(
            "configure terminal",
            f"router bgp {arg['asn']}",
            f"address-family {af} unicast",
            f"no neighbor MESH route-map MO-OUT-{af.upper()} out",
        )
    return 0 if advertised(arg["peer_if"], [("ipv4", arg["prefix4"]), ("ipv6", arg["prefix6"])]) else 1


def more_specific_check(arg: dict) -> int:
    time.sleep(5)  # give the bogus updates time to arrive (and be filtered)
    ok = True
    for af, prefix in (("ipv4", arg["prefix4"]), ("ipv6", arg["prefix6"])):
        data = json.loads(vtysh(f"show bgp {af} unicast {prefix} json") or "{}")
        paths = [p.get("aspath", {}).get("string", "") for p in data.get("paths", [])]
        print(("PASS" if not paths else "FAIL") + f" {prefix}: no BGP path (paths {paths})")
        route = run(["ip", "-6" if af == "ipv6" else "-4", "route", "show", prefix]).stdout.strip()
        print(("PASS" if not route else "FAIL") + f" no kernel route for {prefix} ({route or 'none'})")
        ok = ok and not paths and not route
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


ACTIONS = {
    "handoff": handoff,
    "hijack": hijack,
    "hijack-check": hijack_check,
    "forge": forge,
    "more-specific": more_specific,
    "more-specific-check": more_specific_check,
    "restore": restore,
    "kill": kill,
}

if __name__ == "__main__":
    ARG = json.loads(sys.argv[2])
    VTYSH = ARG["vtysh"]
    sys.exit(ACTIONS[sys.argv[1]](ARG))
