#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Source-routing proof run ON a lab node (stdlib only; nftables, iproute2, ping).

Usage: check_source_routing.py STEP JSON, STEP one of setup, probe, check, cleanup (the playbook runs
each step on every node before the next step). JSON: {"self", "phase": "gathering" | "removed",
"gateway": the gathering host, "source": the host with addresses in the gathered blocks, "upstream":
a host playing the gateway's upstream provider, "block4", "block6", "src4", "src6" (the source's
addresses), "up4", "up6" (upstream addresses), "mesh4", "mesh6" (the upstream's mesh loopbacks),
"tunnels": {host: gre_name}}.

- setup: lab-only addresses and routes (what PureLB/Coil, BGP and the provider would give) and
  nftables counters on the gateway and the upstream.
- probe (source only): ping the upstream and the mesh addresses from the gathered addresses.
- check: rules and tables as planned (or none left in phase "removed"); the gateway counted the
  upstream traffic and none of the mesh traffic; the upstream got the mesh traffic directly.
- cleanup: remove what setup added (routes it added have protocol boot).
Prints one PASS/FAIL line per check; exits 1 if any failed.
"""

from __future__ import annotations

import json
import subprocess
import sys

NFT_TABLE = "meshover_sr_check"
DUMMY = "srcheck0"


def run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, input=stdin)


def ip(*args: str) -> subprocess.CompletedProcess:
    return run(["ip", *args])


def counters_rules(me: str, iif: str, w: dict, what: list[tuple[str, str]]) -> list[tuple[bool, str]]:
    lines = []
    for name, dst in what:
        fam = "ip6" if ":" in dst else "ip"
        block = w["block6"] if fam == "ip6" else w["block4"]
        lines.append(f'    iifname "{iif}" {fam} saddr {block} {fam} daddr {dst} counter comment "{name}"')
    body = "\n".join(lines)
    rules = f"table inet {NFT_TABLE} {{\n  chain pre {{ type filter hook prerouting priority -300;\n{body}\n  }}\n}}\n"
    run(["nft", "delete", "table", "inet", NFT_TABLE])
    res = run(["nft", "-f", "-"], rules)
    return [(res.returncode == 0, f"nftables counters on {me} {res.stderr.strip()}")]


def setup(w: dict) -> list[tuple[bool, str]]:
    """Lab-only addresses and routes: what PureLB/Coil, BGP and an upstream provider would provide."""
    me, tun = w["self"], w["tunnels"]
    out: list[tuple[bool, str]] = []
    if me in (w["source"], w["upstream"]):
        ip("link", "add", DUMMY, "type", "dummy")
        ip("link", "set", DUMMY, "up")
    if me == w["source"]:
        ip("addr", "replace", f"{w['src4']}/32", "dev", DUMMY)
        ip("-6", "addr", "replace", f"{w['src6']}/128", "dev", DUMMY, "nodad")
        for fam, addr in (("-4", w["mesh4"]), ("-6", w["mesh6"])):
            if not ip(fam, "route", "show", addr).stdout.strip():  # BGP did not route the upstream's loopback
                ip(fam, "route", "replace", addr, "dev", tun[w["upstream"]])
    if me == w["upstream"]:
        for fam, addr in (("-4", w["up4"]), ("-6", w["up6"]), ("-4", w["mesh4"]), ("-6", w["mesh6"])):
            if not ip(fam, "addr", "show", "to", addr).stdout.strip():
                ip(fam, "addr", "add", addr, "dev", DUMMY, *(["nodad"] if fam == "-6" else []))
        # the provider routes the gathered block to the gathering host
        ip("route", "replace", w["block4"], "dev", tun[w["gateway"]])
        ip("-6", "route", "replace", w["block6"], "dev", tun[w["gateway"]])
        out += counters_rules(me, tun[w["source"]], w, [("direct4", w["mesh4"]), ("direct6", w["mesh6"])])
    if me == w["gateway"]:
        # the gateway's upstream, and BGP's routes to the source's (PureLB/Coil) addresses
        ip("route", "replace", w["up4"], "dev", tun[w["upstream"]])
        ip("-6", "route", "replace", w["up6"], "dev", tun[w["upstream"]])
        ip("route", "replace", w["src4"], "dev", tun[w["source"]])
        ip("-6", "route", "replace", w["src6"], "dev", tun[w["source"]])
        out += counters_rules(
            me,
            tun[w["source"]],
            w,
            [("up4", w["up4"]), ("up6", w["up6"]), ("mesh4", w["mesh4"]), ("mesh6", w["mesh6"])],
        )
    return out


def probe(w: dict) -> list[tuple[bool, str]]:
    if w["self"] != w["source"]:
        return []
    out = []
    for fam, src, dst in (("-4", w["src4"], w["up4"]), ("-6", w["src6"], w["up6"]), ("-6", w["src6"], w["mesh6"])):
        ok = run(["ping", fam, "-n", "-q", "-c", "5", "-i", "0.2", "-W", "2", "-I", src, dst]).returncode == 0
        out.append((ok, f"ping {src} -> {dst} (5 packets, replies received)"))
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
    if me == w["gateway"] and w["phase"] == "gathering":
        c = counters()
        out.append((c.get("up4", 0) >= 5, f"{me} forwarded {c.get('up4')} IPv4 packets from the block to the upstream"))
        out.append((c.get("up6", 0) >= 5, f"{me} forwarded {c.get('up6')} IPv6 packets from the block to the upstream"))
        out.append((c.get("mesh4", -1) == 0, f"{me} saw {c.get('mesh4')} IPv4 packets to the mesh address (no detour)"))
        out.append((c.get("mesh6", -1) == 0, f"{me} saw {c.get('mesh6')} IPv6 packets to the mesh address (no detour)"))
    return out


def cleanup(w: dict) -> list[tuple[bool, str]]:
    ip("link", "del", DUMMY)
    run(["nft", "delete", "table", "inet", NFT_TABLE])
    me, tun = w["self"], w["tunnels"]
    for fam, dst in (("-4", w["up4"]), ("-4", w["src4"]), ("-4", w["mesh4"]), ("-4", w["block4"])):
        for peer in (w["upstream"], w["source"], w["gateway"]):
            if peer != me:
                ip(fam, "route", "del", dst, "dev", tun[peer], "proto", "boot")
    for fam, dst in (("-6", w["up6"]), ("-6", w["src6"]), ("-6", w["mesh6"]), ("-6", w["block6"])):
        for peer in (w["upstream"], w["source"], w["gateway"]):
            if peer != me:
                ip(fam, "route", "del", dst, "dev", tun[peer], "proto", "boot")
    return []


def main() -> int:
    step, w = sys.argv[1], json.loads(sys.argv[2])
    results = {"setup": setup, "probe": probe, "check": check, "cleanup": cleanup}[step](w)
    for ok, text in results:
        print(("PASS " if ok else "FAIL ") + text)
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
