# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/decommission.yml asks the roles to remove what they installed (issue 18): the play that cleans
the leaving node imports each role's entry point `remove`, FRR first and WireGuard last, and names no file,
directory or unit of theirs itself. Each of those entry points exists and has its argument spec."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO / "playbooks" / "decommission.yml"
# FRR first (its sessions close while the tunnels still carry them), WireGuard last (the tunnels ride on it;
# its remove also takes meshover's shared directories).
ORDER = ["frr_bgp", "exporter", "source_routing", "gre_overlay", "wireguard_mesh"]
# An absolute path or a unit file in a string of the playbook (a task argument, a variable, a message).
NAMES_A_FILE = re.compile(r"(?:^|[\s'\"=(\[,])/(?:etc|var|usr|run|lib|opt|srv)\b|\.service\b|\.conf\b|\.batch\b")


def strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def cleaning_play():
    plays = yaml.safe_load(PLAYBOOK.read_text())
    return next(p for p in plays if p.get("name", "").startswith("Decommission - stop the leaving node"))


def test_the_cleaning_play_imports_each_roles_remove_in_order():
    play = cleaning_play()
    assert play["hosts"] == "meshover_leaving"
    imports = [
        (t[key]["name"], t[key].get("tasks_from"))
        for t in play["tasks"]
        for key in ("ansible.builtin.import_role", "ansible.builtin.include_role")
        if key in t
    ]
    assert imports == [(f"meshover.mesh.{role}", "remove") for role in ORDER]
    assert len(play["tasks"]) == len(ORDER)


def test_the_playbook_names_no_file_of_the_roles():
    found = [s for s in strings(yaml.safe_load(PLAYBOOK.read_text())) if NAMES_A_FILE.search(s)]
    assert found == []


def test_the_playbook_repeats_no_role_default():
    text = PLAYBOOK.read_text()
    assert not re.search(r"\b(?:wireguard_mesh|gre_overlay|frr_bgp|source_routing|exporter)_\w+\s*\|\s*default\b", text)


def test_each_remove_entry_point_exists_with_its_argument_spec():
    for role in ORDER:
        assert (REPO / "roles" / role / "tasks" / "remove.yml").is_file(), role
        specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        assert "remove" in specs, role
        assert specs["remove"]["short_description"], role
        assert "`tasks_from: remove`" in (REPO / "roles" / role / "README.md").read_text(), role


def test_the_removal_runs_the_roles_tasks_in_order(list_tasks):
    play = (
        list_tasks("decommission.yml", "-e", "node=n3")
        .split("Decommission - stop the leaving node", 1)[1]
        .split("play #", 1)[0]
    )
    roles = re.findall(r"^ {6}meshover\.mesh\.(\w+) : (?!Validating)", play, re.M)
    assert roles, play
    assert sorted(set(roles), key=roles.index) == ORDER
    assert all(
        roles[i] == roles[i + 1] or ORDER.index(roles[i]) < ORDER.index(roles[i + 1]) for i in range(len(roles) - 1)
    )
