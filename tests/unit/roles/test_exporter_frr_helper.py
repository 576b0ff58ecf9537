# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The exporter's FRR helper (roles/exporter/templates/meshover-frr-state.j2) for the package, podman and docker:
one vtysh per daemon (no session of FRR's mgmtd), the runs _kernel.vtysh_script() makes."""

from __future__ import annotations

import pathlib
import shlex
import shutil
import subprocess

import pytest
from role_templates import render as render_template

from ansible_collections.meshover.mesh.plugins.module_utils.node import _kernel as K


def _render(runtime, bfd=True):
    return render_template(
        "exporter",
        "meshover-frr-state.j2",
        exporter_frr_container_name="frr",
        exporter_container_runtime=runtime,
        exporter_command_timeout=5.0,
        exporter__bfd=bfd,
        exporter__container=runtime is not None,
        exporter__docker=runtime is not None and pathlib.PurePath(runtime).name == "docker",
    )


def _runs(script):
    """The value the script gives $runs (the one line `runs=...`)."""
    line = next(line for line in script.splitlines() if line.startswith("runs="))
    return shlex.split(line[len("runs=") :])[0]


def _last_exec(script):
    return shlex.split([line for line in script.splitlines() if line.startswith("exec ")][-1])


def test_podman_enters_through_conmon_then_falls_back_to_podman_exec():
    script = _render("/usr/bin/podman")
    assert "pgrep -x -u root conmon" in script
    assert "inspect" not in script
    assert _last_exec(script)[5:] == ["/usr/bin/podman", "exec", "$name", "sh", "-c", "$runs"]
    assert '/usr/bin/nsenter -t "$pid" -m sh -c "$runs"' in script


def test_docker_gets_the_pid_from_docker_inspect_then_falls_back_to_docker_exec():
    script = _render("/usr/bin/docker")
    assert "conmon" not in script
    assert "/usr/bin/docker inspect -f '{{.State.Pid}}' \"$name\"" in script
    assert '/usr/bin/nsenter -t "$pid" -m sh -c "$runs"' in script
    assert _last_exec(script)[5:] == ["/usr/bin/docker", "exec", "$name", "sh", "-c", "$runs"]


@pytest.mark.parametrize("runtime", [None, "/usr/bin/podman", "/usr/bin/docker"])
@pytest.mark.parametrize("bfd", [True, False])
def test_the_runs_are_the_readers(runtime, bfd):
    assert _runs(_render(runtime, bfd)) == K.vtysh_script("vtysh", bfd=bfd)


def test_package_mode_asks_each_daemon_alone_and_prints_what_the_reader_splits(tmp_path):
    """Run as written, with a vtysh that answers as FRR's would: three runs, each with -d, no run without it
    (a vtysh without -d would open a session of mgmtd). bfdd not running costs its part only."""
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh")
    calls = tmp_path / "calls"
    fake = tmp_path / "vtysh"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        'case "$2" in\n'
        '  bgpd) echo \'{"ipv4Unicast": {"peers": {}}}\' ;;\n'
        "  bfdd) echo 'Exiting: failed to connect to any daemons.' >&2; exit 1 ;;\n"
        "  zebra) echo 'FRRouting 10.3 (n1) on Linux(6.12.0).' ;;\n"
        "esac\n"
    )
    fake.chmod(0o755)
    script = tmp_path / "helper"
    script.write_text(_render(None))
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    out = subprocess.run([sh, str(script)], capture_output=True, text=True, env=env, check=False)
    assert calls.read_text().splitlines() == [
        "-d bgpd -c show bgp summary json",
        "-d bfdd -c show bfd peers json",
        "-d zebra -c show version",
    ]
    parsed = K.parse_frr_output(out.stdout)
    assert parsed == {"bgp": {"ipv4Unicast": {"peers": {}}}, "bfd": None, "version": "10.3"}


@pytest.mark.parametrize("runtime", [None, "/usr/bin/podman", "/usr/bin/docker"])
def test_the_helper_is_valid_sh(runtime, tmp_path):
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh")
    script = tmp_path / "helper"
    script.write_text(_render(runtime))
    assert subprocess.run([sh, "-n", str(script)], check=False).returncode == 0
