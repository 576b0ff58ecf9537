#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: converge_lock
short_description: One converge of a node at a time (the lock file meshover.mesh.site takes)
version_added: 0.1.0
description:
  - Takes or drops the converge lock of a node, a small JSON file on tmpfs (gone at reboot) naming its owner
    (controller host name and boot id, ansible-playbook PID, start time, playbook).
  - The action plugin of the same name fills in the owner on the controller and decides, when the lock is held,
    whether the holder still runs (on the same controller, its process exists) or the lock is older than
    O(max_age); then it takes the lock over with O(force), or fails naming the holder.
  - Never reports a change (the lock is bookkeeping, not the node's configuration), so an idempotent converge
    stays at 0 changed. In check mode nothing is written or deleted; a lock held by a running converge is
    still reported.
author: meshover contributors (@meshover)
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.read_only
  - meshover.mesh._attributes.platform_linux
options:
  state:
    description: V(present) takes the lock, V(absent) drops it if this run owns it.
    type: str
    choices: [present, absent]
    default: present
  path:
    description: The lock file.
    type: path
    default: /run/meshover/converge.lock
  owner:
    description: The owner (keys C(controller), C(boot_id), C(pid), C(started), C(playbook)); set by the action plugin.
    type: dict
    required: true
  force:
    description: Replace a lock held by another owner (the action plugin decided it is stale).
    type: bool
    default: false
  max_age:
    description: Seconds after which a lock of another controller is taken over; used by the action plugin.
    type: int
    default: 7200
"""

EXAMPLES = r"""
- name: Take the converge lock of this node
  meshover.mesh.converge_lock:
    state: present

- name: Drop it after the roles
  meshover.mesh.converge_lock:
    state: absent
"""

RETURN = r"""
acquired:
  description: The lock is this run's (state=present).
  returned: always
  type: bool
held:
  description: The owner found in the lock file before this call, or null.
  returned: always
  type: dict
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshover.mesh.plugins.module_utils.node._files import read_text, write_atomic
from ansible_collections.meshover.mesh.plugins.module_utils.shared._lock import same_run


def read(path):
    text = read_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"unreadable": text[:200]}


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "path": {"type": "path", "default": "/run/meshover/converge.lock"},
            "owner": {"type": "dict", "required": True},
            "force": {"type": "bool", "default": False},
            "max_age": {"type": "int", "default": 7200},
        },
        supports_check_mode=True,
    )
    p = module.params
    held = read(p["path"])
    if p["state"] == "absent":
        if held is not None and isinstance(held, dict) and same_run(held, p["owner"]) and not module.check_mode:
            os.unlink(p["path"])
        module.exit_json(changed=False, acquired=False, held=held)
    if held is not None and not p["force"] and not (isinstance(held, dict) and same_run(held, p["owner"])):
        module.exit_json(changed=False, acquired=False, held=held)
    if not module.check_mode:
        write_atomic(p["path"], json.dumps(p["owner"], sort_keys=True), 0o644, dir_mode=0o755)
    module.exit_json(changed=False, acquired=True, held=held)


if __name__ == "__main__":
    main()
