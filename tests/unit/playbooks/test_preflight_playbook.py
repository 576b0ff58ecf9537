# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/preflight.yml end to end: its controller play passes on the example inventory and fails on
bad input with a message naming host and variable, without contacting any node; only a good inventory
goes on to the node play (meshover.mesh.node_preflight, tag node_preflight).

Nodes point at 127.0.0.1 port 1 (closed): any attempt to reach one would show as unreachable."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO / "playbooks" / "preflight.yml"


def run(inventory: Path, *extra: str, playbook: Path = PLAYBOOK) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", str(playbook), "-i", str(inventory), *extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def unreachable_inventory(tmp_path: Path, **extra: dict) -> Path:
    hosts = {}
    for i, name in enumerate(["n1", "n2", "n3"], start=1):
        hosts[name] = {"ansible_host": "127.0.0.1", "ansible_port": 1, "meshover_endpoint": f"fd00:10::{i}"}
        hosts[name].update(extra.get(name, {}))
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"mesh": {"hosts": hosts}}))
    return path


def test_example_inventory_passes():
    res = run(REPO / "inventory.example", "--skip-tags", "node_preflight")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "failed=0" in res.stdout


def test_good_inventory_contacts_no_node_on_the_controller_play(tmp_path):
    res = run(unreachable_inventory(tmp_path), "--skip-tags", "node_preflight")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "unreachable=1" not in res.stdout


def test_good_inventory_then_checks_every_node(tmp_path):
    res = run(unreachable_inventory(tmp_path))
    assert res.returncode != 0
    controller = res.stdout.index("Preflight - validate the mesh inventory on the controller")
    nodes = res.stdout.index("Preflight - check every node before anything changes there")
    assert controller < nodes
    # the node play is not any_errors_fatal: every node is tried, each fails on its own
    assert res.stdout.count("unreachable=1") == 3, res.stdout


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"n2": {"meshover_endpoint": "fe80::1"}}, "n2: meshover_endpoint"),
        ({"n3": {"meshover_wg_prot": 1}}, "meshover_wg_prot is not a known meshover variable"),
        ({"n1": {"meshover_asn": 1}}, "n1: meshover_asn"),
        ({"n1": {"meshover_gre_name": "mo-n2"}}, "meshover_gre_name"),
    ],
)
def test_bad_input_fails_before_any_node(tmp_path, extra, expected):
    res = run(unreachable_inventory(tmp_path, **extra))
    assert res.returncode != 0
    assert expected in res.stdout, res.stdout
    assert "unreachable=0" in res.stdout and "unreachable=1" not in res.stdout


# An inventory without mesh hosts used to skip every play ("no hosts matched") and exit 0.
NO_MESH_HOSTS = "The inventory has no host in group mesh"


@pytest.mark.parametrize(
    ("inventory", "why"),
    [
        ({"mesh": {"hosts": {}}}, "the group is empty"),
        ({"meshes": {"hosts": {"n1": {"ansible_host": "127.0.0.1", "ansible_port": 1}}}}, "there is no group mesh"),
    ],
)
@pytest.mark.parametrize("playbook", ["preflight.yml", "site.yml"])
def test_no_mesh_host_fails_with_a_message(tmp_path, inventory, why, playbook):
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    res = run(path, playbook=REPO / "playbooks" / playbook)
    assert res.returncode != 0, res.stdout
    assert NO_MESH_HOSTS in res.stdout and why in res.stdout and str(path) in res.stdout, res.stdout
    assert "group named mesh" in res.stdout
    # nothing after it ran
    assert "Preflight - validate the mesh inventory on the controller" not in res.stdout


def test_the_group_check_also_runs_with_tags(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"mesh": {"hosts": {}}}))
    res = run(path, "--tags", "node_preflight")
    assert res.returncode != 0 and NO_MESH_HOSTS in res.stdout, res.stdout


def test_the_group_check_runs_on_localhost_only(tmp_path):
    res = run(unreachable_inventory(tmp_path), "--skip-tags", "node_preflight")
    assert res.returncode == 0, res.stdout + res.stderr
    recap = res.stdout[res.stdout.index("PLAY RECAP") :]
    assert re.search(r"^localhost +: ok=1 ", recap, re.M), recap
    # the mesh hosts' tally is what it was without the check: one controller task (mesh_preflight, which
    # also reads the group variables with ansible-inventory), run once
    assert re.search(r"^n1 +: ok=1 ", recap, re.M), recap


def test_with_limit_the_group_check_is_skipped(tmp_path):
    # --limit to a mesh host: the group is not empty, and localhost is outside the limit
    res = run(unreachable_inventory(tmp_path), "--limit", "n1", "--skip-tags", "node_preflight")
    assert res.returncode == 0, res.stdout + res.stderr
    first_play = res.stdout[res.stdout.index("Preflight - the inventory has hosts in group mesh") :]
    assert first_play.split("PLAY [", 1)[0].strip().endswith("skipping: no hosts matched"), res.stdout
    assert "localhost" not in res.stdout[res.stdout.index("PLAY RECAP") :]


def grouped_inventory(tmp_path: Path, dc1: dict, dc2: dict, n1: dict | None = None) -> Path:
    """n1 in two sibling groups dc1 and dc2 (same depth), with these group variables."""
    hosts = {
        name: {"ansible_host": "127.0.0.1", "ansible_port": 1, "meshover_endpoint": f"fd00:10::{i}"}
        for i, name in enumerate(["n1", "n2", "n3"], start=1)
    }
    hosts["n1"].update(n1 or {})
    inv = {
        "mesh": {
            "hosts": hosts,
            "children": {
                "dc1": {"hosts": {"n1": None, "n2": None}, "vars": dc1},
                "dc2": {"hosts": {"n1": None, "n3": None}, "vars": dc2},
            },
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inv))
    return path


def test_two_groups_two_values_fail_before_any_node(tmp_path):
    res = run(grouped_inventory(tmp_path, {"exporter_port": 9100}, {"exporter_port": 9200}))
    assert res.returncode != 0
    assert "n1: exporter_port is set to different values by groups of the same depth and priority" in res.stdout
    assert "dc1 (9100), dc2 (9200)" in res.stdout and "take dc2's" in res.stdout, res.stdout
    assert "n2: exporter_port" not in res.stdout and "n3: exporter_port" not in res.stdout
    assert "unreachable=1" not in res.stdout


@pytest.mark.parametrize(
    ("dc1", "dc2", "n1"),
    [
        # exporter_collect_interval: a role variable hosts may set differently (exporter_port must be one value)
        ({"exporter_collect_interval": 10}, {"exporter_collect_interval": 10}, None),  # the same value twice
        (
            {"exporter_collect_interval": 10},
            {"exporter_collect_interval": 20},
            {"exporter_collect_interval": 30},
        ),  # the host says which
        ({"exporter_collect_interval": 10, "ansible_group_priority": 2}, {"exporter_collect_interval": 20}, None),
        ({"not_ours": 1}, {"not_ours": 2}, None),  # not a variable meshover reads
    ],
)
def test_group_values_that_are_not_a_conflict(tmp_path, dc1, dc2, n1):
    res = run(grouped_inventory(tmp_path, dc1, dc2, n1), "--skip-tags", "node_preflight")
    assert res.returncode == 0, res.stdout + res.stderr
