#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ra_uplinks
short_description: Find the node's uplinks that are configured by IPv6 router advertisements
version_added: 0.1.0
description:
  - Reads, never changes. Finds the interfaces whose IPv6 configuration comes from router advertisements
    (SLAAC), so that the caller keeps them working once IPv6 forwarding is on (the kernel ignores RAs on an
    interface with C(accept_ra=1) while forwarding, and purges the default routes it learned from them).
  - An interface is an RA uplink when the main routing table holds an IPv6 route of protocol C(ra) through it,
    or its C(accept_ra) is already 2.
  - Each uplink is reported with who processes its RAs, C(kernel) (C(accept_ra) 1 or 2; it needs C(accept_ra=2)),
    C(networkd) (systemd-networkd applied a C(.network) file to it and the kernel's C(accept_ra) is 0; it needs
    C(IPv6AcceptRA=yes)), or C(NetworkManager).
author:
  - meshover contributors (@meshover)
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.read_only
  - meshover.mesh._attributes.platform_linux
options:
  extra:
    description: Interfaces the user lists as RA uplinks whatever is found (added to RV(kernel_interfaces)).
    type: list
    elements: str
    default: []
  exclude:
    description: Interfaces never reported (meshover's own WireGuard interface and GRE tunnels).
    type: list
    elements: str
    default: []
notes:
  - Runs C(ip -N -j -6 route show table main proto ra) and reads C(/proc/sys/net/ipv6/conf/*/accept_ra),
    C(/run/systemd/netif/links/) and C(/run/NetworkManager/devices/) (a device counts as NetworkManager's
    only with C(managed=true) there, because NetworkManager writes that file for the devices it leaves alone too).
"""

EXAMPLES = r"""
- name: Find the uplinks configured by router advertisements
  meshover.mesh.ra_uplinks:
    exclude: [meshover0, mo-n2, mo-n3]
  register: uplinks
"""

RETURN = r"""
uplinks:
  description: The RA uplinks, by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Interface name.
      type: str
    manager:
      description: Who processes its router advertisements, V(kernel), V(networkd) or V(NetworkManager).
      type: str
    network_file:
      description: For V(networkd), the C(.network) file networkd applied to it; V(null) otherwise.
      type: str
  sample: [{"name": "eth0", "manager": "kernel", "network_file": null}]
kernel_interfaces:
  description: The interfaces that need C(accept_ra=2) (the kernel's RA uplinks and O(extra)), sorted.
  returned: always
  type: list
  elements: str
  sample: ["eth0"]
networkd_dropins:
  description: Drop-ins (C(path), C(content)) for meshover.mesh.bundle that set C(IPv6AcceptRA=yes) on networkd's
    RA uplinks.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/systemd/network/10-eth0.network.d/90-meshover-ra.conf", "content": "..."}]
"""

import glob
import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import run as run_bounded
from ansible_collections.meshover.mesh.plugins.module_utils.node._uplinks import (
    classify,
    kernel_interfaces,
    networkd_dropins,
    parse_networkd_link_state,
    parse_nm_device_state,
    ra_devices,
)


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def gather(module):
    """(routes, accept_ra, networkd_files, nm_managed) read on this node."""
    ip = module.get_bin_path("ip", required=True)
    rc, out, err = run_bounded(module, [ip, "-N", "-j", "-6", "route", "show", "table", "main", "proto", "ra"])
    if rc != 0:
        module.fail_json(msg=f"ip -6 route show proto ra failed (rc {rc}): {err.strip()}")
    try:
        routes = json.loads(out or "[]")
    except ValueError:
        module.fail_json(msg="ip -j -6 route show proto ra printed something that is not JSON")
    accept_ra, networkd, nm = {}, {}, []
    for path in glob.glob("/proc/sys/net/ipv6/conf/*/accept_ra"):
        name = path.split("/")[-2]
        value = (_read(path) or "").strip()
        if value.lstrip("-").isdigit():
            accept_ra[name] = int(value)
        index = (_read(f"/sys/class/net/{name}/ifindex") or "").strip()
        if not index.isdigit():
            continue
        state = _read(f"/run/systemd/netif/links/{index}")
        network_file = parse_networkd_link_state(state) if state else None
        if network_file:
            networkd[name] = network_file
        nm_state = _read(f"/run/NetworkManager/devices/{index}")
        if nm_state and parse_nm_device_state(nm_state):
            nm.append(name)
    return routes, accept_ra, networkd, nm


def main():
    module = AnsibleModule(
        argument_spec=dict(
            extra=dict(type="list", elements="str", default=[]),
            exclude=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    routes, accept_ra, networkd, nm = gather(module)
    uplinks, warnings = classify(ra_devices(routes), accept_ra, networkd, nm, module.params["exclude"])
    for warning in warnings:
        module.warn(warning)
    module.exit_json(
        changed=False,
        uplinks=uplinks,
        kernel_interfaces=kernel_interfaces(uplinks, module.params["extra"]),
        networkd_dropins=networkd_dropins(uplinks),
    )


if __name__ == "__main__":
    main()
