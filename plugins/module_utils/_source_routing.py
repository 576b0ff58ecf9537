# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""Source routing for meshover_gathering (pure, stdlib only).

A host that declares ``meshover_gathering: [C, ...]`` holds the upstream for those blocks. Every
OTHER host sends packets whose source is in C through its GRE tunnel to that host:

- one policy rule per gathered prefix, all at priority RULE_PRIORITY (10100), protocol PROTO (77):
  ``from C lookup T``;
- one routing table T per gathering host (id derived from the hostname, see derive_table):
  ``default dev <tunnel to the gathering host>`` per address family of its prefixes, plus a ``throw``
  route for every mesh destination (mesh prefix, IPv4 pool, every meshover_announce, the shared
  prefixes, every WireGuard endpoint, link-local and multicast). A throw ends the lookup in T and the
  kernel continues with the next rules (main): mesh destinations keep their normal routing.

Ownership: rules and routes carry protocol PROTO; only those are ever changed or deleted.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Union

from ansible_collections.meshover.mesh.plugins.module_utils._identity import (
    Identity,
    MeshSettings,
    canonical_hostname,
    join_names,
    parse_bool,
    parse_int,
    parse_prefix,
)
from ansible_collections.meshover.mesh.plugins.module_utils._underlay import parse_endpoints

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

PROTO = 77  # rtnetlink protocol of every rule and route meshover installs here ("M")
RULE_PRIORITY = 10100  # before main (32766); after the local table (0)
DEFAULT_TABLE_RANGE = (20000, 29999)
TABLE_LIMITS = (1, 4294967294)
RESERVED_TABLES = (253, 254, 255)  # default, main, local
TABLE_RANGE_VAR = "meshover_gathering_table_range"
TABLE_VAR = "meshover_gathering_table"
# Destinations that never leave a link: never source-routed.
LOCAL_SCOPE = ("169.254.0.0/16", "224.0.0.0/4", "fe80::/10", "ff00::/8")
BATCH_HEADER = (
    "# Managed by meshover.mesh.source_routes; local changes are overwritten.\n"
    "# Replay with: ip -force -batch <this file>. 'rule add' of an existing rule fails\n"
    "# (exit status 1, no duplicate); every 'route replace' is idempotent.\n"
)


class SourceRoutingError(ValueError):
    """Invalid input for the source routing helpers."""


# ---------------------------------------------------------------- parsers and table ids


def parse_table_range(value: Any) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError("must be a list of two integers [min, max]: e.g. [20000, 29999]")
    low, high = (parse_int(v, *TABLE_LIMITS) for v in value)
    if low > high:
        raise ValueError("has min greater than max: write it as [min, max]")
    if low <= RESERVED_TABLES[-1] and high >= RESERVED_TABLES[0]:
        raise ValueError("includes the kernel's tables 253..255 (default, main, local): use e.g. [20000, 29999]")
    return low, high


def parse_table(value: Any) -> int:
    table = parse_int(value, *TABLE_LIMITS)
    if table in RESERVED_TABLES:
        raise ValueError("is a kernel table (253 default, 254 main, 255 local): pick another table id")
    return table


def derive_table(hostname: str, table_range: tuple[int, int] = DEFAULT_TABLE_RANGE) -> int:
    """Table id of a gathering host: min + sha256("meshover:v1:table\\0" + canonical name) mod the range size."""
    canonical = canonical_hostname(hostname)
    digest = hashlib.sha256(b"meshover:v1:table\0" + canonical.encode()).digest()
    low, high = table_range
    return low + int.from_bytes(digest, "big") % (high - low + 1)


def gathered_prefixes(host_vars: Mapping[str, Any]) -> list[Network]:
    """The host's meshover_gathering prefixes that are source-routed (default routes are not: they make
    the host a default gateway for destinations, which is BGP's business, not a source block).
    Entries that do not parse are skipped (preflight reports them)."""
    value = host_vars.get("meshover_gathering") or []
    if not isinstance(value, (list, tuple)):
        return []
    out: list[Network] = []
    for item in value:
        try:
            net = parse_prefix(item)
        except ValueError:
            continue
        if net.prefixlen > 0 and net not in out:
            out.append(net)
    return sorted(out, key=_net_key)


def _net_key(net: Network) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


def _mesh_table_range(inventory: Mapping[str, Mapping[str, Any]], problems: list[str]) -> tuple[int, int]:
    """Parse meshover_gathering_table_range (mesh-wide): errors and differences between hosts."""
    by_value: dict[tuple[int, int] | None, list[str]] = {}
    for host, host_vars in inventory.items():
        raw = host_vars.get(TABLE_RANGE_VAR)
        if raw is None:
            by_value.setdefault(DEFAULT_TABLE_RANGE, []).append(host)
            continue
        try:
            by_value.setdefault(parse_table_range(raw), []).append(host)
        except ValueError as exc:
            problems.append(f"{host}: {TABLE_RANGE_VAR} = {raw!r} {exc}")
            by_value.setdefault(None, []).append(host)
    good = {k: v for k, v in by_value.items() if k is not None}
    if len(good) > 1:
        parts = [f"[{k[0]}, {k[1]}] on {_label(v)}" for k, v in good.items()]
        problems.append(
            f"{TABLE_RANGE_VAR} differs between hosts ({'; '.join(parts)}): it is mesh-wide, set it once for all "
            "hosts (e.g. in group_vars/all)"
        )
    if not good:
        return DEFAULT_TABLE_RANGE
    return max(good, key=lambda k: len(good[k]))


def _label(hosts: list[str], limit: int = 3) -> str:
    if len(hosts) <= limit:
        return join_names(list(hosts))
    return f"{', '.join(hosts[:limit])} and {len(hosts) - limit} more"


def gathering_tables(inventory: Mapping[str, Mapping[str, Any]], problems: list[str] | None = None) -> dict[str, int]:
    """Table id of every host with source-routed prefixes (host -> table). Appends problems (bad values,
    collisions naming both hosts and the override) to ``problems`` when given."""
    problems = [] if problems is None else problems
    table_range = _mesh_table_range(inventory, problems)
    tables: dict[str, int] = {}
    overridden: set[str] = set()
    for host, host_vars in inventory.items():
        raw = host_vars.get(TABLE_VAR)
        table = None
        if raw is not None:
            try:
                table = parse_table(raw)
                overridden.add(host)
            except ValueError as exc:
                problems.append(f"{host}: {TABLE_VAR} = {raw!r} {exc}")
                continue
        if not gathered_prefixes(host_vars):
            continue
        if table is None:
            try:
                table = derive_table(host, table_range)
            except ValueError:
                continue  # invalid host name: reported by the identity checks
        tables[host] = table
    by_table: dict[int, list[str]] = {}
    for host, table in tables.items():
        by_table.setdefault(table, []).append(host)
    for table, hosts in by_table.items():
        if len(hosts) < 2:
            continue
        described = [f"{h} ({TABLE_VAR})" if h in overridden else f"{h} (derived)" for h in hosts]
        problems.append(
            f"{join_names(described)} have the same source-routing table {table}: set {TABLE_VAR} "
            f"on {'one of them' if len(hosts) == 2 else 'all but one of them'} (a free id, e.g. inside "
            f"{TABLE_RANGE_VAR})"
        )
    return tables


# ---------------------------------------------------------------- preflight hook


def check_gathering(inventory: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Source-routing problems of a whole inventory: table range, table overrides and collisions, and
    WireGuard endpoints inside another host's gathered prefix (its tunnels would be routed into themselves)."""
    problems: list[str] = []
    gathered = {host: gathered_prefixes(host_vars) for host, host_vars in inventory.items()}
    # Few hosts gather: a flat list keeps the endpoint check linear in the inventory's size.
    gathered_nets = [(other, net) for other, nets in gathered.items() for net in nets]
    gathering_tables(inventory, problems)
    for host, host_vars in inventory.items():
        raw = host_vars.get(TABLE_VAR)
        if raw is not None and not gathered[host]:
            problems.append(
                f"{host}: {TABLE_VAR} is set but the host has no meshover_gathering prefix: remove {TABLE_VAR}"
            )
        for addr in _endpoints(host_vars):
            for other, net in gathered_nets:
                if other != host and net.version == addr.version and addr in net:
                    problems.append(
                        f"{host}: meshover_endpoint {addr} is inside {other}'s meshover_gathering {net}: its "
                        "WireGuard packets would be source-routed into the mesh; use an endpoint outside it"
                    )
    return problems


def _endpoints(host_vars: Mapping[str, Any]) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
    raw = host_vars.get("meshover_endpoint")
    try:
        if raw is None or parse_bool(host_vars.get("meshover_nat", False)):
            return ()
        return parse_endpoints(raw)
    except ValueError:
        return ()


# ---------------------------------------------------------------- plan


def mesh_exempt(inventory: Mapping[str, Mapping[str, Any]], settings: MeshSettings) -> list[str]:
    """Destinations inside the mesh: they keep normal routing even from a gathered source."""
    nets: set[Network] = {settings.net6}
    if settings.pool4 is not None:
        nets.add(settings.pool4)
    nets.update(ipaddress.ip_network(p) for p in settings.shared_prefixes)
    nets.update(ipaddress.ip_network(p) for p in LOCAL_SCOPE)
    for host_vars in inventory.values():
        announce = host_vars.get("meshover_announce") or []
        for item in announce if isinstance(announce, (list, tuple)) else []:
            try:
                net = parse_prefix(item)
            except ValueError:
                continue
            if net.prefixlen > 0:
                nets.add(net)
        nets.update(ipaddress.ip_network(addr) for addr in _endpoints(host_vars))
    return [str(n) for n in sorted(nets, key=_net_key)]


def plan_source_routing(
    me: str,
    gathering: Mapping[str, list[Network]],
    tables: Mapping[str, int],
    tunnels: Mapping[str, str],
    exempt: Iterable[str],
) -> dict[str, Any]:
    """The source-routing plan of one host.

    gathering: host -> its source-routed prefixes; tables: host -> table id; tunnels: peer -> the name
    of this host's GRE tunnel to it (only peers with a tunnel can be gateways).
    Returns {"priority", "protocol", "exempt": [CIDR], "gateways": [{"host", "table", "dev", "prefixes"}]}.
    """
    gateways = []
    for host in sorted(gathering):
        prefixes = gathering[host]
        if host == me or not prefixes or host not in tunnels or host not in tables:
            continue
        gateways.append(
            {"host": host, "table": tables[host], "dev": tunnels[host], "prefixes": [str(n) for n in prefixes]}
        )
    return {
        "priority": RULE_PRIORITY,
        "protocol": PROTO,
        "exempt": list(exempt) if gateways else [],
        "gateways": gateways,
    }


def unreachable_warnings(
    plans: Mapping[str, Mapping[str, Any]], gathering: Mapping[str, list[Network]], tables: Mapping[str, int]
) -> list[str]:
    """One warning per gathering host that some planned hosts cannot reach through a tunnel."""
    warnings = []
    for host in sorted(h for h, nets in gathering.items() if nets and h in tables):
        missing = sorted(
            other
            for other, plan in plans.items()
            if other != host and host not in {g["host"] for g in plan.get("source_routing", {}).get("gateways", [])}
        )
        if missing:
            warnings.append(
                f"{host}: {_label(missing)} have no GRE tunnel to it (no key yet, or both behind NAT): their "
                f"traffic sourced from {host}'s meshover_gathering is not source-routed this run"
            )
    return warnings


def identities_tunnels(identities: Mapping[str, Identity]) -> dict[str, str]:
    """host -> gre_name (the name every other host gives its tunnel to that host)."""
    return {host: ident.gre_name for host, ident in identities.items()}


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


def diff_is_empty(diff: Mapping[str, Any]) -> bool:
    return not any(diff[kind][op] for kind in ("rules", "routes") for op in ("add", "delete"))


# ---------------------------------------------------------------- text (diffs and the boot replay files)


def rule_text(rule: Mapping[str, Any], proto: int = PROTO) -> str:
    sel = f"from {rule['src']}" if rule.get("src") else "from all"
    if rule.get("dst"):
        sel += f" to {rule['dst']}"
    return f"rule add priority {rule['priority']} {sel} lookup {rule['table']} protocol {proto}"


def route_text(route: Mapping[str, Any], proto: int = PROTO) -> str:
    dst = route["dst"]
    what = f"throw {dst}" if route["type"] == "throw" else f"{dst} dev {route['dev']}"
    return f"route replace {what} table {route['table']} proto {proto}"


def state_lines(rules: Iterable[Mapping[str, Any]], routes: Iterable[Mapping[str, Any]], proto: int = PROTO) -> str:
    """Readable, stable text of a set of rules and routes (for diffs): one ``ip -4|-6 ...`` line each."""
    lines = [f"ip -{r['family']} {route_text(r, proto)}" for r in sorted(routes, key=route_key)]
    lines += [f"ip -{r['family']} {rule_text(r, proto)}" for r in sorted(rules, key=rule_key)]
    return "\n".join(lines) + ("\n" if lines else "")


def render_batch(
    rules: Iterable[Mapping[str, Any]], routes: Iterable[Mapping[str, Any]], family: int, proto: int = PROTO
) -> str:
    """The ``ip -<family> -batch`` file replayed at boot for one family: routes first (the tables are
    filled), then the rules that use them. One file per family: ``ip -batch`` takes no per-line family,
    and ``rule add from <IPv6 prefix>`` needs ``ip -6``."""
    if family not in (4, 6):
        raise SourceRoutingError(f"family {family!r} is not 4 or 6")
    body = [route_text(r, proto) for r in sorted(routes, key=route_key) if r["family"] == family]
    body += [rule_text(r, proto) for r in sorted(rules, key=rule_key) if r["family"] == family]
    header = BATCH_HEADER.replace("ip -force -batch", f"ip -{family} -force -batch")
    return header + "\n".join(body) + ("\n" if body else "")


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
