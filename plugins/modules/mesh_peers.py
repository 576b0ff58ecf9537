#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mesh_peers
short_description: Compute every host's WireGuard peers and GRE tunnels, and cache learned public keys
version_added: 0.1.0
description:
  - Validates the mesh inventory like M(meshover.mesh.mesh_preflight) (and fails the same way), then computes
    the plan of each host - its identity, its WireGuard interface and peers, and one GRE tunnel per peer.
  - A peer whose WireGuard public key is unknown (never converged and not in the key cache) is left out with
    a warning. Hosts behind NAT get no endpoint on the others and keep a persistent keepalive; two NAT hosts
    do not peer.
  - With O(key_cache_dir), writes C(<key_cache_dir>/<host>/meshover_wg_public_key.yml) for each learned key that
    is new or changed, so later runs (with C(--limit) or a host down) know every key from the inventory.
    Only public keys are written.
  - Runs on the controller, in Ansible's own process (an action plugin; no module is sent to a host). Use it with
    C(run_once=true).
author: meshover contributors (@meshover)
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.action
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the key cache files written (public keys only).
options:
  inventory:
    description:
      - The mesh inventory, a dict hostname -> that host's C(meshover_*) variables,
        usually built with the P(meshover.mesh.mesh_hostvars#filter) filter.
    type: dict
    required: true
  learned_keys:
    description:
      - WireGuard public keys learned during this run (hostname -> public key), for example from
        M(meshover.mesh.wireguard_keypair). They take precedence over the cached C(meshover_wg_public_key).
    type: dict
    default: {}
  key_cache_dir:
    description:
      - The public-key cache, on the controller. By default the role passes the inventory's C(host_vars) directory,
        where Ansible also loads the files as the host variable C(meshover_wg_public_key).
      - When set, a host's key is taken from C(<key_cache_dir>/<host>/meshover_wg_public_key.yml) when this run did not
        learn it (that file wins over the host variable), and learned keys that differ from the file on disk are written
        there (mode 0644, directory created if needed). A directory outside the inventory (an AWX job's inventory is a
        fresh checkout on every run) therefore works as a cache too.
    type: path
  hosts:
    description:
      - Only return the plans of these hosts (the whole inventory is still validated and used as peers).
      - Defaults to every host of O(inventory).
    type: list
    elements: str
seealso:
  - module: meshover.mesh.mesh_preflight
  - plugin: meshover.mesh.mesh_hostvars
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Plan the mesh and cache the learned public keys
  meshover.mesh.mesh_peers:
    inventory: "{{ groups['mesh'] | meshover.mesh.mesh_hostvars(hostvars) }}"
    # keypair: registered from meshover.mesh.wireguard_keypair on every play host
    learned_keys: >-
      {{ dict(ansible_play_hosts | zip(ansible_play_hosts
         | map('extract', hostvars, ['keypair', 'public_key']))) }}
    key_cache_dir: "{{ inventory_dir }}/host_vars"
    hosts: "{{ ansible_play_hosts }}"
  run_once: true
  register: plan

- name: Use this host's plan
  ansible.builtin.debug:
    var: plan.plan[inventory_hostname].wireguard.peers | length
"""

RETURN = r"""
plan:
  description: hostname -> plan of that host.
  returned: success
  type: dict
  contains:
    identity:
      description: The host's identity (see P(meshover.mesh.mesh_identity#filter)).
      type: dict
    wireguard:
      description: The WireGuard interface (interface, listen_port, address, mtu) and its peers
        (name, public_key, endpoint, allowed_ips, persistent_keepalive).
      type: dict
    tunnels:
      description: One ip6gre tunnel per peer (name, peer, local, remote, link_local, mtu, ttl).
      type: list
      elements: dict
  sample:
    n1:
      identity: {hostname: n1, asn: 4275762751, gre_name: mo-n1}
      wireguard:
        interface: meshover0
        listen_port: 51820
        address: "fd46:76a3:fa9b:1:3d27:e462:938b:c19a/64"
        mtu: 1420
        peers:
          - name: n2
            public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
            endpoint: "[2001:db8::2]:51820"
            allowed_ips: ["fd46:76a3:fa9b:1:8347:35cb:77b5:31ef/128"]
            persistent_keepalive: 0
      tunnels:
        - name: mo-n2
          peer: n2
          local: "fd46:76a3:fa9b:1:3d27:e462:938b:c19a"
          remote: "fd46:76a3:fa9b:1:8347:35cb:77b5:31ef"
          link_local: "fe80::3d27:e462:938b:c19a/64"
          mtu: 1376
          ttl: 64
cache_updates:
  description: Hosts whose key cache file was (or, in check mode, would be) written.
  returned: success
  type: list
  elements: str
  sample: [n2]
"""
