#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: wireguard_keypair
short_description: Ensure a WireGuard private key exists on the node and return its public key
version_added: 0.1.0
description:
  - Generates a WireGuard private key on the managed node with C(wg genkey) if O(path) does not exist,
    and returns the matching public key (computed with C(wg pubkey), the private key passed on stdin).
  - The private key never leaves the node. It is not returned, logged or shown in a diff.
  - An existing key is never replaced unless O(rotate=true). Its mode is corrected to C(0600) (and its owner to root
    when running as root).
  - With O(rotate=true) a new key is generated on the node and atomically replaces the old file (a temporary file
    with mode C(0600) in the same directory, then C(rename)), so the file always holds one complete key.
    The live interface keeps the old key until M(meshover.mesh.wireguard_interface) applies the new one.
  - A missing parent directory is created with mode C(0700). An existing directory is left as it is.
author:
  - meshover contributors (@meshover)
options:
  path:
    description:
      - Path of the private key file.
    type: path
    default: /etc/wireguard/meshover0.key
  rotate:
    description:
      - Replace the key with a newly generated one, even if a valid key exists (key rotation).
      - Always reports V(changed). An existing file that does not hold a valid key is replaced too.
      - Use it for one node at a time and update every peer in the same run (the playbook
        C(meshover.mesh.rotate_keys) does both).
    type: bool
    default: false
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.PLATFORM_LINUX
attributes:
  check_mode:
    support: full
    details:
      - In check mode a missing key (or any key with O(rotate=true)) is reported as V(changed) and RV(public_key)
        is V(null); nothing is written.
  diff_mode:
    support: full
requirements:
  - C(wg) from wireguard-tools on the managed node.
seealso:
  - module: meshover.mesh.wireguard_interface
"""

EXAMPLES = r"""
- name: Ensure the node's WireGuard key exists
  meshover.mesh.wireguard_keypair:
    path: /etc/wireguard/meshover0.key
  register: keypair

- name: Rotate the key (the peers must get the new public key in the same run)
  meshover.mesh.wireguard_keypair:
    path: /etc/wireguard/meshover0.key
    rotate: true
  register: new_keypair

- name: Show the public key
  ansible.builtin.debug:
    msg: "{{ keypair.public_key }}"
"""

RETURN = r"""
public_key:
  description: Base64 public key. V(null) in check mode when the key would be generated.
  returned: always
  type: str
  sample: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
path:
  description: Path of the private key file.
  returned: always
  type: str
  sample: /etc/wireguard/meshover0.key
previous_public_key:
  description:
    - With O(rotate=true), the public key of the key that was replaced; V(null) if there was no valid key.
    - Not returned without O(rotate).
  returned: when O(rotate=true)
  type: str
  sample: TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
rotated:
  description: Whether an existing key file was (or, in check mode, would be) replaced by a new key.
  returned: always
  type: bool
  sample: false
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshover.mesh.plugins.module_utils.node._files import read_text, write_atomic
from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import run as run_bounded
from ansible_collections.meshover.mesh.plugins.module_utils.node._wireguard import is_valid_key

KEY_MODE = 0o600
DIR_MODE = 0o700


def public_key(module, wg, private_key):
    rc, out, err = run_bounded(module, [wg, "pubkey"], data=private_key)
    pub = out.strip()
    if rc != 0 or not is_valid_key(pub):
        module.fail_json(msg=f"wg pubkey failed (rc={rc}): {err.strip()}")
    return pub


def read_key(module, path):
    """The private key held in ``path`` (kept out of every output), or None if the file holds none."""
    key = (read_text(path) or "").strip()
    if not is_valid_key(key):
        return None
    module.no_log_values.add(key)
    return key


def existing_key(module, path):
    key = read_key(module, path)
    if key is None:
        module.fail_json(msg=f"{path} exists but does not hold a WireGuard private key; refusing to replace it")
    return key


def write_key(path, key, create_only):
    """Write ``key`` atomically, mode 0600 before the key is in it, root-owned when run as root.

    create_only: never clobber (link()); returns False if a key appeared meanwhile. Else rename() over it."""
    root = 0 if os.geteuid() == 0 else None
    return write_atomic(path, key + "\n", KEY_MODE, uid=root, gid=root, dir_mode=DIR_MODE, create_only=create_only)


def generate_key(module, wg):
    rc, out, err = run_bounded(module, [wg, "genkey"])
    key = out.strip()
    if key:
        module.no_log_values.add(key)
    if rc != 0 or not is_valid_key(key):
        module.fail_json(msg=f"wg genkey failed (rc={rc}): {err.strip()}")
    return key


def current_public_key(module, wg, path):
    """Public key of the valid key in ``path``, or None if the file holds no valid key (rotation replaces it)."""
    key = read_key(module, path)
    return None if key is None else public_key(module, wg, key)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/wireguard/meshover0.key"),
            rotate=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    rotate = module.params["rotate"]
    result = dict(changed=False, path=path, public_key=None, rotated=False)
    before = {"path": path, "state": "absent"}
    after = {"path": path, "state": "present", "mode": "0600"}

    if os.path.lexists(path):
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            module.fail_json(msg=f"{path} exists and is not a regular file")
        before = {"path": path, "state": "present", "mode": f"{stat.S_IMODE(st.st_mode):04o}"}
        if rotate:
            wg = module.get_bin_path("wg", required=not module.check_mode)
            if wg is None:
                # check mode before wireguard-tools is installed: the key is there, its public half unknown
                module.warn("wg is not installed yet (check mode): the public keys are not shown")
                result["previous_public_key"] = None
            else:
                result["previous_public_key"] = current_public_key(module, wg, path)
            before["public_key"] = result["previous_public_key"]
            after["public_key"] = "(new key)"
            if os.geteuid() == 0 and (st.st_uid != 0 or st.st_gid != 0):
                before["owner"] = f"{st.st_uid}:{st.st_gid}"
                after["owner"] = "0:0"
            result["changed"] = result["rotated"] = True
            if not module.check_mode:
                key = generate_key(module, wg)
                write_key(path, key, create_only=False)
                result["public_key"] = after["public_key"] = public_key(module, wg, key)
        else:
            fix_mode = stat.S_IMODE(st.st_mode) != KEY_MODE
            fix_owner = os.geteuid() == 0 and (st.st_uid != 0 or st.st_gid != 0)
            if fix_owner:
                before["owner"] = f"{st.st_uid}:{st.st_gid}"
                after["owner"] = "0:0"
            if (fix_mode or fix_owner) and not module.check_mode:
                if fix_owner:
                    os.chown(path, 0, 0)
                os.chmod(path, KEY_MODE)
            result["changed"] = fix_mode or fix_owner
            wg = module.get_bin_path("wg", required=not module.check_mode)
            key = existing_key(module, path)
            if wg is None:
                module.warn("wg is not installed yet (check mode): the public key is not shown")
            else:
                result["public_key"] = public_key(module, wg, key)
    else:
        result["changed"] = True
        if rotate:
            result["previous_public_key"] = None
        if not module.check_mode:
            wg = module.get_bin_path("wg", required=True)
            key = generate_key(module, wg)
            if not write_key(path, key, create_only=True):
                # Lost a race with another writer: use the key that is there now.
                result["changed"] = False
                key = existing_key(module, path)
            result["public_key"] = public_key(module, wg, key)

    if module._diff:
        result["diff"] = {"before": before, "after": after if result["changed"] else before}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
