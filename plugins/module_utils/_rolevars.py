# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""Preflight of the roles' own variables (wireguard_mesh_*, gre_overlay_*, ...) set in the inventory.

Each role checks its variables against its meta/argument_specs.yml when it starts, but on a node
the earlier roles have already changed. The preflight play checks the ones the inventory sets,
on the controller, before any node is touched: type and choices (the same rules as the roles'
argument specs, through Ansible's ArgumentSpecValidator), likely misspellings, and values whose
type is right but whose content a role would only reject on the node (addresses, ports).

ROLE_SPECS mirrors the options of the five argument specs; tests/unit checks that it matches them.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from ansible_collections.meshover.mesh.plugins.module_utils._identity import hosts_label

ROLES = ("wireguard_mesh", "gre_overlay", "frr_bgp", "exporter", "source_routing")
# Variables a role registers for the later ones (not options, never set in an inventory).
REGISTERED = ("wireguard_mesh_plan", "frr_bgp_runtime")

ROLE_SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "wireguard_mesh_private_key_path": ("wireguard_mesh", {"type": "path"}),
    "wireguard_mesh_packages": ("wireguard_mesh", {"type": "list", "elements": "str"}),
    "wireguard_mesh_group": ("wireguard_mesh", {"type": "str"}),
    "wireguard_mesh_key_cache_dir": ("wireguard_mesh", {"type": "str"}),
    "gre_overlay_tunnels": ("gre_overlay", {"type": "list", "elements": "dict"}),
    "gre_overlay_wg_interface": ("gre_overlay", {"type": "str"}),
    "gre_overlay_batch_path": ("gre_overlay", {"type": "path"}),
    "gre_overlay_remove_unlisted": ("gre_overlay", {"type": "bool"}),
    "gre_overlay_accept_ra_interfaces": ("gre_overlay", {"type": "list", "elements": "str"}),
    "gre_overlay_firewall": ("gre_overlay", {"type": "bool"}),
    "gre_overlay_firewall_path": ("gre_overlay", {"type": "path"}),
    "gre_overlay_wg_port": ("gre_overlay", {"type": "int"}),
    "gre_overlay_firewall_exporter_port": ("gre_overlay", {"type": "int"}),
    "gre_overlay_firewall_exporter_sources": ("gre_overlay", {"type": "list", "elements": "str"}),
    "frr_bgp_plan": ("frr_bgp", {"type": "dict"}),
    "frr_bgp_config_dir": ("frr_bgp", {"type": "path"}),
    "frr_bgp_watchfrr_restart_timeout": ("frr_bgp", {"type": "int"}),
    "frr_bgp_container_runtime": ("frr_bgp", {"type": "str"}),
    "frr_bgp_container_name": ("frr_bgp", {"type": "str"}),
    "frr_bgp_container_unit": ("frr_bgp", {"type": "str"}),
    "frr_bgp_container_pull": ("frr_bgp", {"type": "str", "choices": ["always", "missing", "never", "newer"]}),
    "frr_bgp_container_capabilities": ("frr_bgp", {"type": "list", "elements": "str"}),
    "frr_bgp_packages": ("frr_bgp", {"type": "list", "elements": "str"}),
    "frr_bgp_package_unit": ("frr_bgp", {"type": "str"}),
    "frr_bgp_package_state": ("frr_bgp", {"type": "str", "choices": ["present", "latest"]}),
    "exporter_plan": ("exporter", {"type": "dict"}),
    "exporter_group": ("exporter", {"type": "str"}),
    "exporter_listen_address": ("exporter", {"type": "str"}),
    "exporter_port": ("exporter", {"type": "int"}),
    "exporter_packages": ("exporter", {"type": "list", "elements": "str"}),
    "exporter_user": ("exporter", {"type": "str"}),
    "exporter_install_dir": ("exporter", {"type": "path"}),
    "exporter_config_path": ("exporter", {"type": "path"}),
    "exporter_command_timeout": ("exporter", {"type": "float"}),
    "exporter_collect_interval": ("exporter", {"type": "float"}),
    "exporter_handshake_stale": ("exporter", {"type": "int"}),
    "exporter_frr_mode": ("exporter", {"type": "str", "choices": ["container", "package"]}),
    "exporter_frr_container_name": ("exporter", {"type": "str"}),
    "exporter_container_runtime": ("exporter", {"type": "path"}),
    "exporter_federate": ("exporter", {"type": "bool"}),
    "source_routing_gateways": ("source_routing", {"type": "list", "elements": "dict"}),
    "source_routing_exempt": ("source_routing", {"type": "list", "elements": "str"}),
    "source_routing_extra_exempt": ("source_routing", {"type": "list", "elements": "str"}),
    "source_routing_batch4_path": ("source_routing", {"type": "path"}),
    "source_routing_batch6_path": ("source_routing", {"type": "path"}),
    "source_routing_networkd_keep_foreign": ("source_routing", {"type": "bool"}),
}

PORTS = ("gre_overlay_wg_port", "gre_overlay_firewall_exporter_port", "exporter_port")
POSITIVE = ("exporter_command_timeout", "exporter_collect_interval", "exporter_handshake_stale")
# Lists of addresses or prefixes (IPv4 or IPv6, host bits allowed, as nft and ip accept them).
NETWORK_LISTS = ("gre_overlay_firewall_exporter_sources", "source_routing_extra_exempt")


def is_role_var(name: Any) -> bool:
    """A variable named like a meshover role's: '<role>_x' without '__' (a role's internal name)."""
    return isinstance(name, str) and "__" not in name and name.startswith(tuple(r + "_" for r in ROLES))


def _semantic(var: str, value: Any) -> str | None:
    """What a role would reject on the node although the type is right; None if fine."""
    if var in PORTS and not 1 <= value <= 65535:
        return f"{var} is {value}: a port is 1..65535"
    if var in POSITIVE and not value > 0:
        return f"{var} is {value}: it must be greater than 0"
    if var in NETWORK_LISTS:
        for i, item in enumerate(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                return f"{var}[{i}] is {item!r}: not an IPv4/IPv6 address or prefix"
    return None


def check_role_vars(role_vars: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One message per problem: host(s), variable, what is wrong. role_vars: host -> {role variable: value}."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    where: dict[str, list[str]] = {}
    seen: dict[tuple[str, str], list] = {}
    for host, host_vars in role_vars.items():
        known = {k: v for k, v in (host_vars or {}).items() if k in ROLE_SPECS}
        for var in sorted(set(host_vars or {}) - set(known) - set(REGISTERED)):
            if not is_role_var(var):
                continue
            close = difflib.get_close_matches(var, list(ROLE_SPECS), n=1, cutoff=0.85)
            if close:  # a name far from every option may belong to something else: left alone
                where.setdefault(f"{var} is not a variable of any meshover role: did you mean {close[0]}?", []).append(
                    host
                )
        for var in sorted(known):
            key = (var, json.dumps(known[var], sort_keys=True, default=str))
            if key not in seen:  # group variables: the same value on many hosts, checked once
                result = ArgumentSpecValidator({var: dict(ROLE_SPECS[var][1])}).validate({var: known[var]})
                seen[key] = list(result.error_messages) or [_semantic(var, result.validated_parameters[var])]
            for msg in filter(None, seen[key]):
                where.setdefault(f"{msg} (role {ROLE_SPECS[var][0]})", []).append(host)
    return [f"{hosts_label(hosts)}: {msg}" for msg, hosts in where.items()]
