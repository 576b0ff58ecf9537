# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's default lives in the role (issue 18): no playbook and no other role applies `| default(...)` to a
role's variable, which would be a second copy of its default. They import the role's entry point `vars`
(no tasks) to get its variables instead; that entry point must then exist and stay empty."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLES = sorted(p.parent.parent.name for p in REPO.glob("roles/*/defaults/main.yml"))
ROLE_VARS = {
    name: role
    for role in ROLES
    for name in yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
}
# `x | default(omit, ...)` passes an empty value on as "not set": no copy of a value.
DEFAULTED = re.compile(r"\b([a-z][a-z0-9_]*)((?:\.\w+|\[[^]]*\])*)\s*\|\s*default\((?!\s*omit\b)")
VARS_IMPORT = re.compile(r"import_role:\s*\n\s*name: meshover\.mesh\.(\w+)\s*\n\s*tasks_from: vars\s*\n\s*public: true")


def files():
    for path in sorted([*REPO.glob("playbooks/**/*.yml"), *REPO.glob("playbooks/**/*.j2"), *REPO.glob("roles/**/*")]):
        if path.is_file() and path.suffix in (".yml", ".j2"):
            yield path


@pytest.mark.parametrize("path", list(files()), ids=lambda p: str(p.relative_to(REPO)))
def test_no_second_copy_of_a_role_default(path):
    owner = path.relative_to(REPO).parts[1] if path.relative_to(REPO).parts[0] == "roles" else None
    copies = [
        m.group(0)
        for m in DEFAULTED.finditer(path.read_text())
        if m.group(1) in ROLE_VARS and ROLE_VARS[m.group(1)] != owner
    ]
    assert copies == []


def test_the_vars_entry_points_run_nothing_and_are_used():
    used = {m.group(1) for path in files() for m in VARS_IMPORT.finditer(path.read_text())}
    entry_points = {p.parent.parent.name for p in REPO.glob("roles/*/tasks/vars.yml")}
    assert used == entry_points
    for role in entry_points:
        assert yaml.safe_load((REPO / "roles" / role / "tasks" / "vars.yml").read_text()) == [], role
