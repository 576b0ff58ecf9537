# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aggregate callback for bench/converge_budget.py: per-host task tally of a playbook run.

Enable with ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=meshover_tally
and MESHOVER_TALLY_OUT=<file>; the tally is written there as JSON at the end of the run.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: meshover_tally
type: aggregate
short_description: per-host task tally for meshover's bench scripts
description: Counts, per host, the task results of a run (executed, changed, skipped) and lists the tasks.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "meshover_tally"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.hosts = {}
        self.durations = {}  # task name -> seconds from its start to its last host result
        self._task_start = (None, 0.0)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start = (task.get_name(), time.monotonic())

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start = (task.get_name(), time.monotonic())

    def _tally(self, result, status):
        host = result._host.get_name()
        task = result._task
        name, start = self._task_start
        if name == task.get_name():
            self.durations[name] = round(time.monotonic() - start, 2)
        h = self.hosts.setdefault(host, {"executed": 0, "changed": 0, "skipped": 0, "failed": 0, "tasks": []})
        if status == "skipped":
            h["skipped"] += 1
            return
        h["executed"] += 1
        if status == "failed":
            h["failed"] += 1
        if result._result.get("changed"):
            h["changed"] += 1
        h["tasks"].append(
            {
                "name": task.get_name(),
                "action": task.action,
                "delegated": bool(task.delegate_to),
                "changed": bool(result._result.get("changed")),
                "seconds": round(time.monotonic() - start, 2) if name == task.get_name() else None,
                # what a changed or failed command said on stderr (the reload handler names each try there)
                "stderr": str(result._result.get("stderr") or "")[-1500:]
                if result._result.get("changed") or status == "failed"
                else "",
                "tries": [
                    line
                    for line in str(result._result.get("stderr") or "").splitlines()
                    if " of 3)" in line or line.startswith("FRR was not restarted")
                ],
            }
        )

    def v2_runner_on_ok(self, result):
        self._tally(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._tally(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._tally(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._tally(result, "failed")

    def v2_playbook_on_stats(self, stats):
        out = os.environ.get("MESHOVER_TALLY_OUT")
        if out:
            with open(out, "w", encoding="utf-8") as f:
                json.dump({"hosts": self.hosts, "durations": self.durations}, f, indent=1)
