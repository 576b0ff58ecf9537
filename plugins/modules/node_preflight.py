#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_preflight
short_description: Check that a node can carry the mesh before anything changes on it
version_added: 0.1.0
description:
  - Runs on every node of the mesh, before meshover's roles change anything there, and reports B(all) problems
    of that node at once, each as C(<what is wrong>; <what to do>).
  - "Checks: kernel support for WireGuard and ip6gre (the C(wireguard) and C(ip6_gre) modules built in, loaded or
    loadable, read from C(/sys/module) and C(/lib/modules/<release>/modules.builtin) and C(modules.dep); nothing is
    loaded), systemd as PID 1 (C(/run/systemd/system)), the Python version the module runs under (3.9 or later),
    free space on C(/) and C(/var)."
  - "Looks for a host firewall other than meshover's own that would drop the mesh's traffic: ufw active, firewalld
    running, an nftables base chain on the input or forward hook with policy drop (C(nft -j list ruleset); the
    C(meshover) table is ignored), an iptables or ip6tables C(INPUT) or C(FORWARD) policy of C(DROP)
    (C(iptables -S)). A missing C(nft) or C(iptables) binary skips that check; iptables-nft is covered by the
    nftables check."
  - "A drop policy is no problem when the rules of the same table (the nft family and table, or the output of that
    C(iptables -S)) already let the mesh through: for an input chain, an accept rule for the WireGuard port
    (C(udp dport) / C(--dport), a set, list or range containing it) and one for GRE (C(meta l4proto gre),
    C(ip protocol gre), C(ip6 nexthdr gre), C(-p gre), or 47); for a forward chain, accept rules for meshover's
    GRE tunnels in and out (C(iifname \"mo*\") and C(oifname \"mo*\"), C(-i mo+) and C(-o mo+)). This is a
    heuristic search of the rules, not an evaluation of the ruleset: an accept rule counts in any chain of the
    table, reached or not, and whatever else it matches; negated matches never count, and an accept of another
    form (by interface or address only, a verdict map) is not recognised."
  - "Docker's C(FORWARD) drop (a forward chain whose table has Docker's C(DOCKER-USER) chain) is no problem when
    FRR will run under Docker on this node (O(container=true), and O(container_runtime) is C(docker), or empty
    with docker found and podman not): the P(meshover.mesh.frr_bgp#role) role then installs
    C(meshover-docker-forward.service), which accepts C(mo+) in C(DOCKER-USER)."
  - "Active ufw is no problem when C(ufw status) shows an incoming C(ALLOW) for C(<port>/udp) (or the port for
    every protocol) and one for gre; running firewalld when C(firewall-cmd --list-all) (the default zone only)
    lists C(<port>/udp) in its ports and C(gre) in its protocols. An input chain of ufw's own table (ufw's
    C(ufw-*) chains) is left to that ufw check."
  - In container mode, reports the container runtimes present (C(podman), C(docker)); none is not a problem,
    the P(meshover.mesh.frr_bgp#role) role installs podman.
  - It changes nothing; the result is the same in check mode.
author: meshover contributors (@meshover)
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.read_only
  - meshover.mesh._attributes.platform_linux
options:
  wireguard_port:
    description:
      - UDP port of this node's WireGuard interface (C(meshover_wg_port)), used in the firewall messages.
    type: int
    default: 51820
  container:
    description:
      - Whether FRR runs in a container on this node (C(meshover_frr_mode=container)).
      - Sets the default of O(min_free_mb) and reports the container runtimes found.
    type: bool
    default: false
  container_runtime:
    description:
      - The container runtime FRR runs under in container mode (C(frr_bgp_container_runtime)), a name or a path.
      - Empty means what the P(meshover.mesh.frr_bgp#role) role picks, podman if installed, else docker if
        installed, else podman.
      - Decides whether Docker's C(FORWARD) drop is a problem (see the description).
    type: str
    default: ""
  nat:
    description:
      - Whether the node masquerades Coil's pods (C(meshover_coil_nat_sources) set).
      - With V(true) the kernel modules of the P(meshover.mesh.gre_overlay#role) role's C(postrouting) chain,
        C(nf_nat), C(nft_chain_nat) and C(nft_masq), are checked too.
    type: bool
    default: false
  min_free_mb:
    description:
      - Free space (MiB) needed on C(/) and on C(/var).
      - Default 1024 when O(container=true) (FRR's image), 200 otherwise.
    type: int
seealso:
  - module: meshover.mesh.mesh_preflight
"""

EXAMPLES = r"""
- name: Check the node before anything changes there
  meshover.mesh.node_preflight:
    wireguard_port: "{{ meshover_wg_port | default(51820) }}"
    container: "{{ (meshover_frr_mode | default('container')) == 'container' }}"
    container_runtime: "{{ frr_bgp_container_runtime | default('') }}"
  become: true
  check_mode: false
"""

RETURN = r"""
checks:
  description:
    - What was found on the node.
    - C(container.runtime) is the runtime FRR will run under (O(container_runtime), else the first found).
    - C(firewall.ufw) and C(firewall.firewalld) are C(inactive), C(accepted) (it lets the mesh through) or
      C(dropped). C(firewall.nftables) lists the drop chains found (C(unreadable) when the ruleset was not JSON),
      C(firewall.iptables) and C(firewall.ip6tables) the drop policies, each with C(mesh) C(accepted) (its table
      lets the mesh through), C(docker_unit) (Docker's drop, opened by meshover's unit), C(ufw) (left to the ufw
      check) or C(dropped) (a problem).
  returned: always
  type: dict
  sample:
    kernel:
      release: 6.1.0-37-amd64
      modules: {wireguard: loadable, ip6_gre: loaded}
    systemd: true
    python: 3.11.2
    disk:
      min_free_mb: 1024
      paths: {"/": {free_mb: 5120}, "/var": {free_mb: 5120}}
    container: {enabled: true, runtimes: [docker], runtime: docker}
    firewall:
      ufw: inactive
      firewalld: inactive
      nftables:
        - {family: ip, table: filter, chain: FORWARD, hook: forward, mesh: docker_unit}
        - {family: inet, table: filter, chain: input, hook: input, mesh: accepted}
problems:
  description: One message per problem found (empty on success), C(<what is wrong>; <what to do>).
  returned: always
  type: list
  elements: str
  sample:
    - "ufw is active and ufw status shows no ALLOW for GRE; allow it (ufw allow proto gre from any) or disable ufw
      (ufw disable)"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshover.mesh.plugins.module_utils.node._node_preflight import (
    COMMAND_TIMEOUT,
    evaluate,
    gather,
)
from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import run as run_bounded


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "wireguard_port": {"type": "int", "default": 51820},
            "container": {"type": "bool", "default": False},
            "min_free_mb": {"type": "int"},
            "container_runtime": {"type": "str", "default": ""},
            "nat": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )

    # A wedged command (nft, systemctl) must not hang the play: each one is bounded by timeout(1).
    def run(argv):
        return run_bounded(module, argv, seconds=COMMAND_TIMEOUT)

    facts = gather(run, module.get_bin_path)
    p = module.params
    report = evaluate(facts, p["wireguard_port"], p["container"], p["min_free_mb"], p["container_runtime"], p["nat"])
    if report.problems:
        module.fail_json(
            msg=f"meshover node preflight found {len(report.problems)} problem(s):\n" + "\n".join(report.problems),
            changed=False,
            checks=report.checks,
            problems=report.problems,
        )
    module.exit_json(changed=False, checks=report.checks, problems=[])


if __name__ == "__main__":
    main()
