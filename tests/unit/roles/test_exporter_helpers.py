# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The exporter's privileges as its units say them: the exporter itself has no capability, no FRR group
and no sudo; the socket-activated helpers have only what their one job needs and take no input."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest
import yaml
from role_templates import ROOT, render

from ansible_collections.meshover.mesh.plugins.module_utils.node import _kernel as K

VARS = yaml.safe_load((ROOT / "roles" / "exporter" / "vars" / "main.yml").read_text())
COMMON = {
    "exporter_plan": {"wireguard": {"interface": "meshover0"}},
    "exporter_user": "meshover-exporter",
    "exporter__script": "/usr/local/lib/meshover/meshover_exporter.py",
    "exporter__frr_helper": "/usr/local/lib/meshover/meshover-frr-state",
    "exporter_config_path": "/etc/meshover/exporter.json",
    "exporter__helper_runtime_max": 10,
    "exporter__wg_helper": "/usr/local/lib/meshover/meshover-wg-state",
    "exporter__bfd": True,
    "exporter_container_runtime": "/usr/bin/podman",
    "exporter__helper_sockets": VARS["exporter__helper_sockets"],
    "exporter__helper_what": VARS["exporter__helper_what"],
}


def settings(text):
    """key -> [values] of a unit file (comments and sections left out)."""
    out: dict = {}
    for raw in text.splitlines():
        if "=" in raw and not raw.startswith(("#", "[")):
            key, value = raw.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


@pytest.mark.parametrize("container", [True, False])
def test_the_exporter_has_no_capability_no_frr_group_and_no_new_privileges(container):
    unit = settings(render("exporter", "meshover-exporter.service.j2", exporter__container=container, **COMMON))
    assert unit["CapabilityBoundingSet"] == [""]
    assert "AmbientCapabilities" not in unit
    assert "SupplementaryGroups" not in unit
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    assert "meshover-exporter-wg.socket" in unit["Wants"][0] and "meshover-exporter-frr.socket" in unit["After"][0]


def test_the_wg_helper_has_cap_net_admin_alone_and_prints_to_the_socket():
    unit = settings(render("exporter", "meshover-exporter-wg@.service.j2", **COMMON))
    assert unit["User"] == ["meshover-exporter"]
    assert unit["CapabilityBoundingSet"] == ["CAP_NET_ADMIN"] and unit["AmbientCapabilities"] == ["CAP_NET_ADMIN"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["StandardOutput"] == ["socket"] and unit["StandardInput"] == ["socket"]
    assert unit["ExecStart"] == ["/usr/local/lib/meshover/meshover-wg-state"]
    assert unit["RuntimeMaxSec"] == ["10"] and unit["LogLevelMax"] == ["notice"]
    assert unit["RestrictAddressFamilies"] == ["AF_UNIX AF_NETLINK"]


def test_the_frr_helper_in_package_mode_is_frr_with_frrvty_and_no_capability_running_the_fixed_script():
    unit = settings(render("exporter", "meshover-exporter-frr@.service.j2", exporter__container=False, **COMMON))
    assert unit["User"] == ["frr"] and unit["SupplementaryGroups"] == ["frrvty"]
    assert unit["CapabilityBoundingSet"] == [""] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["ExecStart"] == ["/usr/local/lib/meshover/meshover-frr-state"]


def test_the_frr_helper_in_container_mode_is_root_running_the_fixed_script():
    unit = settings(render("exporter", "meshover-exporter-frr@.service.j2", exporter__container=True, **COMMON))
    assert unit["User"] == ["root"]
    assert unit["ExecStart"] == ["/usr/local/lib/meshover/meshover-frr-state"]
    assert unit["StandardOutput"] == ["socket"] and unit["RuntimeMaxSec"] == ["10"]


@pytest.mark.parametrize("name", ["wg", "frr"])
def test_the_sockets_admit_root_and_the_exporters_group_only(name):
    unit = settings(render("exporter", "helper.socket.j2", exporter__helper_name=name, **COMMON))
    assert unit["ListenStream"] == [f"/run/meshover-exporter/{name}.sock"]
    assert unit["Accept"] == ["yes"]
    assert (unit["SocketUser"], unit["SocketGroup"], unit["SocketMode"]) == (["root"], ["meshover-exporter"], ["0660"])
    assert unit["MaxConnections"] == ["4"]


def test_frr_runs_vtysh_without_pam_and_vtysh_conf_restarts_nothing():
    text = render("frr_bgp", "vtysh.conf.j2")
    assert "username frr nopassword" in text.splitlines()
    frr_vars = yaml.safe_load((ROOT / "roles" / "frr_bgp" / "vars" / "main.yml").read_text())
    assert not [p for p in frr_vars["frr_bgp__restart_on"] if "vtysh.conf" in p]


def test_the_configuration_reads_wireguard_and_frr_from_the_sockets():
    assert VARS["exporter__wg_command"] == {"socket": "{{ exporter__helper_sockets.wg }}"}
    assert VARS["exporter__frr_command"] == {"socket": "{{ exporter__helper_sockets.frr }}"}
    assert "exporter__wg_command" in (ROOT / "roles" / "exporter" / "templates" / "exporter.json.j2").read_text()


# ---------------------------------------------------------------- the wg helper's script, run as written

PRIVATE = "cHJpdmF0ZS1rZXktbmV2ZXItc2hvd24tYW55d2hlcmUhPQ=="
PSK = "cHNrLW5ldmVyLXNob3duLWFueXdoZXJlLWVpdGhlciE="
DUMP = (
    f"meshover0\t{PRIVATE}\tMTpubkeyN1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\t51820\toff\n"
    f"meshover0\tMTpubkeyN2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb=\t{PSK}\t192.0.2.2:51820\t"
    "fd46:76a3:fa9b:1:8347:35cb:77b5:31ef/128\t1795639995\t1000\t2000\toff\n"
    "meshover0\tMTpubkeyN3ccccccccccccccccccccccccccccccccc=\t(none)\t(none)\t(none)\t0\t0\t0\t25\n"
    f"other0\t{PRIVATE}\tMTpubkeyN1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\t51821\t0x1\n"
)


def _run_wg_helper(tmp_path, fake_wg: str, timeout: float = 5.0):
    sh = shutil.which("sh")
    if sh is None or not shutil.which("awk") or not pathlib.Path("/usr/bin/timeout").exists():
        pytest.skip("needs sh, awk and /usr/bin/timeout")
    (tmp_path / "wg").write_text("#!/bin/sh\n" + fake_wg)
    (tmp_path / "wg").chmod(0o755)
    script = tmp_path / "meshover-wg-state"
    script.write_text(render("exporter", "meshover-wg-state.j2", exporter_command_timeout=timeout))
    return subprocess.run(
        [sh, str(script)], capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=False
    )


def test_the_wg_helper_prints_the_dump_without_private_or_preshared_keys(tmp_path):
    (tmp_path / "dump").write_text(DUMP)
    out = _run_wg_helper(tmp_path, f'[ "$*" = "show all dump" ] || exit 9\ncat {tmp_path / "dump"}\n')
    assert out.returncode == 0, out.stderr
    assert PRIVATE not in out.stdout and PSK not in out.stdout
    assert K.parse_wg_dump_all(out.stdout) == K.parse_wg_dump_all(DUMP)  # the reader keeps no key of either
    peers = K.parse_wg_dump_all(out.stdout)["meshover0"]["peers"]
    assert [p["has_preshared_key"] for p in peers.values()] == [True, False]


def test_the_wg_helper_drops_a_line_of_another_shape(tmp_path):
    """A line with a field more or less (another wg, a key with a tab) is not printed: nothing unknown leaves."""
    odd = f"meshover0\t{PRIVATE}\tpub\t51820\toff\textra\nmeshover0\t{PRIVATE}\n"
    (tmp_path / "dump").write_text(odd + DUMP)
    out = _run_wg_helper(tmp_path, f"cat {tmp_path / 'dump'}\n")
    assert PRIVATE not in out.stdout
    assert len(out.stdout.splitlines()) == len(DUMP.splitlines())


def test_a_failing_wg_makes_the_helper_print_nothing_and_fail(tmp_path):
    out = _run_wg_helper(tmp_path, f'echo "{PRIVATE} half a line"\necho "Unable to access interface" >&2\nexit 1\n')
    assert out.returncode != 0 and out.stdout == ""
    assert "Unable to access interface" in out.stderr


def test_no_wireguard_interface_is_a_failure_the_journal_names(tmp_path):
    out = _run_wg_helper(tmp_path, "exit 0\n")
    assert out.returncode != 0 and out.stdout == ""
    assert "no WireGuard interface" in out.stderr


def test_a_wg_that_outlasts_the_timeout_is_named_in_the_journal(tmp_path):
    out = _run_wg_helper(tmp_path, "exec sleep 30\n", timeout=0.3)
    assert out.returncode != 0 and out.stdout == ""
    assert "exit 124" in out.stderr
