#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: wireguard_interface
short_description: Reconcile a WireGuard interface and its wg-quick config without restarting it
version_added: 0.1.0
description:
  - Writes a wg-quick configuration for the interface (the private key is not inline, C(PostUp) loads it
    from O(private_key_path); C(Table = off)) and enables C(wg-quick@<name>) for boot.
  - If the interface does not exist, it is brought up by C(wg-quick@<name>) with all peers.
  - If it exists, only the difference is applied live with C(wg set) and C(ip). Removed peers are removed,
    added or changed peers are set, listen port, private key (only if its public key differs), MTU,
    address and link state are corrected. The interface is never restarted, so unchanged peers keep their sessions.
  - Peers are identified by public key. A peer whose O(peers[].endpoint) is V(null) (behind NAT) is never reported
    as changed because of the endpoint the kernel learned from its packets.
  - The private key is never returned or shown in a diff.
author:
  - meshover contributors (@meshover)
options:
  name:
    description: Interface name (at most 15 characters).
    type: str
    default: meshover0
  private_key_path:
    description:
      - Private key file on the node, as created by M(meshover.mesh.wireguard_keypair).
      - Defaults to C(/etc/wireguard/<name>.key).
    type: path
  listen_port:
    description: UDP listen port.
    type: int
    default: 51820
  address:
    description:
      - Interface address with prefix length (CIDR), for example V(fd12:3456:789a:1::1/64).
      - Other global addresses on the live interface are removed.
    type: str
  mtu:
    description: Interface MTU. If unset, wg-quick picks one at creation and the live MTU is not managed.
    type: int
  peers:
    description: The complete peer list. Live peers with other public keys are removed.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Peer name (used in the config comment and in the results).
        type: str
        required: true
      public_key:
        description: Base64 public key of the peer.
        type: str
        required: true
      endpoint:
        description: V([v6]:port), V(v4:port) or V(host:port); V(null) for a peer without reachable endpoint (NAT).
        type: str
      allowed_ips:
        description: Networks routed to this peer (compared as a set).
        type: list
        elements: str
        default: []
      persistent_keepalive:
        description: Keepalive interval in seconds, V(0) for off.
        type: int
        default: 0
  config_path:
    description: wg-quick config path. Defaults to C(/etc/wireguard/<name>.conf); wg-quick@ only reads that path.
    type: path
  enable_boot:
    description:
      - Enable C(wg-quick@<name>) so that the interface comes up at boot.
      - If V(false), the unit's enablement is left as it is.
    type: bool
    default: true
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.PLATFORM_LINUX
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Two diffs, the config file and the peer set (public keys, endpoints, allowed IPs). No private key.
requirements:
  - C(wg) and C(wg-quick) (wireguard-tools), C(ip) (iproute2) with JSON output, systemd.
seealso:
  - module: meshover.mesh.wireguard_keypair
  - module: meshover.mesh.gre_tunnels
"""

EXAMPLES = r"""
- name: Reconcile the mesh interface
  meshover.mesh.wireguard_interface:
    name: meshover0
    private_key_path: /etc/wireguard/meshover0.key
    listen_port: 51820
    address: fd12:3456:789a:1:8f2c:1a2b:3c4d:5e6f/64
    mtu: 1420
    peers:
      - name: n2
        public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
        endpoint: "[fd00:10::2]:51820"
        allowed_ips: ["fd12:3456:789a:1:1111:2222:3333:4444/128"]
      - name: laptop
        public_key: TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
        endpoint: null
        allowed_ips: ["fd12:3456:789a:1:aaaa:bbbb:cccc:dddd/128"]
        persistent_keepalive: 25
"""

RETURN = r"""
peers_added:
  description: Names of the peers added (all peers when the interface was created).
  returned: always
  type: list
  elements: str
  sample: [n3]
peers_removed:
  description: Names of the peers removed (the public key when the name is not known from the old config).
  returned: always
  type: list
  elements: str
  sample: [n4]
peers_changed:
  description: Names of the peers whose endpoint, allowed IPs or keepalive were updated.
  returned: always
  type: list
  elements: str
  sample: [n2]
created:
  description: Whether the interface did not exist and was (or would be) brought up by wg-quick@.
  returned: always
  type: bool
config_changed:
  description: Whether the config file was (or would be) rewritten or its mode corrected.
  returned: always
  type: bool
commands:
  description: The commands run (or, in check mode, that would run) to change the system. No secrets.
  returned: always
  type: list
  elements: str
  sample: ["wg set meshover0 peer xTIB...= remove"]
public_key:
  description: Public key of the interface's private key file. V(null) if the file does not exist (check mode only).
  returned: always
  type: str
"""

import os
import shlex
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshover.mesh.plugins.module_utils.node._files import read_text, write_atomic
from ansible_collections.meshover.mesh.plugins.module_utils.node._kernel import parse_links, parse_wg_dump
from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import (
    DEFAULT_SECONDS,
    SYSTEMCTL_SECONDS,
    run_systemctl,
)
from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import run as run_bounded
from ansible_collections.meshover.mesh.plugins.module_utils.node._wireguard import (
    WireGuardError,
    config_peer_names,
    is_valid_key,
    link_plan_is_empty,
    normalize_peers,
    peer_view,
    plan_link,
    plan_peers,
    redact_config,
    render_config,
    validate_interface,
    wg_set_peer_args,
)

CONFIG_MODE = 0o600


class WireGuardInterface:
    def __init__(self, module):
        self.module = module
        p = module.params
        self.name = p["name"]
        self.key_path = p["private_key_path"] or f"/etc/wireguard/{self.name}.key"
        self.config_path = p["config_path"] or f"/etc/wireguard/{self.name}.conf"
        self.unit = f"wg-quick@{self.name}"
        # In check mode on a new node wireguard-tools may not be installed yet: plan without it.
        self.wg = module.get_bin_path("wg", required=not module.check_mode)
        self.has_wg = self.wg is not None
        self.wg = self.wg or "wg"
        self.ip = module.get_bin_path("ip", required=True)
        self.systemctl = module.get_bin_path("systemctl", required=True)
        self.commands = []

    # -- read-only probes (also run in check mode) -------------------------------------------
    def run_ro(self, argv, data=None):
        return run_bounded(self.module, argv, data=data)

    def own_public_key(self):
        if not os.path.exists(self.key_path):
            return None
        with open(self.key_path, encoding="ascii", errors="replace") as f:
            private = f.read().strip()
        if private:
            self.module.no_log_values.add(private)
        if not self.has_wg:
            self.module.warn("wg is not installed yet (check mode): this node's public key is not known")
            return None
        rc, out, err = self.run_ro([self.wg, "pubkey"], data=private)
        pub = out.strip()
        if rc != 0 or not is_valid_key(pub):
            self.module.fail_json(msg=f"{self.key_path} does not hold a valid WireGuard private key ({err.strip()})")
        return pub

    def read_link(self):
        rc, out, err = self.run_ro([self.ip, "-d", "-j", "addr", "show", "dev", self.name])
        if rc != 0:
            if "does not exist" in err or "Cannot find device" in err:
                return None
            self.module.fail_json(msg=f"ip addr show dev {self.name} failed (rc={rc}): {err.strip()}")
        links = parse_links(out)
        return links[0] if links else None

    def read_dump(self):
        # Not check_rc=True: a failure would echo stdout, and the dump's first line holds the private key.
        if not self.has_wg:  # check mode only; an interface without its tools: report every peer as added
            self.module.warn(f"wg is not installed yet (check mode): the peers of {self.name} are not read")
            return {"interface": {"public_key": None, "listen_port": None, "fwmark": 0}, "peers": {}}
        rc, out, err = self.run_ro([self.wg, "show", self.name, "dump"])
        if rc != 0:
            self.module.fail_json(msg=f"wg show {self.name} dump failed (rc={rc}): {err.strip()}")
        return parse_wg_dump(out)

    def unit_state(self, verb):
        _rc, out, _err = run_systemctl(self.module, self.systemctl, [verb, self.unit], DEFAULT_SECONDS)
        return out.strip()

    # -- changes ------------------------------------------------------------------------------
    def queue(self, argv):
        self.commands.append(argv)

    def apply(self):
        for argv in self.commands:
            if argv[0] == self.systemctl:
                rc, _out, err = run_systemctl(self.module, argv[0], argv[1:], SYSTEMCTL_SECONDS)
            else:
                rc, _out, err = run_bounded(self.module, argv, DEFAULT_SECONDS)
            if rc != 0:
                self.module.fail_json(
                    msg=f"{shlex.join(argv)} failed (rc={rc}): {err.strip()}", commands=self.printable()
                )

    def printable(self):
        return [shlex.join([os.path.basename(argv[0]), *argv[1:]]) for argv in self.commands]


def main():
    peer_spec = dict(
        name=dict(type="str", required=True),
        public_key=dict(type="str", required=True),
        endpoint=dict(type="str"),
        allowed_ips=dict(type="list", elements="str", default=[]),
        persistent_keepalive=dict(type="int", default=0),
    )
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", default="meshover0"),
            private_key_path=dict(type="path"),
            listen_port=dict(type="int", default=51820),
            address=dict(type="str"),
            mtu=dict(type="int"),
            peers=dict(type="list", elements="dict", default=[], options=peer_spec),
            config_path=dict(type="path"),
            enable_boot=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    wgi = WireGuardInterface(module)
    try:
        address = validate_interface(p["name"], p["address"], p["mtu"], p["listen_port"], wgi.key_path)
        want_peers = normalize_peers(p["peers"])
        new_config = render_config(address, p["mtu"], p["listen_port"], wgi.key_path, want_peers)
    except WireGuardError as e:
        module.fail_json(msg=str(e))

    result = dict(
        changed=False,
        created=False,
        config_changed=False,
        peers_added=[],
        peers_removed=[],
        peers_changed=[],
        commands=[],
        public_key=None,
    )

    own_pub = wgi.own_public_key()
    if own_pub is None:
        if not module.check_mode:
            module.fail_json(
                msg=f"private key {wgi.key_path} does not exist; run meshover.mesh.wireguard_keypair first"
            )
        module.warn(f"private key {wgi.key_path} does not exist yet (check mode)")
    result["public_key"] = own_pub
    for peer in want_peers:
        if peer["public_key"] == own_pub:
            module.fail_json(msg=f"peer {peer['name']} has this node's own public key")

    # Config file
    old_config = read_text(wgi.config_path)
    mode_drift = old_config is not None and stat.S_IMODE(os.stat(wgi.config_path).st_mode) != CONFIG_MODE
    config_differs = old_config != new_config
    result["config_changed"] = config_differs or mode_drift
    names = config_peer_names(old_config)

    # Live state
    link = wgi.read_link()
    if link is not None and link["kind"] not in ("wireguard", None):
        module.fail_json(msg=f"interface {wgi.name} exists but is of kind {link['kind']!r}, not wireguard")
    live_peers = []
    enabled_now = False
    if link is None:
        result["created"] = True
        result["peers_added"] = [peer["name"] for peer in want_peers]
        active = wgi.unit_state("is-active") == "active"
        if active:
            # The unit is active but its interface is gone: nothing to disrupt, bring it back.
            wgi.queue([wgi.systemctl, "restart", wgi.unit])
        elif p["enable_boot"]:
            wgi.queue([wgi.systemctl, "enable", "--now", wgi.unit])
            enabled_now = True
        else:
            wgi.queue([wgi.systemctl, "start", wgi.unit])
    else:
        dump = wgi.read_dump()
        live_peers = list(dump["peers"].values())
        plan = plan_peers(want_peers, dump["peers"])
        if dump["interface"]["listen_port"] != p["listen_port"]:
            wgi.queue([wgi.wg, "set", wgi.name, "listen-port", str(p["listen_port"])])
        if own_pub is not None and dump["interface"]["public_key"] != own_pub:
            wgi.queue([wgi.wg, "set", wgi.name, "private-key", wgi.key_path])
        for key in plan["remove"]:
            wgi.queue([wgi.wg, "set", wgi.name, "peer", key, "remove"])
            result["peers_removed"].append(names.get(key, key))
        for peer in plan["add"]:
            wgi.queue([wgi.wg, "set", wgi.name, *wg_set_peer_args(peer)])
            result["peers_added"].append(peer["name"])
        for change in plan["change"]:
            wgi.queue([wgi.wg, "set", wgi.name, *wg_set_peer_args(change["peer"])])
            result["peers_changed"].append(change["peer"]["name"])
        lplan = plan_link(address, p["mtu"], link)
        if not link_plan_is_empty(lplan):
            if lplan["mtu"]:
                wgi.queue([wgi.ip, "link", "set", "dev", wgi.name, "mtu", str(lplan["mtu"])])
            for addr in lplan["remove_addresses"]:
                wgi.queue([wgi.ip, "addr", "del", addr, "dev", wgi.name])
            if lplan["address"]:
                wgi.queue([wgi.ip, "addr", "replace", lplan["address"], "dev", wgi.name])
            if lplan["up"]:
                wgi.queue([wgi.ip, "link", "set", "dev", wgi.name, "up"])

    if p["enable_boot"] and not enabled_now:
        if wgi.unit_state("is-enabled") != "enabled":
            wgi.queue([wgi.systemctl, "enable", wgi.unit])

    result["commands"] = wgi.printable()
    result["changed"] = bool(result["config_changed"] or wgi.commands)

    if not module.check_mode:
        # The config goes first: wg-quick@ reads it when it creates the interface.
        if config_differs:
            write_atomic(wgi.config_path, new_config, CONFIG_MODE, dir_mode=0o700)
        elif mode_drift:
            os.chmod(wgi.config_path, CONFIG_MODE)
        wgi.apply()

    if module._diff:
        result["diff"] = [
            {
                "before_header": wgi.config_path,
                "after_header": wgi.config_path,
                "before": redact_config(old_config) or "",
                "after": new_config,
            },
            {
                "before_header": f"{wgi.name} peers",
                "after_header": f"{wgi.name} peers",
                "before": peer_view(live_peers, names),
                "after": peer_view(want_peers),
            },
        ]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
