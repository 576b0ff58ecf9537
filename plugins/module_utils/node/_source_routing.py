# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""Source routing on the node (pure, stdlib only): the kernel objects of meshover.mesh.source_routes.

The controller plans (module_utils/controller/_gathering.py): every host other than a gathering host gets, per
gathering host, a gateway ``{host, table, dev, prefixes}`` and the mesh's ``exempt`` destinations. Here:

- one policy rule per gathered prefix, all at priority RULE_PRIORITY (10100), protocol PROTO (77):
  ``from C lookup T``;
- one routing table T per gathering host: ``default dev <tunnel to the gathering host>`` per address
  family of its prefixes, plus a ``throw`` route for every exempt destination (mesh prefix, IPv4 pool,
  every meshover_announce, the shared prefixes, every WireGuard endpoint, link-local and multicast). A
  throw ends the lookup in T and the kernel continues with the next rules (main): mesh destinations keep
  their normal routing.

Ownership: rules and routes carry protocol PROTO; only those are ever changed or deleted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Union

from ansible_collections.meshover.mesh.plugins.module_utils.node import _ipbatch

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

PROTO = 77  # rtnetlink protocol of every rule and route meshover installs here ("M")
RULE_PRIORITY = 10100  # before main (32766); after the local table (0)
RESERVED_TABLES = (253, 254, 255)  # default, main, local
# The variables that move a gathering host's table (parsed on the controller; named in the node's errors).
TABLE_RANGE_VAR = "meshover_gathering_table_range"
TABLE_VAR = "meshover_gathering_table"
BATCH_HEADER = (
    "# Managed by meshover.mesh.source_routes; local changes are overwritten.\n"
    "# Replay with: ip -force -batch <this file>. 'rule add' of an existing rule fails\n"
    "# (exit status 1, no duplicate); every 'route replace' is idempotent.\n"
)


class SourceRoutingError(ValueError):
    """Invalid input for the source routing helpers."""


# ---------------------------------------------------------------- kernel objects


def _prefix(value: Any, what: str) -> Network:
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        raise SourceRoutingError(f"{what} {value!r} is not a prefix in CIDR notation without host bits") from None


def expand(
    gateways: Iterable[Mapping[str, Any]], exempt: Iterable[str], priority: int = RULE_PRIORITY
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The wanted rules and routes (normalised, sorted) from the gateways of a plan.

    rule:  {"family": 4|6, "priority": int, "src": CIDR, "table": int}
    route: {"family": 4|6, "table": int, "type": "unicast"|"throw", "dst": CIDR, "dev": str|None}
    """
    exempt_nets = [_prefix(p, "exempt prefix") for p in exempt]
    rules: dict[tuple, dict[str, Any]] = {}
    routes: dict[tuple, dict[str, Any]] = {}
    seen_tables: dict[int, str] = {}
    for gw in gateways:
        table, dev = gw.get("table"), gw.get("dev")
        if isinstance(table, bool) or not isinstance(table, int) or table in RESERVED_TABLES or not 0 < table:
            raise SourceRoutingError(f"gateway {gw.get('host')}: table {table!r} is not a usable table id")
        if not isinstance(dev, str) or not dev or len(dev) > 15:
            raise SourceRoutingError(f"gateway {gw.get('host')}: dev {dev!r} is not an interface name")
        if table in seen_tables:
            raise SourceRoutingError(f"gateways {seen_tables[table]} and {gw.get('host')} use the same table {table}")
        seen_tables[table] = str(gw.get("host"))
        families = set()
        for item in gw.get("prefixes") or []:
            net = _prefix(item, f"gateway {gw.get('host')}: prefix")
            if net.prefixlen == 0:
                raise SourceRoutingError(f"gateway {gw.get('host')}: prefix {net} is a default route")
            families.add(net.version)
            key = (net.version, priority, str(net))
            if key in rules:
                raise SourceRoutingError(f"prefix {net} is listed for two gateways")
            rules[key] = {"family": net.version, "priority": priority, "src": str(net), "table": table}
        for fam in sorted(families):
            default = "0.0.0.0/0" if fam == 4 else "::/0"
            routes[(fam, table, default)] = {
                "family": fam,
                "table": table,
                "type": "unicast",
                "dst": default,
                "dev": dev,
            }
            for net in exempt_nets:
                if net.version == fam:
                    routes[(fam, table, str(net))] = {
                        "family": fam,
                        "table": table,
                        "type": "throw",
                        "dst": str(net),
                        "dev": None,
                    }
    return sorted(rules.values(), key=rule_key), sorted(routes.values(), key=route_key)


def rule_key(rule: Mapping[str, Any]) -> tuple:
    net = ipaddress.ip_network(rule["src"]) if rule.get("src") else None
    src = (0, 0) if net is None else (int(net.network_address), net.prefixlen)
    return (rule["family"], rule["priority"], src, rule.get("dst") or "", rule["table"])


def route_key(route: Mapping[str, Any]) -> tuple:
    net = ipaddress.ip_network(route["dst"])
    return (route["family"], route["table"], int(net.network_address), net.prefixlen)


def _same_rule(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    fields = ("family", "priority", "src", "dst", "table")
    return all(a.get(f) == b.get(f) for f in fields) and not b.get("other")


def _same_route(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a.get(f) == b.get(f) for f in ("family", "table", "type", "dst", "dev")) and not b.get("other")


def plan_diff(want: Mapping[str, list], have: Mapping[str, list]) -> dict[str, Any]:
    """Reconcile owned rules and routes.

    want/have: {"rules": [...], "routes": [...]}; have holds only OWNED objects (protocol PROTO) plus,
    under "foreign_routes", routes of other protocols in the wanted tables (to detect conflicts).
    Returns {"rules": {"add", "delete"}, "routes": {"add", "delete"}, "conflicts": [message]}.
    A changed route (same table and destination) is deleted and added again; deletes come first.
    """
    out: dict[str, Any] = {"rules": {"add": [], "delete": []}, "routes": {"add": [], "delete": []}, "conflicts": []}
    have_rules = list(have.get("rules") or [])
    for rule in want.get("rules") or []:
        match = next((h for h in have_rules if _same_rule(rule, h)), None)
        if match is None:
            out["rules"]["add"].append(rule)
        else:
            have_rules.remove(match)
    out["rules"]["delete"] = sorted(have_rules, key=rule_key)
    have_routes = {(r["family"], r["table"], r["dst"]): r for r in have.get("routes") or []}
    kept = set()
    foreign = {(r["family"], r["table"], r["dst"]): r for r in have.get("foreign_routes") or []}
    for route in want.get("routes") or []:
        key = (route["family"], route["table"], route["dst"])
        if key in foreign:
            out["conflicts"].append(
                f"table {route['table']} already has a route to {route['dst']} that meshover did not install "
                f"(protocol {foreign[key].get('protocol')}): another program uses this table; set "
                f"{TABLE_VAR} on the gathering host or {TABLE_RANGE_VAR} to a free range"
            )
            continue
        current = have_routes.get(key)
        if current is not None and _same_route(route, current):
            kept.add(key)
            continue
        out["routes"]["add"].append(route)
    out["routes"]["delete"] = sorted((r for k, r in have_routes.items() if k not in kept), key=route_key)
    return out


# ---------------------------------------------------------------- steps: one sequence, two interpreters
#
# The policy rules and routes are written in one place only: the steps below. change_steps() turns plan_diff()'s
# reconciliation into the steps the module applies live through netlink (source_routes' Applier, one call per
# step); build_steps() gives the steps that build a state from nothing, which render_batch() writes as the boot
# replay file and state_lines() as the text of a diff. ip_line() is a step as a line of ``ip -batch`` (no family:
# command() puts ``ip -4|-6`` in front of it for messages, render_batch() writes one file per family).


class Step(NamedTuple):
    """``ip -<family> <kind> <verb> <obj>``: kind "rule" (verb "add", "del") or "route" ("replace", "del");
    obj a rule or route as expand() or the readers give it (its family, table, priority, src/dst, type, dev)."""

    kind: str
    verb: str
    obj: Mapping[str, Any]
    proto: int

    @property
    def family(self) -> int:
        return self.obj["family"]


def build_steps(
    rules: Iterable[Mapping[str, Any]], routes: Iterable[Mapping[str, Any]], proto: int = PROTO
) -> list[Step]:
    """The steps that build these rules and routes from nothing: routes first (the tables are filled), then the
    rules that use them; each sorted (routes by family, table, destination; rules by family, priority, source)."""
    steps = [Step("route", "replace", r, proto) for r in sorted(routes, key=route_key)]
    return steps + [Step("rule", "add", r, proto) for r in sorted(rules, key=rule_key)]


def change_steps(diff: Mapping[str, Any], proto: int = PROTO) -> list[Step]:
    """The live change of a plan_diff(): stale rules, stale routes, new routes, new rules, so that no packet meets
    a rule whose table is still empty (it would fall through to main and leave with the wrong source)."""
    steps = [Step("rule", "del", r, proto) for r in sorted(diff["rules"]["delete"], key=rule_key)]
    steps += [Step("route", "del", r, proto) for r in sorted(diff["routes"]["delete"], key=route_key)]
    return steps + build_steps(diff["rules"]["add"], diff["routes"]["add"], proto)


def ip_line(step: Step) -> str:
    """One step as a line of an ``ip -<family> -batch`` file."""
    o = step.obj
    if step.kind == "rule" and step.verb in ("add", "del"):
        sel = f"from {o['src']}" if o.get("src") else "from all"
        if o.get("dst"):
            sel += f" to {o['dst']}"
        return f"rule {step.verb} priority {o['priority']} {sel} lookup {o['table']} protocol {step.proto}"
    if step.kind == "route" and step.verb in ("replace", "del"):
        what = f"throw {o['dst']}" if o["type"] == "throw" else f"{o['dst']} dev {o['dev']}"
        return f"route {step.verb} {what} table {o['table']} proto {step.proto}"
    raise SourceRoutingError(f"unknown step {step.kind} {step.verb}")


def command(step: Step) -> str:
    """One step as an ``ip`` command (messages, return values and diffs)."""
    return f"ip -{step.family} {ip_line(step)}"


def state_lines(rules: Iterable[Mapping[str, Any]], routes: Iterable[Mapping[str, Any]], proto: int = PROTO) -> str:
    """Readable, stable text of a set of rules and routes (for diffs): the commands of build_steps(), one a line."""
    return "".join(f"{command(step)}\n" for step in build_steps(rules, routes, proto))


def render_batch(
    rules: Iterable[Mapping[str, Any]], routes: Iterable[Mapping[str, Any]], family: int, proto: int = PROTO
) -> str:
    """The ``ip -<family> -batch`` file replayed at boot for one family: the build_steps() of that family as
    ip_line()s. One file per family: ``ip -batch`` takes no per-line family, and ``rule add from <IPv6 prefix>``
    needs ``ip -6``."""
    if family not in (4, 6):
        raise SourceRoutingError(f"family {family!r} is not 4 or 6")
    steps = [step for step in build_steps(rules, routes, proto) if step.family == family]
    header = BATCH_HEADER.replace("ip -force -batch", f"ip -{family} -force -batch")
    return _ipbatch.render_batch(header, steps, ip_line)


# ---------------------------------------------------------------- reading the kernel through `ip -N -j`
# iproute2's JSON output (with -N, numbers instead of names for tables, protocols and route types)
# read into the same dicts the netlink reader gives. The ip command costs ~20 ms; importing
# pyroute2 costs ~2.5 s under qemu-TCG, so an unchanged run reads this way and never imports it.

RTN_NAMES = {1: "unicast", 9: "throw"}
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3  # iproute2 leaves "protocol" out for boot routes
RULE_OTHER_KEYS = ("iif", "oif", "fwmark", "suppress_prefixlen")
ROUTE_OTHER_KEYS = ("from", "gateway", "via", "nexthops")


def _ip_cidr(value: str | None, length: int | None, family: int) -> str | None:
    if value in (None, "all"):
        return None
    if value == "default":
        return "0.0.0.0/0" if family == 4 else "::/0"
    if "/" in value:
        return str(ipaddress.ip_network(value, strict=False))
    full = 32 if family == 4 else 128
    return str(ipaddress.ip_network(f"{value}/{full if length is None else length}", strict=False))


def rules_from_ip_json(rules: Mapping[int, list], protocol: int) -> list[dict]:
    """Owned rules from ``{4: ip -N -j -4 rule show, 6: ip -N -j -6 rule show}``."""
    out = []
    for fam in (4, 6):
        for r in rules.get(fam) or []:
            if str(r.get("protocol", "")) != str(protocol):
                continue
            out.append(
                {
                    "family": fam,
                    "priority": int(r.get("priority", 0)),
                    "src": _ip_cidr(r.get("src"), r.get("srclen"), fam),
                    "dst": _ip_cidr(r.get("dst"), r.get("dstlen"), fam),
                    "table": int(r["table"]) if "table" in r else 0,
                    "other": "table" not in r or any(k in r for k in RULE_OTHER_KEYS),
                }
            )
    return out


def route_from_ip_json(
    r: Mapping[str, Any], family: int, table: int | None = None, protocol: int | None = None
) -> dict:
    """One route of ``ip -N -j route show``; ``table``/``protocol``: the query's filter, which ip leaves out."""
    rtype = RTN_NAMES.get(int(r.get("type", 1)), str(r.get("type")))
    if table is None:
        table = int(r.get("table", RT_TABLE_MAIN))
    return {
        "family": family,
        "table": table,
        "type": rtype,
        "dst": _ip_cidr(r.get("dst"), None, family),
        "dev": r.get("dev") if rtype == "unicast" else None,
        "protocol": protocol if protocol is not None else int(r.get("protocol", RTPROT_BOOT)),
        "other": any(k in r for k in ROUTE_OTHER_KEYS),
    }


def split_routes(routes: Iterable[Mapping[str, Any]], protocol: int, tables: Mapping[int, Any]) -> tuple[list, list]:
    """(owned routes, routes of other protocols in the wanted ``tables`` of their family), duplicates
    (a route both queries returned) once. Shared by the ip -j and the netlink readers."""
    own, foreign, seen = [], [], set()
    for route in routes:
        key = (route["family"], route["table"], route["dst"], route["type"], route["protocol"])
        if key in seen:
            continue
        seen.add(key)
        if route["protocol"] == protocol:
            own.append(route)
        elif route["table"] in tables.get(route["family"], ()):
            foreign.append(route)
    return own, foreign


def routes_from_ip_json(
    owned: Mapping[int, list], by_table: Mapping[int, Mapping[int, list]], protocol: int
) -> tuple[list[dict], list[dict]]:
    """(owned routes, routes of other protocols in the wanted tables), as the netlink reader gives them.

    ``owned``: ``{family: ip -N -j -F route show table all proto P}``;
    ``by_table``: ``{family: {table: ip -N -j -F route show table T}}``.
    """
    routes = []
    for fam in (4, 6):
        routes.extend(route_from_ip_json(r, fam, protocol=protocol) for r in owned.get(fam) or [])
        for table, entries in sorted((by_table.get(fam) or {}).items()):
            routes.extend(route_from_ip_json(r, fam, table=table) for r in entries or [])
    return split_routes(routes, protocol, {fam: set(by_table.get(fam) or {}) for fam in (4, 6)})
