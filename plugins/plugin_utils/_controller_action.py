# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to meshover.mesh: this plugin_utils is not part of the collection's public API.
"""The base of meshover's controller actions (mesh_preflight, mesh_peers): the whole task runs in the
controller's process; no module is sent to a host and no connection is opened."""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ControllerAction(ActionBase):
    """Validates the task's arguments against ARGUMENT_SPEC, then returns the result of work()."""

    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC: dict = {}

    def work(self, args: dict, task_vars: dict) -> tuple[dict, list[str]]:
        """(the task's result, its warnings) from the validated arguments."""
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        out, warnings = self.work(args, task_vars or {})
        result.update(out)
        if warnings:
            result.setdefault("warnings", []).extend(warnings)
        return result
