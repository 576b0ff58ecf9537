# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter meshover.mesh.mesh_status: the logic is in module_utils/controller/_mesh_status.py."""

from __future__ import annotations

DOCUMENTATION = r"""
name: mesh_status
author: meshover contributors (@meshover)
version_added: 0.1.0
short_description: Render the mesh's status from every node's meshover.mesh.mesh_info result
positional: _input, format
description:
  - Merges the results of M(meshover.mesh.mesh_info) of every node, judges each pair of hosts from both of its
    ends, and renders the whole as a node x peer table, as data or as a Graphviz graph.
  - "A view of one node on one peer is C(up) when WireGuard handshook within O(stale) seconds, the GRE tunnel is
    up, the BGP session is Established in every address family and BFD is up (or not configured); C(down) when
    one of WireGuard, GRE or BGP is missing or not working; C(degraded) otherwise (BFD down under a working
    session, a source the node could not read). A pair is C(down) when either end sees it down, C(up) when both
    see it up, C(unknown) when neither said anything, else C(degraded)."
  - Used by the collection's C(playbooks/status.yml).
options:
  _input:
    description:
      - Inventory hostname -> that host's registered M(meshover.mesh.mesh_info) result.
      - A host of O(hosts) without a result is reported as not answering.
    type: dict
    required: true
  format:
    description:
      - V(table) returns lines for a terminal - a summary, the node x peer matrix (one row per node, one column
        per peer; each cell shows the WireGuard handshake age, the GRE state, the BGP state and uptime, the BFD
        state, or one character per source when the wide matrix would be wider than O(width)), the FRR of each
        node, a legend and the list of problems.
      - V(json) returns the merged data - C(summary), C(nodes) (host -> mesh_info result, V(null) when it did not
        answer), C(links) (one per pair, with its C(state) and each end's view) and C(problems).
      - V(dot) returns the lines of a Graphviz graph - one node per host (grey when it did not answer), one edge per
        pair coloured by its state (green up, orange degraded, red down, grey unknown), labelled with each end's
        handshake age and BGP state.
    type: str
    default: table
    choices: [table, json, dot]
  hosts:
    description: The hosts the status ran on (C(ansible_play_hosts_all)). Defaults to the keys of the input.
    type: list
    elements: str
  stale:
    description: Seconds after which a WireGuard handshake is stale (as the exporter's C(exporter_handshake_stale)).
    type: int
    default: 180
  width:
    description: The widest the wide table may be, in characters; a wider one is printed narrow.
    type: int
    default: 120
  plan:
    description:
      - The mesh plan (meshover.mesh.mesh_peers' RV(plan), host -> plan). Its C(transit) entries show the pairs that
        share no underlay address family and reach each other through another host (C(via X) in the table, a dashed
        edge in the graph, C(transit) in the JSON).
    type: dict
seealso:
  - module: meshover.mesh.mesh_info
"""

EXAMPLES = r"""
- name: Print the mesh's status (run once, after meshover.mesh.mesh_info registered meshover__info on every node)
  ansible.builtin.debug:
    msg: >-
      {{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'meshover__info')))
         | meshover.mesh.mesh_status('table', hosts=ansible_play_hosts_all) }}
  run_once: true

- name: Write the Graphviz graph (render it with dot -Tsvg mesh.dot -o mesh.svg)
  ansible.builtin.copy:
    content: "{{ (nodes | meshover.mesh.mesh_status('dot')) | join('\n') }}\n"
    dest: mesh.dot
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description:
    - V(table) and V(dot) - a list of lines (print it as the C(msg) of M(ansible.builtin.debug), one line each).
    - V(json) - a dict with C(stale_after), C(summary), C(nodes), C(links) and C(problems).
  type: raw
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.meshover.mesh.plugins.module_utils.controller._mesh_status import (
    DEFAULT_HANDSHAKE_STALE,
    DEFAULT_WIDTH,
    StatusError,
    render,
)

_NAME = "meshover.mesh.mesh_status"


def _int(value, what):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{_NAME}: {what} must be a number of seconds or characters, got {value!r}") from None


def mesh_status(nodes, format="table", hosts=None, stale=DEFAULT_HANDSHAKE_STALE, width=DEFAULT_WIDTH, plan=None):
    """Render the nodes' mesh_info results (see DOCUMENTATION)."""
    if not isinstance(nodes, Mapping):
        raise AnsibleFilterError(f"{_NAME} expects a dict host -> mesh_info result, got {type(nodes).__name__}")
    if hosts is not None and (isinstance(hosts, (str, bytes)) or not all(isinstance(h, str) for h in hosts)):
        raise AnsibleFilterError(f"{_NAME}: hosts must be a list of inventory hostnames")
    try:
        if plan is not None and not isinstance(plan, Mapping):
            raise StatusError(f"plan must be meshover.mesh.mesh_peers' plan (host -> plan), got {type(plan).__name__}")
        transit = {h: (p or {}).get("transit") or {} for h, p in (plan or {}).items() if isinstance(p, Mapping)}
        return render(nodes, str(format), hosts, _int(stale, "stale"), _int(width, "width"), transit)
    except StatusError as exc:
        raise AnsibleFilterError(f"{_NAME}: {exc}") from None


class FilterModule:
    def filters(self):
        return {"mesh_status": mesh_status}
