#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mesh_info
short_description: This node's view of the mesh - WireGuard, GRE, BGP and BFD state per peer
version_added: 0.1.0
description:
  - Reads, on one node of the mesh, the state of every peer from four sources and returns them side by side,
    one entry per peer - WireGuard (C(wg show <interface> dump)), its GRE tunnel (C(ip -j -d link show), read
    like M(meshover.mesh.gre_tunnels) reads it), its BGP session and its BFD session (one run of FRR's C(vtysh)
    with C(show bgp summary json), C(show bfd peers json) and C(show version)).
  - "A peer is named by the plan (O(peers)), else: its WireGuard key by the C(# <name>) comment of the wg-quick
    file O(wg_config_path) (as M(meshover.mesh.wireguard_interface) writes it), its tunnel by the interface alias
    O(owner_prefix)C(<name>) (as M(meshover.mesh.gre_tunnels) sets it), its BGP neighbour and BFD session by the
    tunnel they run on (else FRR's neighbour description or the hostname the peer announced); a BFD session
    that bfdd lists without its interface, by the peer's link-local address (C(fe80::) and the interface id of
    the tunnel's remote address, see docs/address-plan.md)."
  - A source that cannot be read (C(wg) missing, the interface absent, FRR not reachable or not running) does not
    fail the module; it is named in RV(errors) and its part of each peer is V(null).
  - Every command runs under coreutils C(timeout) (O(timeout)) when it is installed.
  - Changes nothing, and returns the same in check mode.
author: meshover contributors (@meshover)
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.read_only
  - meshover.mesh._attributes.platform_linux
options:
  vtysh:
    description:
      - How to run FRR's C(vtysh) here, an argv prefix, for example V([podman, exec, frr, vtysh]) or V([vtysh]).
      - Its last word is the vtysh command; the module runs C(sh -c) in its place (in the container, with a
        container runtime), with one vtysh per daemon (C(-d bgpd), C(-d bfdd), C(-d zebra)), so that no session
        of FRR's mgmtd is opened (in FRR 10.3 its end can discard a concurrent reload's configuration).
      - The playbooks find it with C(playbooks/tasks/frr_vtysh.yml) (its fact C(frr_vtysh)), which knows podman,
        Docker and the package.
      - An empty list means there is no FRR to talk to; BGP and BFD are then reported as errors.
    type: list
    elements: str
    default: [vtysh]
  wg_interface:
    description: The WireGuard interface of the mesh (C(meshover_wg_interface)).
    type: str
    default: meshover0
  wg_config_path:
    description:
      - The wg-quick file whose peer comments name the WireGuard peers the plan (O(peers)) does not name.
      - Default C(/etc/wireguard/<wg_interface>.conf). A missing or unreadable file names nothing.
    type: path
  owner_prefix:
    description: Interface alias prefix that marks meshover's GRE tunnels; the rest of the alias is the peer's name.
    type: str
    default: "meshover:"
  peers:
    description:
      - The peers the plan gives this node. Each one is listed in RV(peers), marked C(missing) when no source
        shows it; a peer found but not listed is marked C(unexpected).
      - Omitted, the peers are only those found, and none is missing or unexpected.
    type: list
    elements: dict
    suboptions:
      name:
        description: The peer's inventory hostname.
        type: str
        required: true
      public_key:
        description: The peer's WireGuard public key (names its WireGuard peer).
        type: str
      tunnel:
        description: The name of this node's GRE tunnel to the peer (the peer's C(gre_name), for example V(mo-n2)).
        type: str
  plan:
    description:
      - This node's entry of the plan of M(meshover.mesh.mesh_peers) (its C(wireguard.peers) and C(tunnels)), as
        C(playbooks/status.yml) passes it. The peers it names are expected, as with O(peers).
      - Mutually exclusive with O(peers).
    type: dict
  timeout:
    description: Seconds each command may run (C(wg), C(ip), C(vtysh)); one that takes longer is an error of its source.
    type: int
    default: 20
notes:
  - Needs root (C(become)) for C(wg show) and for the container runtime.
  - The version, access and state words are FRR's own (C(Established), C(Active), ...; BFD C(up), C(down),
    C(init), C(shutdown)); JSON of FRR 8.4 and 10.x is read alike.
seealso:
  - module: meshover.mesh.wireguard_interface
  - module: meshover.mesh.gre_tunnels
  - plugin: meshover.mesh.mesh_status
    plugin_type: filter
"""

EXAMPLES = r"""
- name: How to run vtysh here (podman, docker or the package)
  ansible.builtin.include_tasks: tasks/frr_vtysh.yml

- name: Read this node's view of the mesh
  meshover.mesh.mesh_info:
    vtysh: "{{ frr_vtysh }}"
    wg_interface: meshover0
    peers:
      - name: n2
        public_key: AV9+a8Wur0g3JAieklLME7UJUaa2lBJSJ2XP9NeAMG4=
        tunnel: mo-n2
  become: true
  register: mesh

- name: Every BGP session is up
  ansible.builtin.assert:
    that: mesh.peers.values() | rejectattr('bgp.established') | list | length == 0
"""

RETURN = r"""
time:
  description: The node's clock when it was read (unix seconds); handshake ages are counted from it.
  returned: always
  type: int
  sample: 1795640007
wireguard:
  description: The WireGuard interface (C(public_key) and C(listen_port) are V(null) when it could not be read).
  returned: always
  type: dict
  sample: {interface: meshover0, public_key: AV9+a8Wur0g3JAieklLME7UJUaa2lBJSJ2XP9NeAMG4=, listen_port: 51820}
frr:
  description:
    - C(access) is how FRR was reached, V(podman), V(docker), V(package) or V(none) (from O(vtysh)).
    - C(version) is FRR's version from C(show version), V(null) when FRR was not reached.
  returned: always
  type: dict
  sample: {access: podman, version: 10.3.1, vtysh: [/usr/bin/podman, exec, frr, vtysh]}
peers:
  description:
    - One entry per peer, by name.
    - Each of C(wireguard), C(gre), C(bgp) and C(bfd) is V(null) when its source could not be read (see RV(errors)),
      else a dict whose C(present) says whether the peer has one.
    - C(wireguard.handshake_age) is the age in seconds of the latest handshake, V(null) if there was none.
    - C(gre.state) is V(up) when the tunnel is administratively up with carrier and an operational state of
      C(UP) or C(UNKNOWN) (what ip6gre reports while it works), else V(down); C(gre.owned) whether its alias is
      meshover's.
    - C(bgp.state) is V(Established) when the session is in every address family, else the first other state;
      C(bgp.uptime) (seconds) and the prefix counts also exist per address family in C(bgp.address_families).
    - C(bfd.state) is FRR's C(status) (V(up), V(down), V(init), V(shutdown)).
    - C(missing) is true for a peer of O(peers) that no source shows (and WireGuard, GRE or BGP could be read; a
      missing BFD session alone is no evidence, BFD may be off), C(unexpected) for a peer found
      but not in O(peers), C(anonymous) for a WireGuard key nothing names (its entry is keyed by the key).
  returned: always
  type: dict
  sample:
    n2:
      name: n2
      expected: true
      unexpected: false
      missing: false
      anonymous: false
      wireguard:
        present: true
        public_key: AV9+a8Wur0g3JAieklLME7UJUaa2lBJSJ2XP9NeAMG4=
        endpoint: "[2001:db8::2]:51820"
        latest_handshake: 1795639995
        handshake_age: 12
        rx_bytes: 1000
        tx_bytes: 2000
      gre: {present: true, name: mo-n2, state: up, operstate: UNKNOWN, admin_up: true, owned: true}
      bgp:
        present: true
        neighbor: mo-n2
        remote_as: "4284140060"
        state: Established
        established: true
        uptime: 600
        prefixes_received: 4
        prefixes_sent: 6
        address_families:
          ipv4: {state: Established, uptime: 600, prefixes_received: 2, prefixes_sent: 3}
          ipv6: {state: Established, uptime: 600, prefixes_received: 2, prefixes_sent: 3}
      bfd: {present: true, state: up, peer: "fe80::8347:35cb:77b5:31ef", interface: mo-n2}
expected:
  description: The names of O(peers), sorted; V(null) when O(peers) was not given.
  returned: always
  type: list
  elements: str
  sample: [n2, n3]
errors:
  description:
    - Source (V(wireguard), V(gre), V(bgp), V(bfd)) -> why it could not be read. Empty when all were read.
    - FRR not reachable or not running is an error of V(bgp) and V(bfd), not a failure of the module.
  returned: always
  type: dict
  sample: {bgp: "no BGP summary in vtysh's output (bgpd is not running)", bfd: "no BFD peers in vtysh's output"}
"""

import os
import shlex
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshover.mesh.plugins.module_utils.node._kernel import vtysh_script
from ansible_collections.meshover.mesh.plugins.module_utils.node._mesh_info import (
    expected_from_plan,
    node_view,
    read_sources,
)
from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import TIMEOUT_RC
from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import run as run_bounded
from ansible_collections.meshover.mesh.plugins.module_utils.node._wireguard import config_peer_names


class Reader:
    """Runs the read-only commands, each under timeout(1); never echoes a command's output in an error
    (the first line of ``wg show <if> dump`` is the private key)."""

    def __init__(self, module):
        self.module = module
        self.seconds = max(1, module.params["timeout"])
        self.timeout_bin = module.get_bin_path("timeout")

    def run(self, argv, output_on_failure=False, what=None):
        """(stdout, "") or (None, why). With output_on_failure, a non-zero exit that printed something
        still counts as output (vtysh exits non-zero when one of its commands fails, e.g. bfdd not running)."""
        rc, out, err = run_bounded(self.module, argv, self.seconds)
        what = what or shlex.join([os.path.basename(argv[0]), *argv[1:]])
        if rc == TIMEOUT_RC and self.timeout_bin:
            return None, f"{what}: no answer within {self.seconds} s"
        if rc != 0 and not (output_on_failure and out.strip()):
            return None, f"{what} failed (rc={rc}): {err.strip() or 'no message'}"
        return out, ""

    def tool(self, name, argv):
        path = self.module.get_bin_path(name)
        if path is None:
            return None, f"{name} is not installed (not found on PATH)"
        return self.run([path, *argv])


def wg_names(path):
    """Public key -> peer name from the wg-quick file's comments; {} when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return config_peer_names(f.read())
    except OSError:
        return {}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vtysh=dict(type="list", elements="str", default=["vtysh"]),
            wg_interface=dict(type="str", default="meshover0"),
            wg_config_path=dict(type="path"),
            owner_prefix=dict(type="str", default="meshover:"),
            peers=dict(
                type="list",
                elements="dict",
                options=dict(
                    name=dict(type="str", required=True),
                    public_key=dict(type="str", no_log=False),
                    tunnel=dict(type="str"),
                ),
            ),
            plan=dict(type="dict"),
            timeout=dict(type="int", default=20),
        ),
        mutually_exclusive=[("peers", "plan")],
        supports_check_mode=True,
    )
    p = module.params
    expected = p["peers"]
    if p["plan"] is not None:
        try:
            expected = expected_from_plan(p["plan"])
        except ValueError as exc:
            module.fail_json(msg=f"plan: {exc}")
    reader = Reader(module)
    outputs = {}
    outputs["wg"], outputs["wg_error"] = reader.tool("wg", ["show", p["wg_interface"], "dump"])
    outputs["ip"], outputs["ip_error"] = reader.tool("ip", ["-j", "-d", "link", "show"])
    if p["vtysh"]:
        # the prefix's last word is vtysh: one `sh -c` of the runs of _kernel.VTYSH_RUNS in its place
        *prefix, vtysh = p["vtysh"]
        outputs["frr"], outputs["frr_error"] = reader.run(
            [*prefix, "sh", "-c", vtysh_script(vtysh)], output_on_failure=True, what=shlex.join(p["vtysh"])
        )
    else:
        outputs["frr"], outputs["frr_error"] = None, "FRR not reachable: no vtysh here (no FRR container, no package)"
    sources = read_sources(outputs)
    view = node_view(
        sources,
        expected=expected,
        wg_names=wg_names(p["wg_config_path"] or f"/etc/wireguard/{p['wg_interface']}.conf"),
        owner_prefix=p["owner_prefix"],
        now=time.time(),
        wg_interface=p["wg_interface"],
        vtysh=p["vtysh"],
    )
    module.exit_json(changed=False, **view)


if __name__ == "__main__":
    main()
