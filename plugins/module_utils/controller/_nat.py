# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""Egress NAT for Coil's pods (meshover_coil_nat_sources, issue 16; the original's -coilnatsources).

parse_nat_sources() is the variable's parser (the preflight runs it); plan_nat() is the `nat` part of a host's
plan, which the gre_overlay role renders into the postrouting chain of table inet meshover: traffic from the
sources to a destination the mesh does not route is masqueraded, traffic to the mesh keeps its source.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Union

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import MeshSettings, parse_prefix_list

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
FAMILIES = ("ipv4", "ipv6")


def parse_nat_sources(value: Any) -> tuple[Network, ...]:
    """meshover_coil_nat_sources: a list of prefixes (IPv4 or IPv6, host bits zero), no default route, none
    unroutable, each once (compared parsed: 2001:DB8::/32 is 2001:db8::/32). Raises ValueError "<what is
    wrong>: <fix>"."""
    default_route = (
        "which would masquerade every source, the node's own addresses and the mesh's included: list the address "
        "blocks of the pods (Coil's pools), like 10.228.0.0/16"
    )
    return parse_prefix_list(value, default_route, unique=True, example="10.228.0.0/16")


def mesh_routed(announce: Mapping[str, Iterable[Network]], settings: MeshSettings) -> list[Network]:
    """Every prefix the mesh routes: its own address plan (meshover_prefix6, meshover_pool4), every host's
    meshover_announce (announce: host -> parsed) and meshover_shared_prefixes. Default routes are left out."""
    nets: set[Network] = {settings.net6}
    if settings.pool4 is not None:
        nets.add(settings.pool4)
    nets.update(ipaddress.ip_network(p) for p in settings.shared_prefixes)
    for nets_of_host in announce.values():
        nets.update(net for net in nets_of_host if net.prefixlen > 0)
    return sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen))


def _by_family(nets: Iterable[Network]) -> dict[str, list[str]]:
    """CIDR strings per family, overlaps and neighbours merged (an nft interval set refuses overlaps)."""
    out: dict[str, list[str]] = {}
    for af, version in zip(FAMILIES, (4, 6)):
        mine = [n for n in nets if n.version == version]
        out[af] = [str(n) for n in ipaddress.collapse_addresses(mine)]  # type: ignore[type-var]
    return out


def plan_nat(sources: Iterable[Network], routed: Iterable[Network]) -> dict[str, dict[str, list[str]]]:
    """The `nat` part of one host's plan.

    sources: its parsed meshover_coil_nat_sources; routed: mesh_routed() (shared by every host's plan).
    Returns {"sources": {ipv4, ipv6}, "exempt": {ipv4, ipv6}}: the blocks whose traffic is masqueraded, and per
    family that has sources, the destinations that keep the source address (the mesh's prefixes and the sources
    themselves), as CIDR strings with overlaps merged. Without sources every list is empty (no NAT).
    """
    sources = list(sources)
    by_family = _by_family(sources)
    if not any(by_family.values()):
        return {"sources": by_family, "exempt": _by_family(())}
    exempt = _by_family([*sources, *routed])
    return {"sources": by_family, "exempt": {af: exempt[af] if by_family[af] else [] for af in FAMILIES}}
