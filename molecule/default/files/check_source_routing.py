#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Source-routing proof run ON a lab node (stdlib only; nftables, iproute2, ping).

Usage: check_source_routing.py STEP JSON, STEP one of setup, probe, check, cleanup (the playbook runs
each step on every node before the next step), or transit-setup, transit-probe, transit-check,
transit-cleanup (a gateway reached through a transit hop, with a real upstream: see transit_setup).
JSON: {"self", "phase": "gathering" | "removed",
"gateway": the gathering host, "source": the host with addresses in the gathered blocks, "upstream":
a host playing the gateway's upstream provider, "block4", "block6", "src4", "src6" (the source's
addresses), "up4", "up6" (upstream addresses), "mesh4", "mesh6" (the upstream's mesh loopbacks),
"tunnels": {host: gre_name}}.

- setup: the source's addresses on its `kube-lb0` (as PureLB puts a VIP there; the block is in
  meshover_shared_prefixes, so the source's FRR announces them), the upstream provider (lab-only: its
  addresses, and a policy rule that sends its replies to the block through the gateway, as the
  Internet would: it knows the block only from the gateway), nftables counters on the gateway, the
  upstream and the source. The gateway waits until BGP, not this script, routes the source's
  addresses back through the tunnel to the source.
- probe (source only): ping the upstream and the mesh addresses from the gathered addresses.
- check: rules and tables as planned (or none left in phase "removed"); the gateway counted the
  upstream traffic and none of the mesh traffic; the upstream got the mesh traffic directly; the
  replies from the upstream reached the source through its tunnel to the gateway.
- cleanup: remove what setup added (routes it added have protocol boot).
Prints one PASS/FAIL line per check; exits 1 if any failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

NFT_TABLE = "meshover_sr_check"
DUMMY = "srcheck0"
KUBE_LB = "kube-lb0"  # PureLB's interface: frr_bgp announces its addresses inside meshover_shared_prefixes
CREATED_KUBE_LB = "/run/meshover-srcheck-kube-lb0"  # setup created kube-lb0 (cleanup deletes it then)
PROVIDER_TABLE = "31000"  # the upstream's "Internet": the block is reached through the gateway only
PROVIDER_PREF = "100"
BGP_WAIT = 120  # seconds the gateway waits for BGP's routes to the source's addresses


def run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, input=stdin)


def ip(*args: str) -> subprocess.CompletedProcess:
    return run(["ip", *args])


def counters_rules(me: str, what: list[tuple[str, str, str, str]]) -> list[tuple[bool, str]]:
    """nftables counters on me: (name, input interface, source, destination) each."""
    lines = []
    for name, iif, src, dst in what:
        fam = "ip6" if ":" in dst else "ip"
        match = "" if iif == "*" else f'iifname "{iif}" '
        lines.append(f'    {match}{fam} saddr {src} {fam} daddr {dst} counter comment "{name}"')
    body = "\n".join(lines)
    rules = f"table inet {NFT_TABLE} {{\n  chain pre {{ type filter hook prerouting priority -300;\n{body}\n  }}\n}}\n"
    run(["nft", "delete", "table", "inet", NFT_TABLE])
    res = run(["nft", "-f", "-"], rules)
    return [(res.returncode == 0, f"nftables counters on {me} {res.stderr.strip()}")]


def bgp_route(fam: str, addr: str, dev: str) -> dict | None:
    """The route to addr (a host route) if BGP installed it through dev."""
    for r in json.loads(ip(fam, "-j", "route", "show", addr).stdout or "[]"):
        if r.get("protocol") == "bgp" and (
            r.get("dev") == dev or any(h.get("dev") == dev for h in r.get("nexthops", []))
        ):
            return r
    return None


def wait_bgp_routes(me: str, w: dict, dev: str) -> list[tuple[bool, str]]:
    """Wait (up to BGP_WAIT s) until BGP routes the source's addresses through dev."""
    out = []
    start = time.monotonic()
    for fam, addr in (("-4", w["src4"]), ("-6", w["src6"])):
        route = bgp_route(fam, addr, dev)
        while route is None and time.monotonic() - start < BGP_WAIT:
            time.sleep(2)
            route = bgp_route(fam, addr, dev)
        waited = time.monotonic() - start
        out.append(
            (
                route is not None,
                f"{me} routes {addr} through {dev} by BGP (waited {waited:.0f} s of {BGP_WAIT}): {route}",
            )
        )
    return out


def source_addresses(w: dict) -> None:
    """The source's addresses of the blocks on kube-lb0, as PureLB puts a VIP there."""
    if ip("link", "show", KUBE_LB).returncode != 0:
        ip("link", "add", KUBE_LB, "type", "dummy")
        open(CREATED_KUBE_LB, "w").close()
    ip("link", "set", KUBE_LB, "up")
    ip("addr", "replace", f"{w['src4']}/32", "dev", KUBE_LB)
    ip("-6", "addr", "replace", f"{w['src6']}/128", "dev", KUBE_LB, "nodad")


def pings(pairs: list[tuple[str, str, str]]) -> list[tuple[bool, str]]:
    """5 pings each (family, source, destination); every one must be answered."""
    out = []
    for fam, src, dst in pairs:
        ok = run(["ping", fam, "-n", "-q", "-c", "5", "-i", "0.2", "-W", "2", "-I", src, dst]).returncode == 0
        out.append((ok, f"ping {src} -> {dst} (5 packets, replies received)"))
    return out


def setup(w: dict) -> list[tuple[bool, str]]:
    """Lab-only addresses and routes: what PureLB and an upstream provider would provide. BGP, not this
    script, routes the source's addresses back to it."""
    me, tun = w["self"], w["tunnels"]
    out: list[tuple[bool, str]] = []
    if me == w["upstream"]:
        ip("link", "add", DUMMY, "type", "dummy")
        ip("link", "set", DUMMY, "up")
    if me == w["source"]:
        source_addresses(w)
        for fam, addr in (("-4", w["mesh4"]), ("-6", w["mesh6"])):
            if not ip(fam, "route", "show", addr).stdout.strip():  # BGP did not route the upstream's loopback
                ip(fam, "route", "replace", addr, "dev", tun[w["upstream"]])
        out += counters_rules(
            me,
            [
                ("reply4", tun[w["gateway"]], w["up4"], w["src4"]),
                ("reply6", tun[w["gateway"]], w["up6"], w["src6"]),
            ],
        )
    if me == w["upstream"]:
        for fam, addr in (("-4", w["up4"]), ("-6", w["up6"]), ("-4", w["mesh4"]), ("-6", w["mesh6"])):
            if not ip(fam, "addr", "show", "to", addr).stdout.strip():
                ip(fam, "addr", "add", addr, "dev", DUMMY, *(["nodad"] if fam == "-6" else []))
        # The Internet knows the block from the gateway only: the upstream's replies go there, whatever
        # BGP tells this mesh node about the source's addresses.
        for fam, up, block in (("-4", w["up4"], w["block4"]), ("-6", w["up6"], w["block6"])):
            ip(fam, "route", "replace", block, "dev", tun[w["gateway"]], "table", PROVIDER_TABLE)
            ip(fam, "rule", "del", "pref", PROVIDER_PREF)
            ip(fam, "rule", "add", "pref", PROVIDER_PREF, "from", up, "lookup", PROVIDER_TABLE)
        out += counters_rules(
            me,
            [
                ("direct4", tun[w["source"]], w["block4"], w["mesh4"]),
                ("direct6", tun[w["source"]], w["block6"], w["mesh6"]),
            ],
        )
    if me == w["gateway"]:
        # the gateway's upstream (lab-only: the provider's link)
        ip("route", "replace", w["up4"], "dev", tun[w["upstream"]])
        ip("-6", "route", "replace", w["up6"], "dev", tun[w["upstream"]])
        out += counters_rules(
            me,
            [
                ("up4", tun[w["source"]], w["block4"], w["up4"]),
                ("up6", tun[w["source"]], w["block6"], w["up6"]),
                ("mesh4", tun[w["source"]], w["block4"], w["mesh4"]),
                ("mesh6", tun[w["source"]], w["block6"], w["mesh6"]),
            ],
        )
        # the replies' way back: BGP's routes to the source's PureLB addresses, through its tunnel
        out += wait_bgp_routes(me, w, tun[w["source"]])
    return out


def probe(w: dict) -> list[tuple[bool, str]]:
    if w["self"] != w["source"]:
        return []
    out = pings([("-4", w["src4"], w["up4"]), ("-6", w["src6"], w["up6"]), ("-6", w["src6"], w["mesh6"])])
    # IPv4 to the mesh address: only the path is checked (counters), see docs/source-routing.md (rp_filter)
    run(["ping", "-4", "-n", "-q", "-c", "5", "-i", "0.2", "-W", "1", "-I", w["src4"], w["mesh4"]])
    return out


def counters() -> dict[str, int]:
    data = json.loads(run(["nft", "-j", "list", "table", "inet", NFT_TABLE]).stdout or "{}")
    found = {}
    for item in data.get("nftables", []):
        rule = item.get("rule")
        if rule:
            packets = next((e["counter"]["packets"] for e in rule["expr"] if "counter" in e), 0)
            found[rule.get("comment", "")] = packets
    return found


def check(w: dict) -> list[tuple[bool, str]]:
    me = w["self"]
    out = []
    rules = {
        fam: [r for r in json.loads(ip(fam, "-j", "rule", "show").stdout or "[]") if r.get("protocol") in (77, "77")]
        for fam in ("-4", "-6")
    }
    routes = {
        fam: json.loads(ip(fam, "-j", "route", "show", "table", "all", "proto", "77").stdout or "[]")
        for fam in ("-4", "-6")
    }
    wanted = w["phase"] == "gathering" and me != w["gateway"]
    for fam, block in (("-4", w["block4"]), ("-6", w["block6"])):
        got = sorted(
            f"{r.get('priority')} from {r.get('src')}/{r.get('srclen')} lookup {r.get('table')}" for r in rules[fam]
        )
        net, plen = block.split("/")
        want = [f"10100 from {net}/{plen} lookup {w['table']}"] if wanted else []
        out.append((got == want, f"{me} ip {fam} rules proto 77: {got} == {want}"))
        defaults = [
            r for r in routes[fam] if r.get("dst") == "default" and r.get("dev") == w["tunnels"].get(w["gateway"])
        ]
        throws = [r for r in routes[fam] if r.get("type") == "throw"]
        if wanted:
            out.append(
                (
                    len(defaults) == 1 and len(throws) >= 2,
                    f"{me} table {w['table']} {fam}: default via tunnel + {len(throws)} throw routes",
                )
            )
        else:
            out.append((routes[fam] == [], f"{me} no proto-77 route left ({fam}): {len(routes[fam])}"))
    if me == w["upstream"] and w["phase"] == "gathering":
        c = counters()
        out.append((c.get("direct4", 0) >= 5, f"{me} got {c.get('direct4')} IPv4 packets to its mesh address directly"))
        out.append((c.get("direct6", 0) >= 5, f"{me} got {c.get('direct6')} IPv6 packets to its mesh address directly"))
    if me == w["source"] and w["phase"] == "gathering":
        c = counters()
        for fam in ("4", "6"):
            got = c.get(f"reply{fam}", 0)
            out.append(
                (got >= 5, f"{me} got {got} IPv{fam} replies from the upstream through {w['tunnels'][w['gateway']]}")
            )
    if me == w["gateway"] and w["phase"] == "gathering":
        c = counters()
        out.append((c.get("up4", 0) >= 5, f"{me} forwarded {c.get('up4')} IPv4 packets from the block to the upstream"))
        out.append((c.get("up6", 0) >= 5, f"{me} forwarded {c.get('up6')} IPv6 packets from the block to the upstream"))
        out.append((c.get("mesh4", -1) == 0, f"{me} saw {c.get('mesh4')} IPv4 packets to the mesh address (no detour)"))
        out.append((c.get("mesh6", -1) == 0, f"{me} saw {c.get('mesh6')} IPv6 packets to the mesh address (no detour)"))
    return out


def cleanup(w: dict) -> list[tuple[bool, str]]:
    me, tun = w["self"], w["tunnels"]
    run(["nft", "delete", "table", "inet", NFT_TABLE])
    if me == w["upstream"]:
        ip("link", "del", DUMMY)
        for fam in ("-4", "-6"):
            ip(fam, "rule", "del", "pref", PROVIDER_PREF)
            ip(fam, "route", "flush", "table", PROVIDER_TABLE)
    if me == w["source"]:
        ip("addr", "del", f"{w['src4']}/32", "dev", KUBE_LB)
        ip("-6", "addr", "del", f"{w['src6']}/128", "dev", KUBE_LB)
        if os.path.exists(CREATED_KUBE_LB):
            ip("link", "del", KUBE_LB)
            os.unlink(CREATED_KUBE_LB)
    for fam, dst in (("-4", w["up4"]), ("-4", w["mesh4"]), ("-6", w["up6"]), ("-6", w["mesh6"])):
        for peer in (w["upstream"], w["source"], w["gateway"]):
            if peer != me:
                ip(fam, "route", "del", dst, "dev", tun[peer], "proto", "boot")
    return []


# Transit (issue 15): the source and the gateway share no underlay family, so they have no tunnel of
# their own; the source sends the block's traffic to the first transit hop ("via"), whose own rule
# sends it on to the gateway, which sends it out of its uplink to a real upstream outside the mesh: the
# lab's router, the Internet of the lab. JSON: {"self", "gateway", "source", "via", "upstream" (not a
# mesh host: the steps run there too, delegated), "block4", "block6", "src4", "src6", "up4", "up6",
# "gw4", "gw6" (the gateway's uplink addresses: the upstream routes the block to them), "hop4" (the
# gateway's IPv4 next hop to the upstream: the lab's LAN has no IPv4 route out), "tunnels": {host: gre_name}}.
def transit_setup(w: dict) -> list[tuple[bool, str]]:
    me, tun = w["self"], w["tunnels"]
    out: list[tuple[bool, str]] = []
    if me == w["upstream"]:
        ip("link", "add", DUMMY, "type", "dummy")
        ip("link", "set", DUMMY, "up")
        ip("addr", "replace", f"{w['up4']}/32", "dev", DUMMY)
        ip("-6", "addr", "replace", f"{w['up6']}/128", "dev", DUMMY, "nodad")
        # the provider routes the block to the gateway's uplink, as the Internet would
        ip("route", "replace", w["block4"], "via", w["gw4"], "proto", "boot")
        ip("-6", "route", "replace", w["block6"], "via", w["gw6"], "proto", "boot")
        out += counters_rules(me, [("up4", "*", w["block4"], w["up4"]), ("up6", "*", w["block6"], w["up6"])])
    if me == w["source"]:
        source_addresses(w)
        out += counters_rules(
            me,
            [
                ("reply4", tun[w["via"]], w["up4"], w["src4"]),
                ("reply6", tun[w["via"]], w["up6"], w["src6"]),
            ],
        )
    if me == w["via"]:
        out += counters_rules(
            me,
            [
                ("transit4", tun[w["source"]], w["block4"], w["up4"]),
                ("transit6", tun[w["source"]], w["block6"], w["up6"]),
            ],
        )
    if me == w["gateway"]:
        # the lab's LAN has no IPv4 route out: the provider's next hop for the upstream (IPv6 has the RA's)
        ip("route", "replace", w["up4"], "via", w["hop4"], "proto", "boot")
        out += counters_rules(
            me,
            [
                ("out4", tun[w["via"]], w["block4"], w["up4"]),
                ("out6", tun[w["via"]], w["block6"], w["up6"]),
            ],
        )
        # the replies' way back: BGP's routes to the source's addresses, through the transit hop
        out += wait_bgp_routes(me, w, tun[w["via"]])
    return out


def transit_probe(w: dict) -> list[tuple[bool, str]]:
    if w["self"] != w["source"]:
        return []
    return pings([("-4", w["src4"], w["up4"]), ("-6", w["src6"], w["up6"])])


def transit_check(w: dict) -> list[tuple[bool, str]]:
    me, tun = w["self"], w["tunnels"]
    out: list[tuple[bool, str]] = []
    if me == w["source"]:
        # one rule sends the block to the gateway's table, whose default goes to the transit hop's tunnel
        for fam, block in (("-4", w["block4"]), ("-6", w["block6"])):
            net, plen = block.split("/")
            rules = json.loads(ip(fam, "-j", "rule", "show").stdout or "[]")
            mine = [r for r in rules if r.get("src") == net and str(r.get("srclen")) == plen]
            out.append((len(mine) == 1, f"{me} ip {fam}: one rule from {block}: {mine}"))
            table = str(mine[0].get("table")) if mine else "none"
            shown = ip(fam, "-j", "route", "show", "table", table, "default").stdout if mine else ""
            routes = json.loads(shown or "[]")
            out.append(
                (
                    [r.get("dev") for r in routes] == [tun[w["via"]]],
                    f"{me} table {table} {fam}: default through {tun[w['via']]} (to {w['via']}, on to "
                    f"{w['gateway']}): {routes}",
                )
            )
    wanted = {
        w["source"]: ("reply", f"replies from the upstream through {tun[w['via']]}"),
        w["via"]: ("transit", f"packets from the block sent on from {tun[w['source']]}"),
        w["gateway"]: ("out", f"packets from the block from {tun[w['via']]}, out to the upstream"),
        w["upstream"]: ("up", "packets from the block"),
    }
    if me in wanted:
        c = counters()
        prefix, what = wanted[me]
        for fam in ("4", "6"):
            got = c.get(f"{prefix}{fam}", 0)
            out.append((got >= 5, f"{me} counted {got} IPv{fam} {what}"))
    return out


def transit_cleanup(w: dict) -> list[tuple[bool, str]]:
    me = w["self"]
    run(["nft", "delete", "table", "inet", NFT_TABLE])
    if me == w["upstream"]:
        ip("link", "del", DUMMY)
        ip("route", "del", w["block4"], "proto", "boot")
        ip("-6", "route", "del", w["block6"], "proto", "boot")
    if me == w["source"]:
        ip("addr", "del", f"{w['src4']}/32", "dev", KUBE_LB)
        ip("-6", "addr", "del", f"{w['src6']}/128", "dev", KUBE_LB)
        if os.path.exists(CREATED_KUBE_LB):
            ip("link", "del", KUBE_LB)
            os.unlink(CREATED_KUBE_LB)
    if me == w["gateway"]:
        ip("route", "del", w["up4"], "proto", "boot")
    return []


STEPS = {
    "setup": setup,
    "probe": probe,
    "check": check,
    "cleanup": cleanup,
    "transit-setup": transit_setup,
    "transit-probe": transit_probe,
    "transit-check": transit_check,
    "transit-cleanup": transit_cleanup,
}


def main() -> int:
    step, w = sys.argv[1], json.loads(sys.argv[2])
    results = STEPS[step](w)
    for ok, text in results:
        print(("PASS " if ok else "FAIL ") + text)
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
