# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from ansible_collections.meshover.mesh.plugins.module_utils.node._uplinks import (
    NETWORKD_DROPIN,
    classify,
    kernel_interfaces,
    networkd_dropins,
    parse_networkd_link_state,
    parse_nm_device_state,
    ra_devices,
    sysctl_name,
)

# ip -N -j -6 route show table main proto ra on a SLAAC server (kernel) with a VLAN uplink
ROUTES = [
    {"dst": "default", "gateway": "fe80::1", "dev": "eth0", "metric": 1024, "flags": [], "expires": 88},
    {"dst": "2001:db8:1::/64", "dev": "eth0.100", "metric": 256, "flags": []},
    {"dst": "2001:db8:2::/64", "dev": "ens4", "protocol": 2, "flags": []},  # not ra: another protocol
    {"type": "unreachable", "dst": "2001:db8:9::/64"},  # no dev
]


def test_ra_devices_are_the_interfaces_of_ra_routes():
    assert ra_devices(ROUTES) == {"eth0", "eth0.100"}


def test_kernel_networkd_and_networkmanager_uplinks():
    uplinks, warnings = classify(
        {"eth0", "eth1", "eth2", "mo-n2"},
        {"eth0": 1, "eth1": 0, "eth2": 0, "eth3": 2, "mo-n2": 1, "all": 2, "default": 1},
        {"eth1": "/run/systemd/network/20-data.network"},
        ["eth2"],
        exclude=["mo-n2"],
    )
    assert warnings == []
    assert uplinks == [
        {"name": "eth0", "manager": "kernel", "network_file": None},
        {"name": "eth1", "manager": "networkd", "network_file": "/run/systemd/network/20-data.network"},
        {"name": "eth2", "manager": "NetworkManager", "network_file": None},
        # accept_ra already 2 (a rerun after its RA route expired still keeps it)
        {"name": "eth3", "manager": "kernel", "network_file": None},
    ]


def test_an_ra_route_on_a_link_nobody_processes_ras_for_is_not_an_uplink():
    # accept_ra 0 and neither networkd nor NetworkManager: a static route someone tagged "ra"
    assert classify({"eth9"}, {"eth9": 0}, {}, []) == ([], [])


def test_a_name_sysctl_d_cannot_hold_is_a_warning_not_a_broken_file():
    uplinks, warnings = classify({"we=ird"}, {"we=ird": 1}, {}, [])
    assert uplinks == [] and len(warnings) == 1 and warnings[0].startswith("we=ird:")


def test_sysctl_name_of_a_vlan():
    assert sysctl_name("eth0.100") == "eth0/100"


def test_networkd_dropins_and_kernel_interfaces():
    uplinks = [
        {"name": "eth0", "manager": "kernel", "network_file": None},
        {"name": "eth1", "manager": "networkd", "network_file": "/run/systemd/network/20-data.network"},
        {"name": "eth2", "manager": "networkd", "network_file": "/etc/systemd/network/20-data.network"},
    ]
    assert networkd_dropins(uplinks) == [
        {"path": "/etc/systemd/network/20-data.network.d/90-meshover-ra.conf", "content": NETWORKD_DROPIN}
    ]
    assert "IPv6AcceptRA=yes" in NETWORKD_DROPIN
    assert kernel_interfaces(uplinks, ["eth5", "eth0"]) == ["eth0", "eth5"]


def test_networkd_link_state_file():
    text = "# This is private data.\nADMIN_STATE=configured\nNETWORK_FILE=/run/systemd/network/20-data.network\n"
    assert parse_networkd_link_state(text) == "/run/systemd/network/20-data.network"
    assert parse_networkd_link_state("ADMIN_STATE=unmanaged\n") is None
    assert parse_networkd_link_state("NETWORK_FILE=\n") is None


# /run/NetworkManager/devices/<ifindex> as NetworkManager writes it (nm-config.c): for the devices it
# manages and for those it leaves alone
# (n1's in the lab, NetworkManager 1.52 on Debian 13)
NM_MANAGED = (
    "[device]\nmanaged=true\nconnection-uuid=2e81b601-50e8-3a24-a36d-5fd212cf7e66\nroute-metric-default-effective=100\n"
)
NM_UNMANAGED = "[device]\nmanaged=false\n"
NM_UNKNOWN = "[device]\nnm-owned=false\n"  # neither: no managed= key


def test_nm_device_state_counts_only_managed_true():
    assert parse_nm_device_state(NM_MANAGED) is True
    assert parse_nm_device_state(NM_UNMANAGED) is False
    assert parse_nm_device_state(NM_UNKNOWN) is False
    assert parse_nm_device_state("") is False
    # the key in another group is not the device's
    assert parse_nm_device_state("[other]\nmanaged=true\n") is False
