# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""Source routing ("gathering") on the controller: table ids, the preflight's checks, each host's plan.

A host that declares ``meshover_gathering: [C, ...]`` holds the upstream for those blocks. Every OTHER
host sends packets whose source is in C through its GRE tunnel to that host: its plan gets one gateway
``{host, table, dev, prefixes}`` per gathering host, and the mesh's destinations that keep normal
routing (``exempt``). The node side (rules, tables, the boot replay files) is module_utils/node/_source_routing.py.
The values come parsed from the preflight (module_utils/controller/_preflight.py): nothing here reads
meshover_gathering or meshover_endpoint itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Union

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (
    MeshSettings,
    canonical_hostname,
    join_names,
    parse_int,
    parse_range,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._nat import mesh_routed
from ansible_collections.meshover.mesh.plugins.module_utils.node._source_routing import (
    PROTO,
    RESERVED_TABLES,
    RULE_PRIORITY,
    TABLE_RANGE_VAR,
    TABLE_VAR,
    Network,
)

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

DEFAULT_TABLE_RANGE = (20000, 29999)
TABLE_LIMITS = (1, 4294967294)
# Destinations that never leave a link: never source-routed.
LOCAL_SCOPE = ("169.254.0.0/16", "224.0.0.0/4", "fe80::/10", "ff00::/8")


# ---------------------------------------------------------------- parsers and table ids


def parse_table_range(value: Any) -> tuple[int, int]:
    low, high = parse_range(value, TABLE_LIMITS, DEFAULT_TABLE_RANGE)
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


def source_blocks(nets: Iterable[Network]) -> tuple[Network, ...]:
    """The source-routed blocks of a host's parsed meshover_gathering: sorted, each once, no default route
    (a default route would make the host a default gateway for destinations: BGP's business, not a source
    block; the preflight refuses it)."""
    return tuple(sorted({net for net in nets if net.prefixlen > 0}, key=_net_key))


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


def gathering_tables(
    inventory: Mapping[str, Mapping[str, Any]], gathering: Mapping[str, Iterable[Network]], problems: list[str]
) -> dict[str, int]:
    """Table id of every host with source-routed blocks (gathering: host -> source_blocks()), host -> table.
    Parses meshover_gathering_table(_range); appends problems (bad values, collisions naming both hosts and
    the override) to ``problems``."""
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
        if not gathering.get(host):
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


def check_gathering(
    inventory: Mapping[str, Mapping[str, Any]],
    gathering: Mapping[str, Iterable[Network]],
    endpoints: Mapping[str, Iterable[Address]],
) -> tuple[list[str], dict[str, int]]:
    """Source-routing problems of a whole inventory, and the table of each gathering host: table range, table
    overrides and collisions, and WireGuard endpoints (host -> the addresses the others dial) inside another
    host's gathered block (its tunnels would be routed into themselves)."""
    problems: list[str] = []
    # Few hosts gather: a flat list keeps the endpoint check linear in the inventory's size.
    gathered_nets = [(other, net) for other, nets in gathering.items() for net in nets]
    tables = gathering_tables(inventory, gathering, problems)
    for host, host_vars in inventory.items():
        if host_vars.get(TABLE_VAR) is not None and not gathering.get(host):
            problems.append(
                f"{host}: {TABLE_VAR} is set but the host has no meshover_gathering prefix: remove {TABLE_VAR}"
            )
        for addr in endpoints.get(host, ()):
            for other, net in gathered_nets:
                if other != host and net.version == addr.version and addr in net:
                    problems.append(
                        f"{host}: meshover_endpoint {addr} is inside {other}'s meshover_gathering {net}: its "
                        "WireGuard packets would be source-routed into the mesh; use an endpoint outside it"
                    )
    return problems, tables


# ---------------------------------------------------------------- plan


def mesh_exempt(
    announce: Mapping[str, Iterable[Network]], endpoints: Mapping[str, Iterable[Address]], settings: MeshSettings
) -> list[str]:
    """Destinations inside the mesh: they keep normal routing even from a gathered source. announce: host ->
    its parsed meshover_announce; endpoints: host -> the addresses the others dial."""
    nets: set[Network] = set(mesh_routed(announce, settings))
    nets.update(ipaddress.ip_network(p) for p in LOCAL_SCOPE)
    for addrs in endpoints.values():
        nets.update(ipaddress.ip_network(addr) for addr in addrs)
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
