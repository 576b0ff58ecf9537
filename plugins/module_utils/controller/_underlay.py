# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""The underlay as the internet is: which pairs of hosts can peer directly, and through whom the others go.

Each host has up to two endpoints (one IPv6, one IPv4: meshover_endpoint) that the others can dial, or none
(meshover_nat), and the address families in which it can send to the others (meshover_underlay_families;
by default the families of its endpoints, IPv4 for a host behind NAT). Two hosts peer directly when they
share a family in which at least one of them has an endpoint; every other pair reaches each other over BGP
through hosts that peer with both (transit).

Pairs are decided per *profile* (families, families with an endpoint): a mesh has at most a handful of
profiles, so deciding and routing between them costs nothing next to the N^2 peer entries.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (
    DEFAULT_WG_PORT,
    hosts_label,
    parse_endpoint,
)

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
FAMILY_NAMES = {"ipv6": 6, "ipv4": 4}
_LABEL = {6: "IPv6", 4: "IPv4"}


def parse_endpoints(value: Any) -> tuple[Address, ...]:
    """meshover_endpoint: one address, or a list of one IPv6 and/or one IPv4 address (IPv6 first in the result)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError("is an empty list: give one address, or one IPv6 and one IPv4 address")
    if len(items) > 2:
        raise ValueError(f"has {len(items)} addresses: give at most two, one IPv6 and one IPv4")
    addrs: list[Address] = []
    for item in items:
        try:
            addrs.append(parse_endpoint(item))
        except ValueError as exc:
            raise ValueError(f"{item!r} {exc}" if len(items) > 1 else str(exc)) from None
    if len(addrs) == 2 and addrs[0].version == addrs[1].version:
        raise ValueError(
            f"has two {_LABEL[addrs[0].version]} addresses ({addrs[0]}, {addrs[1]}): give at most one per family"
        )
    return tuple(sorted(addrs, key=lambda a: -a.version))


def parse_families(value: Any) -> frozenset[int]:
    """meshover_underlay_families: a non-empty list of 'ipv6' and/or 'ipv4'."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("must be a non-empty list of ipv6 and/or ipv4")
    families = set()
    for item in value:
        if not isinstance(item, str) or item.lower() not in FAMILY_NAMES:
            raise ValueError(f"has {item!r}: each item must be ipv6 or ipv4")
        families.add(FAMILY_NAMES[item.lower()])
    return frozenset(families)


@dataclass(frozen=True)
class Underlay:
    """How one host reaches the others over the underlay."""

    host: str
    endpoints: tuple[Address, ...] = ()
    families: frozenset[int] = frozenset({6})
    port: int = DEFAULT_WG_PORT
    # (families, families with an endpoint): what decides this host's pairs; computed once
    profile: tuple[frozenset[int], frozenset[int]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", (self.families, frozenset(a.version for a in self.endpoints)))

    def endpoint(self, family: int) -> Address | None:
        for addr in self.endpoints:
            if addr.version == family:
                return addr
        return None

    @property
    def nat(self) -> bool:
        return not self.endpoints

    def describe(self) -> str:
        """'IPv4 only, behind NAT' / 'IPv6 and IPv4, endpoint 2001:db8::1'."""
        fams = " and ".join(_LABEL[f] for f in (6, 4) if f in self.families)
        fams += " only" if len(self.families) == 1 else ""
        where = "behind NAT" if self.nat else "endpoint " + ", ".join(str(a) for a in self.endpoints)
        return f"{fams}, {where}"


def default_families(endpoints: Iterable[Address]) -> frozenset[int]:
    """The families of the endpoints; IPv4 for a host behind NAT (NAT is an IPv4 thing)."""
    return frozenset(a.version for a in endpoints) or frozenset({4})


def link_family(a: Underlay, b: Underlay) -> int | None:
    """The family a and b peer in: one both have and in which at least one of them can be dialled; a family
    in which both can be dialled first, then IPv6. None: they cannot peer directly."""
    one_sided = None
    for family in (6, 4):
        if family in a.families and family in b.families:
            ea, eb = a.endpoint(family) is not None, b.endpoint(family) is not None
            if ea and eb:
                return family
            if (ea or eb) and one_sided is None:
                one_sided = family
    return one_sided


class Topology:
    """Which pairs peer directly (and in which family), and the first transit hop of every other pair."""

    def __init__(self, underlays: Mapping[str, Underlay]) -> None:
        self.underlays = dict(underlays)
        self._members: dict[Any, list[str]] = {}
        for host in sorted(self.underlays):
            self._members.setdefault(self.underlays[host].profile, []).append(host)
        profiles = list(self._members)
        rep = {p: self.underlays[self._members[p][0]] for p in profiles}
        self._family = {(p, q): link_family(rep[p], rep[q]) for p in profiles for q in profiles}
        self._next: dict[tuple[Any, Any], Any] = {}
        self._hops = 1  # the most underlay hops on a shortest path between two hosts (1: every pair peers)
        for p in profiles:
            self._next.update(self._first_hops(p, profiles))

    def _first_hops(self, start: Any, profiles: list[Any]) -> dict[tuple[Any, Any], Any]:
        """BFS over profiles from start: (start, q) -> the first profile on a shortest path to q."""
        first: dict[Any, Any] = {}
        depth: dict[Any, int] = {}
        queue: deque[Any] = deque()
        for q in profiles:
            if q != start and self._family[start, q] is not None:
                first[q], depth[q] = q, 1
                queue.append(q)
        while queue:
            here = queue.popleft()
            for q in profiles:
                if q != start and q not in first and self._family[here, q] is not None:
                    first[q], depth[q] = first[here], depth[here] + 1
                    queue.append(q)
        hops = {(start, q): hop for q, hop in first.items()}
        if self._family[start, start] is None:  # hosts of this profile reach each other through a neighbour
            neighbour = next((q for q in profiles if q != start and self._family[start, q] is not None), None)
            if neighbour is not None:
                hops[start, start] = neighbour
                depth[start] = 2
        self._hops = max([self._hops, *depth.values()])
        return hops

    def relay_depth(self) -> int:
        """How many ASNs a path may carry when a host passes it on to its peers (frr.conf's MO-RELAY).

        One less than the most underlay hops on a shortest path between two hosts, and at least 1. In a
        full mesh, and wherever one transit host joins a pair, that is 1: a host passes on only what it
        learned from the origin itself, which is all that rerouting through a third node and transit need.
        A path through two others then never spreads, so when a node dies the others withdraw its routes
        at once instead of first trying every longer path in turn (path hunting, docs/design.md).
        """
        return max(1, self._hops - 1)

    def families_from(self, a: str) -> dict[Any, int | None]:
        """peer profile -> the family host a peers with hosts of that profile in (None: transit)."""
        pa = self.underlays[a].profile
        return {q: self._family[pa, q] for q in self._members}

    def family(self, a: str, b: str) -> int | None:
        """The family a and b peer in directly, None if they go through transit (or cannot reach each other)."""
        if a == b:
            return None
        return self._family[self.underlays[a].profile, self.underlays[b].profile]

    def via(self, a: str, b: str) -> str | None:
        """For a pair that does not peer directly, the host a sends b's traffic to (the first transit hop);
        None when they peer directly or cannot reach each other at all."""
        pa, pb = self.underlays[a].profile, self.underlays[b].profile
        if a == b or self._family[pa, pb] is not None:
            return None
        hop = self._next.get((pa, pb))
        if hop is None:
            return None
        return next((h for h in self._members[hop] if h not in (a, b)), None)

    def transit(self, a: str) -> dict[str, str]:
        """peer -> via for every peer of a that a reaches through transit."""
        if all(f is not None for f in self._family.values()):
            return {}
        out = {}
        for b in sorted(self.underlays):
            via = self.via(a, b)
            if via is not None:
                out[b] = via
        return out

    def problems(self) -> list[str]:
        """One message per group of hosts that cannot reach the rest of the mesh, even through transit."""
        groups: list[list[str]] = []
        placed: set[Any] = set()
        for p in self._members:
            if p in placed:
                continue
            group = [p] + [q for (s, q) in self._next if s == p and q != p]
            # a profile whose hosts cannot peer with each other is one group per host
            placed.update(group)
            groups.append(group)
        host_groups: list[list[str]] = []
        for group in groups:
            hosts = sorted(h for p in group for h in self._members[p])
            if len(group) == 1 and self._family[group[0], group[0]] is None:
                host_groups.extend([h] for h in hosts)
            else:
                host_groups.append(hosts)
        if len(host_groups) < 2:
            return []
        host_groups.sort(key=lambda g: (-len(g), g[0]))
        main = host_groups[0]
        problems = []
        for group in host_groups[1:]:
            who = self.underlays[group[0]]
            if len(group) == 1:
                what = f"{who.host}: cannot reach any other host over the underlay ({who.describe()})"
            else:
                what = f"{hosts_label(group)} cannot reach {hosts_label(main, limit=5)} over the underlay"
            problems.append(
                f"{what}: two hosts peer only when they share an address family (meshover_underlay_families) "
                "in which one of them has an endpoint (meshover_endpoint), directly or through other hosts; "
                f"give {'it' if len(group) == 1 else 'them'} or another host an endpoint in a family both sides "
                "have, or list the family the host really has in meshover_underlay_families"
            )
        return problems


__all__ = [
    "FAMILY_NAMES",
    "Topology",
    "Underlay",
    "default_families",
    "link_family",
    "parse_endpoints",
    "parse_families",
]
