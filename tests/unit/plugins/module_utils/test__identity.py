# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hashlib
import ipaddress

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (
    MeshError,
    MeshSettings,
    canonical_hostname,
    default_prefix6,
    derive_identities,
    derive_identity,
    derived_gre_name,
    settings_from_vars,
)

LONG = "node-17.eu-west.example.com"

# Golden vectors: any change to the v1 derivation must break these.
GOLDEN = {
    "n1": {
        "hostname": "n1",
        "interface_id": "3d27e462938bc19a",
        "loopback6": "fd46:76a3:fa9b:0:3d27:e462:938b:c19a",
        "transport6": "fd46:76a3:fa9b:1:3d27:e462:938b:c19a",
        "link_local": "fe80::3d27:e462:938b:c19a",
        "asn": 4275762751,
        "loopback4": None,
        "router_id": "84.77.75.252",
        "gre_name": "mo-n1",
    },
    "n2": {
        "hostname": "n2",
        "interface_id": "834735cb77b531ef",
        "loopback6": "fd46:76a3:fa9b:0:8347:35cb:77b5:31ef",
        "transport6": "fd46:76a3:fa9b:1:8347:35cb:77b5:31ef",
        "link_local": "fe80::8347:35cb:77b5:31ef",
        "asn": 4284140060,
        "loopback4": None,
        "router_id": "109.14.110.103",
        "gre_name": "mo-n2",
    },
    "n3": {
        "hostname": "n3",
        "interface_id": "055aadd1ad4802aa",
        "loopback6": "fd46:76a3:fa9b:0:55a:add1:ad48:2aa",
        "transport6": "fd46:76a3:fa9b:1:55a:add1:ad48:2aa",
        "link_local": "fe80::55a:add1:ad48:2aa",
        "asn": 4232783764,
        "loopback4": None,
        "router_id": "59.26.121.205",
        "gre_name": "mo-n3",
    },
    LONG: {
        "hostname": LONG,
        "interface_id": "b2c581bc14b8bf93",
        "loopback6": "fd46:76a3:fa9b:0:b2c5:81bc:14b8:bf93",
        "transport6": "fd46:76a3:fa9b:1:b2c5:81bc:14b8:bf93",
        "link_local": "fe80::b2c5:81bc:14b8:bf93",
        "asn": 4245824428,
        "loopback4": None,
        "router_id": "30.184.50.46",
        "gre_name": "mocuifhsxccillp",
    },
}


def test_default_prefix6_golden():
    assert str(default_prefix6("meshover")) == "fd46:76a3:fa9b::/48"
    assert str(MeshSettings().prefix6) == "fd46:76a3:fa9b::/48"
    assert default_prefix6("other") != default_prefix6("meshover")


@pytest.mark.parametrize("hostname", sorted(GOLDEN))
def test_golden_identity(hostname):
    assert derive_identity(hostname).as_dict() == GOLDEN[hostname]


def test_golden_with_pool4():
    settings = settings_from_vars({"meshover_pool4": "10.99.0.0/24"})
    ident = derive_identity("n1", settings).as_dict()
    assert ident["loopback4"] == "10.99.0.56"
    assert ident["router_id"] == "10.99.0.56"


def test_matches_spec_formula_independently():
    """Recompute n1 straight from the brief's formulas."""
    c = b"n1"

    def h(label):
        return hashlib.sha256(b"meshover:v1:" + label + b"\0" + c).digest()

    iid = int.from_bytes(h(b"iid")[:8], "big")
    gid = int.from_bytes(hashlib.sha256(b"meshover:v1:prefix\0meshover").digest()[:5], "big")
    prefix = (0xFD << 120) | (gid << 80)
    ident = derive_identity("n1")
    assert ident.interface_id == iid
    assert int(ident.loopback6) == prefix + iid
    assert int(ident.transport6) == prefix + (1 << 64) + iid
    assert ident.asn == 4200000000 + int.from_bytes(h(b"asn"), "big") % (4294967294 - 4200000000 + 1)
    assert int(ident.router_id) == 0x01000000 + int.from_bytes(h(b"router-id")[:4], "big") % 0xDF000000


def test_case_and_trailing_dot_do_not_matter():
    a, b = derive_identity("N1.Example.COM."), derive_identity("n1.example.com")
    assert a.as_dict() | {"hostname": "x"} == b.as_dict() | {"hostname": "x"}
    assert a.hostname == "N1.Example.COM."


def test_gre_name_rules():
    assert derived_gre_name("abcdefghijkl") == "mo-abcdefghijkl"  # 12 chars: kept
    long_name = derived_gre_name("abcdefghijklm")  # 13 chars: hashed
    assert long_name.startswith("mo") and len(long_name) == 15 and "-" not in long_name
    assert derived_gre_name("a.b").startswith("mo") and len(derived_gre_name("a.b")) == 15
    for name in GOLDEN:
        assert len(derive_identity(name).gre_name) <= 15


@pytest.mark.parametrize("bad", ["", "-n1", "n1-", "n_1", "a" * 64, "a..b", ("a" * 60 + ".") * 5, 7])
def test_invalid_hostnames(bad):
    with pytest.raises(ValueError):
        canonical_hostname(bad)
    with pytest.raises(MeshError) as err:
        derive_identity(bad)
    assert "inventory hostname" in err.value.messages[0]


def test_identity_independence():
    alone = derive_identities(["n1", "n2", "n3"])
    crowd = derive_identities(["n1", "n2", "n3"] + [f"extra{i}" for i in range(200)])
    for host in ("n1", "n2", "n3"):
        assert crowd[host] == alone[host]
        assert crowd[host].as_dict() == GOLDEN[host]


def test_overrides_applied():
    settings = settings_from_vars({"meshover_pool4": "10.99.0.0/24"})
    ident = derive_identity(
        "n1",
        settings,
        {
            "meshover_asn": 64512,
            "meshover_loopback4": "10.99.0.200",
            "meshover_interface_id": "00000000000000ff",
            "meshover_gre_name": "mo-gre1",
        },
    )
    assert ident.asn == 64512
    assert str(ident.loopback4) == "10.99.0.200"
    assert str(ident.router_id) == "10.99.0.200"  # follows the loopback override
    assert ident.sources["router_id"] == "meshover_loopback4"
    assert str(ident.loopback6).endswith("::ff")
    assert str(ident.link_local) == "fe80::ff"
    assert ident.gre_name == "mo-gre1"


@pytest.mark.parametrize(
    "var, value",
    [
        ("meshover_asn", 5),
        ("meshover_asn", "4200000001"),
        ("meshover_loopback4", "10.98.0.1"),
        ("meshover_router_id", "not-an-ip"),
        ("meshover_interface_id", "0000000000000000"),
        ("meshover_interface_id", "12345"),
        ("meshover_gre_name", "much-too-long-name"),
        ("meshover_gre_name", "gre-n1"),  # the firewall and sysctl.d know the tunnels as mo*
    ],
)
def test_bad_overrides(var, value):
    settings = settings_from_vars({"meshover_pool4": "10.99.0.0/24"})
    with pytest.raises(MeshError) as err:
        derive_identity("n1", settings, {var: value})
    assert err.value.messages[0].startswith(f"n1: {var} = ")


def test_collision_tiny_asn_range_names_both_hosts():
    settings = settings_from_vars({"meshover_asn_range": [4200000000, 4200000000]})
    with pytest.raises(MeshError) as err:
        derive_identities(["n3", "n7"], settings)
    assert err.value.messages == ["n3 and n7 derive the same ASN 4200000000: set meshover_asn on one of them"]


def test_collision_with_override_names_the_override():
    with pytest.raises(MeshError) as err:
        derive_identities({"n1": {}, "n2": {"meshover_asn": GOLDEN["n1"]["asn"]}})
    (msg,) = err.value.messages
    assert "n1 (derived)" in msg and "n2 (meshover_asn)" in msg and "change meshover_asn on n2" in msg


@pytest.mark.parametrize(
    "n2_vars, label",
    [
        ({"meshover_interface_id": GOLDEN["n1"]["interface_id"]}, "interface id"),
        ({"meshover_router_id": "84.77.75.252"}, "router id"),
        ({"meshover_gre_name": "mo-n1"}, "GRE interface name"),
    ],
)
def test_collision_kinds(n2_vars, label):
    with pytest.raises(MeshError) as err:
        derive_identities({"n1": {}, "n2": n2_vars})
    assert len(err.value.messages) == 1
    assert label in err.value.messages[0] and "n1" in err.value.messages[0]


def test_loopback4_collision_reported_once():
    settings = settings_from_vars({"meshover_pool4": "10.99.0.0/30"})  # only .1 and .2
    hosts = {f"h{i}": {} for i in range(6)}
    with pytest.raises(MeshError) as err:
        derive_identities(hosts, settings)
    assert all("IPv4 loopback" in m for m in err.value.messages)
    assert len(err.value.messages) <= 2


def test_same_host_twice_different_case():
    with pytest.raises(MeshError) as err:
        derive_identities(["n1", "N1"])
    assert err.value.messages == ["n1 and N1 are the same host name 'n1' after lowercasing: keep only one of them"]


def test_settings_from_vars_errors_collected():
    with pytest.raises(MeshError) as err:
        settings_from_vars({"meshover_prefix6": "fe80::/48", "meshover_pool4": "10.0.0.1/24"})
    assert len(err.value.messages) == 2


def test_settings_mesh_name_seeds_prefix():
    settings = settings_from_vars({"meshover_mesh_name": "lab"})
    assert settings.prefix6 == default_prefix6("lab")
    assert settings.prefix6.subnet_of(ipaddress.IPv6Network("fd00::/8"))
    assert derive_identity("n1", settings).interface_id == derive_identity("n1").interface_id
