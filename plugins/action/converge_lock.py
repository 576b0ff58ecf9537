# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of meshover.mesh.converge_lock: fills in the owner on the controller, and decides there whether a
lock held by another converge may be taken over (module_utils/shared/_lock.py)."""

from __future__ import annotations

import os
import socket
import sys
import time

from ansible.plugins.action import ActionBase

from ansible_collections.meshover.mesh.plugins.module_utils.shared._lock import DEFAULT_MAX_AGE, LOCK_PATH, decide

MODULE = "meshover.mesh.converge_lock"


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _playbook_pid():
    """The ansible-playbook process: the parent of this worker process (the strategy forks the workers)."""
    return os.getppid()


# ansible-playbook's options that take a value which may end in .yml (not a playbook)
_VALUE_OPTIONS = frozenset(("-i", "--inventory", "--inventory-file", "-e", "--extra-vars", "--vault-password-file"))


def _playbooks(argv):
    """The playbooks of an ansible-playbook command line: paths ending in .yml/.yaml, or collection playbooks."""
    found, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-") and (arg.endswith((".yml", ".yaml")) or arg.startswith("meshover.mesh.")):
            found.append(arg)
    return found


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("state", "path", "max_age"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        state = args.get("state", "present")
        path = args.get("path", LOCK_PATH)
        max_age = int(args.get("max_age", DEFAULT_MAX_AGE))
        playbooks = _playbooks(sys.argv[1:])
        me = {
            "controller": socket.gethostname(),
            "boot_id": _boot_id(),
            "pid": _playbook_pid(),
            "started": time.time(),
            "playbook": " ".join(os.path.basename(p) for p in playbooks) or "ansible",
        }
        module_args = {"state": state, "path": path, "owner": me, "max_age": max_age}
        out = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        if out.get("failed") or state == "absent" or out.get("acquired"):
            result.update(out)
            return result
        verdict, why = decide(out.get("held"), me, time.time(), max_age, _alive, path)
        if verdict == "refuse":
            result.update(failed=True, changed=False, msg=why, held=out.get("held"))
            return result
        out = self._execute_module(module_name=MODULE, module_args={**module_args, "force": True}, task_vars=task_vars)
        result.update(out)
        if why and not out.get("failed"):
            result.setdefault("warnings", []).append(why)
        return result
