# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The converge lock: one converge of a node at a time.

``meshover.mesh.site`` takes a lock file on each node (tmpfs, gone at reboot) before the roles and
drops it after them. The lock names its owner: the controller's host name and boot id, and the PID of
the ansible-playbook process. A second converge of the node is refused while the owner runs. A lock
left by an interrupted converge does not block the rerun that finishes the job: on the same controller
the owner's process is gone, and the lock is taken over; from another controller it is taken over once
older than max_age.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

LOCK_PATH = "/run/meshover/converge.lock"
DEFAULT_MAX_AGE = 7200  # seconds: longer than any converge measured (a first converge of 3 TCG nodes: ~10 min)
OWNER_KEYS = ("controller", "boot_id", "pid", "started", "playbook")


def same_run(held: Mapping[str, Any], me: Mapping[str, Any]) -> bool:
    return all(held.get(k) == me.get(k) for k in ("controller", "boot_id", "pid"))


def decide(
    held: Any, me: Mapping[str, Any], now: float, max_age: int, alive: Callable[[int], bool], path: str = LOCK_PATH
) -> tuple[str, str]:
    """('take', why: '' or a warning) or ('refuse', message) for a lock found held by `held`."""
    if not held:
        return "take", ""
    if not isinstance(held, Mapping) or not all(k in held for k in OWNER_KEYS):
        return "take", f"{path} held something that is not a meshover lock ({str(held)[:80]!r}): replaced"
    if same_run(held, me):
        return "take", ""
    try:
        age = max(0, int(now - float(held["started"])))
        pid = int(held["pid"])
    except (TypeError, ValueError):
        return "take", f"{path} held an unreadable lock: replaced"
    started = datetime.datetime.fromtimestamp(float(held["started"]), datetime.timezone.utc)
    who = (
        f"controller {held['controller']}, ansible-playbook pid {pid} ({held['playbook']}), "
        f"started {started:%Y-%m-%d %H:%M:%S} UTC, {age} s ago"
    )
    if held["controller"] == me.get("controller") and held["boot_id"] == me.get("boot_id") and not alive(pid):
        return "take", f"the converge that held {path} ({who}) is no longer running: this run finishes its work"
    if age > max_age:
        return "take", f"{path} was held by a converge that is older than {max_age} s ({who}): taken over"
    return (
        "refuse",
        f"another converge of this node is running ({who}): wait until it ends. If it is not running any more "
        f"(killed on another controller), delete {path} on this node, or wait until the lock is {max_age} s old",
    )
