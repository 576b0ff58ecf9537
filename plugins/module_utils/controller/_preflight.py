# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""Whole-inventory validation run on the controller before anything touches a node.

validate() returns one message per problem; each names the host(s), the variable, what is wrong
and how to fix it. Wrong types are reported, never crashed on.

check() is also the inventory's only parser: what it parsed comes back typed (PreflightResult: the mesh's
settings, each host's identity and HostValues, the gathering tables, the underlay's topology), and the plan
(module_utils/controller/_peers.py) reads those, never the raw meshover_* variables again.
"""

from __future__ import annotations

import bisect
import difflib
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from ansible_collections.meshover.mesh.plugins.module_utils.controller._bgp import (
    BGP_HOST_PARSERS,
    BGP_MESH_PARSERS,
    NULLABLE_HOST_OPTIONS,
    BgpSettings,
    bgp_settings_from,
    loopback4_problem,
    owned_prefix_counts,
    template_problems,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._catalog import CATALOG, names
from ansible_collections.meshover.mesh.plugins.module_utils.controller._gathering import check_gathering, source_blocks
from ansible_collections.meshover.mesh.plugins.module_utils.controller._groupvars import conflicts, parse_export
from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (
    DEFAULT_WG_PORT,
    MESH_PARSERS,
    Identity,
    MeshError,
    MeshSettings,
    derive_identity,
    find_collisions,
    hosts_label,
    join_names,
    parse_bool,
    parse_int,
    parse_prefix,
    parse_wg_public_key,
    unroutable,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._nat import parse_nat_sources
from ansible_collections.meshover.mesh.plugins.module_utils.controller._rolevars import check_role_vars
from ansible_collections.meshover.mesh.plugins.module_utils.controller._underlay import (
    Topology,
    Underlay,
    default_families,
    parse_endpoints,
    parse_families,
)

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
PREFIX_LIST_VARS = ("meshover_announce", "meshover_gathering")
_UNSET = "<unset>"


@dataclass(frozen=True)
class HostValues:
    """One host's meshover_* variables beyond its identity, parsed once (by check()) for the plan."""

    underlay: Underlay  # meshover_endpoint, meshover_nat, meshover_underlay_families, meshover_wg_port
    announce: tuple[Network, ...]  # meshover_announce, in the inventory's order
    gathering: tuple[Network, ...]  # meshover_gathering's source blocks (gathering.source_blocks)
    options: Mapping[str, Any]  # the per-host routing variables (_bgp.BGP_HOST_PARSERS), defaults filled in
    coil_nat_sources: tuple[Network, ...] = ()  # meshover_coil_nat_sources (_nat.parse_nat_sources)

    def as_dict(self) -> dict[str, Any]:
        """The values as JSON (the action meshover.mesh.mesh_preflight returns them per host)."""
        u = self.underlay
        return {
            "endpoints": [str(a) for a in u.endpoints],
            "nat": u.nat,
            "underlay_families": sorted(f"ipv{f}" for f in u.families),
            "wg_port": u.port,
            "announce": [str(n) for n in self.announce],
            "gathering": [str(n) for n in self.gathering],
            "frr_mode": self.options["meshover_frr_mode"],
            "coil_nat_sources": [str(n) for n in self.coil_nat_sources],
        }


@dataclass
class PreflightResult:
    """Problems found, plus what could be computed despite them. With no problem, ``hosts`` has every host
    and ``topology`` is set: the plan is made from these."""

    problems: list[str] = field(default_factory=list)
    settings: MeshSettings = field(default_factory=MeshSettings)
    identities: dict[str, Identity] = field(default_factory=dict)
    bgp: BgpSettings = field(default_factory=BgpSettings)
    hosts: dict[str, HostValues] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)  # gathering host -> its source-routing table
    topology: Topology | None = None


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# ---------------------------------------------------------------- unknown variables


# Variables that existed and went: what to do instead.
REMOVED = {
    "meshover_gathering_allow_default": "it was removed: it let meshover_gathering hold a default route, which "
    "nothing acted on. Remove it, and list in meshover_gathering the blocks whose traffic leaves through the host",
}


def check_unknown(inventory: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A meshover_* variable that is not in the catalogue is probably a typo (or a removed variable)."""
    where: dict[str, list[str]] = {}
    for host, host_vars in inventory.items():
        for var in host_vars:
            if isinstance(var, str) and var.startswith("meshover_") and var not in CATALOG:
                where.setdefault(var, []).append(host)
    problems = []
    for var, hosts in where.items():
        if var in REMOVED:
            problems.append(f"{hosts_label(hosts)}: {var}: {REMOVED[var]}")
            continue
        close = _closest(var)
        fix = f"did you mean {close}?" if close else "remove it (see docs/variables.md for the known variables)"
        problems.append(f"{hosts_label(hosts)}: {var} is not a known meshover variable: {fix}")
    return problems


def _closest(var: str) -> str | None:
    """The known variable closest to var, compared without the common meshover_ prefix."""
    known = {name[len("meshover_") :]: name for name in names()}
    close = difflib.get_close_matches(var[len("meshover_") :], list(known), n=1, cutoff=0.6)
    return known[close[0]] if close else None


# ---------------------------------------------------------------- mesh-wide settings


def _mesh_var(
    inventory: Mapping[str, Mapping[str, Any]], var: str, parser: Any = None, default: Any = None
) -> tuple[list[str], Any]:
    """Check one mesh-wide variable: parse errors and differences between hosts. Returns (problems, value)."""
    if parser is None:
        attr, parser = MESH_PARSERS[var]
        default = getattr(MeshSettings(), attr)
    by_raw: dict[str, list[str]] = {}
    raw: dict[str, Any] = {}
    for host, host_vars in inventory.items():
        value = host_vars.get(var)
        key = _UNSET if value is None else _key(value)
        raw.setdefault(key, value)
        by_raw.setdefault(key, []).append(host)
    problems = []
    by_effective: dict[str, list[str]] = {}
    effective: dict[str, Any] = {}
    for key, hosts in by_raw.items():
        parsed = _try_parse(parser, raw[key])
        if parsed is None:
            eff = _key(default)  # unset: the same as writing the default explicitly
        elif isinstance(parsed, ValueError):
            problems.append(f"{hosts_label(hosts)}: {var} = {raw[key]!r} {parsed}")
            eff = "bad:" + key
        else:
            eff = _key(parsed)
            effective[eff] = parsed
        by_effective.setdefault(eff, []).extend(hosts)
    if len(by_effective) > 1:
        parts = [f"{_shown(inventory[hosts[0]].get(var))} on {hosts_label(hosts)}" for hosts in by_effective.values()]
        problems.append(
            f"{var} differs between hosts ({'; '.join(parts)}): it is mesh-wide, set it once for all hosts "
            "(e.g. in group_vars/all)"
        )
    if not by_effective:
        return problems, None
    best = max(by_effective, key=lambda k: len(by_effective[k]))
    return problems, effective.get(best)


def _try_parse(parser: Any, value: Any) -> Any:
    """The parsed value, None if unset, or the ValueError describing the problem."""
    if value is None:
        return None
    try:
        return parser(value)
    except ValueError as exc:
        return exc


def _shown(value: Any) -> str:
    return "unset" if value is None else repr(value)


def check_mesh_settings(inventory: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], MeshSettings]:
    problems: list[str] = []
    kwargs: dict[str, Any] = {}
    for var, (attr, _parser) in MESH_PARSERS.items():
        var_problems, value = _mesh_var(inventory, var)
        problems.extend(var_problems)
        if value is not None:
            kwargs[attr] = value
    return problems, MeshSettings(**kwargs)


# ---------------------------------------------------------------- identities


def check_identities(
    inventory: Mapping[str, Mapping[str, Any]], settings: MeshSettings
) -> tuple[list[str], dict[str, Identity]]:
    problems: list[str] = []
    identities: dict[str, Identity] = {}
    for host, host_vars in inventory.items():
        try:
            identities[host] = derive_identity(host, settings, host_vars)
        except MeshError as exc:
            problems.extend(exc.messages)
    problems.extend(find_collisions(identities.values()))
    for ident in identities.values():
        if ident.gre_name == settings.wg_interface:
            problems.append(
                f"{ident.hostname}: meshover_gre_name {ident.gre_name!r} is the WireGuard interface name: "
                "set another meshover_gre_name"
            )
    return problems, identities


# ---------------------------------------------------------------- endpoints and ports


def check_endpoints(
    inventory: Mapping[str, Mapping[str, Any]],
) -> tuple[list[str], dict[str, Underlay], Topology | None]:
    """Each endpoint parses (parse_endpoints: one or two unicast addresses another host can reach, at most one
    per family), and no two hosts share an endpoint and port; the underlay families are known and every host
    can reach the mesh (directly or through transit). Addresses are compared parsed, so 2001:DB8:0::1 is
    2001:db8::1. Returns the problems, the underlay of each host whose underlay variables parsed (its
    endpoints are the addresses the other hosts dial; none behind NAT) and, when they all did, the topology."""
    problems: list[str] = []
    underlays: dict[str, Underlay] = {}
    seen: dict[tuple[str, int], list[str]] = {}
    for host, host_vars in inventory.items():
        nat = _host_value(problems, host, host_vars, "meshover_nat", parse_bool, False)
        port = _host_value(
            problems, host, host_vars, "meshover_wg_port", lambda v: parse_int(v, 1, 65535), DEFAULT_WG_PORT
        )
        families = _host_value(problems, host, host_vars, "meshover_underlay_families", parse_families, None)
        raw = host_vars.get("meshover_endpoint")
        addrs: tuple[Address, ...] | None = ()
        if raw is None:
            if nat is False:
                problems.append(
                    f"{host}: meshover_endpoint is missing: set the host's underlay IPv6 or IPv4 address (or both, "
                    "as a list), or meshover_nat: true if the other hosts cannot reach it"
                )
                continue
        elif nat is True:
            problems.append(
                f"{host}: meshover_endpoint and meshover_nat: true are both set: meshover_nat says no other host can "
                "reach this one; remove meshover_endpoint, or meshover_nat if the address can be reached"
            )
            continue
        else:
            addrs = _host_value(problems, host, host_vars, "meshover_endpoint", parse_endpoints, None)
        if addrs is None or nat is None or port is None:
            continue
        if families is None:
            if "meshover_underlay_families" in host_vars and host_vars["meshover_underlay_families"] is not None:
                continue
            families = default_families(addrs)
        missing = sorted({a.version for a in addrs} - families, reverse=True)
        if missing:
            problems.append(
                f"{host}: meshover_underlay_families leaves out {' and '.join(f'ipv{v}' for v in missing)}, the "
                "family of its own meshover_endpoint: add it, or remove that endpoint"
            )
            continue
        underlays[host] = Underlay(host=host, endpoints=addrs, families=families, port=port)
        for addr in addrs:
            seen.setdefault((str(addr), port), []).append(host)
    for (addr, port), hosts in seen.items():
        if len(hosts) > 1:
            spelt = sorted({w for h in hosts for w in _spellings(inventory[h]["meshover_endpoint"], addr)})
            written = f" (written {', '.join(repr(w) for w in spelt)})" if spelt else ""
            problems.append(
                f"{join_names(hosts)}: meshover_endpoint {addr}{written} with meshover_wg_port {port} is the same on "
                "several hosts: give each host its own underlay address (or its own meshover_wg_port)"
            )
    if problems:
        return problems, underlays, None
    topology = Topology(underlays)
    if len(underlays) > 1:
        problems.extend(topology.problems())
    return problems, underlays, topology


def _spellings(raw: Any, addr: str) -> list[str]:
    """How an inventory wrote addr, where that differs from its canonical form (2001:DB8:0::1 for 2001:db8::1)."""
    out = []
    for item in raw if isinstance(raw, (list, tuple)) else [raw]:
        try:
            if str(item) != addr and str(ipaddress.ip_address(item)) == addr:
                out.append(str(item))
        except ValueError:
            continue
    return out


class EndpointIndex:
    """The endpoints sorted by address, to find those inside a prefix in O(log n)."""

    def __init__(self, endpoints: Mapping[str, tuple[Address, ...]]) -> None:
        ordered = sorted((a.version, int(a), h, a) for h, addrs in endpoints.items() for a in addrs)
        self._keys = [(version, value) for version, value, _host, _addr in ordered]
        self._pairs = [(host, addr) for _version, _value, host, addr in ordered]

    def inside(self, net: Network) -> list[tuple[str, Address]]:
        low = bisect.bisect_left(self._keys, (net.version, int(net.network_address)))
        high = bisect.bisect_right(self._keys, (net.version, int(net.broadcast_address)))
        return self._pairs[low:high]


def _host_value(
    problems: list[str], host: str, host_vars: Mapping[str, Any], var: str, parser: Any, default: Any
) -> Any:
    """Parse one per-host variable; on error append a message and return None."""
    value = host_vars.get(var)
    if value is None:
        return default
    try:
        return parser(value)
    except ValueError as exc:
        problems.append(f"{host}: {var} = {value!r} {exc}")
        return None


def check_public_keys(inventory: Mapping[str, Mapping[str, Any]]) -> list[str]:
    problems: list[str] = []
    for host, host_vars in inventory.items():
        _host_value(problems, host, host_vars, "meshover_wg_public_key", parse_wg_public_key, None)
    return problems


# ---------------------------------------------------------------- prefixes


@dataclass(frozen=True)
class Claim:
    host: str
    var: str
    net: Network

    def label(self) -> str:
        return f"{self.host} ({self.var} {self.net})"


def _host_claims(host: str, host_vars: Mapping[str, Any], problems: list[str]) -> list[Claim]:
    claims: list[Claim] = []
    for var in PREFIX_LIST_VARS:
        value = host_vars.get(var)
        if value is None:
            continue
        if not isinstance(value, (list, tuple)):
            problems.append(
                f"{host}: {var} = {value!r} is a {type(value).__name__}, not a list: write it as a YAML list"
            )
            continue
        for item in value:
            claim = _claim(host, var, item, problems)
            if claim is not None and any(c.net == claim.net and c.var == var for c in claims):
                problems.append(f"{host}: {var} lists {claim.net} twice: remove the duplicate")
            elif claim is not None:
                claims.append(claim)
    return claims


def _claim(host: str, var: str, item: Any, problems: list[str]) -> Claim | None:
    try:
        net = parse_prefix(item)
    except ValueError as exc:
        problems.append(f"{host}: {var} entry {item!r} {exc}")
        return None
    if net.prefixlen == 0 and var == "meshover_announce":
        problems.append(
            f"{host}: meshover_announce has the default route {net}: meshover announces the prefixes of the "
            "workloads behind a node, not a default route; list those prefixes"
        )
        return None
    if net.prefixlen == 0:
        problems.append(
            f"{host}: meshover_gathering has the default route {net}: that is not a source block (every "
            f"address, the nodes' own included, would leave through {host}); list the blocks of addresses "
            f"(SNAT pools, LoadBalancer IPs) whose traffic must leave through {host}"
        )
        return None
    reason = unroutable(net)
    if reason:
        problems.append(f"{host}: {var} entry {item!r} {reason}")
        return None
    return Claim(host, var, net)


def _mesh_overlaps(claim: Claim, settings: MeshSettings) -> str | None:
    for var, mesh_net in (("meshover_prefix6", settings.net6), ("meshover_pool4", settings.pool4)):
        if mesh_net is None or claim.net.version != mesh_net.version or claim.net.prefixlen == 0:
            continue
        if claim.net.overlaps(mesh_net):  # type: ignore[arg-type]
            return (
                f"{claim.host}: {claim.var} {claim.net} overlaps the mesh's own {var} {mesh_net}: "
                "use a prefix outside the mesh's address plan"
            )
    return None


def _cross_host_overlaps(claims: list[Claim]) -> list[str]:
    """Sweep sorted prefixes; CIDR blocks are either nested or disjoint, so open blocks form a stack."""
    problems = []
    ordered = sorted(claims, key=lambda c: (c.net.version, int(c.net.network_address), c.net.prefixlen))
    stack: list[Claim] = []
    for claim in ordered:
        while stack and not (
            stack[-1].net.version == claim.net.version and claim.net.subnet_of(stack[-1].net)  # type: ignore[arg-type]
        ):
            stack.pop()
        for outer in stack:
            # an announced prefix is a route, a gathered one a source block: another host's VMs may use
            # (and announce) addresses of the block this host gathers; two routes or two gateways conflict
            if outer.host != claim.host and outer.var == claim.var:
                problems.append(_overlap_message(outer, claim))
        stack.append(claim)
    return problems


def _gathering_without_reply_path(claims: list[Claim], settings: MeshSettings) -> list[str]:
    """A gathered block whose addresses no other host can use: the replies to them arrive at the gathering
    host, which routes them back through the mesh only with a BGP route, and BGP carries an address of the
    block only inside meshover_shared_prefixes (PureLB VIPs, Coil pods) or another host's meshover_announce
    (its VMs)."""
    shared = [ipaddress.ip_network(p) for p in settings.shared_prefixes]
    problems = []
    for claim in claims:
        if claim.var != "meshover_gathering":
            continue
        routed = [
            net
            for net in shared + [c.net for c in claims if c.var == "meshover_announce" and c.host != claim.host]
            if net.version == claim.net.version and net.overlaps(claim.net)  # type: ignore[arg-type]
        ]
        if not routed:
            problems.append(
                f"{claim.host}: meshover_gathering {claim.net} overlaps no prefix that BGP carries, so no other host "
                f"can use its addresses (the replies, arriving at {claim.host}, would have no route back through the "
                "mesh): add the block, or the part the other hosts use, to meshover_shared_prefixes (PureLB VIPs, Coil "
                "pods), or to the meshover_announce of the host whose VMs use it"
            )
    return problems


def _overlap_message(outer: Claim, inner: Claim) -> str:
    what = f"the same prefix {inner.net}" if outer.net == inner.net else "overlapping prefixes"
    return (
        f"{outer.label()} and {inner.label()} claim {what}: a prefix belongs to one host; "
        "remove it from one of them (or use meshover_shared_prefixes for anycast)"
    )


def check_prefixes(
    inventory: Mapping[str, Mapping[str, Any]], settings: MeshSettings, endpoints: Mapping[str, tuple[Address, ...]]
) -> tuple[list[str], list[Claim]]:
    """Announced and gathered prefixes (routable, not twice, not another host's, outside the mesh's address
    plan) and the endpoints (from check_endpoints) that a prefix of the mesh would route into the mesh.
    Returns the problems and every entry that parsed (a Claim: host, variable, prefix; in inventory order)."""
    problems: list[str] = []
    claims: list[Claim] = []
    for host, host_vars in inventory.items():
        claims.extend(_host_claims(host, host_vars, problems))
    for claim in claims:
        message = _mesh_overlaps(claim, settings)
        if message:
            problems.append(message)
    problems.extend(_cross_host_overlaps([c for c in claims if c.net.prefixlen > 0]))
    problems.extend(_gathering_without_reply_path(claims, settings))
    for shared in settings.shared_prefixes:
        message = _mesh_overlaps(Claim("mesh", "meshover_shared_prefixes", ipaddress.ip_network(shared)), settings)
        if message:
            problems.append(message)
    problems.extend(_routed_endpoints(EndpointIndex(endpoints), claims, settings))
    return problems, claims


_TUNNEL_IN_ITSELF = "a tunnel carried inside itself, which takes the sessions down"


def _routed_endpoints(index: EndpointIndex, claims: list[Claim], settings: MeshSettings) -> list[str]:
    """Endpoints that the mesh would route into the mesh: inside a prefix some host announces (its own
    endpoint included: the others would reach it through their tunnel to it), a shared prefix (a Coil
    block, PureLB VIP or anycast route covering it), or the mesh's own address plan. WireGuard packets to
    that endpoint would then enter the overlay they carry. meshover_gathering is a source block, not a
    route: check_gathering checks the endpoints inside it."""
    problems = []
    for claim in claims:
        if claim.var != "meshover_announce":
            continue
        inside = index.inside(claim.net)
        own = [(host, addr) for host, addr in inside if host == claim.host]
        others = [(host, addr) for host, addr in inside if host != claim.host]
        for host, addr in own:
            problems.append(
                f"{host}: meshover_announce {claim.net} contains the host's own meshover_endpoint {addr}: the other "
                f"hosts would route their WireGuard packets for {host} into the mesh ({_TUNNEL_IN_ITSELF}); "
                f"announce only prefixes that leave {addr} out, or give {host} an endpoint outside {claim.net}"
            )
        if others:
            named = [f"{host}'s meshover_endpoint {addr}" for host, addr in others[:3]]
            if len(others) > 3:
                named.append(f"{len(others) - 3} more")
            if len(others) == 1:
                whom, fix = others[0][0], f"leave {others[0][1]} out, or give {others[0][0]} an endpoint"
            else:
                whom, fix = "them", "leave the endpoints out, or give those hosts endpoints"
            problems.append(
                f"{hosts_label([claim.host] + [host for host, _addr in others])}: {claim.host}'s meshover_announce "
                f"{claim.net} contains {join_names(named)}: the hosts would route their WireGuard packets for {whom} "
                f"into the mesh ({_TUNNEL_IN_ITSELF}); announce only prefixes that {fix} outside {claim.net}"
            )
    for shared in settings.shared_prefixes:
        net = ipaddress.ip_network(shared)
        inside = index.inside(net)
        if inside:
            problems.append(
                f"{_endpoints_label(inside)} inside meshover_shared_prefixes {net}: a route inside it (a Coil block, "
                f"a PureLB address, an anycast prefix) that covers an endpoint would carry the WireGuard packets "
                f"for that host into the mesh ({_TUNNEL_IN_ITSELF}); take the endpoints' range out of "
                "meshover_shared_prefixes, or give these hosts endpoints outside it"
            )
    plan = [("meshover_prefix6", settings.net6, "loopbacks and WireGuard transport addresses")]
    if settings.pool4 is not None:
        plan.append(("meshover_pool4", settings.pool4, "IPv4 loopbacks"))
    for var, net, what in plan:
        inside = index.inside(net)
        if inside:
            problems.append(
                f"{_endpoints_label(inside)} inside the mesh's own {var} {net}: the mesh's {what} live there and "
                f"are routed through the mesh ({_TUNNEL_IN_ITSELF}); use each host's underlay address, outside {var}"
            )
    return problems


def _endpoints_label(inside: list[tuple[str, Address]]) -> str:
    """'n1: meshover_endpoint 10.0.0.1 is' or 'n1 and n2: meshover_endpoint 10.0.0.1, 10.0.0.2 are'."""
    hosts = [host for host, _addr in inside]
    addrs = ", ".join(str(addr) for _host, addr in inside[:3]) + (", ..." if len(inside) > 3 else "")
    return f"{hosts_label(hosts)}: meshover_endpoint {addrs} {'is' if len(inside) == 1 else 'are'}"


# ---------------------------------------------------------------- routing (frr_bgp)


def check_bgp(
    inventory: Mapping[str, Mapping[str, Any]], tables: Mapping[str, int]
) -> tuple[list[str], BgpSettings, dict[str, dict[str, Any]]]:
    """Routing variables: mesh-wide ones agree and parse, per-host ones parse, named hosts exist, no Coil table
    is a source-routing table (tables: gathering host -> table). Returns the problems, the mesh-wide settings
    and each host's options (var -> value, defaults filled in; an explicit null of a NULLABLE_HOST_OPTIONS
    variable is None: that hand-off is off) of the hosts whose options all parsed."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for var, (parser, default) in BGP_MESH_PARSERS.items():
        var_problems, value = _mesh_var(inventory, var, parser, default)
        problems.extend(var_problems)
        if value is not None:
            values[var] = value
    for host in values.get("meshover_default_route_from", ()):
        if host not in inventory:
            problems.append(
                f"meshover_default_route_from names {host!r}, which is not a mesh host: "
                "list inventory hostnames of the mesh group"
            )
    options: dict[str, dict[str, Any]] = {}
    for host, host_vars in inventory.items():
        before = len(problems)
        host_options = {
            var: None
            if var in NULLABLE_HOST_OPTIONS and var in host_vars and host_vars[var] is None
            else _host_value(problems, host, host_vars, var, parser, default)
            for var, (parser, default) in BGP_HOST_PARSERS.items()
        }
        if len(problems) == before:
            options[host] = host_options
        problem = loopback4_problem(
            str(host_vars.get("meshover_frr_extra_config") or ""),
            bool(host_vars.get("meshover_pool4") or host_vars.get("meshover_loopback4")),
        )
        if problem:
            problems.append(f"{host}: {problem}")
    problems.extend(_coil_table_clashes(options, tables))
    return problems, bgp_settings_from(values), options


def _coil_table_clashes(options: Mapping[str, Mapping[str, Any]], tables: Mapping[str, int]) -> list[str]:
    """A Coil table must not be a source-routing table: every node but the gathering host routes through one,
    and the Coil method reads its table whole (FRR < 10 binds a VRF to it)."""
    by_table: dict[int, list[str]] = {}
    for gatherer, table in tables.items():
        by_table.setdefault(table, []).append(gatherer)
    problems = []
    for host, host_options in options.items():
        table = host_options["meshover_coil_table"]
        if table in by_table:
            problems.append(
                f"{host}: meshover_coil_table {table} is the source-routing table of {', '.join(by_table[table])} "
                "(meshover_gathering): give Coil's export table another id (coild --export-table-id), or move "
                "the gathering host's table with meshover_gathering_table"
            )
    return problems


def check_coil_nat(
    inventory: Mapping[str, Mapping[str, Any]], options: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], dict[str, tuple[Network, ...]]]:
    """meshover_coil_nat_sources parses (_nat.parse_nat_sources) and, when it lists anything, the host hands
    Coil's routes to the mesh (meshover_coil_table; options: check_bgp's, of the hosts whose routing variables
    parsed). Returns the problems and each host's parsed sources (empty when unset or wrong)."""
    problems: list[str] = []
    sources: dict[str, tuple[Network, ...]] = {}
    for host, host_vars in inventory.items():
        parsed = _host_value(problems, host, host_vars, "meshover_coil_nat_sources", parse_nat_sources, ())
        sources[host] = parsed or ()
        if parsed and host in options and options[host]["meshover_coil_table"] is None:
            problems.append(
                f"{host}: meshover_coil_nat_sources is set but meshover_coil_table is not: the NAT is for the pods "
                "of Coil, whose routes the host hands to the mesh only with that table; set meshover_coil_table: "
                "119 (the table coild exports to) on the host, or drop meshover_coil_nat_sources"
            )
    return problems, sources


def check_maximum_prefix(
    inventory: Mapping[str, Mapping[str, Any]],
    identities: Mapping[str, Identity],
    bgp: BgpSettings,
    announce: Mapping[str, tuple[Network, ...]],
) -> list[str]:
    """meshover_bgp_maximum_prefix must be above the number of the mesh's own prefixes in each address family:
    a session may carry every host's loopbacks and meshover_announce, and FRR ends a session above the limit.
    announce: host -> its meshover_announce entries that parsed (check_prefixes)."""
    counts = owned_prefix_counts(identities, announce)
    set_here = any(host_vars.get("meshover_bgp_maximum_prefix") is not None for host_vars in inventory.values())
    shown = f"= {bgp.maximum_prefix}" if set_here else f"(default {bgp.maximum_prefix})"
    problems = []
    for af, count in counts.items():
        if count >= bgp.maximum_prefix:
            problems.append(
                f"meshover_bgp_maximum_prefix {shown} is not above the {count} {af.replace('ip', 'IP')} prefixes the "
                "inventory itself puts in the mesh (every host's loopbacks and meshover_announce): a session may "
                "carry them all, and FRR would end it; set meshover_bgp_maximum_prefix above "
                f"{count} plus the Coil blocks, PureLB addresses and more-specifics you expect"
            )
    return problems


# ---------------------------------------------------------------- entry points


def _normalise(inventory: Any) -> tuple[list[str], dict[str, Mapping[str, Any]]]:
    if not isinstance(inventory, Mapping):
        return [f"inventory is a {type(inventory).__name__}, not a dict of host -> meshover_* variables"], {}
    problems = []
    clean: dict[str, Mapping[str, Any]] = {}
    for host, host_vars in inventory.items():
        if host_vars is None:
            host_vars = {}
        if not isinstance(host_vars, Mapping):
            problems.append(
                f"{host}: variables are a {type(host_vars).__name__}, not a dict: pass a dict of meshover_* vars"
            )
            continue
        clean[str(host)] = host_vars
    if not clean and not problems:
        problems.append("inventory is empty: the mesh needs at least one host")
    return problems, clean


def check(
    inventory: Any,
    role_vars: Mapping[str, Mapping[str, Any]] | None = None,
    role_specs: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
) -> PreflightResult:
    """Validate the whole inventory (and the roles' variables it sets, against role_specs: _rolevars.role_specs_from);
    also return what it parsed (settings, identities, HostValues, tables, topology)."""
    problems, clean = _normalise(inventory)
    problems.extend(check_role_vars(role_vars or {}, role_specs or {}))
    problems.extend(check_unknown(clean))
    mesh_problems, settings = check_mesh_settings(clean)
    problems.extend(mesh_problems)
    ident_problems, identities = check_identities(clean, settings)
    problems.extend(ident_problems)
    endpoint_problems, underlays, topology = check_endpoints(clean)
    problems.extend(endpoint_problems)
    endpoints = {host: underlay.endpoints for host, underlay in underlays.items()}
    problems.extend(check_public_keys(clean))
    prefix_problems, claims = check_prefixes(clean, settings, endpoints)
    problems.extend(prefix_problems)
    parsed: dict[str, dict[str, list[Network]]] = {var: {host: [] for host in clean} for var in PREFIX_LIST_VARS}
    for claim in claims:
        parsed[claim.var][claim.host].append(claim.net)
    announce = {host: tuple(nets) for host, nets in parsed["meshover_announce"].items()}
    gathering = {host: source_blocks(nets) for host, nets in parsed["meshover_gathering"].items()}
    gathering_problems, tables = check_gathering(clean, gathering, endpoints)
    problems.extend(gathering_problems)
    bgp_problems, bgp, options = check_bgp(clean, tables)
    problems.extend(bgp_problems)
    nat_problems, nat_sources = check_coil_nat(clean, options)
    problems.extend(nat_problems)
    problems.extend(check_maximum_prefix(clean, identities, bgp, announce))
    problems.extend(check_role_against_plan(clean, role_vars or {}, settings, underlays, options))
    hosts = {
        host: HostValues(underlays[host], announce[host], gathering[host], options[host], nat_sources[host])
        for host in clean
        if host in underlays and host in options
    }
    return PreflightResult(
        problems=problems,
        settings=settings,
        identities=identities,
        bgp=bgp,
        hosts=hosts,
        tables=tables,
        topology=None if problems else topology,
    )


# Role variables whose default is the plan's value (or another role's): set in the inventory to something else,
# one role would work on an interface, port or FRR the others do not use. Role variable -> what to set instead.
PLAN_DERIVED = {
    "gre_overlay_wg_interface": "meshover_wg_interface",
    "gre_overlay_wg_port": "meshover_wg_port",
    "gre_overlay_firewall_exporter_port": "exporter_port",
    "exporter_frr_mode": "meshover_frr_mode",
}
# Debian's frr package reads /etc/frr only (frr.service, frrinit.sh): package mode writes there.
PACKAGE_CONFIG_DIR = "/etc/frr"
DEFAULT_EXPORTER_PORT = 9474


def check_role_against_plan(
    hosts: Iterable[str],
    role_vars: Mapping[str, Mapping[str, Any]],
    settings: MeshSettings,
    underlays: Mapping[str, Underlay],
    options: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """Role variables that contradict the mesh: a plan-derived one set to another value than the plan's, the FRR
    configuration directory of package mode, and exporter ports that differ (the exporters federate, and meshover's
    Prometheus scrapes, on one port). hosts: the mesh's; role_vars: host -> the role variables its inventory sets."""
    problems = []
    ports: dict[int, list[str]] = {}
    for host in sorted(hosts):
        rv = role_vars.get(host) or {}
        port = rv.get("exporter_port", DEFAULT_EXPORTER_PORT)
        mesh_value = {
            "gre_overlay_wg_interface": settings.wg_interface,
            "gre_overlay_wg_port": underlays[host].port if host in underlays else None,
            "gre_overlay_firewall_exporter_port": port,
            "exporter_frr_mode": options[host]["meshover_frr_mode"] if host in options else None,
        }
        for var, source in PLAN_DERIVED.items():
            if var in rv and mesh_value[var] is not None and str(rv[var]) != str(mesh_value[var]):
                problems.append(
                    f"{host}: {var} is {rv[var]!r} while {source} makes it {mesh_value[var]!r}: leave {var} unset "
                    f"(it follows {source}), or set {source}"
                )
        mode = options[host]["meshover_frr_mode"] if host in options else None
        config_dir = rv.get("frr_bgp_config_dir", PACKAGE_CONFIG_DIR)
        if mode == "package" and config_dir != PACKAGE_CONFIG_DIR:
            problems.append(
                f"{host}: frr_bgp_config_dir is {config_dir!r} in package mode: Debian's frr reads "
                f"{PACKAGE_CONFIG_DIR} only; leave it unset (another directory serves container mode only)"
            )
        if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:  # else a problem of its own
            ports.setdefault(port, []).append(host)
    if len(ports) > 1:
        spread = "; ".join(f"{port} on {hosts_label(hosts)}" for port, hosts in sorted(ports.items()))
        problems.append(
            f"exporter_port differs between hosts ({spread}): the exporters ask each other for state (/mesh.html) "
            "and meshover's Prometheus scrapes them on one port; set one value for the whole mesh"
        )
    return problems


def validate(inventory: Any) -> list[str]:
    """Return one message per problem in inventory (host -> meshover_* vars); empty means OK."""
    return check(inventory).problems


def report(
    inventory: Any,
    role_vars: Mapping[str, Mapping[str, Any]],
    role_specs: Mapping[str, tuple[str, Mapping[str, Any]]],
    inventory_dirs: Mapping[str, Any],
    export: Any,
    export_error: str,
    isfile: Callable[[str], bool],
) -> tuple[PreflightResult, list[str]]:
    """Everything meshover.mesh.mesh_preflight checks: check(), the FRR templates on the controller (isfile), and
    (export: ansible-inventory --export's JSON) a host given two values by two groups. Returns the result, its
    problems extended, and the warnings."""
    result = check(inventory, role_vars, role_specs)
    if not isinstance(inventory, Mapping):
        return result, []
    result.problems.extend(template_problems(inventory, inventory_dirs, isfile))
    warnings = []
    error = (export_error or "").strip()
    if not error and (export.strip() if isinstance(export, str) else export):
        try:
            groups, host_vars = parse_export(export)
        except ValueError as exc:
            error = f"its output is not the inventory's JSON ({exc})"
        else:
            result.problems.extend(
                conflicts(groups, inventory, host_vars, lambda name: name.startswith("meshover_") or name in role_specs)
            )
    if error:
        warnings.append(f"group variables not compared (a host given two values by two groups is not found): {error}")
    return result, warnings
