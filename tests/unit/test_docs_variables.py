# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/variables.md must document every catalogue entry (name, scope and type in one table row)."""

from __future__ import annotations

import pathlib

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.controller._catalog import CATALOG, SCOPES, rewrite_doc

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "variables.md"


def rows() -> dict[str, list[str]]:
    table = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and cells[0].startswith("`meshover_"):
            table[cells[0].strip("`")] = cells
    return table


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_catalogue_entry_documented(name):
    entry = CATALOG[name]
    row = rows().get(name)
    assert row is not None, f"{name} is missing from docs/variables.md"
    assert row[1] == entry["scope"]
    assert row[2].startswith(entry["type"])


def test_no_undocumented_extra_rows():
    assert set(rows()) == set(CATALOG)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_catalogue_entry_well_formed(name):
    entry = CATALOG[name]
    assert entry["scope"] in SCOPES
    assert entry["description"] and entry["roles"]
    assert {"scope", "type", "default", "roles", "description"} <= set(entry)


def test_the_tables_are_generated_from_the_catalogue():
    text = DOC.read_text(encoding="utf-8")
    assert rewrite_doc(text) == text, "docs/variables.md's tables are not the catalogue's: run `make docs`"


def test_a_changed_catalogue_entry_changes_the_doc(monkeypatch):
    text = DOC.read_text(encoding="utf-8")
    monkeypatch.setitem(CATALOG, "meshover_nat", {**CATALOG["meshover_nat"], "description": "Changed."})
    assert "| Changed. |" in rewrite_doc(text) and rewrite_doc(text) != text


EXAMPLE = DOC.parents[1] / "inventory.example" / "group_vars" / "mesh.yml"


@pytest.mark.parametrize("name", sorted(n for n, e in CATALOG.items() if e["scope"] == "mesh"))
def test_the_example_inventory_shows_every_mesh_wide_variable(name):
    # README.md: "`inventory.example/` shows every mesh-wide variable" (as a setting or a commented default)
    shown = {line.lstrip("# ").split(":", 1)[0] for line in EXAMPLE.read_text(encoding="utf-8").splitlines()}
    assert name in shown, f"{name} is mesh-wide but inventory.example/group_vars/mesh.yml does not show it"
