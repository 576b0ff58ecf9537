# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Egress NAT for Coil's pods (issue 16): the `nat` part of the plan, which the gre_overlay role renders. The
preflight's rules for meshover_coil_nat_sources are tested in test__preflight.py."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import MeshSettings
from ansible_collections.meshover.mesh.plugins.module_utils.controller._nat import (
    mesh_routed,
    parse_nat_sources,
    plan_nat,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._peers import plan_mesh

K1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
K2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
K3 = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
PREFIX6 = "fd46:76a3:fa9b::/48"  # default prefix of the mesh "meshover"
MESH = {"meshover_pool4": "10.99.0.0/24", "meshover_shared_prefixes": ["10.228.0.0/16", "2001:db8:228::/48"]}
OFF = {"sources": {"ipv4": [], "ipv6": []}, "exempt": {"ipv4": [], "ipv6": []}}


def inventory(**extra):
    base = {
        "n1": {"meshover_endpoint": "fd00:10::1", "meshover_wg_public_key": K1, **MESH},
        "n2": {"meshover_endpoint": "fd00:10::2", "meshover_wg_public_key": K2, **MESH},
        "n3": {"meshover_endpoint": "fd00:10::3", "meshover_wg_public_key": K3, **MESH},
    }
    for host, host_vars in extra.items():
        base[host].update(host_vars)
    return base


def nets(*cidrs):
    return tuple(ipaddress.ip_network(c) for c in cidrs)


def test_the_plan_carries_the_parsed_sources_and_what_the_mesh_routes():
    plan, warnings, _updates = plan_mesh(
        inventory(
            n1={"meshover_coil_table": 119, "meshover_coil_nat_sources": ["10.228.0.0/16", "2001:DB8:228::/48"]},
            n3={"meshover_announce": ["203.0.113.0/24", "2001:db8:300::/48"]},
        )
    )
    assert warnings == []
    assert plan["n1"]["nat"] == {
        "sources": {"ipv4": ["10.228.0.0/16"], "ipv6": ["2001:db8:228::/48"]},
        # the sources (also shared here: merged), the IPv4 pool, n3's announce; the mesh's IPv6 prefix
        "exempt": {
            "ipv4": ["10.99.0.0/24", "10.228.0.0/16", "203.0.113.0/24"],
            "ipv6": ["2001:db8:228::/48", "2001:db8:300::/48", PREFIX6],
        },
    }
    assert plan["n2"]["nat"] == plan["n3"]["nat"] == OFF


def test_the_plan_without_sources_has_no_nat_anywhere():
    plan = plan_mesh(inventory())[0]
    assert all(p["nat"] == OFF for p in plan.values())


def test_only_the_families_with_sources_get_exempt_destinations():
    settings = MeshSettings(pool4=ipaddress.IPv4Network("10.99.0.0/24"))
    nat = plan_nat(nets("10.228.0.0/16"), mesh_routed({}, settings))
    assert nat == {
        "sources": {"ipv4": ["10.228.0.0/16"], "ipv6": []},
        "exempt": {"ipv4": ["10.99.0.0/24", "10.228.0.0/16"], "ipv6": []},
    }


def test_exempt_destinations_are_merged_for_nft_interval_sets():
    # an nft interval set refuses overlapping elements: nested and adjacent blocks are merged
    settings = MeshSettings(shared_prefixes=("10.228.0.0/16",))
    routed = mesh_routed({"n2": nets("10.228.5.0/24", "10.229.0.0/16", "0.0.0.0/0")}, settings)
    nat = plan_nat(nets("10.228.1.0/24"), routed)
    assert nat["exempt"]["ipv4"] == ["10.228.0.0/15"]


def test_mesh_routed_is_the_address_plan_announces_and_shared_prefixes():
    settings = MeshSettings(pool4=ipaddress.IPv4Network("10.99.0.0/24"), shared_prefixes=("192.0.2.0/24",))
    routed = mesh_routed({"n1": nets("203.0.113.0/24", "::/0"), "n2": ()}, settings)
    assert [str(n) for n in routed] == ["10.99.0.0/24", "192.0.2.0/24", "203.0.113.0/24", PREFIX6]


@pytest.mark.parametrize(
    ("value", "expected"),
    [([], ()), (["10.228.0.0/16", "fd12::/48"], nets("10.228.0.0/16", "fd12::/48"))],
)
def test_parse_nat_sources(value, expected):
    assert parse_nat_sources(value) == expected
