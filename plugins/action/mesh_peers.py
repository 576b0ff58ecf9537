# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of meshover.mesh.mesh_peers: the mesh plan and the key cache, in the controller's process
(module_utils/controller/_keycache.run); no module is sent anywhere and no connection is opened."""

from __future__ import annotations

from ansible_collections.meshover.mesh.plugins.module_utils.controller._keycache import run
from ansible_collections.meshover.mesh.plugins.plugin_utils._controller_action import ControllerAction

ARGUMENT_SPEC = {
    "inventory": {"type": "dict", "required": True},
    "learned_keys": {"type": "dict", "default": {}, "no_log": False},
    "key_cache_dir": {"type": "path", "no_log": False},
    "hosts": {"type": "list", "elements": "str"},
}


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def work(self, args, task_vars):
        return run(
            args["inventory"],
            args["learned_keys"],
            args["key_cache_dir"],
            args["hosts"],
            check_mode=bool(self._task.check_mode),
            diff=bool(self._task.diff),
        )
