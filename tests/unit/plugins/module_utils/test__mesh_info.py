# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/node/_mesh_info.py: one node's view of its peers from the parsed WireGuard, link and FRR output.

Fixtures: FRR 8.4 and the 3-node mesh from fixtures/exporter/ (the exporter's), FRR 10.3 from
fixtures/mesh_info/ (see its README: written from FRR's sources, not captured), the never-handshaken
peer from fixtures/wg_show_dump.txt."""

from __future__ import annotations

import json

import pytest
from mesh_fixtures import (
    FRR10_PLAN,
    K0,
    K1,
    K3,
    NOW,
    PRIVATE_IN_FIXTURES,
    exporter_outputs,
    exporter_plan,
    frr10_outputs,
)

from ansible_collections.meshover.mesh.plugins.module_utils.node._mesh_info import (
    expected_from_plan,
    frr_access,
    node_view,
    read_sources,
)


@pytest.mark.parametrize(
    "vtysh, access",
    [
        (["/usr/bin/podman", "exec", "frr", "vtysh"], "podman"),
        (["docker", "exec", "frr", "vtysh"], "docker"),
        (["vtysh"], "package"),
        (["/usr/bin/sudo", "-n", "/usr/bin/vtysh"], "package"),
        (["docker", "exec", "podman", "vtysh"], "docker"),  # a container named podman
        ([], "none"),
        (None, "none"),
    ],
)
def test_frr_access(vtysh, access):
    assert frr_access(vtysh) == access


def test_frr_84_three_sources_per_peer():
    view = node_view(read_sources(exporter_outputs("n1")), exporter_plan("n1"), now=NOW, wg_interface="meshover0")
    assert view["errors"] == {}
    assert view["expected"] == ["n2", "n3"]
    assert view["frr"]["version"] == "8.4.4"
    assert view["wireguard"] == {
        "interface": "meshover0",
        "public_key": "MTpubkeyN1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=",
        "listen_port": 51820,
    }
    n2, n3 = view["peers"]["n2"], view["peers"]["n3"]
    assert (n2["expected"], n2["unexpected"], n2["missing"], n2["anonymous"]) == (True, False, False, False)
    assert n2["wireguard"] == {
        "present": True,
        "public_key": "MTpubkeyN2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb=",
        "endpoint": "192.0.2.2:51820",
        "latest_handshake": 1795639995,
        "handshake_age": 5,
        "rx_bytes": 1000,
        "tx_bytes": 2000,
    }
    assert n2["gre"] == {
        "present": True,
        "name": "mo-n2",
        "state": "up",
        "operstate": "UNKNOWN",
        "admin_up": True,
        "owned": True,
    }
    assert n2["bgp"] == {
        "present": True,
        "neighbor": "mo-n2",
        "remote_as": "4284140060",
        "state": "Established",
        "established": True,
        "uptime": 600,
        "prefixes_received": 4,
        "prefixes_sent": 6,
        "address_families": {
            "ipv4": {"state": "Established", "uptime": 600, "prefixes_received": 2, "prefixes_sent": 3},
            "ipv6": {"state": "Established", "uptime": 600, "prefixes_received": 2, "prefixes_sent": 3},
        },
    }
    assert n2["bfd"] == {"present": True, "state": "up", "peer": "fe80::n2", "interface": "mo-n2"}
    assert n3["wireguard"]["handshake_age"] == 15
    assert (n3["bgp"]["state"], n3["bgp"]["established"], n3["bgp"]["uptime"]) == ("Active", False, None)
    assert n3["bfd"]["state"] == "down"
    # mo-foreign: an ip6gre link without meshover's alias is nobody's peer
    assert set(view["peers"]) == {"n2", "n3"}
    assert PRIVATE_IN_FIXTURES not in json.dumps(view)


def test_frr_10_shape_and_a_peer_that_never_handshook():
    view = node_view(read_sources(frr10_outputs()), FRR10_PLAN, now=NOW, vtysh=["podman", "exec", "frr", "vtysh"])
    assert view["errors"] == {}
    assert view["frr"] == {"access": "podman", "version": "10.3.1", "vtysh": ["podman", "exec", "frr", "vtysh"]}
    n2, n3 = view["peers"]["n2"], view["peers"]["n3"]
    assert n2["bgp"]["state"] == "Established" and n2["bgp"]["uptime"] == 11553
    assert n2["bgp"]["address_families"]["ipv4"]["prefixes_received"] == 1
    assert n2["bgp"]["address_families"]["ipv6"] == {
        "state": "Established",
        "uptime": 11553,
        "prefixes_received": 2,
        "prefixes_sent": 3,
    }
    assert (n2["bgp"]["prefixes_received"], n2["bgp"]["prefixes_sent"]) == (3, 5)
    assert n2["bfd"] == {"present": True, "state": "up", "peer": "fe80::8347:35cb:77b5:31ef", "interface": "mo-n2"}
    assert n2["wireguard"]["endpoint"] == "[fd00:10::2]:51820"
    # n3: never handshook (latest handshake 0), a session that never came up (no hostname in FRR 10)
    assert n3["wireguard"]["present"] is True
    assert (n3["wireguard"]["latest_handshake"], n3["wireguard"]["handshake_age"]) == (None, None)
    assert n3["wireguard"]["endpoint"] is None
    assert (n3["bgp"]["state"], n3["bgp"]["uptime"], n3["bgp"]["neighbor"]) == ("Connect", None, "mo-n3")
    assert n3["bfd"]["state"] == "down"
    # the laptop's key is in the dump but not in the plan, and nothing names it
    laptop = view["peers"][K1]
    assert (laptop["anonymous"], laptop["unexpected"], laptop["expected"]) == (True, True, False)
    assert laptop["bgp"]["present"] is False and laptop["bgp"]["address_families"] == {}
    assert laptop["gre"] == {**laptop["gre"], "present": False, "name": None}


def test_the_wg_quick_comments_name_what_the_plan_does_not():
    view = node_view(read_sources(frr10_outputs()), None, wg_names={K1: "laptop", K0: "n2"}, now=NOW)
    assert view["expected"] is None
    laptop = view["peers"]["laptop"]
    assert (laptop["anonymous"], laptop["unexpected"], laptop["missing"]) == (False, False, False)
    assert laptop["wireguard"]["handshake_age"] == NOW - 1764102011
    # without a plan the tunnels are named by their alias, mo-n3's BGP session by its tunnel
    assert view["peers"]["n3"]["gre"]["name"] == "mo-n3"
    assert view["peers"]["n3"]["bgp"]["neighbor"] == "mo-n3"
    assert view["peers"][K3]["anonymous"] is True


def test_a_peer_of_the_plan_that_no_source_shows_is_missing():
    n4_key = "MTpubkeyN4dddddddddddddddddddddddddddddddddd="
    plan = [*exporter_plan("n1"), {"name": "n4", "public_key": n4_key, "tunnel": "mo-n4"}]
    n4 = node_view(read_sources(exporter_outputs("n1")), plan, now=NOW)["peers"]["n4"]
    assert (n4["expected"], n4["missing"], n4["unexpected"]) == (True, True, False)
    assert n4["wireguard"]["present"] is False and n4["wireguard"]["handshake_age"] is None
    assert n4["gre"] == {
        "present": False,
        "name": "mo-n4",
        "state": None,
        "operstate": None,
        "admin_up": None,
        "owned": None,
    }
    assert n4["bgp"]["present"] is False and n4["bfd"]["present"] is False


def test_frr_not_reachable_is_an_error_of_bgp_and_bfd_only():
    outputs = exporter_outputs("n1")
    outputs.update(frr=None, frr_error="podman exec frr vtysh failed (rc=125): Error: no such container")
    view = node_view(read_sources(outputs), exporter_plan("n1"), now=NOW, vtysh=["podman", "exec", "frr", "vtysh"])
    assert view["errors"] == {
        "bgp": "podman exec frr vtysh failed (rc=125): Error: no such container",
        "bfd": "podman exec frr vtysh failed (rc=125): Error: no such container",
    }
    assert view["frr"]["version"] is None and view["frr"]["access"] == "podman"
    for peer in view["peers"].values():
        assert peer["bgp"] is None and peer["bfd"] is None
        assert peer["wireguard"]["present"] and peer["gre"]["state"] == "up" and not peer["missing"]


def test_frr_daemons_not_running_are_named():
    view = node_view(read_sources(exporter_outputs("n3")), exporter_plan("n3"), now=NOW)
    assert view["errors"] == {
        "bgp": "no BGP summary in vtysh's output (bgpd is not running)",
        "bfd": "no BFD peers in vtysh's output (bfdd is not running)",
    }
    assert view["frr"]["version"] == "8.4.4"
    assert view["peers"]["n1"]["bgp"] is None


def test_every_source_can_fail_alone():
    outputs = exporter_outputs("n1")
    outputs["wg"] = "only\tthree\tfields\n"
    outputs["ip"] = '{"not": "a list"}'
    outputs["frr"] = '{"ipv6Unicast": {"peers": {"mo-n2": {"state": "Established", "pfxRcd": "many"}}}} []'
    sources = read_sources(outputs)
    assert set(sources["errors"]) == {"wireguard", "gre", "bgp"}
    assert "wg show dump" in sources["errors"]["wireguard"]
    assert sources["errors"]["gre"].startswith("cannot read ip -j link show")
    assert sources["errors"]["bgp"].startswith("cannot read FRR's BGP summary")
    assert sources["bfd"] == []
    view = node_view(sources, exporter_plan("n1"), now=NOW)
    # nothing readable shows the peers: unknown, not missing
    assert all(p["missing"] is False and p["bfd"]["present"] is False for p in view["peers"].values())


def test_wg_failure_never_echoes_the_dump():
    outputs = exporter_outputs("n1")
    outputs.update(wg=None, wg_error="wg show meshover0 dump failed (rc=1): Unable to access interface")
    sources = read_sources(outputs)
    assert sources["errors"]["wireguard"] == "wg show meshover0 dump failed (rc=1): Unable to access interface"
    view = node_view(sources, exporter_plan("n1"), now=NOW)
    assert view["wireguard"]["public_key"] is None
    assert all(p["wireguard"] is None for p in view["peers"].values())


def test_gre_oper_state_and_a_tunnel_that_is_not_meshovers():
    links = json.loads(exporter_outputs("n1")["ip"])
    for link in links:
        if link["ifname"] == "mo-n2":
            link["flags"] = ["POINTOPOINT", "NOARP"]  # administratively down
            link["operstate"] = "DOWN"
        if link["ifname"] == "mo-n3":
            del link["ifalias"]  # someone else's interface under the planned name
    outputs = dict(exporter_outputs("n1"), ip=json.dumps(links))
    peers = node_view(read_sources(outputs), exporter_plan("n1"), now=NOW)["peers"]
    assert peers["n2"]["gre"] == {
        "present": True,
        "name": "mo-n2",
        "state": "down",
        "operstate": "DOWN",
        "admin_up": False,
        "owned": True,
    }
    assert peers["n3"]["gre"]["owned"] is False and peers["n3"]["gre"]["state"] == "up"


def test_ip_filtered_by_type_prints_empty_objects():
    """iproute2 6.1 prints {} for each link `ip -j link show type ip6gre` leaves out (the module asks for all):
    no link, not an error."""
    sources = read_sources(dict(exporter_outputs("n1"), ip="[{},{}]"))
    assert sources["links"] == [] and "gre" not in sources["errors"]


def test_expected_from_plan_names_each_wireguard_peer_and_its_tunnel():
    plan = {
        "wireguard": {"peers": [{"name": "n2", "public_key": "K2", "endpoint": "192.0.2.2:51820"}, {"name": "n3"}]},
        "tunnels": [{"name": "mo-n2", "peer": "n2", "local": "fd00::1"}],
    }
    assert expected_from_plan(plan) == [
        {"name": "n2", "public_key": "K2", "tunnel": "mo-n2"},
        {"name": "n3", "public_key": None, "tunnel": None},
    ]
    assert expected_from_plan({}) == []


def test_expected_from_plan_refuses_what_is_not_a_plan():
    with pytest.raises(ValueError, match="not a host's entry of the mesh plan"):
        expected_from_plan({"wireguard": {"peers": [{"public_key": "K"}]}})


def test_a_bfd_session_bfdd_lost_the_interface_of_is_still_the_peers():
    # Seen on n2 of `make demo` (FRR 10.3 under Docker, 2026-12-07): watchfrr restarted bfdd on the loaded
    # guest and the session to n1 came back up with no "interface" and no "local" in `show bfd peers json`.
    # n2's link-local is fe80:: + the interface id of its transport address, the tunnel's remote.
    outputs = frr10_outputs()
    links = json.loads(outputs["ip"])
    for link in links:
        if link["ifname"] == "mo-n2":
            link["linkinfo"]["info_data"] = {"remote": "fd46:76a3:fa9b:1:8347:35cb:77b5:31ef"}
    outputs["ip"] = json.dumps(links)
    outputs["frr"] = outputs["frr"].replace(
        '"local": "fe80::3d27:e462:938b:c19a",\n    "vrf": "default",\n    "interface": "mo-n2",\n',
        '"vrf": "default",\n',
    )
    assert '"interface": "mo-n2"' not in outputs["frr"]
    view = node_view(read_sources(outputs), FRR10_PLAN, now=NOW)
    assert view["errors"] == {}
    assert set(view["peers"]) == {"n2", "n3", K1}  # no peer named by the bare address
    assert view["peers"]["n2"]["bfd"] == {
        "present": True,
        "state": "up",
        "peer": "fe80::8347:35cb:77b5:31ef",
        "interface": "",
    }
    assert view["peers"]["n3"]["bfd"]["interface"] == "mo-n3"
