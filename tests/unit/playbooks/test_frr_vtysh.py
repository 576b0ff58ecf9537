# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/tasks/frr_vtysh.yml on this machine (local connection), with a stub podman first in PATH: it finds
FRR through meshover.mesh.frr_bgp's entry point `probe`, and trusts frr_bgp_runtime after the role's converge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PODMAN = '#!/bin/sh\n[ "$1 $2 $3" = "container inspect frr" ] && [ -f "$(dirname "$0")/../container" ]\n'
# What the role's converge leaves behind: its probe's output, and its bundle's result.
CONVERGED = {
    "frr_bgp__probe": {
        "stdout": "mode=container\nruntime=/usr/bin/docker\nimage_id=x\nfrr_version=10.3.1\ncoil_vrf=no\n"
    },
    "frr_bgp__bundle": {"changed": False},
}


def run(tmp_path: Path, before: dict | None = None, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "bin").mkdir(exist_ok=True)
    (tmp_path / "bin" / "podman").write_text(PODMAN)
    (tmp_path / "bin" / "podman").chmod(0o755)
    out = tmp_path / "facts.json"
    tasks = [{"name": "As the role's converge leaves it", "ansible.builtin.set_fact": before}] if before else []
    tasks += [
        {"name": "Find vtysh", "ansible.builtin.include_tasks": str(REPO / "playbooks/tasks/frr_vtysh.yml")},
        {
            "name": "Write what it found",
            "ansible.builtin.copy": {
                "dest": str(out),
                "content": "{{ {'state': frr_vtysh_state, 'argv': frr_vtysh, 'bounded': frr_vtysh_bounded}"
                " | to_json }}",
                "mode": "0644",
            },
            "check_mode": False,  # the test's own file, also in a --check run
        },
    ]
    play = [
        {
            "name": "frr_vtysh",
            "hosts": "n1",
            "gather_facts": False,
            "environment": {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"},
            "tasks": tasks,
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    hosts = {"n1": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    res = subprocess.run(
        ["ansible-playbook", str(tmp_path / "play.yml"), "-i", str(tmp_path / "hosts.yml"), *extra],
        capture_output=True,
        text=True,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="false"),
        check=False,
        timeout=180,
    )
    return res, (json.loads(out.read_text()) if out.exists() else {})


@pytest.mark.parametrize("mode", ["container", ""])
def test_the_runtime_without_the_container_is_stopped_then_the_container_is_found(tmp_path, mode):
    res, found = run(tmp_path, None, "-e", f"frr_vtysh_mode={mode}")
    assert res.returncode == 0, res.stdout + res.stderr
    podman = str(tmp_path / "bin" / "podman")
    assert found["state"] == "stopped" and found["argv"] == [podman, "exec", "frr", "vtysh"]
    (tmp_path / "container").touch()
    res, found = run(tmp_path, None, "-e", f"frr_vtysh_mode={mode}", "--check")
    assert res.returncode == 0, res.stdout + res.stderr
    assert found["state"] == "container" and found["bounded"] == [
        "timeout",
        "--kill-after=5",
        "60",
        podman,
        "exec",
        "frr",
        "vtysh",
    ]
    assert "meshover.mesh.frr_bgp : Find the container runtime and the FRR version that will run" in res.stdout


def test_package_mode_without_vtysh_fails_when_required(tmp_path):
    res, _found = run(tmp_path, None, "-e", "frr_vtysh_mode=package", "-e", "frr_vtysh_required=true")
    assert res.returncode != 0
    assert "n1: no FRR to talk to" in res.stdout and "no vtysh on the host (package mode)" in res.stdout


def test_after_the_roles_converge_its_frr_bgp_runtime_decides_without_a_probe(tmp_path):
    res, found = run(tmp_path, CONVERGED)
    assert res.returncode == 0, res.stdout + res.stderr
    assert found["state"] == "container" and found["argv"] == ["/usr/bin/docker", "exec", "frr", "vtysh"]
    assert "Find the container runtime" not in res.stdout  # the include was skipped, not its task
