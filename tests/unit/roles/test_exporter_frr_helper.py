# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The exporter's FRR helper (roles/exporter/templates/meshover-frr-state.j2) for podman and docker."""

from __future__ import annotations

import pathlib
import shlex
import shutil
import subprocess

import pytest
from role_templates import render as render_template

ROOT = pathlib.Path(__file__).resolve().parents[3]
ARGS = ["-c", "show bgp summary json", "-c", "show bfd peers json", "-c", "show version"]


def _render(runtime):
    return render_template(
        "exporter",
        "meshover-frr-state.j2",
        exporter_frr_container_name="frr",
        exporter_container_runtime=runtime,
        exporter_command_timeout=5.0,
        exporter__vtysh_args=ARGS,
        exporter__docker=pathlib.PurePath(runtime).name == "docker",
    )


def _last_exec(script):
    return shlex.split([line for line in script.splitlines() if line.startswith("exec ")][-1])


def test_podman_enters_through_conmon_then_falls_back_to_podman_exec():
    script = _render("/usr/bin/podman")
    assert "pgrep -x -u root conmon" in script
    assert "inspect" not in script
    assert _last_exec(script)[5:] == ["/usr/bin/podman", "exec", "$name", "vtysh", *ARGS]


def test_docker_gets_the_pid_from_docker_inspect_then_falls_back_to_docker_exec():
    script = _render("/usr/bin/docker")
    assert "conmon" not in script
    assert "/usr/bin/docker inspect -f '{{.State.Pid}}' \"$name\"" in script
    assert '/usr/bin/nsenter -t "$pid" -m vtysh' in script
    assert _last_exec(script)[5:] == ["/usr/bin/docker", "exec", "$name", "vtysh", *ARGS]


@pytest.mark.parametrize("runtime", ["/usr/bin/podman", "/usr/bin/docker"])
def test_the_helper_is_valid_sh(runtime, tmp_path):
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh")
    script = tmp_path / "helper"
    script.write_text(_render(runtime))
    assert subprocess.run([sh, "-n", str(script)], check=False).returncode == 0
