# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release's changelog lists every module and filter the collection ships (issue 19, item 6).

antsibull-changelog lists a plugin as new in the release whose version equals its `version_added`:
a plugin that claims a version the collection never released is missing from every changelog.
The release is made in a scratch copy of the tree; the checkout is not touched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
# the venv running the tests has it (requirements.txt); not necessarily on PATH
CHANGELOG_BIN = str(Path(sys.executable).parent / "antsibull-changelog")
IGNORE = shutil.ignore_patterns(".git", ".venv", ".venv-*", ".lab", "dist", "__pycache__", ".pytest_cache")


def galaxy_version() -> str:
    return yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]


def shipped_plugins() -> dict[str, set[str]]:
    """Module and filter names, as ansible-doc finds them: modules/*.py, filter docs *.yml and filter
    plugins that carry their own DOCUMENTATION (mesh_status.py); mesh.py only holds the filters."""
    modules = {p.stem for p in (REPO / "plugins/modules").glob("*.py") if not p.name.startswith("_")}
    filters = {p.stem for p in (REPO / "plugins/filter").glob("*.yml")}
    filters |= {
        p.stem for p in (REPO / "plugins/filter").glob("*.py") if "DOCUMENTATION" in p.read_text(encoding="utf-8")
    }
    return {"module": modules, "filter": filters}


def test_every_version_added_is_this_release():
    """No plugin claims a version the collection hasn't reached (the modules said 1.0.0/1.1.0 in 0.1.0)."""
    version = galaxy_version()
    claims = {}
    for path in sorted((REPO / "plugins").glob("*/*")):
        if path.suffix in (".py", ".yml"):
            for found in re.findall(r"^\s*version_added:\s*['\"]?([0-9][^'\"\s]*)", path.read_text(), re.M):
                claims[f"{path.parent.name}/{path.name}"] = found
    assert claims, "no version_added found: the scan is broken"
    wrong = {k: v for k, v in claims.items() if v != version}
    assert not wrong, f"galaxy.yml says {version}; these plugins claim otherwise: {wrong}"


def test_release_changelog_lists_every_plugin(tmp_path):
    root = tmp_path / "ansible_collections" / "meshover" / "mesh"
    shutil.copytree(REPO, root, ignore=IGNORE, symlinks=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.pop("PYTHONPATH", None)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(tmp_path)
    env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    # the release step asks ansible-doc (same venv) for every plugin's version_added
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    res = subprocess.run(
        [CHANGELOG_BIN, "lint"], capture_output=True, text=True, env=env, cwd=root, check=False, timeout=120
    )
    assert res.returncode == 0 and not res.stdout.strip(), f"fragments: {res.stdout}{res.stderr}"
    res = subprocess.run(
        [CHANGELOG_BIN, "release", "--version", galaxy_version(), "--date", "2026-12-04"],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=False,
        timeout=300,
    )
    assert res.returncode == 0, f"{res.stdout}\n{res.stderr}"
    text = (root / "CHANGELOG.rst").read_text()
    listed = set(re.findall(r"^- meshover\.mesh\.(\w+) - ", text, re.M))
    plugins = shipped_plugins()
    assert len(plugins["module"]) >= 9 and len(plugins["filter"]) >= 8, plugins
    missing = {kind: sorted(names - listed) for kind, names in plugins.items() if names - listed}
    assert not missing, f"not in the {galaxy_version()} changelog: {missing}"
