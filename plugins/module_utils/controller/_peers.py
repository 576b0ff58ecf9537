# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""The per-host mesh plan (WireGuard peers and GRE tunnels) computed once on the controller.

plan_mesh() is linear per host in the number of peers; pass for_hosts to plan only some hosts
(a full mesh of N hosts has N*(N-1) peer entries).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.meshover.mesh.plugins.module_utils.controller._bgp import (
    neighbour_entry,
    origin_table,
    plan_bgp,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._gathering import (
    mesh_exempt,
    plan_source_routing,
    unreachable_warnings,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (
    GRE_TTL,
    Identity,
    MeshError,
    MeshSettings,
    hosts_label,
    parse_endpoint,
    parse_wg_public_key,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._nat import mesh_routed, plan_nat
from ansible_collections.meshover.mesh.plugins.module_utils.controller._preflight import check
from ansible_collections.meshover.mesh.plugins.module_utils.controller._underlay import Topology, Underlay


@dataclass(frozen=True)
class Node:
    """Everything about one host that its peers need, precomputed once."""

    ident: Identity
    public_key: str | None
    underlay: Underlay
    transport: str
    allowed_ip: str
    link_local: str
    # The WireGuard peer entries other hosts get for this node, by (family, keepalive): shared by all
    # viewers to keep the N^2 plan cheap: treat plans as read-only (the module serialises them to JSON).
    wg_entries: dict[tuple[int, int], dict[str, Any]]

    def wg_entry(self, family: int, keepalive: int) -> dict[str, Any]:
        """The entry for a viewer that peers with this node in family, sending keepalives or not (0)."""
        key = (family, keepalive)
        entry = self.wg_entries.get(key)
        if entry is None:
            addr = self.underlay.endpoint(family)
            endpoint = None if addr is None else format_endpoint(str(addr), self.underlay.port)
            entry = wg_peer_entry(self.ident.hostname, self.public_key, endpoint, self.allowed_ip, keepalive)
            self.wg_entries[key] = entry
        return entry


def format_endpoint(address: str, port: int) -> str:
    """'[2001:db8::1]:51820' for IPv6, '192.0.2.1:51820' for IPv4."""
    addr = parse_endpoint(address)
    return f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"


def resolve_keys(
    inventory: Mapping[str, Mapping[str, Any]],
    learned_keys: Mapping[str, Any] | None,
    cached_keys: Mapping[str, str] | None = None,
) -> tuple[dict[str, str | None], dict[str, str], list[str]]:
    """Merge keys learned this run over the cached ones. Returns (keys, cache_updates, warnings).

    The cache is cached_keys (read from the key cache directory by mesh_peers: what the last run that
    reached the host learned) over the host variable meshover_wg_public_key (the same files when the
    cache directory is the inventory's host_vars, the default; the inventory's own value otherwise)."""
    learned_keys = learned_keys or {}
    cached_keys = cached_keys or {}
    warnings = []
    keys: dict[str, str | None] = {}
    updates: dict[str, str] = {}
    for host in learned_keys:
        if host not in inventory:
            warnings.append(
                f"{host}: a WireGuard public key was learned but the host is not in the mesh inventory: ignored"
            )
    for host, host_vars in inventory.items():
        cached = cached_keys.get(host) or host_vars.get("meshover_wg_public_key")
        learned = learned_keys.get(host)
        if learned is not None:
            try:
                learned = parse_wg_public_key(learned)
            except ValueError:
                warnings.append(f"{host}: the public key learned this run is not a WireGuard key: using the cached one")
                learned = None
        keys[host] = learned or cached
        if learned is not None and learned != cached:
            updates[host] = learned
    return keys, updates, warnings


def wg_peer_entry(
    name: str, public_key: str | None, endpoint: str | None, allowed_ip: str, keepalive: int
) -> dict[str, Any]:
    """The WireGuard peer entry a host gets for a peer."""
    return {
        "name": name,
        "public_key": public_key,
        "endpoint": endpoint,
        "allowed_ips": [allowed_ip],
        "persistent_keepalive": keepalive,
    }


def build_nodes(
    topology: Topology,
    identities: Mapping[str, Identity],
    keys: Mapping[str, str | None],
) -> list[Node]:
    nodes = []
    for host in sorted(topology.underlays):
        ident = identities[host]
        nodes.append(
            Node(
                ident=ident,
                public_key=keys.get(host),
                underlay=topology.underlays[host],
                transport=str(ident.transport6),
                allowed_ip=f"{ident.transport6}/128",
                link_local=f"{ident.link_local}/64",
                wg_entries={},
            )
        )
    return nodes


def plan_host(me: Node, peers: Iterable[Node], settings: MeshSettings, topology: Topology) -> dict[str, Any]:
    """The plan of one host: its identity, WireGuard interface + peers, and one GRE tunnel per peer.

    peers: every node of the mesh (me, keyless nodes and nodes reached only through transit are skipped here).
    A peer gets the endpoint of the family the pair shares (None if only this host can be dialled in it), and
    this host sends keepalives to it when the peer cannot dial this host back in that family (NAT).
    """
    me_host, me_underlay, keepalive = me.ident.hostname, me.underlay, settings.persistent_keepalive
    # per peer profile: (family, keepalive) of the pair, None for transit; the loop below runs N times per host
    how = {
        q: None if f is None else (f, 0 if me_underlay.endpoint(f) is not None else keepalive)
        for q, f in topology.families_from(me_host).items()
    }
    eligible = []
    entries = []
    for p in peers:
        pair = how[p.underlay.profile]
        if pair is None or p is me or p.public_key is None:
            continue
        eligible.append(p)
        entry = p.wg_entries.get(pair)
        entries.append(entry if entry is not None else p.wg_entry(*pair))
    local, link_local, gre_mtu = me.transport, me.link_local, settings.gre_mtu
    return {
        "identity": me.ident.as_dict(),
        "wireguard": {
            "interface": settings.wg_interface,
            "listen_port": me_underlay.port,
            "address": f"{me.transport}/64",
            "mtu": settings.wg_mtu,
            "peers": entries,
        },
        "tunnels": [
            {
                "name": p.ident.gre_name,
                "peer": p.ident.hostname,
                "local": local,
                "remote": p.transport,
                "link_local": link_local,
                "mtu": gre_mtu,
                "ttl": GRE_TTL,
            }
            for p in eligible
        ],
        # peers reached over BGP through another host (no shared family with an endpoint): peer -> first hop
        "transit": topology.transit(me_host),
    }


def _mesh_warnings(nodes: list[Node]) -> list[str]:
    warnings = []
    for node in nodes:
        if node.public_key is None:
            warnings.append(
                f"{node.ident.hostname}: no WireGuard public key known (not converged yet and not in the key cache): "
                "left out as a peer of the other hosts this run; run the play against it to learn its key"
            )
    return warnings


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building ~N^2 acyclic dicts (it otherwise doubles the time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def plan_mesh(
    inventory: Mapping[str, Mapping[str, Any]],
    learned_keys: Mapping[str, Any] | None = None,
    for_hosts: Iterable[str] | None = None,
    cached_keys: Mapping[str, str] | None = None,
) -> tuple[dict[str, dict[str, Any]], list[str], dict[str, str]]:
    """Validate the inventory, then plan every host (or only for_hosts) from the values the validation parsed
    (the preflight is the inventory's only parser: nothing here reads a meshover_* variable but the key).

    Returns (plan_by_host, warnings, cache_updates) where cache_updates maps host -> public key that is
    new or changed compared to the cached meshover_wg_public_key. Raises MeshError if the inventory is invalid.
    """
    result = check(inventory)
    if result.problems:
        raise MeshError(result.problems)
    hosts, topology = result.hosts, result.topology
    if topology is None:  # check() sets it whenever there is no problem
        raise MeshError(["the underlay's topology could not be built"])
    keys, updates, warnings = resolve_keys(inventory, learned_keys, cached_keys)
    nodes = build_nodes(topology, result.identities, keys)
    wanted = set(inventory) if for_hosts is None else set(for_hosts)
    unknown = sorted(wanted - set(inventory))
    if unknown:
        raise MeshError([f"{hosts_label(unknown)}: asked to plan hosts that are not in the mesh inventory"])
    announce = {host: values.announce for host, values in hosts.items()}
    more_specifics = {host: values.options["meshover_announce_more_specifics"] for host, values in hosts.items()}
    origins = origin_table(result.identities, announce, more_specifics, result.bgp.default_route_from)
    # one neighbour entry per host, shared by the plans of every host that peers with it (read-only)
    neighbour_entries = {host: neighbour_entry(ident) for host, ident in result.identities.items()}
    relay = topology.relay_depth()
    with gc_paused():
        plan = {
            n.ident.hostname: plan_host(n, nodes, result.settings, topology)
            for n in nodes
            if n.ident.hostname in wanted
        }
        for host, host_plan in plan.items():  # routing: one BGP session per GRE tunnel
            neighbours = [result.identities[t["peer"]] for t in host_plan["tunnels"]]
            values = hosts[host]
            host_plan["bgp"] = plan_bgp(
                result.identities[host],
                values.options,
                values.announce,
                neighbours,
                result.settings,
                result.bgp,
                origins,
                neighbour_entries,
                relay,
            )
    # source routing: traffic from another host's meshover_gathering leaves through that host's tunnel
    gathering = {host: list(values.gathering) for host, values in hosts.items()}
    endpoints = {host: values.underlay.endpoints for host, values in hosts.items()}
    tables, exempt = result.tables, mesh_exempt(announce, endpoints, result.settings)
    for host, host_plan in plan.items():
        tunnels = {t["peer"]: t["name"] for t in host_plan["tunnels"]}
        # a gateway reached through transit: send to the first hop, whose own rule forwards it on
        tunnels.update({peer: tunnels[via] for peer, via in host_plan["transit"].items() if via in tunnels})
        host_plan["source_routing"] = plan_source_routing(host, gathering, tables, tunnels, exempt)
    # egress NAT of Coil's pods (gre_overlay's postrouting chain): what the mesh routes keeps its source
    routed = mesh_routed(announce, result.settings)
    for host, host_plan in plan.items():
        host_plan["nat"] = plan_nat(hosts[host].coil_nat_sources, routed)
    warnings.extend(unreachable_warnings(plan, gathering, tables))
    return plan, warnings + _mesh_warnings(nodes), updates
