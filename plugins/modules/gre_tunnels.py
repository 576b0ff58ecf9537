#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gre_tunnels
short_description: Reconcile the ip6gre tunnels owned by meshover and write their boot replay file
version_added: 0.1.0
description:
  - Creates, modifies, re-creates and deletes ip6gre tunnels through netlink (pyroute2) so that the tunnels
    owned by meshover are exactly O(tunnels).
  - A tunnel is owned when its interface alias (C(IFLA_IFALIAS)) starts with O(owner_prefix); the module sets
    the alias to O(owner_prefix) followed by the peer name. Interfaces that are not owned are never changed
    or deleted. If a wanted name is held by an interface that is not owned, the module fails before changing anything.
  - Tunnels use C(encaplimit none) and C(addrgenmode none) (set before the link goes up), so the only
    link-local address is the stable O(tunnels[].link_local). Other link-local addresses on an owned tunnel are removed;
    global addresses are left alone.
  - A change of local or remote address, TTL or encapsulation limit deletes and re-creates the tunnel;
    MTU, alias, addresses and link state are changed in place.
  - Writes O(batch_path), an C(ip -batch) file that re-creates the wanted tunnels; a boot unit replays it
    with C(ip -force -batch) after the WireGuard interface is up.
author:
  - meshover contributors (@meshover)
options:
  tunnels:
    description: The complete list of wanted tunnels. Owned tunnels not listed are deleted (see O(remove_unlisted)).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Interface name (at most 15 characters).
        type: str
        required: true
      peer:
        description: Peer host name, stored in the interface alias.
        type: str
        required: true
      local:
        description: Local outer IPv6 address (this node's WireGuard address).
        type: str
        required: true
      remote:
        description: Remote outer IPv6 address (the peer's WireGuard address).
        type: str
        required: true
      link_local:
        description: Link-local address with prefix put on the tunnel, for example V(fe80::1234:5678:9abc:def0/64).
        type: str
      mtu:
        description: Tunnel MTU. Set it explicitly; the kernel's guess depends on the route at creation time.
        type: int
      ttl:
        description: Outer hop limit.
        type: int
        default: 64
  remove_unlisted:
    description:
      - Whether owned tunnels that O(tunnels) does not list are deleted now.
      - V(false) leaves them up (they are returned in RV(unlisted) and left out of the replay file), so that FRR
        can forget their interfaces first and a second call with V(true) deletes them. FRR 10.3's zebra crashes
        when an interface it sends router advertisements on (BGP unnumbered does) is deleted under it and its
        configuration is removed afterwards (FRR pull requests 22184 and 22881); the collection's C(site.yml)
        therefore removes tunnels after FRR's reload.
    type: bool
    default: true
  batch_path:
    description: Path of the C(ip -batch) replay file.
    type: path
    default: /etc/meshover/gre.batch
  owner_prefix:
    description: Interface alias prefix that marks a tunnel as owned by this module.
    type: str
    default: "meshover:"
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.PLATFORM_LINUX
  - meshover.mesh._pyroute2_dep
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Two diffs, the owned tunnels and the batch file.
seealso:
  - module: meshover.mesh.wireguard_interface
"""

EXAMPLES = r"""
- name: Reconcile the GRE tunnels to the other nodes
  meshover.mesh.gre_tunnels:
    tunnels:
      - name: mo-n2
        peer: n2
        local: fd12:3456:789a:1:8f2c:1a2b:3c4d:5e6f
        remote: fd12:3456:789a:1:1111:2222:3333:4444
        link_local: fe80::8f2c:1a2b:3c4d:5e6f/64
        mtu: 1376
    batch_path: /etc/meshover/gre.batch
"""

RETURN = r"""
created:
  description: Names of the tunnels created.
  returned: always
  type: list
  elements: str
  sample: [mo-n3]
recreated:
  description: Names of the tunnels deleted and created again (local, remote, TTL, kind or encapsulation limit changed).
  returned: always
  type: list
  elements: str
  sample: []
deleted:
  description: Names of the owned tunnels deleted because they are no longer wanted.
  returned: always
  type: list
  elements: str
  sample: [mo-n4]
unlisted:
  description:
    - Names of the owned tunnels that O(tunnels) does not list (deleted, or kept with O(remove_unlisted=false)).
  returned: always
  type: list
  elements: str
  sample: [mo-n4]
modified:
  description: Names of the tunnels changed in place (MTU, alias, addresses, address generation mode, link state).
  returned: always
  type: list
  elements: str
  sample: [mo-n2]
batch_changed:
  description: Whether the batch file was (or would be) rewritten.
  returned: always
  type: bool
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshover.mesh.plugins.module_utils.node import _pyroute2_dep
from ansible_collections.meshover.mesh.plugins.module_utils.node._files import read_text, write_atomic
from ansible_collections.meshover.mesh.plugins.module_utils.node._gre import (
    ADDR_GEN_MODE_NONE,
    KIND,
    GreError,
    create_steps,
    is_owned,
    modify_steps,
    normalize_tunnels,
    owned_view,
    plan_tunnels,
    render_batch,
    want_view,
)
from ansible_collections.meshover.mesh.plugins.module_utils.node._kernel import (
    IP6_TNL_F_IGN_ENCAP_LIMIT,
    links_from_netlink,
    netlink_attr,
    parse_links,
)
from ansible_collections.meshover.mesh.plugins.module_utils.node._pyroute2_dep import NetlinkApplier, ensure_pyroute2
from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import run as run_bounded

DEFAULT_ENCAP_LIMIT = 4  # what iproute2 sends along with "encaplimit none"
BATCH_MODE = 0o644


def current_links(module) -> list:
    """All links and their IPv6 addresses, read with iproute2's JSON output (no pyroute2 import);
    through netlink when this ip cannot print JSON."""
    ip = module.get_bin_path("ip", required=True)
    rc1, links, _err = run_bounded(module, [ip, "-j", "-d", "link", "show"])
    rc2, addrs, _err = run_bounded(module, [ip, "-j", "-6", "addr", "show"])
    try:
        if rc1 == 0 and rc2 == 0:
            return parse_links(links, addrs)
    except (ValueError, KeyError, TypeError):
        pass
    ensure_pyroute2(module)
    ipr = _pyroute2_dep.IPRoute()
    try:
        return links_from_netlink(ipr)
    finally:
        ipr.close()


class Applier(NetlinkApplier):
    """Applies a plan through pyroute2; every step is a specific netlink call."""

    def __init__(self, module, ipr, index, owner_prefix):
        super().__init__(module, ipr, index)
        self.owner_prefix = owner_prefix

    def lookup(self, name):
        found = self._nl(f"lookup of {name}", self.ipr.link_lookup, ifname=name)
        if not found:
            self.module.fail_json(msg=f"{name} not found after creation")
        self.index[name] = found[0]
        return found[0]

    def delete(self, name):
        self._nl(f"delete {name}", self.ipr.link, "del", index=self.index[name])
        self.index.pop(name, None)

    def addrgenmode_none(self, name, idx):
        """Set addrgenmode none; must happen before the link goes up.

        pyroute2 0.7.x encodes IFLA_AF_SPEC/AF_INET6/IFLA_INET6_ADDR_GEN_MODE, but whether the
        kernel took it is checked by reading it back: if not (older or newer pyroute2 that
        encodes af_spec differently), fall back to iproute2's ``ip link set dev N addrgenmode none``.
        """
        spec = {"attrs": [["AF_INET6", {"attrs": [["IFLA_INET6_ADDR_GEN_MODE", ADDR_GEN_MODE_NONE]]}]]}
        try:
            self.ipr.link("set", index=idx, IFLA_AF_SPEC=spec)
        except (_pyroute2_dep.NetlinkError, ValueError, TypeError, KeyError):
            pass
        links = self._nl(f"read back {name}", self.ipr.get_links, idx)
        mode = netlink_attr(links[0], "IFLA_AF_SPEC", "AF_INET6", "IFLA_INET6_ADDR_GEN_MODE") if links else None
        if mode != ADDR_GEN_MODE_NONE:
            ip = self.module.get_bin_path("ip", required=True)
            rc, _out, err = run_bounded(self.module, [ip, "link", "set", "dev", name, "addrgenmode", "none"])
            if rc != 0:
                self.module.fail_json(msg=f"ip link set dev {name} addrgenmode none failed: {err.strip()}")

    def apply(self, step):
        """One step of _gre.create_steps() or modify_steps() (the boot file holds the same steps: _gre.ip_line())."""
        op, n = step[0], step[1]
        if op == "add":
            a = step[2]
            self._nl(
                f"create {n}",
                self.ipr.link,
                "add",
                ifname=n,
                kind=KIND,
                ip6gre_local=a["local"],
                ip6gre_remote=a["remote"],
                ip6gre_ttl=a["ttl"],
                ip6gre_encap_limit=DEFAULT_ENCAP_LIMIT,
                ip6gre_flags=IP6_TNL_F_IGN_ENCAP_LIMIT,
            )
            self.lookup(n)
        elif op == "addrgenmode_none":
            self.addrgenmode_none(n, self.index[n])
        elif op == "set":
            settings = {{"mtu": "mtu", "alias": "ifalias"}[k]: v for k, v in step[2].items()}
            self._nl(f"set mtu/alias of {n}", self.ipr.link, "set", index=self.index[n], **settings)
        elif op in ("addr", "addr_del"):
            address, prefixlen = step[2].split("/")
            cmd = "add" if op == "addr" else "del"
            self._nl(
                f"addr {cmd} {step[2]} dev {n}",
                self.ipr.addr,
                cmd,
                index=self.index[n],
                address=address,
                prefixlen=int(prefixlen),
            )
        elif op == "up":
            self._nl(f"set {n} up", self.ipr.link, "set", index=self.index[n], state="up")
        else:
            self.module.fail_json(msg=f"unknown step {op!r}")

    def create(self, t):
        self.apply_steps(create_steps(t, self.owner_prefix))

    def modify(self, t, changes):
        self.apply_steps(modify_steps(t, changes))


def main():
    tunnel_spec = dict(
        name=dict(type="str", required=True),
        peer=dict(type="str", required=True),
        local=dict(type="str", required=True),
        remote=dict(type="str", required=True),
        link_local=dict(type="str"),
        mtu=dict(type="int"),
        ttl=dict(type="int", default=64),
    )
    module = AnsibleModule(
        argument_spec=dict(
            tunnels=dict(type="list", elements="dict", required=True, options=tunnel_spec),
            batch_path=dict(type="path", default="/etc/meshover/gre.batch"),
            owner_prefix=dict(type="str", default="meshover:"),
            remove_unlisted=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    prefix = p["owner_prefix"]
    try:
        want = normalize_tunnels(p["tunnels"])
        batch = render_batch(want, prefix)
    except GreError as e:
        module.fail_json(msg=str(e))

    have = current_links(module)
    try:
        plan = plan_tunnels(want, have, prefix)
    except GreError as e:
        module.fail_json(msg=str(e))
    if plan["conflicts"]:
        module.fail_json(msg="; ".join(plan["conflicts"]))
    unlisted = list(plan["delete"])
    if not p["remove_unlisted"]:
        plan["delete"] = []

    old_batch = read_text(p["batch_path"])
    batch_changed = old_batch != batch

    result = dict(
        changed=False,
        created=[t["name"] for t in plan["create"]],
        recreated=[r["tunnel"]["name"] for r in plan["recreate"]],
        deleted=list(plan["delete"]),
        unlisted=unlisted,
        modified=[m["tunnel"]["name"] for m in plan["modify"]],
        batch_changed=batch_changed,
    )
    live_changes = bool(result["created"] or result["recreated"] or result["deleted"] or result["modified"])
    result["changed"] = live_changes or batch_changed

    if live_changes and not module.check_mode:
        ensure_pyroute2(module)  # only now: importing it costs seconds on small nodes
        ipr = _pyroute2_dep.IPRoute()
        try:
            applier = Applier(module, ipr, {h["name"]: h["index"] for h in have}, prefix)
            for name in plan["delete"]:
                applier.delete(name)
            for r in plan["recreate"]:
                applier.delete(r["tunnel"]["name"])
            for r in plan["recreate"]:
                applier.create(r["tunnel"])
            for t in plan["create"]:
                applier.create(t)
            for m in plan["modify"]:
                applier.modify(m["tunnel"], m["changes"])
        finally:
            ipr.close()
    if batch_changed and not module.check_mode:
        write_atomic(p["batch_path"], batch, BATCH_MODE, dir_mode=0o755)

    if module._diff:
        kept = set(unlisted) - set(plan["delete"])
        result["diff"] = [
            {
                "before_header": "owned ip6gre tunnels",
                "after_header": "owned ip6gre tunnels",
                "before": owned_view([h for h in have if is_owned(h, prefix)], prefix),
                # kept (remove_unlisted=false) unlisted tunnels stay as they are
                "after": dict(
                    sorted(
                        {
                            **owned_view([h for h in have if h["name"] in kept], prefix),
                            **want_view(want, prefix),
                        }.items()
                    )
                ),
            },
            {
                "before_header": p["batch_path"],
                "after_header": p["batch_path"],
                "before": old_batch or "",
                "after": batch,
            },
        ]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
