# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every inventory the project ships or tests with passes the whole preflight: the example inventory,
molecule's, the one the lab writes (molecule/lab/meshlab.py), the quickstart's, and each endpoint or
prefix the docs show. A rule that refused one of them would break the docs, the demo or CI."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from ansible_collections.meshover.mesh.plugins.module_utils.controller._preflight import validate

REPO = Path(__file__).resolve().parents[4]
MEANING_VARS = ("meshover_endpoint", "meshover_announce", "meshover_gathering", "meshover_shared_prefixes")


def mesh_inventory(source: Path) -> dict[str, dict[str, Any]]:
    """host -> its meshover_* variables, as Ansible merges them (group_vars, host_vars, group vars)."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(source)])
    variables = VariableManager(loader=loader, inventory=inventory)
    out = {}
    for host in inventory.get_groups_dict()["mesh"]:
        host_vars = variables.get_vars(host=inventory.get_host(host))
        out[host] = {k: v for k, v in host_vars.items() if k.startswith("meshover_")}
    return out


@pytest.mark.parametrize("source", ["inventory.example", "molecule/default/inventory/hosts.yml"])
def test_shipped_inventories_pass(source):
    inv = mesh_inventory(REPO / source)
    assert len(inv) == 3
    assert validate(inv) == []


def test_molecule_inventory_uses_the_checked_variables():
    inv = mesh_inventory(REPO / "molecule/default/inventory/hosts.yml")
    assert inv["n1"]["meshover_gathering"] and inv["n2"]["meshover_announce"] and inv["n3"]["meshover_shared_prefixes"]


def test_lab_inventory_written_by_meshlab_passes(tmp_path):
    spec = importlib.util.spec_from_file_location("meshlab", REPO / "molecule" / "lab" / "meshlab.py")
    meshlab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(meshlab)
    state = {"lab": "t", "nodes": 5, "port_base": 2200, "releases": {"1": "trixie", "2": "trixie", "3": "bookworm"}}
    state["releases"].update({"4": "trixie", "5": "trixie"})
    meshlab.write_inventory(tmp_path, state)
    inv = mesh_inventory(tmp_path / "inventory.yml")
    assert inv["n5"]["meshover_endpoint"] == "fd00:10::5"
    assert validate(inv) == []


def test_quickstart_inventory_passes():
    text = (REPO / "docs" / "quickstart.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "meshover_endpoint" in b]
    (doc,) = [b for b in blocks if isinstance(b, dict) and "mesh" in b]
    inv = {h: {k: v for k, v in hv.items() if k.startswith("meshover_")} for h, hv in doc["mesh"]["hosts"].items()}
    assert validate(inv) == []


# --- each value the docs show, inside an otherwise valid inventory whose endpoints are out of their way

# `name: value` where value is quoted, a flow list, or a bare address (prose such as "announce: its" is not)
INLINE = re.compile(
    r"(meshover_(?:endpoint|announce|gathering|shared_prefixes)): (\"[^\"]*\"|\[[^\]\n]*\]|[0-9a-fA-F:.]*\d[^\s`{},]*)"
)
PLACEHOLDERS = {"fd00:10::N"}  # molecule/default/README.md: "nN has fd00:10::N"
# h2 is dual-stack, so that h1 may show an IPv4 or an IPv6 endpoint (198.18/15: no doc uses it)
NEUTRAL = {
    "h1": {"meshover_endpoint": "2001:db8:ffff::1"},
    "h2": {"meshover_endpoint": ["2001:db8:ffff::2", "198.18.255.2"]},
}


def _walk(tree, found):
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in MEANING_VARS:
                found.append((key, value))
            _walk(value, found)
    elif isinstance(tree, list):
        for item in tree:
            _walk(item, found)
    return found


def _doc_values():
    docs = ("*.md", "docs/*.md", "roles/*/README.md", "molecule/*/README.md")
    for path in sorted(path for pattern in docs for path in REPO.glob(pattern)):
        text = path.read_text()
        found = [(var, yaml.safe_load(value)) for var, value in INLINE.findall(text)]
        for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
            try:
                found += _walk(yaml.safe_load(block), [])
            except yaml.YAMLError:
                continue  # README.md's block is two files side by side; INLINE finds its values
        seen = set()
        for var, value in found:
            if value not in (None, []) and str(value) not in PLACEHOLDERS | seen:
                seen.add(str(value))
                yield pytest.param(var, value, id=f"{path.relative_to(REPO)}/{var}/{value}")


DOC_VALUES = list(_doc_values())


def test_the_doc_scan_finds_the_known_examples():
    found = {(p.values[0], str(p.values[1])) for p in DOC_VALUES}
    assert ("meshover_endpoint", "['2001:db8:30::1', '192.0.2.30']") in found  # README.md
    assert ("meshover_endpoint", "2001:db8:30::1") in found  # docs/quickstart.md
    assert ("meshover_gathering", "['198.51.100.0/24', '2001:db8:100::/64']") in found  # docs/source-routing.md
    assert ("meshover_shared_prefixes", "['10.88.0.0/16', '10.77.0.0/24', 'fd88::/48', 'fd77::/64']") in found


@pytest.mark.parametrize(("var", "value"), DOC_VALUES)
def test_values_shown_in_the_docs_pass(var, value):
    inv = {h: dict(hv) for h, hv in NEUTRAL.items()}
    if var == "meshover_shared_prefixes":
        for host_vars in inv.values():
            host_vars[var] = value
    else:
        inv["h1"][var] = value
    if var == "meshover_gathering":  # as docs/source-routing.md shows it: the block's addresses are shared
        for host_vars in inv.values():
            host_vars["meshover_shared_prefixes"] = value
    assert validate(inv) == []
