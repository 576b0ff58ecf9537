#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mesh_preflight
short_description: Validate the whole meshover inventory before touching any node
version_added: 0.1.0
description:
  - Checks the C(meshover_*) variables of every host of the mesh at once and reports B(all) problems, one per line,
    each naming the host, the variable, what is wrong and how to fix it.
  - Covers hostnames, the mesh prefix and IPv4 pool, ASN range and overrides, identity collisions, endpoints,
    ports, MTU, announced and gathered prefixes, mesh-wide variables that differ between hosts, and misspelt
    C(meshover_*) variables.
  - Also what endpoints and prefixes mean. An endpoint is a unicast address another host can send to, and no
    two hosts share one with the same port, however it is written. Announced, gathered and shared prefixes are
    ranges that can be routed between hosts. No WireGuard endpoint lies inside an announced or shared prefix or
    the mesh's address plan, where the mesh would route the packets of the tunnel into the tunnel.
  - The BGP maximum-prefix limit (C(meshover_bgp_maximum_prefix)) is above the number of loopbacks and announced
    prefixes of the whole inventory in each address family, since a session may carry them all.
  - With O(role_vars), also checks the variables of meshover's roles that the inventory sets (type and choices
    as in the roles' argument specs, likely misspellings, addresses and ports), which the roles would
    otherwise only reject on a node that the earlier roles have already changed; and the paths and names
    (interfaces, packages, units, containers, runtimes, capabilities, user, groups) that the roles write into
    unit files, scripts, sudoers and other files, so that no newline, space, quote or command substitution
    gets there.
  - With O(inventory_export), also refuses a host that two of its groups of the same depth and
    C(ansible_group_priority) give different values of a C(meshover_*) or role variable (Ansible would
    silently take the value of the group whose name sorts last). A value the host sets itself, or a child
    group's, wins on purpose and is not reported.
  - Runs on the controller, in Ansible's own process (an action plugin; no module is sent to a host). Use it with
    C(run_once=true). The roles' variables are checked against the roles' own C(meta/argument_specs.yml), read
    from the collection. It changes nothing.
author: meshover contributors (@meshover)
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.read_only
  - meshover.mesh._attributes.action
options:
  inventory:
    description:
      - The mesh inventory, a dict hostname -> that host's C(meshover_*) variables,
        usually built with the P(meshover.mesh.mesh_hostvars#filter) filter.
    type: dict
    required: true
  role_vars:
    description:
      - Dict hostname -> that host's role variables (C(wireguard_mesh_*), C(gre_overlay_*), ...),
        usually built with the P(meshover.mesh.mesh_rolevars#filter) filter.
    type: dict
    default: {}
  inventory_export:
    description:
      - The output of C(ansible-inventory --list --export) for the same inventory (group variables kept on
        their groups), to find hosts given different values by two groups. Empty skips that check.
      - Its text, or the dict it decodes to (ansible-core 2.18 turns a templated JSON text into a dict).
      - Not given, the action runs C(ansible-inventory --list --export) itself on the controller, on the play's
        inventory sources (C(ansible_inventory_sources)), with the C(ansible-inventory) beside the Python that runs
        C(ansible-playbook) if there is one. An empty text skips the check.
    type: raw
  inventory_dirs:
    description:
      - Dict hostname -> the directory of the inventory file that defines the host (Ansible's C(inventory_dir)).
        A relative C(meshover_frr_template) is looked up there; every C(meshover_frr_template) must be a file
        on the controller.
    type: dict
    default: {}
  inventory_export_error:
    description:
      - Why O(inventory_export) could not be read (for example a vault-encrypted group variable and no vault
        secret for C(ansible-inventory)); reported as a warning, and the group check is skipped.
    type: str
    default: ""
seealso:
  - module: meshover.mesh.mesh_peers
  - plugin: meshover.mesh.mesh_hostvars
    plugin_type: filter
  - plugin: meshover.mesh.mesh_rolevars
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Validate the mesh inventory
  meshover.mesh.mesh_preflight:
    inventory: "{{ groups['mesh'] | meshover.mesh.mesh_hostvars(hostvars) }}"
    role_vars: "{{ groups['mesh'] | meshover.mesh.mesh_rolevars(hostvars) }}"
  run_once: true
  register: preflight_result
"""

RETURN = r"""
identities:
  description: The identity of every host (hostname -> identity), see P(meshover.mesh.mesh_identity#filter).
  returned: success
  type: dict
  sample:
    n1:
      hostname: n1
      interface_id: 3d27e462938bc19a
      loopback6: "fd46:76a3:fa9b:0:3d27:e462:938b:c19a"
      transport6: "fd46:76a3:fa9b:1:3d27:e462:938b:c19a"
      link_local: "fe80::3d27:e462:938b:c19a"
      asn: 4275762751
      loopback4: null
      router_id: 84.77.75.252
      gre_name: mo-n1
hosts:
  description:
    - Every host's variables as the preflight parsed them (hostname -> values), for the plays that follow. The
      plan (M(meshover.mesh.mesh_peers)) is made from the same parse.
  returned: success
  type: dict
  sample:
    n1:
      endpoints: ["2001:db8::1", "192.0.2.1"]
      nat: false
      underlay_families: [ipv4, ipv6]
      wg_port: 51820
      announce: ["203.0.113.0/24"]
      gathering: []
      frr_mode: container
problems:
  description: One message per problem found (empty on success).
  returned: always
  type: list
  elements: str
  sample: ["n1: meshover_endpont is not a known meshover variable: did you mean meshover_endpoint?"]
"""
