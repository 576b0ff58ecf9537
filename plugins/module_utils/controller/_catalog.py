# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""The catalogue of every inventory variable meshover reads.

Single source for preflight's typo detection and for the tables of docs/variables.md, which are generated
from it (`make docs` runs rewrite_doc(); tests/unit/test_docs_variables.py fails when the doc is not what
rewrite_doc() makes of it).

Each entry: name -> {scope, type, default, roles, description} (and `elements` for lists).
- scope: "mesh" (same value on every host; preflight flags differences), "host" (per host) or
  "managed" (written by meshover itself, do not set by hand).
- roles: the roles (or controller modules) that read the variable.
Later features append entries with register() or by adding to CATALOG.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (
    DEFAULT_ASN_RANGE,
    DEFAULT_KEEPALIVE,
    DEFAULT_MESH_NAME,
    DEFAULT_UNDERLAY_MTU,
    DEFAULT_WG_INTERFACE,
    DEFAULT_WG_PORT,
)

SCOPES = ("mesh", "host", "managed")
_CORE = ("meshover.mesh.mesh_preflight", "meshover.mesh.mesh_peers")

CATALOG: dict[str, dict[str, Any]] = {
    # ---- mesh-wide
    "meshover_mesh_name": {
        "scope": "mesh",
        "type": "str",
        "default": DEFAULT_MESH_NAME,
        "roles": _CORE,
        "description": "Name of the mesh. Seeds the default meshover_prefix6, so two meshes with different names "
        "get different ULA prefixes.",
    },
    "meshover_prefix6": {
        "scope": "mesh",
        "type": "str",
        "default": "derived: fd00::/8 + 40 bits of sha256(mesh name) as a /48",
        "roles": _CORE,
        "description": "IPv6 prefix of the mesh (CIDR, /32../56, ULA fc00::/7 or global unicast, host bits zero). "
        "Subnet :0::/64 holds the loopbacks, :1::/64 the WireGuard transport addresses.",
    },
    "meshover_pool4": {
        "scope": "mesh",
        "type": "str",
        "default": None,
        "roles": (*_CORE, "frr_bgp"),
        "description": "Optional IPv4 pool (CIDR, at least a /30, host bits zero, routable: not loopback, link-local "
        "or multicast) from which every host derives an IPv4 loopback (also used as BGP router id). Null: no IPv4 "
        "loopbacks.",
    },
    "meshover_asn_range": {
        "scope": "mesh",
        "type": "list",
        "elements": "int",
        "default": list(DEFAULT_ASN_RANGE),
        "roles": (*_CORE, "frr_bgp"),
        "description": "[min, max] range (inside 1..4294967294) from which every host derives its private BGP ASN.",
    },
    "meshover_wg_interface": {
        "scope": "mesh",
        "type": "str",
        "default": DEFAULT_WG_INTERFACE,
        "roles": (*_CORE, "wireguard_mesh"),
        "description": "Name of the WireGuard interface on every host (Linux interface name, at most 15 characters).",
    },
    "meshover_underlay_mtu": {
        "scope": "mesh",
        "type": "int",
        "default": DEFAULT_UNDERLAY_MTU,
        "roles": (*_CORE, "wireguard_mesh", "gre_overlay"),
        "description": "MTU of the underlay path. WireGuard MTU = underlay - 80, GRE MTU = underlay - 124; "
        "must be 1404..9000 so the GRE inner MTU stays >= 1280.",
    },
    "meshover_persistent_keepalive": {
        "scope": "mesh",
        "type": "int",
        "default": DEFAULT_KEEPALIVE,
        "roles": (*_CORE, "wireguard_mesh"),
        "description": "PersistentKeepalive (seconds, 0..65535) that a host uses towards a peer that cannot dial it "
        "back (the host is behind NAT, meshover_nat, or has no endpoint in the family the pair uses). Otherwise 0.",
    },
    "meshover_shared_prefixes": {
        "scope": "mesh",
        "type": "list",
        "elements": "str",
        "default": [],
        "roles": (*_CORE, "frr_bgp"),
        "description": "Prefixes (CIDR) that several hosts may announce at once (anycast, Coil's pool, PureLB's "
        "range); not checked for overlap between hosts. Routable as meshover_announce, no default route (that comes "
        "from meshover_default_route_from), and no host's meshover_endpoint inside.",
    },
    # ---- per host
    "meshover_endpoint": {
        "scope": "host",
        "type": "str or list of str",
        "default": None,
        "roles": (*_CORE, "wireguard_mesh"),
        "description": "Underlay address(es) (without port, not a host name) on which the other hosts reach this "
        "host's WireGuard: one IPv6 or IPv4 address, or a list of one IPv6 and one IPv4 address for a dual-stack "
        "host. Required unless meshover_nat is true. A unicast address another host can send to (private ranges "
        "are fine): not unspecified, loopback, link-local, multicast or 255.255.255.255, and an IPv4 address "
        "written as such, not as ::ffff:a.b.c.d. No two hosts with the same address (compared as addresses: "
        "2001:DB8::1 is 2001:db8::1) and port. Not inside meshover_prefix6, meshover_pool4, "
        "meshover_shared_prefixes or any host's meshover_announce: its WireGuard packets would be routed into the "
        "mesh.",
    },
    "meshover_nat": {
        "scope": "host",
        "type": "bool",
        "default": False,
        "roles": (*_CORE, "wireguard_mesh"),
        "description": "True if no other host can reach this host's WireGuard (behind NAT or a firewall that only "
        "lets answers in); then meshover_endpoint must not be set. The host dials its peers and keeps the NAT "
        "mapping open with keepalives; two such hosts reach each other through transit (another host that both "
        "peer with), over BGP.",
    },
    "meshover_underlay_families": {
        "scope": "host",
        "type": "list of str",
        "default": "the families of meshover_endpoint; [ipv4] with meshover_nat",
        "roles": (*_CORE, "wireguard_mesh"),
        "description": "Address families (ipv6, ipv4) in which this host can send to the other hosts' endpoints. "
        "Two hosts peer directly when they share a family in which at least one of them has an endpoint; every "
        "other pair reaches each other over BGP through a host that peers with both (transit). A dual-stack host "
        "with an endpoint in one family only lists both, e.g. [ipv6, ipv4]. Must include the families of the "
        "host's own endpoints. The preflight refuses a host that would reach no other host.",
    },
    "meshover_wg_port": {
        "scope": "host",
        "type": "int",
        "default": DEFAULT_WG_PORT,
        "roles": (*_CORE, "wireguard_mesh"),
        "description": "UDP port (1..65535) of this host's WireGuard interface.",
    },
    "meshover_asn": {
        "scope": "host",
        "type": "int",
        "default": "derived from the hostname",
        "roles": (*_CORE, "frr_bgp"),
        "description": "Override of the derived BGP ASN: inside meshover_asn_range or the 2-byte private range "
        "64512..65534. Use it to resolve an ASN collision.",
    },
    "meshover_loopback4": {
        "scope": "host",
        "type": "str",
        "default": "derived from the hostname when meshover_pool4 is set",
        "roles": (*_CORE, "frr_bgp"),
        "description": "Override of the derived IPv4 loopback; must be a host address inside meshover_pool4.",
    },
    "meshover_router_id": {
        "scope": "host",
        "type": "str",
        "default": "the IPv4 loopback, else derived from the hostname",
        "roles": (*_CORE, "frr_bgp"),
        "description": "Override of the BGP router id (an IPv4 address, unique in the mesh).",
    },
    "meshover_interface_id": {
        "scope": "host",
        "type": "str",
        "default": "derived from the hostname",
        "roles": _CORE,
        "description": "Override of the 64-bit interface id (16 hex digits, quoted, non-zero) that forms the "
        "host's loopback6, transport6 and fe80:: link-local addresses.",
    },
    "meshover_gre_name": {
        "scope": "host",
        "type": "str",
        "default": "mo-<hostname> for short names, else mo + 13 base32 characters of a hash",
        "roles": (*_CORE, "gre_overlay"),
        "description": "Override of the name the other hosts give to their GRE tunnel towards this host "
        "(Linux interface name, at most 15 characters, starting with `mo`: the firewall, sysctl.d and Docker's "
        "forward rules know the tunnels by that prefix).",
    },
    "meshover_announce": {
        "scope": "host",
        "type": "list",
        "elements": "str",
        "default": [],
        "roles": (*_CORE, "frr_bgp"),
        "description": "Prefixes (CIDR) this host announces into the mesh. Must not overlap another host's "
        "meshover_announce, meshover_prefix6 or meshover_pool4 (it may lie inside another host's meshover_gathering: "
        "VMs whose traffic leaves through that host). Must be routable between hosts: not loopback, link-local, "
        "multicast, IPv4 written as IPv6 (::ffff:0:0/96), nor starting at 0.0.0.0 or :: (no default route). Must "
        "not contain any host's meshover_endpoint, this host's included.",
    },
    "meshover_gathering": {
        "scope": "host",
        "type": "list",
        "elements": "str",
        "default": [],
        "roles": (*_CORE, "source_routing"),
        "description": "Source blocks (CIDR) whose traffic leaves the mesh through this host: on every other host, "
        "packets *from* an address of these blocks to a destination outside the mesh go through the tunnel to this "
        "host (policy rules; traffic *to* the blocks is routed by BGP as usual). Each block must overlap "
        "meshover_shared_prefixes or another host's meshover_announce (otherwise no reply could come back through "
        "the mesh). Routable as meshover_announce, no default route, not overlapping another host's "
        "meshover_gathering, not containing another host's meshover_endpoint (this host's own is fine).",
    },
    "meshover_gathering_table": {
        "scope": "host",
        "type": "int",
        "default": "derived from the hostname inside meshover_gathering_table_range",
        "roles": (*_CORE, "source_routing"),
        "description": "Override of the routing table id (1..4294967294, not 253..255) that every other host uses for "
        "traffic sourced from this host's meshover_gathering. Use it to resolve a table collision. See "
        "[source-routing.md](source-routing.md).",
    },
    "meshover_gathering_table_range": {
        "scope": "mesh",
        "type": "list",
        "elements": "int",
        "default": [20000, 29999],
        "roles": (*_CORE, "source_routing"),
        "description": "[min, max] range from which every gathering host derives its source-routing table id "
        "(hash of the hostname). Must not include the kernel's tables 253..255.",
    },
    # ---- routing (frr_bgp)
    "meshover_bgp_timers": {
        "scope": "mesh",
        "type": "dict",
        "default": {"keepalive": 3, "hold": 9},
        "roles": (*_CORE, "frr_bgp"),
        "description": "BGP timers of every session in seconds: keepalive 1..21845, hold 3..65535 and at least "
        "3 x keepalive. BFD, not these timers, detects dead links quickly.",
    },
    "meshover_bfd": {
        "scope": "mesh",
        "type": "dict",
        "default": {"enabled": True, "interval": 300, "multiplier": 3},
        "roles": (*_CORE, "frr_bgp"),
        "description": "BFD on every BGP session: enabled (bool), interval (ms, transmit and receive, 10..60000), "
        "multiplier (2..255). A boolean is short for {enabled: ...}.",
    },
    "meshover_default_route_from": {
        "scope": "mesh",
        "type": "list",
        "elements": "str",
        "default": [],
        "roles": (*_CORE, "frr_bgp"),
        "description": "Hosts whose ASN may originate a default route (0.0.0.0/0, ::/0) into the mesh. Every "
        "other default route is rejected by origin validation.",
    },
    "meshover_bgp_maximum_prefix": {
        "scope": "mesh",
        "type": "int",
        "default": 1000,
        "roles": (*_CORE, "frr_bgp"),
        "description": "Most prefixes one BGP session may bring in one address family, counted after origin validation "
        "(FRR's `neighbor MESH maximum-prefix`, 1..4294967295). Above it FRR ends that session and "
        "brings it back after 5 minutes (`restart 5`); FRR logs a warning at 75 %. The preflight refuses "
        "a value not above the number of loopbacks and `meshover_announce` prefixes of the whole "
        "inventory in either address family (a session may carry them all): leave room for Coil blocks, "
        "PureLB addresses and more-specifics. See [design.md](design.md#bgp-policy).",
    },
    "meshover_frr_mode": {
        "scope": "host",
        "type": "str",
        "default": "container",
        "roles": (*_CORE, "frr_bgp"),
        "description": "How FRR runs: container (FRR's image under podman or docker, host network, a systemd "
        "unit) or package (the distribution's frr and its frr.service).",
    },
    "meshover_frr_image": {
        "scope": "host",
        "type": "str",
        "default": "quay.io/frrouting/frr:10.4.1",
        "roles": (*_CORE, "frr_bgp"),
        "description": "FRR container image (container mode). It must follow the official image's contract "
        "(tini entrypoint, /usr/lib/frr/docker-start, frr-reload.py).",
    },
    "meshover_coil_table": {
        "scope": "host",
        "type": "int",
        "default": "null (off)",
        "roles": (*_CORE, "frr_bgp"),
        "description": "Kernel routing table whose routes (Coil's exported address blocks; coild exports to 119) the "
        "host announces in IPv4 and IPv6, without installing them into its main table. **Opt-in per "
        "host** (set `119` on the nodes that run Coil's pods; before this release every host defaulted "
        "to 119). How FRR reads it follows the FRR version frr_bgp reads on the node, never the image "
        "tag: `redistribute table-direct` from FRR 10.0 (table ids 1..65535; the role fails on such a "
        "node for a larger id), before that the VRF `frr_bgp_coil_vrf` (`meshover-coil`) bound to the "
        "table (any id). The preflight refuses 0, 253, 254 and 255, anything that is not an integer of "
        "1..4294967295, and a gathering host's source-routing table (`meshover_gathering_table` or "
        "derived). Only routes inside `meshover_shared_prefixes` are announced. See "
        "[routing.md](routing.md#coil-hand-off-table-119).",
    },
    "meshover_coil_nat_sources": {
        "scope": "host",
        "type": "list",
        "elements": "str",
        "default": [],
        "roles": (*_CORE, "gre_overlay"),
        "description": "Egress NAT for Coil's pods (the original's -coilnatsources): source blocks (CIDR, IPv4 or "
        "IPv6, host bits zero, no default route, each once) whose traffic leaving the node towards a destination "
        "the mesh does not route is masqueraded to the node's address (nftables, chain postrouting of table inet "
        "meshover). Traffic to the mesh (loopbacks, meshover_announce, meshover_shared_prefixes, these blocks) "
        "keeps its source address. Needs meshover_coil_table on the host. Empty: no NAT. See "
        "[routing.md](routing.md#egress-nat-for-pods).",
    },
    "meshover_purelb_interface": {
        "scope": "host",
        "type": "str",
        "default": "kube-lb0",
        "roles": (*_CORE, "frr_bgp"),
        "description": "Interface whose addresses (PureLB's load-balancer VIPs) the host announces. Null "
        "disables the hand-off.",
    },
    "meshover_frr_extra_config": {
        "scope": "host",
        "type": "str",
        "default": "",
        "roles": (*_CORE, "frr_bgp"),
        "description": "FRR configuration appended to the rendered frr.conf (a string or a list of strings; "
        "set it per host or per group). The placeholders @ASN@, @ROUTER_ID@, @LOOPBACK4@, @LOOPBACK6@ and "
        "@HOSTNAME@ become each node's own values (another @WORD@ is refused). Checked by FRR's parser "
        "(vtysh --dryrun) with the rest of the file before it is applied: a refused snippet fails the run and "
        "changes nothing.",
    },
    "meshover_frr_template": {
        "scope": "host",
        "type": "str",
        "default": None,
        "roles": (*_CORE, "frr_bgp"),
        "description": "Your own Jinja2 template for frr.conf instead of the role's (it gets the same "
        "frr_bgp_plan variable): an absolute path on the controller, or one relative to the directory of the "
        "inventory file that defines the host (inventory_dir), e.g. ../templates/frr.conf.j2 (outside the inventory "
        "directory, whose every file Ansible reads as inventory); the preflight checks that it is a file. Null: the "
        "role's templates/frr.conf.j2.",
    },
    "meshover_bgp_graceful_shutdown": {
        "scope": "host",
        "type": "bool",
        "default": False,
        "roles": (*_CORE, "frr_bgp"),
        "description": "Drain the host (RFC 8326 BGP graceful shutdown): its routes carry the GRACEFUL_SHUTDOWN "
        "community and every node gives them local-preference 0, so traffic uses other paths where there are "
        "any. Sessions stay up. playbooks/decommission.yml drains the leaving node this way.",
    },
    "meshover_announce_more_specifics": {
        "scope": "host",
        "type": "bool",
        "default": False,
        "roles": (*_CORE, "frr_bgp"),
        "description": "Let this host's `meshover_announce` prefixes carry more-specifics: every node then "
        "accepts from this host's ASN any prefix inside them (`le 32` / `le 128`), and the host may send them. "
        "Default: each announced prefix is accepted exactly as written, so no member can get a "
        "more-specific of another host's prefix installed. `meshover_shared_prefixes` always accept "
        "more-specifics.",
    },
    # ---- managed by meshover
    "meshover_wg_public_key": {
        "scope": "managed",
        "type": "str",
        "default": None,
        "roles": (*_CORE, "wireguard_mesh"),
        "description": "Key cache: the host's WireGuard public key, written by meshover.mesh.mesh_peers to "
        "host_vars/<host>/meshover_wg_public_key.yml so later runs (with --limit or a host down) know it.",
    },
}


def register(name: str, scope: str, type_: str, default: Any, roles: tuple[str, ...], description: str) -> None:
    """Add a catalogue entry (for later features); refuses duplicates and bad scopes."""
    if not name.startswith("meshover_") or name in CATALOG or scope not in SCOPES:
        raise ValueError(f"cannot register catalogue entry {name!r} with scope {scope!r}")
    CATALOG[name] = {"scope": scope, "type": type_, "default": default, "roles": roles, "description": description}


def names(scope: str | None = None) -> list[str]:
    """Catalogue names, optionally only those of one scope."""
    return [name for name, entry in CATALOG.items() if scope is None or entry["scope"] == scope]


# ---------------------------------------------------------------- docs/variables.md (generated from CATALOG)

# The tables of docs/variables.md, in this order: (heading, which entries). Routing: the variables of _bgp's parsers.
DOC_SECTIONS = ("Mesh-wide", "Per host", "Routing (frr_bgp)", "Managed by meshover")
_DOC_BEGIN = "<!-- generated from plugins/module_utils/controller/_catalog.py ({}): `make docs` rewrites it -->"
_DOC_END = "<!-- end of generated table -->"


def _doc_section(name: str, entry: dict[str, Any], routing: frozenset[str]) -> str:
    if entry["scope"] == "managed":
        return DOC_SECTIONS[3]
    if name in routing:
        return DOC_SECTIONS[2]
    return DOC_SECTIONS[0] if entry["scope"] == "mesh" else DOC_SECTIONS[1]


def _doc_value(value: Any) -> str:
    """A default as YAML reads it (flow style), or as words when it is a sentence ('derived from ...')."""
    if isinstance(value, str) and " " in value:
        return value
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    if isinstance(value, (list, tuple)):
        return "`[" + ", ".join(_doc_value(v).strip("`") for v in value) + "]`"
    if isinstance(value, dict):
        return "`{" + ", ".join(f"{k}: {_doc_value(v).strip('`')}" for k, v in value.items()) + "}`"
    return f"`{value}`"


def doc_table(section: str) -> str:
    """The markdown table of one section of docs/variables.md."""
    from ansible_collections.meshover.mesh.plugins.module_utils.controller._bgp import (
        BGP_HOST_PARSERS,
        BGP_MESH_PARSERS,
    )

    routing = frozenset(BGP_MESH_PARSERS) | frozenset(BGP_HOST_PARSERS)
    lines = ["| Variable | Scope | Type | Default | Read by | Description |", "|---|---|---|---|---|---|"]
    for name, entry in CATALOG.items():
        if _doc_section(name, entry, routing) != section:
            continue
        kind = f"list of {entry['elements']}" if entry["type"] == "list" and entry.get("elements") else entry["type"]
        roles = ", ".join(f"`{r}`" for r in entry["roles"])
        cells = (f"`{name}`", entry["scope"], kind, _doc_value(entry["default"]), roles, entry["description"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rewrite_doc(text: str) -> str:
    """text (docs/variables.md) with every generated table replaced by doc_table() of its section."""
    for section in DOC_SECTIONS:
        begin = _DOC_BEGIN.format(section)
        start, end = text.index(begin) + len(begin), text.index(_DOC_END, text.index(begin))
        text = text[:start] + "\n" + doc_table(section) + "\n" + text[end:]
    return text
