# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meshover.mesh.mesh_preflight runs whole in the controller's process (plugins/action/mesh_preflight.py),
with the roles' variables checked against the roles' own meta/argument_specs.yml."""

from __future__ import annotations

import json
from unittest.mock import MagicMock

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext

from ansible_collections.meshover.mesh.plugins.action import mesh_preflight

GOOD = {"n1": {"meshover_endpoint": "2001:db8::1"}, "n2": {"meshover_endpoint": "2001:db8::2"}}


def run(args, check_mode=False, task_vars=None):
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    action = mesh_preflight.ActionModule(task, MagicMock(), PlayContext(), DataLoader(), MagicMock(), MagicMock())
    return action.run(task_vars=task_vars or {})


def test_success_returns_identities():
    result = run({"inventory": GOOD})
    assert not result.get("failed")
    assert result["changed"] is False
    assert result["problems"] == []
    assert result["identities"]["n1"]["interface_id"] == "3d27e462938bc19a"
    assert result["identities"]["n2"]["gre_name"] == "mo-n2"
    # the parsed values the node play reads (playbooks/preflight.yml): defaults filled in, addresses canonical
    assert result["hosts"]["n1"]["wg_port"] == 51820 and result["hosts"]["n1"]["frr_mode"] == "container"


def test_hosts_carry_the_parsed_values():
    inventory = {
        "n1": {"meshover_endpoint": ["2001:DB8::1", "192.0.2.1"], "meshover_wg_port": 51821},
        "n2": {"meshover_nat": True, "meshover_frr_mode": "package", "meshover_announce": ["203.0.113.0/24"]},
    }
    hosts = run({"inventory": inventory})["hosts"]
    assert hosts["n1"]["endpoints"] == ["2001:db8::1", "192.0.2.1"] and hosts["n1"]["wg_port"] == 51821
    assert hosts["n1"]["underlay_families"] == ["ipv4", "ipv6"]
    assert hosts["n2"]["nat"] is True and hosts["n2"]["endpoints"] == [] and hosts["n2"]["frr_mode"] == "package"
    assert hosts["n2"]["announce"] == ["203.0.113.0/24"]


def test_check_mode_same_result():
    result = run({"inventory": GOOD}, check_mode=True)
    assert not result.get("failed") and result["changed"] is False and "n1" in result["identities"]


def test_failure_lists_all_problems():
    bad = {"n1": {"meshover_endpont": "2001:db8::1"}, "n2": {"meshover_endpoint": "fe80::2", "meshover_wg_port": 0}}
    result = run({"inventory": bad})
    assert result["failed"] is True
    assert len(result["problems"]) == 4
    lines = result["msg"].splitlines()
    assert lines[0] == "meshover preflight found 4 problem(s):"
    assert lines[1:] == result["problems"]
    assert any("did you mean meshover_endpoint" in p for p in result["problems"])


def test_role_variables_are_checked_against_the_roles_argument_specs():
    result = run(
        {"inventory": GOOD, "role_vars": {"n1": {"gre_overlay_firewall": "maybe", "frr_bgp_contaner_name": "x"}}}
    )
    assert result["failed"] is True
    assert any("gre_overlay_firewall" in p and p.endswith("(role gre_overlay)") for p in result["problems"])
    assert any("frr_bgp_contaner_name" in p and "frr_bgp_container_name" in p for p in result["problems"])


def test_a_roles_option_is_known_because_its_argument_spec_lists_it(tmp_path):
    # the action's table is the YAML: an option added there is known without any Python change
    loader = DataLoader()
    specs = mesh_preflight.role_argument_specs(loader)
    assert "gre_overlay_firewall" in specs["gre_overlay"]["argument_specs"]["main"]["options"]
    for role in specs:
        (tmp_path / "roles" / role / "meta").mkdir(parents=True)
        doc = json.loads(json.dumps(specs[role]))
        if role == "exporter":
            doc["argument_specs"]["main"]["options"]["exporter_new_knob"] = {"type": "int"}
        (tmp_path / "roles" / role / "meta" / "argument_specs.yml").write_text(json.dumps(doc))
    assert "exporter_new_knob" in mesh_preflight.role_specs_from(mesh_preflight.role_argument_specs(loader, tmp_path))


def test_group_conflict_export_error_is_a_warning():
    result = run({"inventory": GOOD, "inventory_export_error": "ansible-inventory failed (rc=1): boom"})
    assert not result.get("failed")
    assert any("group variables not compared" in w and "boom" in w for w in result["warnings"])


def test_bad_arguments_fail_before_any_check():
    with pytest.raises(Exception, match="inventory"):
        run({})


def _fake_inventory_bin(tmp_path, body):
    """An `ansible-inventory` beside a fake ansible-playbook Python: records its arguments, then runs body."""
    binary = tmp_path / "bin" / "ansible-inventory"
    binary.parent.mkdir()
    binary.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\n{body}\n')
    binary.chmod(0o755)
    return {
        "ansible_playbook_python": str(tmp_path / "bin" / "python3"),
        "ansible_inventory_sources": [str(tmp_path / "hosts.yml")],
    }


def test_the_action_reads_the_group_variables_itself(tmp_path):
    export = {
        "_meta": {"hostvars": {}},
        "all": {"children": ["mesh"]},
        "mesh": {"children": ["a", "b"], "hosts": ["n1", "n2"]},
        "a": {"hosts": ["n1"], "vars": {"exporter_port": 9100}},
        "b": {"hosts": ["n1"], "vars": {"exporter_port": 9200}},
    }
    task_vars = _fake_inventory_bin(tmp_path, f"cat <<'EOF'\n{json.dumps(export)}\nEOF")
    result = run({"inventory": GOOD, "role_vars": {"n1": {"exporter_port": 9200}}}, task_vars=task_vars)
    assert (tmp_path / "args").read_text().split() == ["--list", "--export", "-i", str(tmp_path / "hosts.yml")]
    assert result["failed"] is True
    assert any(p.startswith("n1: exporter_port is set to different values") for p in result["problems"]), result
    # an export given as an argument is used as it is (an empty one skips the check): the command does not run
    (tmp_path / "args").unlink()
    assert not run({"inventory": GOOD, "inventory_export": ""}, task_vars=task_vars).get("failed")
    assert not (tmp_path / "args").exists()


def test_the_action_warns_when_ansible_inventory_fails(tmp_path):
    task_vars = _fake_inventory_bin(tmp_path, "echo 'ERROR! no vault secrets found' >&2; exit 1")
    result = run({"inventory": GOOD}, task_vars=task_vars)
    assert not result.get("failed")
    assert any("group variables not compared" in w and "no vault secrets found" in w for w in result["warnings"])
