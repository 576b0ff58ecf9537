# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The exporter's privileges as its units say them: the exporter itself has no capability, no FRR group
and no sudo; the socket-activated helpers have only what their one job needs and take no input."""

from __future__ import annotations

import pytest
import yaml
from role_templates import ROOT, render

VARS = yaml.safe_load((ROOT / "roles" / "exporter" / "vars" / "main.yml").read_text())
COMMON = {
    "exporter_plan": {"wireguard": {"interface": "meshover0"}},
    "exporter_user": "meshover-exporter",
    "exporter__script": "/usr/local/lib/meshover/meshover_exporter.py",
    "exporter__helper": "/usr/local/lib/meshover/meshover-frr-state",
    "exporter_config_path": "/etc/meshover/exporter.json",
    "exporter__helper_runtime_max": 10,
    "exporter__vtysh_runs": VARS["exporter__vtysh_runs"],
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
    assert unit["ExecStart"][0].split()[-3:] == ["--wireguard-state", "--config", "/etc/meshover/exporter.json"]
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
