# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tree shows the split: plugins/module_utils/controller (identity, preflight, plan: runs in Ansible's
process), node (the kernel layer the modules and the exporter run on a node), shared (both). A node module
ships only what it imports, so nothing on the node side may import controller code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MU = REPO / "plugins" / "module_utils"
PREFIX = "ansible_collections.meshover.mesh.plugins.module_utils."


def imported(path: Path) -> set[str]:
    """The module_utils sides (controller, node, shared) a file imports from."""
    sides = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        sides.update(n[len(PREFIX) :].split(".")[0] for n in names if n.startswith(PREFIX))
    return sides


def test_module_utils_has_only_the_three_sides():
    assert {p.name for p in MU.iterdir() if not p.name.startswith(".")} == {"controller", "node", "shared"}


@pytest.mark.parametrize("path", sorted(MU.glob("node/*.py")) + sorted(MU.glob("shared/*.py")), ids=lambda p: p.name)
def test_node_and_shared_code_imports_no_controller_code(path):
    assert "controller" not in imported(path)
    assert "node" not in imported(path) or path.parent.name == "node"


@pytest.mark.parametrize("path", sorted((REPO / "plugins" / "modules").glob("*.py")), ids=lambda p: p.name)
def test_modules_run_on_nodes_and_import_no_controller_code(path):
    # mesh_peers and mesh_preflight are documentation only: their actions run on the controller
    assert "controller" not in imported(path)


def test_the_check_can_fail(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text(f"from {PREFIX}controller._identity import MeshError\n")
    assert imported(bad) == {"controller"}
