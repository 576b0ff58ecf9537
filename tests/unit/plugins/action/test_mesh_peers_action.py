# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import os
import stat
from unittest.mock import MagicMock

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext

from ansible_collections.meshover.mesh.plugins.action import mesh_peers as action
from ansible_collections.meshover.mesh.plugins.module_utils.controller import _keycache as mesh_peers

K1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
K2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
K2_NEW = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyApVIkI="


def _run(args, capsys=None):
    """(rc, result) of the action meshover.mesh.mesh_peers, as a module's exit code and JSON would be."""
    task = MagicMock()
    task.args = {k: v for k, v in args.items() if not k.startswith("_ansible_")}
    task.async_val = 0
    task.check_mode = bool(args.get("_ansible_check_mode"))
    task.diff = bool(args.get("_ansible_diff"))
    plugin = action.ActionModule(task, MagicMock(), PlayContext(), DataLoader(), MagicMock(), MagicMock())
    result = json.loads(json.dumps(plugin.run(task_vars={})))
    return (1 if result.get("failed") else 0), result


@pytest.fixture
def run():
    return _run


def inventory(k2=None):
    n2 = {"meshover_endpoint": "2001:db8::2"}
    if k2:
        n2["meshover_wg_public_key"] = k2
    return {"n1": {"meshover_endpoint": "2001:db8::1", "meshover_wg_public_key": K1}, "n2": n2}


def cache_file(root, host):
    return root / host / "meshover_wg_public_key.yml"


def test_plan_without_cache_dir(run, capsys):
    rc, result = run({"inventory": inventory(K2)}, capsys)
    assert rc == 0 and result["changed"] is False
    assert result["plan"]["n1"]["wireguard"]["peers"][0]["public_key"] == K2
    assert result["cache_updates"] == []


def test_unknown_key_warns(run, capsys):
    rc, result = run({"inventory": inventory()}, capsys)
    assert rc == 0
    assert result["plan"]["n1"]["wireguard"]["peers"] == []
    assert "n2: no WireGuard public key known" in json.dumps(result["warnings"])


def test_hosts_limits_plan(run, capsys):
    rc, result = run({"inventory": inventory(K2), "hosts": ["n2"]}, capsys)
    assert rc == 0 and list(result["plan"]) == ["n2"]


def test_key_cache_written_then_idempotent(run, tmp_path, capsys):
    args = {"inventory": inventory(), "learned_keys": {"n2": K2, "n1": K1}, "key_cache_dir": str(tmp_path)}
    rc, result = run(args, capsys)
    assert rc == 0 and result["changed"] is True
    assert result["cache_updates"] == ["n1", "n2"]
    path = cache_file(tmp_path, "n2")
    assert yaml.safe_load(path.read_text()) == {"meshover_wg_public_key": K2}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert result["plan"]["n1"]["wireguard"]["peers"][0]["public_key"] == K2
    # second run: the files already hold the keys
    args["inventory"] = inventory(K2)
    rc, result = run(args, capsys)
    assert rc == 0 and result["changed"] is False and result["cache_updates"] == []


def test_key_cache_changed_key_with_diff(run, tmp_path, capsys):
    path = cache_file(tmp_path, "n2")
    path.parent.mkdir()
    path.write_text(mesh_peers.cache_content(K2))
    args = {
        "inventory": inventory(K2),
        "learned_keys": {"n2": K2_NEW},
        "key_cache_dir": str(tmp_path),
        "_ansible_diff": True,
    }
    rc, result = run(args, capsys)
    assert rc == 0 and result["changed"] is True
    assert yaml.safe_load(path.read_text()) == {"meshover_wg_public_key": K2_NEW}
    (diff,) = result["diff"]
    assert diff["before_header"] == str(path)
    assert K2 in diff["before"] and K2_NEW in diff["after"]


def test_key_cache_check_mode_writes_nothing(run, tmp_path, capsys):
    args = {
        "inventory": inventory(),
        "learned_keys": {"n2": K2},
        "key_cache_dir": str(tmp_path / "host_vars"),
        "_ansible_check_mode": True,
        "_ansible_diff": True,
    }
    rc, result = run(args, capsys)
    assert rc == 0 and result["changed"] is True and result["cache_updates"] == ["n2"]
    assert result["diff"][0]["before"] == "" and K2 in result["diff"][0]["after"]
    assert not (tmp_path / "host_vars").exists()


def test_invalid_learned_key_not_written(run, tmp_path, capsys):
    args = {"inventory": inventory(), "learned_keys": {"n2": "nope"}, "key_cache_dir": str(tmp_path)}
    rc, result = run(args, capsys)
    assert rc == 0 and result["changed"] is False
    assert not cache_file(tmp_path, "n2").exists()


def test_invalid_inventory_fails_like_preflight(run, capsys):
    bad = inventory(K2)
    bad["n2"]["meshover_endpoint"] = "fe80::2"
    bad["n1"]["meshover_wg_port"] = "x"
    rc, result = run({"inventory": bad}, capsys)
    assert rc == 1 and result["failed"] is True
    assert len(result["problems"]) == 2
    assert result["msg"].startswith("meshover preflight found 2 problem(s):\n")


def test_cache_dir_outside_inventory_is_read(run, tmp_path, capsys):
    """An AWX job's inventory is a fresh checkout: its host_vars hold no key. With --limit n1, n2's key
    comes from the cache directory (written by an earlier run), so n1 keeps its peer."""
    path = cache_file(tmp_path, "n2")
    path.parent.mkdir()
    path.write_text(mesh_peers.cache_content(K2))
    args = {"inventory": inventory(), "learned_keys": {"n1": K1}, "key_cache_dir": str(tmp_path), "hosts": ["n1"]}
    rc, result = run(args, capsys)
    assert rc == 0
    assert result["plan"]["n1"]["wireguard"]["peers"][0]["public_key"] == K2
    assert result["cache_updates"] == ["n1"]  # n1's learned key is new to the directory


def test_cache_file_wins_over_host_variable_learned_wins_over_both(run, tmp_path, capsys):
    path = cache_file(tmp_path, "n2")
    path.parent.mkdir()
    path.write_text(mesh_peers.cache_content(K2_NEW))
    rc, result = run({"inventory": inventory(K2), "key_cache_dir": str(tmp_path)}, capsys)
    assert rc == 0 and result["plan"]["n1"]["wireguard"]["peers"][0]["public_key"] == K2_NEW
    rc, result = run({"inventory": inventory(K2), "learned_keys": {"n2": K2}, "key_cache_dir": str(tmp_path)}, capsys)
    assert rc == 0 and result["plan"]["n1"]["wireguard"]["peers"][0]["public_key"] == K2
    assert result["cache_updates"] == ["n2"]


def test_unreadable_cache_file_warns_and_falls_back(run, tmp_path, capsys):
    path = cache_file(tmp_path, "n2")
    path.parent.mkdir()
    path.write_text("meshover_wg_public_key: not-a-key\n")
    rc, result = run({"inventory": inventory(K2), "key_cache_dir": str(tmp_path)}, capsys)
    assert rc == 0 and result["plan"]["n1"]["wireguard"]["peers"][0]["public_key"] == K2
    assert "key cache file" in json.dumps(result["warnings"]) and "holds no WireGuard public key" in json.dumps(
        result["warnings"]
    )


def test_read_cache_reads_what_cache_content_writes(tmp_path):
    for host, key in (("n1", K1), ("n2", K2)):
        cache_file(tmp_path, host).parent.mkdir()
        cache_file(tmp_path, host).write_text(mesh_peers.cache_content(key))
    keys, warnings = mesh_peers.read_cache(["n1", "n2", "n3"], str(tmp_path))
    assert keys == {"n1": K1, "n2": K2} and warnings == []
