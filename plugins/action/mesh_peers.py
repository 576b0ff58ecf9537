# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of meshover.mesh.mesh_peers: the mesh plan and the key cache, in the controller's process
(module_utils/_keycache.run); no module is sent anywhere and no connection is opened."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.meshover.mesh.plugins.module_utils._keycache import run

ARGUMENT_SPEC = {
    "inventory": {"type": "dict", "required": True},
    "learned_keys": {"type": "dict", "default": {}, "no_log": False},
    "key_cache_dir": {"type": "path", "no_log": False},
    "hosts": {"type": "list", "elements": "str"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        out, warnings = run(
            args["inventory"],
            args["learned_keys"],
            args["key_cache_dir"],
            args["hosts"],
            check_mode=bool(self._task.check_mode),
            diff=bool(self._task.diff),
        )
        result.update(out)
        if warnings:
            result.setdefault("warnings", []).extend(warnings)
        return result
