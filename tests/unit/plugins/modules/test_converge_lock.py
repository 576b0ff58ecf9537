# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meshover.mesh.converge_lock on the node: take, keep, refuse without force, drop only its own; no change
reported ever; check mode writes nothing."""

from __future__ import annotations

import json

from ansible_collections.meshover.mesh.plugins.modules import converge_lock

ME = {"controller": "ctl", "boot_id": "b1", "pid": 200, "started": 1.0, "playbook": "site.yml"}
OTHER = {**ME, "pid": 100}


def test_take_and_drop(run_module, tmp_path):
    path = str(tmp_path / "run/meshover/converge.lock")
    rc, res = run_module(converge_lock.main, {"path": path, "owner": ME})
    assert rc == 0 and res["acquired"] is True and res["changed"] is False and res["held"] is None
    assert json.loads(open(path).read()) == ME
    rc, res = run_module(converge_lock.main, {"path": path, "owner": ME, "state": "absent"})
    assert rc == 0 and res["changed"] is False and res["held"] == ME
    assert not (tmp_path / "run/meshover/converge.lock").exists()


def test_held_by_another_needs_force(run_module, tmp_path):
    path = tmp_path / "converge.lock"
    path.write_text(json.dumps(OTHER))
    rc, res = run_module(converge_lock.main, {"path": str(path), "owner": ME})
    assert rc == 0 and res["acquired"] is False and res["held"] == OTHER
    assert json.loads(path.read_text()) == OTHER
    # dropping someone else's lock does nothing
    run_module(converge_lock.main, {"path": str(path), "owner": ME, "state": "absent"})
    assert json.loads(path.read_text()) == OTHER
    _rc, res = run_module(converge_lock.main, {"path": str(path), "owner": ME, "force": True})
    assert res["acquired"] is True and json.loads(path.read_text()) == ME


def test_check_mode_writes_and_deletes_nothing(run_module, tmp_path):
    path = tmp_path / "converge.lock"
    rc, res = run_module(converge_lock.main, {"path": str(path), "owner": ME, "_ansible_check_mode": True})
    assert rc == 0 and res["acquired"] is True and not path.exists()
    path.write_text(json.dumps(ME))
    run_module(converge_lock.main, {"path": str(path), "owner": ME, "state": "absent", "_ansible_check_mode": True})
    assert path.exists()


def test_an_unreadable_lock_is_reported_as_held(run_module, tmp_path):
    path = tmp_path / "converge.lock"
    path.write_text("garbage")
    _rc, res = run_module(converge_lock.main, {"path": str(path), "owner": ME})
    assert res["acquired"] is False and res["held"] == {"unreadable": "garbage"}
