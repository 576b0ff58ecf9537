# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The converge lock's decision: take a free, own or stale lock; refuse one a running converge holds."""

from __future__ import annotations

from ansible_collections.meshover.mesh.plugins.module_utils.shared._lock import decide

ME = {"controller": "ctl", "boot_id": "b1", "pid": 200, "started": 10_000.0, "playbook": "site.yml"}


def held(**changes):
    return {**ME, "pid": 100, "started": 9_000.0, **changes}


def test_free_and_own_locks_are_taken_quietly():
    assert decide(None, ME, 10_000, 7200, lambda pid: True) == ("take", "")
    assert decide(dict(ME), ME, 10_000, 7200, lambda pid: True) == ("take", "")


def test_a_running_converge_on_the_same_controller_is_refused():
    verdict, msg = decide(held(), ME, 10_000, 7200, lambda pid: pid == 100)
    assert verdict == "refuse"
    assert msg.startswith(
        "another converge of this node is running (controller ctl, ansible-playbook pid 100 (site.yml), started "
        "1970-01-01 02:30:00 UTC, 1000 s ago): wait until it ends."
    )
    assert "delete /run/meshover/converge.lock on this node" in msg


def test_an_interrupted_converge_is_taken_over_by_the_rerun():
    verdict, why = decide(held(), ME, 10_000, 7200, lambda pid: False)
    assert verdict == "take" and "is no longer running: this run finishes its work" in why


def test_another_controller_is_refused_until_the_lock_is_old():
    other = held(controller="ctl2", boot_id="b9")
    assert decide(other, ME, 10_000, 7200, lambda pid: False)[0] == "refuse"  # its pid means nothing here
    verdict, why = decide(other, ME, 9_000 + 7201, 7200, lambda pid: True)
    assert verdict == "take" and "older than 7200 s" in why


def test_a_reboot_of_the_controller_makes_the_pid_meaningless():
    assert decide(held(boot_id="b0"), ME, 10_000, 7200, lambda pid: False)[0] == "refuse"


def test_garbage_is_replaced_with_a_warning():
    verdict, why = decide({"unreadable": "x"}, ME, 10_000, 7200, lambda pid: True)
    assert verdict == "take" and "not a meshover lock" in why
    verdict, why = decide(held(pid="x"), ME, 10_000, 7200, lambda pid: True)
    assert verdict == "take" and "unreadable" in why
