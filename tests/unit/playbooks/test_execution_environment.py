# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX / AAP (issue 19, item 4): the example execution environment of docs/awx.md turns into a build
context with `ansible-builder create`, and ansible-builder finds the collection's own controller-side
dependencies (meta/execution-environment.yml). Building the image needs a registry: not done here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
BUILDER = str(Path(sys.executable).parent / "ansible-builder")


def builder(*args: str, cwd: Path) -> str:
    res = subprocess.run([BUILDER, *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=120)
    assert res.returncode == 0, f"ansible-builder {args}: {res.stdout}\n{res.stderr}"
    return res.stdout


def test_create_makes_a_build_context(tmp_path):
    builder("create", "-f", str(REPO / "docs/awx/execution-environment.yml"), "-c", str(tmp_path / "ctx"), cwd=tmp_path)
    (containerfile,) = [p for p in (tmp_path / "ctx").iterdir() if p.name in ("Containerfile", "Dockerfile")]
    text = containerfile.read_text()
    assert "ansible-galaxy collection install" in text and "/usr/bin/python3.11" in text
    wanted = yaml.safe_load((tmp_path / "ctx/_build/requirements.yml").read_text())
    assert [c["name"] for c in wanted["collections"]] == ["https://github.com/meshover/meshover.mesh.git"]


def test_introspect_finds_the_collection_dependencies(tmp_path):
    meta = yaml.safe_load((REPO / "meta/execution-environment.yml").read_text())
    for kind in ("python", "system"):
        assert (REPO / meta["dependencies"][kind]).is_file(), meta
    root = tmp_path / "ansible_collections" / "meshover"
    root.mkdir(parents=True)
    (root / "mesh").symlink_to(REPO)
    found = yaml.safe_load(builder("introspect", str(tmp_path), cwd=tmp_path).split("\n", 1)[1])
    assert found["python"] == []  # the controller side is the standard library and ansible-core
    assert "openssh-client [platform:dpkg]  # from collection meshover.mesh" in found["system"], found
