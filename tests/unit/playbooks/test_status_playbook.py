# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/status.yml: it parses, refuses an unknown format before asking any node, and renders what the
nodes that answer return (meshover.mesh.mesh_info) next to the ones that do not.

n1 is this machine (local connection, no become) with no FRR to find (its container runtime does not
exist) and no mesh interfaces; n2 points at 127.0.0.1 port 1 (closed): unreachable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO / "playbooks" / "status.yml"
KEYS = {"n1": "AV9+a8Wur0g3JAieklLME7UJUaa2lBJSJ2XP9NeAMG4=", "n2": "0aWsmgFfrC73s0FnNjVRKhUR9B/jfREbJn8DnuxdT1g="}


def run(inventory: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="false")
    return subprocess.run(
        ["ansible-playbook", str(PLAYBOOK), "-i", str(inventory), *extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=180,
    )


def inventory(tmp_path: Path) -> Path:
    hosts = {
        "n1": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_become": False,
            "frr_bgp_container_runtime": "/nonexistent/podman",
        },
        "n2": {"ansible_host": "127.0.0.1", "ansible_port": 1},
    }
    for i, (name, host) in enumerate(hosts.items(), start=1):
        host.update(meshover_endpoint=f"192.0.2.{i}", meshover_wg_public_key=KEYS[name], meshover_frr_mode="container")
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"mesh": {"hosts": hosts}}))
    return path


def test_syntax_check():
    res = run(REPO / "inventory.example", "--syntax-check")
    assert res.returncode == 0, res.stdout + res.stderr


def test_unknown_format_fails_on_the_controller_first(tmp_path):
    res = run(inventory(tmp_path), "-e", "format=svg")
    assert res.returncode != 0
    assert "Unknown format 'svg'. The formats are table, json, dot" in res.stdout
    assert "UNREACHABLE" not in res.stdout  # no node was asked


def test_renders_the_nodes_that_answer(tmp_path):
    out = tmp_path / "mesh.json"
    res = run(inventory(tmp_path), "-e", "format=json", "-e", f"output={out}")
    assert "UNREACHABLE" in res.stdout  # n2
    data = json.loads(out.read_text())
    assert data["summary"]["nodes"] == 2 and data["summary"]["answered"] == 1
    assert data["nodes"]["n2"] is None
    n1 = data["nodes"]["n1"]
    assert n1["expected"] == ["n2"]  # the plan, through the playbook's JSON round trip
    assert n1["frr"]["access"] == "none" and n1["errors"]["bgp"].startswith("FRR not reachable")
    assert n1["peers"]["n2"]["gre"]["name"] == "mo-n2"
    assert "n2: no answer (unreachable, or the play failed there)" in data["problems"]
    assert '"msg": {' in res.stdout  # the data, printed as a JSON object by the default callback

    res = run(inventory(tmp_path), "-l", "n1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert '"meshover mesh status, 1 node (1 answered), 1 link (0 up, 0 degraded, 1 down)",' in res.stdout
    # the default callback prints the table one line per row
    assert '        "to     n1                n2",\n        "from   WG GRE  BGP BFD   WG GRE  BGP BFD",\n' in res.stdout
    assert '"- n1 -> n2: no GRE tunnel mo-n2"' in res.stdout
