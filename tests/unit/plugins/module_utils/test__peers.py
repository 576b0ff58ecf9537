# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import gc

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import MeshError
from ansible_collections.meshover.mesh.plugins.module_utils.controller._peers import format_endpoint, plan_mesh

K1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
K2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
K3 = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
K3_NEW = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyApVIkI="

T1 = "fd46:76a3:fa9b:1:3d27:e462:938b:c19a"
T2 = "fd46:76a3:fa9b:1:8347:35cb:77b5:31ef"
T3 = "fd46:76a3:fa9b:1:55a:add1:ad48:2aa"


DUAL = ["ipv6", "ipv4"]


def inv():
    """n1 and n3 are dual-stack with an IPv6 endpoint; n2 is IPv4 only: they peer with it in IPv4."""
    return {
        "n1": {"meshover_endpoint": "2001:db8::1", "meshover_wg_public_key": K1, "meshover_underlay_families": DUAL},
        "n2": {"meshover_endpoint": "192.0.2.2", "meshover_wg_port": 51900, "meshover_wg_public_key": K2},
        "n3": {"meshover_endpoint": "2001:db8::3", "meshover_wg_public_key": K3, "meshover_underlay_families": DUAL},
    }


def test_full_plan_of_n1():
    plan, warnings, updates = plan_mesh(inv(), {})
    assert warnings == [] and updates == {}
    assert {k: v for k, v in plan["n1"].items() if k not in ("bgp", "source_routing", "nat")} == {
        "identity": {
            "hostname": "n1",
            "interface_id": "3d27e462938bc19a",
            "loopback6": "fd46:76a3:fa9b:0:3d27:e462:938b:c19a",
            "transport6": T1,
            "link_local": "fe80::3d27:e462:938b:c19a",
            "asn": 4275762751,
            "loopback4": None,
            "router_id": "84.77.75.252",
            "gre_name": "mo-n1",
        },
        "wireguard": {
            "interface": "meshover0",
            "listen_port": 51820,
            "address": f"{T1}/64",
            "mtu": 1420,
            "peers": [
                {
                    "name": "n2",
                    "public_key": K2,
                    "endpoint": "192.0.2.2:51900",
                    "allowed_ips": [f"{T2}/128"],
                    # n2 cannot dial n1 in IPv4 (n1 has no IPv4 endpoint): n1 keeps the path open
                    "persistent_keepalive": 25,
                },
                {
                    "name": "n3",
                    "public_key": K3,
                    "endpoint": "[2001:db8::3]:51820",
                    "allowed_ips": [f"{T3}/128"],
                    "persistent_keepalive": 0,
                },
            ],
        },
        "transit": {},
        "tunnels": [
            {
                "name": "mo-n2",
                "peer": "n2",
                "local": T1,
                "remote": T2,
                "link_local": "fe80::3d27:e462:938b:c19a/64",
                "mtu": 1376,
                "ttl": 64,
            },
            {
                "name": "mo-n3",
                "peer": "n3",
                "local": T1,
                "remote": T3,
                "link_local": "fe80::3d27:e462:938b:c19a/64",
                "mtu": 1376,
                "ttl": 64,
            },
        ],
    }
    assert plan["n2"]["wireguard"]["listen_port"] == 51900
    assert [t["name"] for t in plan["n3"]["tunnels"]] == ["mo-n1", "mo-n2"]


def test_mtu_follows_underlay():
    data = {h: v | {"meshover_underlay_mtu": 9000} for h, v in inv().items()}
    plan, _w, _u = plan_mesh(data, {})
    assert plan["n1"]["wireguard"]["mtu"] == 8920
    assert plan["n1"]["tunnels"][0]["mtu"] == 8876


def test_unknown_key_peer_left_out_with_warning():
    data = inv()
    del data["n3"]["meshover_wg_public_key"]
    plan, warnings, _u = plan_mesh(data, {})
    assert [p["name"] for p in plan["n1"]["wireguard"]["peers"]] == ["n2"]
    assert [t["peer"] for t in plan["n1"]["tunnels"]] == ["n2"]
    assert len(plan["n3"]["wireguard"]["peers"]) == 2  # n3 itself still gets its plan
    assert len(warnings) == 1 and warnings[0].startswith("n3: no WireGuard public key known")


def test_learned_key_overrides_cache_and_is_reported():
    data = inv()
    del data["n2"]["meshover_wg_public_key"]
    plan, warnings, updates = plan_mesh(data, {"n2": K2, "n3": K3_NEW, "n1": K1})
    assert updates == {"n2": K2, "n3": K3_NEW}  # n1 learned == cached: no update
    assert warnings == []
    keys = {p["name"]: p["public_key"] for p in plan["n1"]["wireguard"]["peers"]}
    assert keys == {"n2": K2, "n3": K3_NEW}


def test_bad_or_foreign_learned_keys_warn():
    plan, warnings, updates = plan_mesh(inv(), {"n3": "garbage", "n9": K1})
    assert updates == {}
    assert any(w.startswith("n9:") for w in warnings)
    assert any(w.startswith("n3:") and "cached" in w for w in warnings)
    assert plan["n1"]["wireguard"]["peers"][1]["public_key"] == K3


def test_nat_handling():
    data = inv()
    data["n2"] = {"meshover_nat": True, "meshover_wg_public_key": K2, "meshover_underlay_families": ["ipv6"]}
    data["n3"] = {"meshover_nat": True, "meshover_wg_public_key": K3, "meshover_underlay_families": ["ipv6"]}
    data["n1"]["meshover_persistent_keepalive"] = 30
    data["n2"]["meshover_persistent_keepalive"] = 30
    data["n3"]["meshover_persistent_keepalive"] = 30
    plan, warnings, _u = plan_mesh(data, {})
    n1_peers = {p["name"]: p for p in plan["n1"]["wireguard"]["peers"]}
    assert n1_peers["n2"]["endpoint"] is None and n1_peers["n2"]["persistent_keepalive"] == 0
    n2_peers = plan["n2"]["wireguard"]["peers"]
    assert [p["name"] for p in n2_peers] == ["n1"]  # two NAT hosts do not peer
    assert n2_peers[0]["persistent_keepalive"] == 30
    assert n2_peers[0]["endpoint"] == "[2001:db8::1]:51820"
    assert [t["peer"] for t in plan["n2"]["tunnels"]] == ["n1"]
    # ... they reach each other through n1, which peers with both
    assert plan["n2"]["transit"] == {"n3": "n1"} and plan["n3"]["transit"] == {"n2": "n1"}
    assert plan["n1"]["transit"] == {}
    assert warnings == []


def lab_inventory():
    """The lab's small internet: n1 dual-stack and public, n2 IPv6 only, n3 IPv4 only behind NAT."""
    return {
        "n1": {"meshover_endpoint": ["fd00:10::1", "10.10.0.1"], "meshover_wg_public_key": K1},
        "n2": {"meshover_endpoint": "fd00:11::2", "meshover_wg_public_key": K2},
        "n3": {"meshover_nat": True, "meshover_underlay_families": ["ipv4"], "meshover_wg_public_key": K3},
    }


def test_address_families_decide_direct_pairs_and_transit():
    plan, warnings, _u = plan_mesh(lab_inventory(), {})
    assert warnings == []
    peers = {h: {p["name"]: p for p in plan[h]["wireguard"]["peers"]} for h in plan}
    assert peers["n1"]["n2"]["endpoint"] == "[fd00:11::2]:51820"  # both dialable in IPv6
    assert peers["n1"]["n2"]["persistent_keepalive"] == 0
    assert peers["n2"]["n1"]["endpoint"] == "[fd00:10::1]:51820"
    assert peers["n1"]["n3"]["endpoint"] is None  # n3 is dialled by nobody ...
    assert peers["n3"]["n1"] == {  # ... it dials n1's IPv4 endpoint and keeps the NAT mapping open
        "name": "n1",
        "public_key": K1,
        "endpoint": "10.10.0.1:51820",
        "allowed_ips": [f"{T1}/128"],
        "persistent_keepalive": 25,
    }
    assert set(peers["n2"]) == {"n1"} and set(peers["n3"]) == {"n1"}  # no shared family: no direct pair
    assert [t["peer"] for t in plan["n2"]["tunnels"]] == ["n1"]
    assert plan["n2"]["transit"] == {"n3": "n1"} and plan["n3"]["transit"] == {"n2": "n1"}
    assert [n["interface"] for n in plan["n2"]["bgp"]["neighbours"]] == ["mo-n1"]


def test_a_gathering_host_reached_through_transit_is_routed_via_the_first_hop():
    data = lab_inventory()
    data["n3"]["meshover_gathering"] = ["198.51.100.0/24"]
    data["n1"]["meshover_shared_prefixes"] = data["n2"]["meshover_shared_prefixes"] = ["198.51.100.0/24"]
    data["n3"]["meshover_shared_prefixes"] = ["198.51.100.0/24"]
    plan, _w, _u = plan_mesh(data, {})
    gateways = plan["n2"]["source_routing"]["gateways"]
    assert [(g["host"], g["dev"]) for g in gateways] == [("n3", "mo-n1")]
    assert [(g["host"], g["dev"]) for g in plan["n1"]["source_routing"]["gateways"]] == [("n3", "mo-n3")]


def test_for_hosts_limits_output():
    plan, _w, _u = plan_mesh(inv(), {}, for_hosts=["n2"])
    assert list(plan) == ["n2"]
    assert len(plan["n2"]["tunnels"]) == 2
    with pytest.raises(MeshError) as err:
        plan_mesh(inv(), {}, for_hosts=["n9"])
    assert "n9" in err.value.messages[0]


def test_invalid_inventory_raises_all_problems():
    data = inv()
    data["n1"]["meshover_wg_port"] = 0
    data["n2"]["meshover_endpoint"] = "fe80::1"
    with pytest.raises(MeshError) as err:
        plan_mesh(data, {})
    assert len(err.value.messages) == 2


def test_gc_state_restored():
    assert gc.isenabled()
    plan_mesh(inv(), {})
    assert gc.isenabled()


@pytest.mark.parametrize(
    "address, port, expected",
    [
        ("2001:db8::1", 51820, "[2001:db8::1]:51820"),
        ("192.0.2.1", 1, "192.0.2.1:1"),
        ("2001:DB8:0::1", 5, "[2001:db8::1]:5"),
    ],
)
def test_format_endpoint(address, port, expected):
    assert format_endpoint(address, port) == expected


def test_plan_is_linear_and_complete_for_many_hosts():
    data = {f"h{i}": {"meshover_endpoint": f"2001:db8::{i + 1:x}", "meshover_wg_public_key": K1} for i in range(60)}
    plan, _w, _u = plan_mesh(data, {})
    assert all(len(p["wireguard"]["peers"]) == 59 and len(p["tunnels"]) == 59 for p in plan.values())


def _key(name):
    return __import__("base64").b64encode(name.encode().ljust(32, b"k")).decode()


def test_relay_depth_is_one_in_a_full_mesh_and_through_one_transit_host():
    """A host passes on only paths it learned from their origin (frr.conf's MO-LONG-PATH) unless some pair needs
    two transit hosts: rerouting through a third node and one transit hop need no more."""
    flat, _w, _u = plan_mesh(inv(), {})
    transit, _w, _u = plan_mesh(lab_inventory(), {})
    assert {p["bgp"]["relay_depth"] for p in flat.values()} == {1}
    assert {p["bgp"]["relay_depth"] for p in transit.values()} == {1}


def test_relay_depth_lets_a_path_through_two_transit_hosts_pass():
    # a (IPv4 behind NAT) dials t1 (IPv4 only); t1 is dialled by t2 (sends IPv4, reached in IPv6); b (IPv6
    # behind NAT) dials t2. a reaches b only through t1 and t2: t1 must pass on t2's path to b (2 ASNs).
    data = {
        "a": {"meshover_nat": True, "meshover_underlay_families": ["ipv4"]},
        "t1": {"meshover_endpoint": "192.0.2.11"},
        "t2": {"meshover_endpoint": "2001:db8::12", "meshover_underlay_families": ["ipv6", "ipv4"]},
        "b": {"meshover_nat": True, "meshover_underlay_families": ["ipv6"]},
    }
    for host, host_vars in data.items():
        host_vars["meshover_wg_public_key"] = _key(host)
    plan, _w, _u = plan_mesh(data, {})
    assert {h: sorted(t["peer"] for t in p["tunnels"]) for h, p in plan.items()} == {
        "a": ["t1"],
        "t1": ["a", "t2"],
        "t2": ["b", "t1"],
        "b": ["t2"],
    }
    assert plan["a"]["transit"] == {"b": "t1", "t2": "t1"}
    assert {p["bgp"]["relay_depth"] for p in plan.values()} == {2}
