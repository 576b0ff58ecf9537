# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of meshover.mesh.mesh_preflight: the whole preflight runs here, in the controller's process.

It reads the roles' own meta/argument_specs.yml from this collection (the one table of the roles' variables)
and runs module_utils/controller/_preflight.report(); no module is sent anywhere and no connection is opened."""

from __future__ import annotations

import os
import subprocess

from ansible.errors import AnsibleActionFail

from ansible_collections.meshover.mesh.plugins.module_utils.controller._groupvars import export_argv, export_outcome
from ansible_collections.meshover.mesh.plugins.module_utils.controller._preflight import report
from ansible_collections.meshover.mesh.plugins.module_utils.controller._rolevars import ROLES, role_specs_from
from ansible_collections.meshover.mesh.plugins.plugin_utils._controller_action import ControllerAction

COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGUMENT_SPEC = {
    "inventory": {"type": "dict", "required": True},
    "role_vars": {"type": "dict", "default": {}},
    "inventory_export": {"type": "raw", "default": None},
    "inventory_export_error": {"type": "str", "default": ""},
    "inventory_dirs": {"type": "dict", "default": {}},
}


def role_argument_specs(loader, root=COLLECTION):
    """role -> its meta/argument_specs.yml, loaded with Ansible's own loader."""
    return {
        role: loader.load_from_file(os.path.join(root, "roles", role, "meta", "argument_specs.yml")) for role in ROLES
    }


EXPORT_SECONDS = 300


def read_export(task_vars):
    """(ansible-inventory --list --export of the play's inventory, why it could not be read). Run here rather
    than in a task of its own: that task was one more on the first host of every converge (issue 14)."""
    argv = export_argv(
        task_vars.get("ansible_playbook_python"), task_vars.get("ansible_inventory_sources"), os.path.isfile
    )
    if argv is None:
        return "", ""
    try:
        res = subprocess.run(
            argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=EXPORT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"ansible-inventory could not run: {exc}"
    return export_outcome(res.returncode, res.stdout, res.stderr)


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def work(self, args, task_vars):
        if args["inventory_export"] is None:
            args["inventory_export"], error = read_export(task_vars)
            args["inventory_export_error"] = args["inventory_export_error"] or error
        try:
            role_specs = role_specs_from(role_argument_specs(self._loader))
        except (OSError, KeyError, TypeError) as exc:
            raise AnsibleActionFail(f"cannot read the roles' argument specs under {COLLECTION}: {exc}") from exc
        checked, warnings = report(
            args["inventory"],
            args["role_vars"],
            role_specs,
            args["inventory_dirs"],
            args["inventory_export"],
            args["inventory_export_error"],
            os.path.isfile,
        )
        problems = checked.problems
        if problems:
            msg = f"meshover preflight found {len(problems)} problem(s):\n" + "\n".join(problems)
            return {"failed": True, "changed": False, "msg": msg, "problems": problems}, warnings
        identities = {host: ident.as_dict() for host, ident in checked.identities.items()}
        hosts = {host: values.as_dict() for host, values in checked.hosts.items()}
        return {"changed": False, "problems": [], "identities": identities, "hosts": hosts}, warnings
