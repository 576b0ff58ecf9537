# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No task registers a variable named like an inventory variable (meshover_*): a registered variable is a host
variable for the rest of the run, so the plan (meshover.mesh.mesh_peers, which reads every meshover_* variable
and refuses an unknown one) would fail on it in the next play."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
REGISTER = re.compile(r"^\s*register:\s*(\S+)", re.M)


def registered(paths):
    for path in paths:
        for name in REGISTER.findall(path.read_text()):
            yield path, name


def test_no_registered_variable_is_named_like_an_inventory_variable():
    files = [*REPO.glob("playbooks/**/*.yml"), *REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("plugins/modules/*.py")]
    assert len(files) > 20
    bad = [(str(p), n) for p, n in registered(files) if n.startswith("meshover_")]
    assert bad == []


def test_the_check_sees_a_bad_name(tmp_path):
    (tmp_path / "x.yml").write_text("- name: x\n  ansible.builtin.command: true\n  register: meshover__x\n")
    assert [n for _p, n in registered([tmp_path / "x.yml"]) if n.startswith("meshover_")] == ["meshover__x"]
