# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`ansible-galaxy collection build` gives a tarball that installs, and whose filters work from a
plain playbook that knows nothing of this checkout."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        content: "{{ ['n1', 'n2', 'n3'] | meshover.mesh.mesh_identities | to_json }}"
        dest: "{{ playbook_dir }}/identities.json"
        mode: "0644"
"""


def sh(cmd: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=300)
    assert res.returncode == 0, f"{cmd}: {res.stdout}\n{res.stderr}"
    return res


def test_build_install_and_use(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.pop("PYTHONPATH", None)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(tmp_path / "collections")
    env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    sh(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path / "dist"), str(REPO)], env, tmp_path)
    (tarball,) = (tmp_path / "dist").glob("meshover-mesh-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "plugins/filter/mesh.py" in names
    assert "roles/wireguard_mesh/tasks/main.yml" in names
    # what ansible-builder reads from the installed collection (docs/awx.md)
    assert {"meta/execution-environment.yml", "meta/ee-requirements.txt", "meta/ee-bindep.txt"} <= set(names)
    assert not [n for n in names if n.startswith(("molecule/", "bench/", ".lab/", ".venv"))]
    sh(["ansible-galaxy", "collection", "install", str(tarball), "-p", str(tmp_path / "collections")], env, tmp_path)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    sh(["ansible-playbook", "play.yml"], env, tmp_path)
    msg = json.loads((tmp_path / "identities.json").read_text())
    assert msg["n1"]["asn"] == 4275762751
    assert msg["n2"]["gre_name"] == "mo-n2"
    assert msg["n3"]["loopback6"] == "fd46:76a3:fa9b:0:55a:add1:ad48:2aa"
