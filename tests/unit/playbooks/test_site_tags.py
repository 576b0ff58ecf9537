# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`--tags <role>` on site.yml (issue 19, item 5): each role's tag runs that role, the preflight, and what
every role reads (the node's key and the mesh plan; FRR's probe for the exporter), and nothing of the
other roles. Read from `ansible-playbook --list-tasks`; the lab proves that such a run changes nothing
else on a converged mesh."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLES = ("wireguard_mesh", "gre_overlay", "frr_bgp", "exporter", "source_routing")
PREFLIGHT = (
    "Group mesh must have at least one host",
    "Validate every meshover variable of every mesh host",
    "Check kernel modules, systemd, Python, free disk",
)
SHARED = ("wireguard_mesh : Ensure the node's WireGuard key pair", "wireguard_mesh : Compute the mesh plan once")


@pytest.fixture(scope="module")
def listed(list_tasks):
    """The names of the tasks site.yml runs with these arguments."""
    return lambda *args: [
        m.group(1).strip() for m in re.finditer(r"^ {6}(\S.*?)\tTAGS:", list_tasks("site.yml", *args), re.M)
    ]


@pytest.fixture(scope="module")
def everything(listed) -> list[str]:
    return listed()


@pytest.mark.parametrize("role", ROLES)
def test_a_role_tag_runs_that_role_and_what_it_reads(role, everything, listed):
    tasks = listed("--tags", role)
    for name in PREFLIGHT + SHARED:
        assert any(t.startswith(name) or name in t for t in tasks), (name, tasks)
    own = [t for t in everything if t.startswith(f"meshover.mesh.{role} : ")]
    assert own and all(t in tasks for t in own), (role, tasks)
    shared_names = (*SHARED, "frr_bgp : Find the container runtime and the FRR version")
    others = [
        t
        for t in tasks
        if t.startswith("meshover.mesh.")
        and not t.startswith(f"meshover.mesh.{role} : ")
        and not any(s in t for s in shared_names)
    ]
    assert others == [], (role, others)
    assert ("meshover.mesh.frr_bgp : Find the container runtime and the FRR version that will run" in tasks) == (
        role in ("frr_bgp", "exporter")
    )


def test_tunnels_of_leaving_peers_go_after_frr_reload_in_a_partial_run(listed):
    tasks = listed("--tags", "gre_overlay,frr_bgp")
    assert tasks.index("Apply FRR's new configuration now") < tasks.index("Delete the tunnels to peers that left")


def test_skip_tags_node_preflight_still_skips_the_node_checks(listed):
    tasks = listed("--skip-tags", "node_preflight")
    assert not any(t.startswith("Check kernel modules") for t in tasks)
    assert any(t.startswith("Validate every meshover variable") for t in tasks)


# --- What a role reads under its own tag, read from the roles' files ------------------------------------
#
# --list-tasks shows which tasks a tag runs, not what they read. A task reads variables; a role default or
# var (every role's: site.yml imports the roles, so their defaults and vars are the play's) reads more, a
# template it renders more again. Every registered variable reached that way must come from a task that
# runs under each tag of the reading task, unless every reading is guarded (`is defined`, `| default`).

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TEMPLATE = re.compile(r"[\w.-]+\.j2")


def _guarded(name: str, text: str) -> bool:
    return bool(re.search(rf"\b{name}\s+is\s+(not\s+)?defined\b|\b{name}(\.\w+|\[[^]]*\])*\s*\|\s*default\b", text))


def _tasks(items, role: str | None, tags: frozenset[str]):
    """(role, effective tags, task) of every task in a list, blocks and a role's import_tasks flattened."""
    for task in items or []:
        own = task.get("tags", [])
        own = frozenset([own] if isinstance(own, str) else own)
        if "block" in task:
            yield from _tasks(task["block"], role, tags | own)
        elif role and "ansible.builtin.import_tasks" in task:
            # a task file of the role (tasks/main.yml imports tasks/probe.yml): its tasks get the import's tags
            path = REPO / "roles" / role / "tasks" / task["ansible.builtin.import_tasks"]
            yield from _tasks(yaml.safe_load(path.read_text()), role, tags | own)
        else:
            yield role, tags | own, task


def _reading_tasks():
    """Every task of site.yml's main play and of the roles it imports, with the tags it runs under."""
    plays = [p for p in yaml.safe_load((REPO / "playbooks/site.yml").read_text()) if p.get("hosts") == "mesh"]
    assert len(plays) == 1, "site.yml has one play on group mesh"
    play = plays[0]
    for role, tags, task in _tasks(play.get("tasks", []) + play.get("post_tasks", []), None, frozenset()):
        imported = task.get("ansible.builtin.import_role", {}).get("name", "")
        if imported.startswith("meshover.mesh.") and "tasks_from" not in task["ansible.builtin.import_role"]:
            name = imported.removeprefix("meshover.mesh.")
            for sub in ("tasks", "handlers"):
                path = REPO / "roles" / name / sub / "main.yml"
                if path.exists():
                    yield from _tasks(yaml.safe_load(path.read_text()), name, tags)
        else:
            yield role, tags, task


def _definitions() -> dict[str, tuple[str, str]]:
    """Every role default and var: name -> (role, its value as text)."""
    defs = {}
    for role in ROLES:
        for sub in ("defaults", "vars"):
            path = REPO / "roles" / role / sub / "main.yml"
            for name, value in (yaml.safe_load(path.read_text()) if path.exists() else {}).items():
                defs[name] = (role, yaml.safe_dump(value))
    return defs


def _registered_reads(text: str, role: str | None, defs: dict, registered: dict) -> set[str]:
    """Registered variables a text reads unguarded, through role defaults, vars and templates."""
    seen, found, todo = set(), set(), [(text, role)]
    while todo:
        text, role = todo.pop()
        for name in set(IDENT.findall(text)):
            if name in registered and not _guarded(name, text):
                found.add(name)
            if name in defs and name not in seen:
                seen.add(name)
                todo.append((defs[name][1], defs[name][0]))
        for template in TEMPLATE.findall(text):
            path = REPO / "roles" / str(role) / "templates" / template
            if role and path.exists() and template not in seen:
                seen.add(template)
                todo.append((path.read_text(), role))
    return found


def test_every_registered_variable_a_role_reads_is_registered_under_its_tags():
    tasks = list(_reading_tasks())
    registered = {t["register"]: tags for _role, tags, t in tasks if "register" in t}
    assert {"wireguard_mesh_plan", "wireguard_mesh__key", "frr_bgp__probe"} <= set(registered)
    defs = _definitions()
    missing = []
    for role, tags, task in tasks:
        if "always" in tags or not tags:
            continue
        for name in _registered_reads(yaml.safe_dump(task), role, defs, registered):
            if not tags <= registered[name] | {"always"}:
                missing.append(f"{task.get('name')} {sorted(tags)} reads {name}, registered {sorted(registered[name])}")
    assert missing == []
