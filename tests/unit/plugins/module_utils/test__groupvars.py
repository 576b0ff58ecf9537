# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.controller._groupvars import (
    conflicts,
    depths,
    export_argv,
    export_outcome,
    memberships,
    parse_export,
)


def ours(name):
    return name.startswith("meshover_") or name == "exporter_port"


def export(groups, hostvars=None):
    data = {"_meta": {"hostvars": hostvars or {}}, "all": {"children": ["mesh"]}}
    data.update(groups)
    return json.dumps(data)


NESTED = {
    "mesh": {"children": ["eu", "us"], "vars": {"meshover_wg_port": 51820}},
    "eu": {"children": ["fra"], "hosts": ["n1"], "vars": {"meshover_wg_port": 51821}},
    "us": {"hosts": ["n2"]},
    "fra": {"hosts": ["n1", "n3"], "vars": {"meshover_wg_port": 51822}},
    "web": {"hosts": ["n1"], "vars": {"meshover_wg_port": 51823}},  # a top-level group, outside mesh
}


def test_depths_and_memberships_follow_ansible():
    groups = parse_export(export(NESTED))[0]
    d = depths(groups)
    assert d["all"] == 0 and d["mesh"] == 1 and d["eu"] == 2 and d["fra"] == 3
    assert "web" not in d or d["web"] >= 0
    assert memberships(groups)["n1"] >= {"all", "mesh", "eu", "fra"}


def test_child_group_overrides_its_parents_on_purpose():
    groups, hv = parse_export(export({k: v for k, v in NESTED.items() if k != "web"}))
    assert conflicts(groups, ["n1", "n2", "n3"], hv, ours) == []


def test_same_depth_different_values_is_refused_naming_host_groups_and_winner():
    groups, hv = parse_export(
        export(
            {
                "mesh": {"children": ["a", "b"], "hosts": ["n1", "n2"]},
                "a": {"hosts": ["n1"], "vars": {"exporter_port": 9100, "other": 1}},
                "b": {"hosts": ["n1", "n2"], "vars": {"exporter_port": 9200, "other": 2}},
            }
        )
    )
    (msg,) = conflicts(groups, ["n1", "n2"], hv, ours)
    assert msg.startswith("n1: exporter_port is set to different values")
    assert "a (9100), b (9200)" in msg and "take b's" in msg and "ansible_group_priority" in msg


@pytest.mark.parametrize(
    ("a_vars", "host_vars"),
    [
        ({"exporter_port": 9100, "ansible_group_priority": 5}, {}),
        ({"exporter_port": 9100}, {"n1": {"exporter_port": 9300}}),
        ({"exporter_port": 9200}, {}),
    ],
)
def test_ranked_groups_host_values_and_equal_values_pass(a_vars, host_vars):
    groups, hv = parse_export(
        export(
            {
                "mesh": {"children": ["a", "b"], "hosts": ["n1"]},
                "a": {"hosts": ["n1"], "vars": a_vars},
                "b": {"hosts": ["n1"], "vars": {"exporter_port": 9200}},
            },
            host_vars,
        )
    )
    assert conflicts(groups, ["n1"], hv, ours) == []


def test_not_json_is_a_value_error():
    with pytest.raises(ValueError):
        parse_export("[WARNING]: no inventory")


def test_decoded_export_is_read_like_its_text():
    """ansible-core 2.18 hands the module the templated JSON already decoded."""
    text = export({"mesh": {"hosts": ["n1"], "vars": {"exporter_port": 1}}})
    assert parse_export(json.loads(text)) == parse_export(text)


def test_export_argv_prefers_the_ansible_inventory_beside_ansible_playbook():
    venv = "/opt/venv/bin/python3"
    assert export_argv(venv, ["inv/hosts.yml", "inv2"], lambda p: p == "/opt/venv/bin/ansible-inventory") == [
        "/opt/venv/bin/ansible-inventory",
        "--list",
        "--export",
        "-i",
        "inv/hosts.yml",
        "-i",
        "inv2",
    ]
    assert export_argv(venv, ["h"], lambda p: False)[0] == "ansible-inventory"
    assert export_argv(None, ["h"], lambda p: True)[0] == "ansible-inventory"
    assert export_argv(venv, [], lambda p: True) is None and export_argv(venv, None, lambda p: True) is None


def test_export_outcome():
    assert export_outcome(0, "{}", "warning") == ("{}", "")
    assert export_outcome(1, "", "[WARNING]: x\nERROR! Attempting to decrypt but no vault secrets found\n") == (
        "",
        "ansible-inventory failed (rc=1): ERROR! Attempting to decrypt but no vault secrets found",
    )
