# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""FRR is found one way (issue 18): the frr_bgp role's probe, roles/frr_bgp/templates/frr_probe.sh.j2, run by
the one task of roles/frr_bgp/tasks/probe.yml. The role's converge imports that task file; the playbooks
(playbooks/tasks/frr_vtysh.yml) run it as the role's entry point `probe`. No other task file, template or
script of the product looks for a container runtime, FRR's container or vtysh."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PROBE = REPO / "roles" / "frr_bgp" / "templates" / "frr_probe.sh.j2"
# What a probe of FRR does: look a runtime or vtysh up in PATH, ask a runtime about a container or an image.
PROBING = re.compile(
    r"command\s+-v\s+(\S*vtysh|\S*podman|\S*docker|\"?\$\{?\w+\}?\"?)"
    r"|\b(container|image)\s+inspect\b"
    r"|\b(podman|docker)\s+(ps|inspect)\b"
    r"|\bwhich\s+(vtysh|podman|docker)\b"
)


# What runs on a node: tasks, handlers, role variables, templates and files, modules and their helpers.
RUN = (
    "playbooks/**/*.yml",
    "roles/*/tasks/*.yml",
    "roles/*/handlers/*.yml",
    "roles/*/vars/*.yml",
    "roles/*/defaults/*.yml",
    "roles/*/templates/*",
    "roles/*/files/*",
    "plugins/modules/*.py",
    "plugins/module_utils/**/*.py",
)


def product_files():
    for pattern in RUN:
        for path in REPO.glob(pattern):
            if path.is_file() and path != PROBE:
                yield path


def code(text: str) -> str:
    """The text without its comment lines (prose may name a command)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_the_probe_script_is_the_one_that_probes():
    assert PROBING.search(code(PROBE.read_text()))
    files = list(product_files())
    assert len(files) > 40
    found = [
        f"{path.relative_to(REPO)}: {m.group(0)}" for path in files for m in PROBING.finditer(code(path.read_text()))
    ]
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        'p=$(command -v "$r") || continue',
        "command -v vtysh >/dev/null",
        '"$p" container inspect "$name"',
        "docker inspect frr",
        "which podman",
    ],
)
def test_the_check_sees_a_second_probe(text):
    assert PROBING.search(text)


def test_one_task_runs_it_for_the_converge_and_for_the_playbooks():
    probe_tasks = yaml.safe_load((REPO / "roles/frr_bgp/tasks/probe.yml").read_text())
    assert len(probe_tasks) == 1 and "frr_probe.sh.j2" in str(probe_tasks[0]["ansible.builtin.command"])
    assert probe_tasks[0]["register"] == "frr_bgp__probe"
    main = yaml.safe_load((REPO / "roles/frr_bgp/tasks/main.yml").read_text())
    assert main[0]["ansible.builtin.import_tasks"] == "probe.yml"
    assert main[0]["vars"] == {"frr_bgp__probe_converge": True}
    # besides: only the fresh node's second probe (it pulls the image), a converge's too
    others = [t for t in main[1:] if "frr_probe.sh.j2" in str(t)]
    assert [t["vars"] for t in others] == [{"frr_bgp__probe_converge": True, "frr_bgp__probe_pull": True}]
    finder = yaml.safe_load((REPO / "playbooks/tasks/frr_vtysh.yml").read_text())
    # included, so that its `when` skips the include, not the task (a skipped task would register its skip)
    includes = [t["ansible.builtin.include_role"] for t in finder if "ansible.builtin.include_role" in t]
    assert includes == [{"name": "meshover.mesh.frr_bgp", "tasks_from": "probe"}]
    specs = yaml.safe_load((REPO / "roles/frr_bgp/meta/argument_specs.yml").read_text())["argument_specs"]
    assert "probe" in specs and "`tasks_from: probe`" in (REPO / "roles/frr_bgp/README.md").read_text()
