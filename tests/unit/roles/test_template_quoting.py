# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The templates' second line of defence (meshover.mesh.quote_for): a value the preflight would refuse,
rendered anyway (as if the preflight were skipped), is quoted where the format can quote it and stops the
rendering where it cannot. Plain values render as before."""

from __future__ import annotations

import pytest
from role_templates import render

from ansible_collections.meshover.mesh.plugins.module_utils.controller._quoting import QuotingError

EXPORTER = {
    "exporter_plan": {"wireguard": {"interface": "meshover0"}},
    "exporter_user": "meshover-exporter",
    "exporter__container": False,
    "exporter__script": "/opt/meshover/exporter.py",
    "exporter__wg_helper": "/opt/meshover/meshover-wg-state",
    "exporter_config_path": "/etc/meshover/exporter.json",
}


def line(text, start):
    return next(x for x in text.splitlines() if x.startswith(start))


def test_exporter_unit_plain_and_quoted():
    plain = render("exporter", "meshover-exporter.service.j2", **EXPORTER)
    assert line(plain, "ExecStart=") == (
        "ExecStart=/usr/bin/python3 /opt/meshover/exporter.py --config /etc/meshover/exporter.json"
    )
    spaced = render("exporter", "meshover-exporter.service.j2", **{**EXPORTER, "exporter__script": "/opt/my dir/x.py"})
    assert line(spaced, "ExecStart=") == (
        'ExecStart=/usr/bin/python3 "/opt/my dir/x.py" --config /etc/meshover/exporter.json'
    )
    with pytest.raises(QuotingError):
        render("exporter", "meshover-exporter.service.j2", **{**EXPORTER, "exporter_user": "x\nExecStartPre=/bin/sh"})
    with pytest.raises(QuotingError):
        render("exporter", "meshover-exporter.service.j2", **{**EXPORTER, "exporter_user": "root nobody"})


def test_helper_units_plain_and_quoted():
    wg = render("exporter", "meshover-exporter-wg@.service.j2", exporter__helper_runtime_max=10, **EXPORTER)
    assert line(wg, "ExecStart=") == "ExecStart=/opt/meshover/meshover-wg-state"
    spaced = render(
        "exporter",
        "meshover-exporter-wg@.service.j2",
        exporter__helper_runtime_max=10,
        **{**EXPORTER, "exporter__wg_helper": "/opt/my dir/meshover-wg-state"},
    )
    assert line(spaced, "ExecStart=") == 'ExecStart="/opt/my dir/meshover-wg-state"'
    with pytest.raises(QuotingError):
        render(
            "exporter",
            "helper.socket.j2",
            exporter__helper_name="wg",
            exporter__helper_what={"wg": "w"},
            exporter__helper_sockets={"wg": "/run/x.sock"},
            exporter_user="x\nExecStartPre=/bin/sh",
        )


def test_source_routing_unit_paths():
    text = render(
        "source_routing",
        "meshover-source-routing.service.j2",
        source_routing_batch4_path="/etc/meshover/a b.batch",
        source_routing_batch6_path="/etc/meshover/source-routing6.batch",
    )
    assert 'ExecStart=-ip -4 -force -batch "/etc/meshover/a b.batch"' in text
    assert "ExecStart=-ip -6 -force -batch /etc/meshover/source-routing6.batch" in text


@pytest.mark.parametrize("iface", ["wg0 other", 'wg0"', "wg0\n[Service]"])
def test_an_interface_that_cannot_be_written_stops_the_rendering(iface):
    with pytest.raises(QuotingError):
        render("gre_overlay", "meshover-gre.service.j2", gre_overlay_wg_interface=iface, gre_overlay_batch_path="/x")


def test_coil_vrf_name_is_checked():
    with pytest.raises(QuotingError):
        render(
            "frr_bgp",
            "meshover-coil-vrf.service.j2",
            frr_bgp_coil_vrf="x; reboot",
            frr_bgp_plan={"coil": {"table": 119}},
            frr_bgp_package_unit="frr.service",
            frr_bgp_container_unit="frr-container.service",
        )


@pytest.mark.parametrize("podman", [True, False])
def test_frr_container_unit_quotes_its_arguments(podman):
    common = {
        "frr_bgp__podman": podman,
        "frr_bgp__runtime": "/usr/bin/podman" if podman else "/usr/bin/docker",
        "frr_bgp_container_name": "frr",
        "frr_bgp_container_pull": "missing",
        "frr_bgp_container_capabilities": ["NET_ADMIN", "NET_RAW", "SYS_ADMIN"],
        "frr_bgp_config_dir": "/etc/frr",
        "frr_bgp_plan": {"frr": {"image": "quay.io/frrouting/frr:10.4.1"}},
        "frr_bgp_package_unit": "frr.service",
    }
    plain = render("frr_bgp", "frr-container.service.j2", **common)
    assert "-v /etc/frr:/etc/frr quay.io/frrouting/frr:10.4.1" in plain
    assert "--cap-add NET_ADMIN" in plain
    odd = render("frr_bgp", "frr-container.service.j2", **{**common, "frr_bgp_config_dir": "/srv/frr conf"})
    assert '-v "/srv/frr conf:/etc/frr" quay.io/frrouting/frr:10.4.1' in odd
