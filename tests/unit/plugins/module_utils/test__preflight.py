# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import copy

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.controller._preflight import check, hosts_label, validate

KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="

BASE = {
    "n1": {"meshover_endpoint": "2001:db8::1", "meshover_pool4": "10.99.0.0/24"},
    "n2": {"meshover_endpoint": "2001:db8::2", "meshover_pool4": "10.99.0.0/24"},
    # dual-stack, dialled on IPv4: peers n1 and n2 on their IPv6 endpoints
    "n3": {
        "meshover_endpoint": "192.0.2.3",
        "meshover_pool4": "10.99.0.0/24",
        "meshover_underlay_families": ["ipv4", "ipv6"],
    },
}


def inventory(**changes):
    """BASE with per-host changes: inventory(n1={"meshover_x": 1}); a value of ... deletes the variable."""
    inv = copy.deepcopy(BASE)
    for host, host_vars in changes.items():
        inv.setdefault(host, {})
        for var, value in host_vars.items():
            if value is ...:
                inv[host].pop(var, None)
            else:
                inv[host][var] = value
    return inv


def only_problem(inv):
    problems = validate(inv)
    assert len(problems) == 1, problems
    return problems[0]


def test_base_is_valid():
    assert validate(BASE) == []
    result = check(BASE)
    assert set(result.identities) == {"n1", "n2", "n3"}
    assert str(result.settings.pool4) == "10.99.0.0/24"


# (case id, per-host changes, host expected in the message, variable expected, extra words expected)
CASES = [
    (
        "hostname",
        {"bad_host": {"meshover_endpoint": "2001:db8::9", "meshover_pool4": "10.99.0.0/24"}},
        "bad_host",
        "inventory hostname",
        "DNS",
    ),
    ("prefix6-not-ipv6", {h: {"meshover_prefix6": "10.0.0.0/8"} for h in BASE}, "n1", "meshover_prefix6", "IPv6"),
    ("prefix6-too-small", {h: {"meshover_prefix6": "fd00:1:2:3::/64"} for h in BASE}, "n1", "meshover_prefix6", "/56"),
    ("prefix6-too-big", {h: {"meshover_prefix6": "fd00::/16"} for h in BASE}, "n1", "meshover_prefix6", "/32"),
    (
        "prefix6-host-bits",
        {h: {"meshover_prefix6": "fd00:1:2::1/48"} for h in BASE},
        "n1",
        "meshover_prefix6",
        "host bits",
    ),
    (
        "prefix6-link-local",
        {h: {"meshover_prefix6": "fe80::/48"} for h in BASE},
        "n1",
        "meshover_prefix6",
        "link-local",
    ),
    ("prefix6-multicast", {h: {"meshover_prefix6": "ff00::/48"} for h in BASE}, "n1", "meshover_prefix6", "multicast"),
    ("prefix6-not-cidr", {h: {"meshover_prefix6": "fd00::"} for h in BASE}, "n1", "meshover_prefix6", "CIDR"),
    ("pool4-not-ipv4", {h: {"meshover_pool4": "fd00::/48"} for h in BASE}, "n1", "meshover_pool4", "IPv4"),
    ("pool4-host-bits", {h: {"meshover_pool4": "10.99.0.1/24"} for h in BASE}, "n1", "meshover_pool4", "host bits"),
    ("pool4-too-small", {h: {"meshover_pool4": "10.99.0.0/31"} for h in BASE}, "n1", "meshover_pool4", "/30"),
    ("pool4-loopback", {h: {"meshover_pool4": "127.200.0.0/16"} for h in BASE}, "n1", "meshover_pool4", "loopback"),
    ("pool4-link-local", {h: {"meshover_pool4": "169.254.0.0/16"} for h in BASE}, "n1", "meshover_pool4", "link-local"),
    (
        "shared-twice",
        {h: {"meshover_shared_prefixes": ["10.228.0.0/16", "10.228.0.0/16"]} for h in BASE},
        "n1",
        "meshover_shared_prefixes",
        "twice",
    ),
    (
        "asn-range-malformed",
        {h: {"meshover_asn_range": "4200000000-4294967294"} for h in BASE},
        "n1",
        "meshover_asn_range",
        "two integers",
    ),
    (
        "asn-range-outside",
        {h: {"meshover_asn_range": [0, 10]} for h in BASE},
        "n1",
        "meshover_asn_range",
        "1..4294967294",
    ),
    ("asn-range-reversed", {h: {"meshover_asn_range": [10, 5]} for h in BASE}, "n1", "meshover_asn_range", "min"),
    ("asn-override-range", {"n2": {"meshover_asn": 65535}}, "n2", "meshover_asn", "64512"),
    ("asn-override-type", {"n2": {"meshover_asn": "64512"}}, "n2", "meshover_asn", "integer"),
    ("loopback4-outside-pool", {"n2": {"meshover_loopback4": "10.1.0.1"}}, "n2", "meshover_loopback4", "pool"),
    ("loopback4-network-address", {"n2": {"meshover_loopback4": "10.99.0.0"}}, "n2", "meshover_loopback4", "pool"),
    ("router-id-not-ipv4", {"n2": {"meshover_router_id": "2001:db8::1"}}, "n2", "meshover_router_id", "IPv4"),
    ("interface-id-short", {"n2": {"meshover_interface_id": "abc"}}, "n2", "meshover_interface_id", "16 hex"),
    ("interface-id-zero", {"n2": {"meshover_interface_id": "0000000000000000"}}, "n2", "meshover_interface_id", "zero"),
    ("interface-id-int", {"n2": {"meshover_interface_id": 1}}, "n2", "meshover_interface_id", "16 hex"),
    ("gre-name-too-long", {"n2": {"meshover_gre_name": "a" * 16}}, "n2", "meshover_gre_name", "15"),
    ("gre-name-invalid", {"n2": {"meshover_gre_name": "gre n2"}}, "n2", "meshover_gre_name", "interface name"),
    (
        "gre-name-is-wg",
        {h: {"meshover_wg_interface": "mo0", **({"meshover_gre_name": "mo0"} if h == "n2" else {})} for h in BASE},
        "n2",
        "meshover_gre_name",
        "WireGuard",
    ),
    ("gre-name-not-mo", {"n2": {"meshover_gre_name": "tun-n2"}}, "n2", "meshover_gre_name", "start with 'mo'"),
    ("gre-name-newline", {"n2": {"meshover_gre_name": "mo-n2\n"}}, "n2", "meshover_gre_name", "interface name"),
    ("collision-asn", {"n2": {"meshover_asn": 4275762751}}, "n2", "meshover_asn", "n1"),
    ("collision-iid", {"n2": {"meshover_interface_id": "3d27e462938bc19a"}}, "n2", "meshover_interface_id", "n1"),
    ("collision-loopback4", {"n2": {"meshover_loopback4": "10.99.0.56"}}, "n2", "meshover_loopback4", "n1"),
    ("collision-gre", {"n2": {"meshover_gre_name": "mo-n1"}}, "n2", "meshover_gre_name", "n1"),
    ("endpoint-missing", {"n2": {"meshover_endpoint": ...}}, "n2", "meshover_endpoint", "meshover_nat"),
    ("endpoint-link-local", {"n2": {"meshover_endpoint": "fe80::2"}}, "n2", "meshover_endpoint", "link-local"),
    ("endpoint-multicast", {"n2": {"meshover_endpoint": "ff02::1"}}, "n2", "meshover_endpoint", "multicast"),
    ("endpoint-loopback", {"n2": {"meshover_endpoint": "::1"}}, "n2", "meshover_endpoint", "loopback"),
    ("endpoint-unspecified", {"n2": {"meshover_endpoint": "0.0.0.0"}}, "n2", "meshover_endpoint", "unspecified"),
    ("endpoint-with-port6", {"n2": {"meshover_endpoint": "[2001:db8::2]:51820"}}, "n2", "meshover_endpoint", "port"),
    ("endpoint-with-port4", {"n2": {"meshover_endpoint": "192.0.2.2:51820"}}, "n2", "meshover_endpoint", "port"),
    ("endpoint-hostname", {"n2": {"meshover_endpoint": "n2.example.com"}}, "n2", "meshover_endpoint", "IP address"),
    ("endpoint-type", {"n2": {"meshover_endpoint": 20010002}}, "n2", "meshover_endpoint", "int"),
    (
        "endpoint-two-of-a-family",
        {"n2": {"meshover_endpoint": ["2001:db8::2", "2001:db8::22"]}},
        "n2",
        "meshover_endpoint",
        "one per family",
    ),
    ("endpoint-empty-list", {"n2": {"meshover_endpoint": []}}, "n2", "meshover_endpoint", "empty"),
    (
        "endpoint-list-item",
        {"n2": {"meshover_endpoint": ["2001:db8::2", "fe80::2"]}},
        "n2",
        "meshover_endpoint",
        "'fe80::2' is link-local",
    ),
    (
        "endpoint-and-nat",
        {"n2": {"meshover_nat": True}},
        "n2",
        "meshover_nat",
        "remove meshover_endpoint",
    ),
    ("families-word", {"n2": {"meshover_underlay_families": ["ip6"]}}, "n2", "meshover_underlay_families", "ipv6"),
    ("families-empty", {"n2": {"meshover_underlay_families": []}}, "n2", "meshover_underlay_families", "non-empty"),
    (
        "families-leave-out-own-endpoint",
        {"n2": {"meshover_underlay_families": ["ipv4"]}},
        "n2",
        "meshover_underlay_families",
        "leaves out ipv6",
    ),
    (
        "reaches-nobody",
        {
            "n2": {"meshover_endpoint": ..., "meshover_nat": True, "meshover_underlay_families": ["ipv4"]},
            "n3": {"meshover_endpoint": "2001:db8::3", "meshover_underlay_families": ...},
        },
        "n2",
        "meshover_underlay_families",
        "cannot reach any other host",
    ),
    ("endpoint-duplicate", {"n2": {"meshover_endpoint": "2001:db8::1"}}, "n2", "meshover_endpoint", "n1"),
    ("nat-not-bool", {"n2": {"meshover_nat": "maybe"}}, "n2", "meshover_nat", "boolean"),
    ("wg-port-range", {"n2": {"meshover_wg_port": 70000}}, "n2", "meshover_wg_port", "1..65535"),
    ("wg-port-type", {"n2": {"meshover_wg_port": "51820"}}, "n2", "meshover_wg_port", "integer"),
    ("mtu-too-small", {h: {"meshover_underlay_mtu": 1400} for h in BASE}, "n1", "meshover_underlay_mtu", "1280"),
    ("mtu-too-big", {h: {"meshover_underlay_mtu": 9001} for h in BASE}, "n1", "meshover_underlay_mtu", "9000"),
    (
        "keepalive-type",
        {h: {"meshover_persistent_keepalive": "25s"} for h in BASE},
        "n1",
        "meshover_persistent_keepalive",
        "integer",
    ),
    (
        "wg-interface-invalid",
        {h: {"meshover_wg_interface": "wg/0"} for h in BASE},
        "n1",
        "meshover_wg_interface",
        "name",
    ),
    ("announce-not-cidr", {"n2": {"meshover_announce": ["10.5.0.0"]}}, "n2", "meshover_announce", "CIDR"),
    ("announce-host-bits", {"n2": {"meshover_announce": ["10.5.0.1/24"]}}, "n2", "meshover_announce", "host bits"),
    ("announce-string", {"n2": {"meshover_announce": "10.5.0.0/24"}}, "n2", "meshover_announce", "not a list"),
    ("announce-default", {"n2": {"meshover_announce": ["0.0.0.0/0"]}}, "n2", "meshover_announce", "default"),
    (
        "announce-twice",
        {"n2": {"meshover_announce": ["10.5.0.0/24", "10.5.0.0/24"]}},
        "n2",
        "meshover_announce",
        "twice",
    ),
    ("gathering-bad", {"n2": {"meshover_gathering": ["nope"]}}, "n2", "meshover_gathering", "CIDR"),
    (
        "gathering-default4",
        {"n2": {"meshover_gathering": ["0.0.0.0/0"]}},
        "n2",
        "meshover_gathering",
        "not a source block",
    ),
    (
        "gathering-default6",
        {"n2": {"meshover_gathering": ["::/0"]}},
        "n2",
        "meshover_gathering",
        "not a source block",
    ),
    (
        "allow-default-removed",
        {"n2": {"meshover_gathering_allow_default": True}},
        "n2",
        "meshover_gathering_allow_default",
        "it was removed",
    ),
    (
        "same-prefix-two-hosts",
        {"n1": {"meshover_announce": ["10.5.0.0/24"]}, "n2": {"meshover_announce": ["10.5.0.0/24"]}},
        "n2",
        "meshover_announce",
        "same prefix",
    ),
    (
        "overlap-two-hosts",
        {"n1": {"meshover_announce": ["10.5.0.0/16"]}, "n3": {"meshover_announce": ["10.5.7.0/24"]}},
        "n3",
        "meshover_announce",
        "overlapping",
    ),
    (
        "overlap-v6-two-hosts",
        {"n1": {"meshover_announce": ["2001:db8:5::/48"]}, "n2": {"meshover_announce": ["2001:db8:5:1::/64"]}},
        "n2",
        "meshover_announce",
        "n1",
    ),
    (
        "overlap-prefix6",
        {"n2": {"meshover_announce": ["fd46:76a3:fa9b:5::/64"]}},
        "n2",
        "meshover_announce",
        "meshover_prefix6",
    ),
    (
        "overlap-pool4",
        {"n1": {"meshover_announce": ["10.0.1.0/24"]}, "n2": {"meshover_gathering": ["10.0.0.0/8"]}},
        "n2",
        "meshover_gathering",
        "meshover_pool4",
    ),
    (
        "shared-malformed",
        {h: {"meshover_shared_prefixes": ["10.7.0.1/24"]} for h in BASE},
        "n1",
        "meshover_shared_prefixes",
        "host bits",
    ),
    (
        "shared-not-list",
        {h: {"meshover_shared_prefixes": "10.7.0.0/24"} for h in BASE},
        "n1",
        "meshover_shared_prefixes",
        "list",
    ),
    (
        "shared-overlaps-pool",
        {h: {"meshover_shared_prefixes": ["10.99.0.0/25"]} for h in BASE},
        "mesh",
        "meshover_shared_prefixes",
        "meshover_pool4",
    ),
    ("mesh-wide-differs", {"n3": {"meshover_mesh_name": "other"}}, "n3", "meshover_mesh_name", "differs"),
    ("typo", {"n2": {"meshover_endpont": "2001:db8::7"}}, "n2", "meshover_endpont", "did you mean meshover_endpoint"),
    ("unknown-var", {"n2": {"meshover_zzz_qqq": 1}}, "n2", "meshover_zzz_qqq", "docs/variables.md"),
    ("typo-wg-port", {"n2": {"meshover_wgport": 1}}, "n2", "meshover_wgport", "did you mean meshover_wg_port"),
    ("bad-cached-key", {"n2": {"meshover_wg_public_key": "abc"}}, "n2", "meshover_wg_public_key", "WireGuard"),
    # --- endpoints: a unicast address another host can send to (issue 17)
    ("endpoint-link-local4", {"n2": {"meshover_endpoint": "169.254.1.2"}}, "n2", "meshover_endpoint", "link-local"),
    (
        "endpoint-link-local-zone",
        {"n2": {"meshover_endpoint": "fe80::2%eth0"}},
        "n2",
        "meshover_endpoint",
        "link-local",
    ),
    ("endpoint-zone", {"n2": {"meshover_endpoint": "2001:db8::2%eth0"}}, "n2", "meshover_endpoint", "zone"),
    ("endpoint-multicast4", {"n2": {"meshover_endpoint": "224.0.0.1"}}, "n2", "meshover_endpoint", "multicast"),
    ("endpoint-loopback4", {"n2": {"meshover_endpoint": "127.0.0.2"}}, "n2", "meshover_endpoint", "loopback"),
    ("endpoint-unspecified6", {"n2": {"meshover_endpoint": "::"}}, "n2", "meshover_endpoint", "unspecified"),
    ("endpoint-broadcast", {"n2": {"meshover_endpoint": "255.255.255.255"}}, "n2", "meshover_endpoint", "broadcast"),
    (
        "endpoint-ipv4-mapped",
        {"n2": {"meshover_endpoint": "::ffff:192.0.2.2"}},
        "n2",
        "meshover_endpoint",
        "write the IPv4 address itself, 192.0.2.2",
    ),
    (
        "endpoint-ipv4-mapped-hex",
        {"n2": {"meshover_endpoint": "::FFFF:C000:202"}},
        "n2",
        "meshover_endpoint",
        "write the IPv4 address itself, 192.0.2.2",
    ),
    (
        "endpoint-ipv4-compatible",
        {"n2": {"meshover_endpoint": "::192.0.2.2"}},
        "n2",
        "meshover_endpoint",
        "write the IPv4 address itself, 192.0.2.2",
    ),
    # the same address written another way is the same endpoint
    (
        "endpoint-duplicate-case",
        {"n2": {"meshover_endpoint": "2001:DB8:0::1"}},
        "n1 and n2",
        "meshover_endpoint",
        "'2001:DB8:0::1'",
    ),
    (
        "endpoint-duplicate-zeros",
        {"n2": {"meshover_endpoint": "2001:0db8:0000:0000:0000:0000:0000:0001"}},
        "n1 and n2",
        "meshover_endpoint 2001:db8::1",
        "same on several hosts",
    ),
    (
        "endpoint-in-prefix6",
        {"n2": {"meshover_endpoint": "fd46:76a3:fa9b:1::5"}},
        "n2",
        "meshover_endpoint fd46:76a3:fa9b:1::5",
        "meshover_prefix6",
    ),
    (
        "endpoint-in-pool4",
        {"n3": {"meshover_endpoint": "10.99.0.7"}},
        "n3",
        "meshover_endpoint 10.99.0.7",
        "meshover_pool4",
    ),
    # --- announced and gathered prefixes: ranges that can be routed between hosts
    ("announce-multicast4", {"n2": {"meshover_announce": ["239.1.0.0/16"]}}, "n2", "meshover_announce", "multicast"),
    ("announce-multicast6", {"n2": {"meshover_announce": ["ff05::/16"]}}, "n2", "meshover_announce", "multicast"),
    ("announce-loopback4", {"n2": {"meshover_announce": ["127.0.0.0/8"]}}, "n2", "meshover_announce", "loopback"),
    ("announce-loopback6", {"n2": {"meshover_announce": ["::1/128"]}}, "n2", "meshover_announce", "loopback"),
    (
        "announce-link-local4",
        {"n2": {"meshover_announce": ["169.254.0.0/24"]}},
        "n2",
        "meshover_announce",
        "link-local",
    ),
    ("announce-link-local6", {"n2": {"meshover_announce": ["fe80::/64"]}}, "n2", "meshover_announce", "link-local"),
    (
        "announce-broadcast",
        {"n2": {"meshover_announce": ["255.255.255.255/32"]}},
        "n2",
        "meshover_announce",
        "broadcast",
    ),
    ("announce-this-network", {"n2": {"meshover_announce": ["0.0.0.0/8"]}}, "n2", "meshover_announce", "unspecified"),
    ("announce-half-default", {"n2": {"meshover_announce": ["0.0.0.0/1"]}}, "n2", "meshover_announce", "unspecified"),
    ("announce-unspecified6", {"n2": {"meshover_announce": ["::/96"]}}, "n2", "meshover_announce", "unspecified"),
    (
        "announce-ipv4-mapped",
        {"n2": {"meshover_announce": ["::ffff:10.5.0.0/120"]}},
        "n2",
        "meshover_announce",
        "write the IPv4 prefix itself, 10.5.0.0/24",
    ),
    (
        "gathering-link-local",
        {"n2": {"meshover_gathering": ["169.254.0.0/16"]}},
        "n2",
        "meshover_gathering",
        "link-local",
    ),
    ("gathering-multicast", {"n2": {"meshover_gathering": ["ff02::/16"]}}, "n2", "meshover_gathering", "multicast"),
    (
        "gathering-unspecified",
        {"n2": {"meshover_gathering": ["0.0.0.0/8"]}},
        "n2",
        "meshover_gathering",
        "unspecified",
    ),
    (
        "shared-multicast",
        {h: {"meshover_shared_prefixes": ["224.0.0.0/4"]} for h in BASE},
        "n1, n2 and n3",
        "meshover_shared_prefixes",
        "multicast",
    ),
    (
        "shared-default",
        {h: {"meshover_shared_prefixes": ["::/0"]} for h in BASE},
        "n1, n2 and n3",
        "meshover_shared_prefixes",
        "meshover_default_route_from",
    ),
    # --- an announced prefix must not route a WireGuard endpoint into the mesh
    (
        "announce-contains-peer-endpoint",
        {"n1": {"meshover_announce": ["192.0.2.0/24"]}},
        "n1 and n3",
        "n1's meshover_announce 192.0.2.0/24 contains n3's meshover_endpoint 192.0.2.3",
        "into the mesh",
    ),
    (
        "announce-contains-peer-endpoint6",
        {"n2": {"meshover_announce": ["2001:db8::/127"]}},
        "n2 and n1",
        "n2's meshover_announce 2001:db8::/127 contains n1's meshover_endpoint 2001:db8::1",
        "give n1 an endpoint",
    ),
    (
        "announce-contains-own-endpoint",
        {"n3": {"meshover_announce": ["192.0.2.0/28"]}},
        "n3",
        "meshover_announce 192.0.2.0/28 contains the host's own meshover_endpoint 192.0.2.3",
        "the other hosts",
    ),
    (
        "announce-is-peer-endpoint",
        {"n1": {"meshover_announce": ["192.0.2.3/32"]}},
        "n1 and n3",
        "n3's meshover_endpoint 192.0.2.3",
        "into the mesh",
    ),
    (
        "shared-contains-endpoint",
        {h: {"meshover_shared_prefixes": ["192.0.2.0/24"]} for h in BASE},
        "n3",
        "meshover_endpoint 192.0.2.3 is inside meshover_shared_prefixes 192.0.2.0/24",
        "Coil",
    ),
]


@pytest.mark.parametrize("changes, host, var, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(changes, host, var, words):
    msg = only_problem(inventory(**changes))
    assert host in msg
    assert var in msg
    assert words in msg


def test_nat_host_needs_no_endpoint():
    assert validate(inventory(n2={"meshover_endpoint": ..., "meshover_nat": True})) == []


def test_same_endpoint_different_port_is_fine():
    assert validate(inventory(n2={"meshover_endpoint": "2001:db8::1", "meshover_wg_port": 51821})) == []


def test_gathering_default_refused_and_allow_default_removed():
    problems = validate(
        inventory(n1={"meshover_gathering": ["0.0.0.0/0", "::/0"], "meshover_gathering_allow_default": True})
    )
    assert sorted(problems) == [
        "n1: meshover_gathering has the default route 0.0.0.0/0: that is not a source block (every address, the "
        "nodes' own included, would leave through n1); list the blocks of addresses (SNAT pools, LoadBalancer IPs) "
        "whose traffic must leave through n1",
        "n1: meshover_gathering has the default route ::/0: that is not a source block (every address, the nodes' "
        "own included, would leave through n1); list the blocks of addresses (SNAT pools, LoadBalancer IPs) whose "
        "traffic must leave through n1",
        "n1: meshover_gathering_allow_default: it was removed: it let meshover_gathering hold a default route, which "
        "nothing acted on. Remove it, and list in meshover_gathering the blocks whose traffic leaves through the host",
    ]


def test_a_gathered_block_needs_a_reply_path_through_the_mesh():
    alone = inventory(n1={"meshover_gathering": ["198.51.100.0/24"]})
    assert only_problem(alone) == (
        "n1: meshover_gathering 198.51.100.0/24 overlaps no prefix that BGP carries, so no other host can use its "
        "addresses (the replies, arriving at n1, would have no route back through the mesh): add the block, or the "
        "part the other hosts use, to meshover_shared_prefixes (PureLB VIPs, Coil pods), or to the meshover_announce "
        "of the host whose VMs use it"
    )
    shared = inventory(n1={"meshover_gathering": ["198.51.100.0/24"]})
    for h in shared.values():
        h["meshover_shared_prefixes"] = ["198.51.100.0/26"]
    assert validate(shared) == []
    # another host's VMs use (and announce) part of the block: allowed, and a reply path
    vms = inventory(n1={"meshover_gathering": ["198.51.100.0/24"]}, n2={"meshover_announce": ["198.51.100.64/26"]})
    assert validate(vms) == []
    # the gathering host's own announce is no reply path for the others' sources
    own = inventory(n1={"meshover_gathering": ["198.51.100.0/24"], "meshover_announce": ["198.51.100.0/25"]})
    assert "overlaps no prefix that BGP carries" in only_problem(own)
    # two gateways for one block, or two owners of one route, still conflict
    two = inventory(n1={"meshover_gathering": ["198.51.100.0/24"]}, n2={"meshover_gathering": ["198.51.100.0/25"]})
    assert any("overlapping prefixes" in p for p in validate(two))


def test_nested_overlaps_report_each_pair():
    inv = inventory(
        n1={"meshover_announce": ["10.0.0.0/8"]},
        n2={"meshover_announce": ["10.1.0.0/16"]},
        n3={"meshover_announce": ["10.1.2.0/24", "192.168.0.0/16"]},
    )
    inv = {h: {k: v for k, v in hv.items() if k != "meshover_pool4"} for h, hv in inv.items()}
    problems = validate(inv)
    assert len(problems) == 3
    assert all("overlapping" in p for p in problems)


def test_explicit_default_equals_unset():
    assert validate(inventory(n1={"meshover_wg_interface": "meshover0"})) == []


def test_mesh_wide_parse_error_reported_once_for_all_hosts():
    problems = validate(
        {f"h{i}": {"meshover_endpoint": f"2001:db8::{i + 1}", "meshover_pool4": "bad"} for i in range(10)}
    )
    assert len(problems) == 1
    assert problems[0].startswith("h0, h1, h2 and 7 more: meshover_pool4")


def test_wrong_types_do_not_crash():
    assert validate(["n1"])[0].startswith("inventory is a list")
    assert validate({})[0].startswith("inventory is empty")
    problems = validate({"n1": "oops", "n2": {"meshover_endpoint": "2001:db8::2"}})
    assert problems == ["n1: variables are a str, not a dict: pass a dict of meshover_* vars"]
    problems = validate(
        {"n1": {"meshover_endpoint": 5, "meshover_announce": [5, None], "meshover_asn_range": [1, "x"]}}
    )
    assert len(problems) == 4


def test_all_problems_reported_together():
    inv = inventory(
        n1={"meshover_endpont": "x", "meshover_wg_port": 0},
        n2={"meshover_endpoint": "fe80::1", "meshover_asn": 1},
    )
    assert len(validate(inv)) == 4


def test_hosts_label():
    assert hosts_label(["a"]) == "a"
    assert hosts_label(["a", "b"]) == "a and b"
    assert hosts_label(["a", "b", "c"]) == "a, b and c"
    assert hosts_label(["a", "b", "c", "d", "e"]) == "a, b, c and 2 more"


# ---------------------------------------------------------------- what stays valid (issue 17)


@pytest.mark.parametrize(
    "endpoint",
    [
        "10.0.0.2",  # private ranges: the lab and most LANs
        "172.16.5.2",
        "192.168.1.2",
        "100.64.0.2",  # shared address space (carrier-grade NAT)
        "fd00:10::2",  # ULA, as in the lab
        "2a01:4f8::2",
        "64:ff9b::c000:202",  # NAT64: an IPv6 address, not IPv4 written as IPv6
    ],
)
def test_unicast_endpoints_pass(endpoint):
    assert validate(inventory(n2={"meshover_endpoint": endpoint})) == []


def test_the_same_address_written_two_ways_is_still_fine_on_another_port():
    assert validate(inventory(n2={"meshover_endpoint": "2001:DB8::1", "meshover_wg_port": 51821})) == []


def test_an_endpoint_next_to_an_announced_prefix_passes():
    # n3's endpoint is 192.0.2.3: the prefixes around it leave it out
    inv = inventory(
        n1={"meshover_announce": ["192.0.2.128/25", "192.0.2.4/30"]}, n3={"meshover_announce": ["192.0.2.0/31"]}
    )
    assert validate(inv) == []


def test_a_nat_host_has_no_endpoint_so_none_can_be_inside_an_announced_prefix():
    inv = inventory(n1={"meshover_announce": ["192.0.2.0/24"]}, n3={"meshover_nat": True, "meshover_endpoint": ...})
    assert validate(inv) == []


def test_dual_stack_endpoints_are_checked_each():
    inv = inventory(n1={"meshover_endpoint": ["2001:db8::1", "192.0.2.1"]}, n2={"meshover_announce": ["192.0.2.0/28"]})
    problems = validate(inv)
    assert len(problems) == 1 and "192.0.2.0/28 contains n1's meshover_endpoint 192.0.2.1" in problems[0], problems
    dup = validate(inventory(n1={"meshover_endpoint": ["2001:db8::1", "192.0.2.3"]}))
    assert len(dup) == 1 and dup[0].startswith("n1 and n3: meshover_endpoint 192.0.2.3"), dup


def test_islands_that_cannot_reach_each_other_are_named():
    inv = {
        "a1": {"meshover_endpoint": "2001:db8::1"},
        "a2": {"meshover_endpoint": "2001:db8::2"},
        "b1": {"meshover_endpoint": "192.0.2.1"},
        "b2": {"meshover_nat": True},
    }
    problems = validate(inv)
    assert len(problems) == 1, problems
    assert problems[0].startswith("b1 and b2 cannot reach a1 and a2 over the underlay"), problems
    # one dual-stack host joins the islands: the others go through it (transit)
    inv["a1"]["meshover_endpoint"] = ["2001:db8::1", "192.0.2.10"]
    assert validate(inv) == []


def test_a_gathering_host_may_gather_its_own_endpoint():
    # its own traffic is never source-routed; the others' endpoints inside it are (check_gathering)
    # (n2's VMs use, and announce, a part of the block: the replies' way back through the mesh)
    vms = {"meshover_announce": ["192.0.2.128/25"]}
    assert validate(inventory(n3={"meshover_gathering": ["192.0.2.0/24"]}, n2=vms)) == []
    problems = validate(inventory(n1={"meshover_gathering": ["192.0.2.0/24"]}, n2=vms))
    assert problems == [
        "n3: meshover_endpoint 192.0.2.3 is inside n1's meshover_gathering 192.0.2.0/24: its WireGuard packets would "
        "be source-routed into the mesh; use an endpoint outside it"
    ]


def test_default_routes_are_refused_in_both_lists():
    assert "not a source block" in only_problem(inventory(n1={"meshover_gathering": ["::/0"]}))
    assert "not a default route" in only_problem(inventory(n1={"meshover_announce": ["::/0"]}))


def test_an_announce_over_many_endpoints_is_one_message_per_prefix():
    inv = {f"h{i}": {"meshover_endpoint": f"192.0.2.{i}"} for i in range(1, 8)}
    inv["h1"]["meshover_announce"] = ["192.0.2.0/24"]
    problems = validate(inv)
    assert len(problems) == 2, problems
    own, others = problems
    assert own.startswith("h1: meshover_announce 192.0.2.0/24 contains the host's own meshover_endpoint 192.0.2.1")
    assert others.startswith(
        "h1, h2, h3 and 4 more: h1's meshover_announce 192.0.2.0/24 contains h2's meshover_endpoint 192.0.2.2, "
        "h3's meshover_endpoint 192.0.2.3, h4's meshover_endpoint 192.0.2.4 and 3 more: "
    )


def test_endpoints_inside_the_address_plan_are_one_message():
    inv = {f"h{i}": {"meshover_endpoint": f"10.99.0.{i}", "meshover_pool4": "10.99.0.0/24"} for i in range(1, 6)}
    (problem,) = validate(inv)
    assert problem.startswith(
        "h1, h2, h3 and 2 more: meshover_endpoint 10.99.0.1, 10.99.0.2, 10.99.0.3, ... are inside the mesh's own "
        "meshover_pool4 10.99.0.0/24"
    )


def test_endpoint_index_bounds_and_families():
    from ipaddress import ip_address, ip_network

    from ansible_collections.meshover.mesh.plugins.module_utils.controller._preflight import EndpointIndex

    index = EndpointIndex(
        {
            "a": (ip_address("10.0.0.0"),),
            "b": (ip_address("10.0.0.255"),),
            "c": (ip_address("10.0.1.0"),),
            "d": (ip_address("::a00:1"),),
        }
    )
    assert [h for h, _addr in index.inside(ip_network("10.0.0.0/24"))] == ["a", "b"]
    assert [h for h, _addr in index.inside(ip_network("10.0.1.0/32"))] == ["c"]
    assert index.inside(ip_network("::a00:0/120")) == [("d", ip_address("::a00:1"))]
    assert index.inside(ip_network("192.0.2.0/24")) == []


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (254, "reserved table 254"),
        (255, "reserved table 255"),
        (0, "meshover_coil_table"),
        (4294967296, "meshover_coil_table"),
        ("main", "meshover_coil_table"),
    ],
)
def test_coil_table_no_method_reads_is_refused_naming_host_and_variable(value, words):
    msg = only_problem(inventory(n2={"meshover_coil_table": value}))
    assert "n2" in msg and "meshover_coil_table" in msg and words in msg


@pytest.mark.parametrize("value", [119, 70000, None])
def test_coil_table_some_method_reads_passes(value):
    # 70000: too large for FRR 10's table-direct but fine for the VRF method; the role decides on the node
    assert validate(inventory(n2={"meshover_coil_table": value})) == []


def test_coil_table_that_is_a_source_routing_table_is_refused():
    msg = only_problem(
        inventory(
            n1={"meshover_gathering": ["198.51.100.0/24"], "meshover_gathering_table": 20119},
            n2={"meshover_coil_table": 20119},
            n3={"meshover_announce": ["198.51.100.0/26"]},
        )
    )
    assert msg.startswith("n2: meshover_coil_table 20119 is the source-routing table of n1")
    assert (
        validate(
            inventory(
                n1={"meshover_gathering": ["198.51.100.0/24"], "meshover_gathering_table": 20119},
                n2={"meshover_coil_table": 119},
                n3={"meshover_announce": ["198.51.100.0/26"]},
            )
        )
        == []
    )


# ---------------------------------------------------------------- meshover_coil_nat_sources (issue 16)

COIL = {"meshover_coil_table": 119}


def test_coil_nat_sources_good_value_passes_and_is_parsed():
    inv = inventory(n2={**COIL, "meshover_coil_nat_sources": ["10.228.0.0/16", "2001:DB8:228::/48"]})
    result = check(inv)
    assert result.problems == []
    assert [str(n) for n in result.hosts["n2"].coil_nat_sources] == ["10.228.0.0/16", "2001:db8:228::/48"]
    assert result.hosts["n2"].as_dict()["coil_nat_sources"] == ["10.228.0.0/16", "2001:db8:228::/48"]
    assert result.hosts["n1"].coil_nat_sources == ()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("10.228.0.0/16", "not a list"),
        (["10.228.0.1/16"], "host bits set: use 10.228.0.0/16"),
        (["2001:db8:228::1/48"], "host bits set: use 2001:db8:228::/48"),
        (["10.228.0.0"], "CIDR"),
        (["pods"], "CIDR"),
        (["127.0.0.0/8"], "loopback"),
        (["fe80::/64"], "link-local"),
    ],
)
def test_coil_nat_sources_entry_not_a_prefix_is_refused(value, words):
    msg = only_problem(inventory(n2={**COIL, "meshover_coil_nat_sources": value}))
    assert msg.startswith("n2: meshover_coil_nat_sources") and words in msg


@pytest.mark.parametrize("default", ["0.0.0.0/0", "::/0"])
def test_coil_nat_sources_default_route_is_refused(default):
    msg = only_problem(inventory(n2={**COIL, "meshover_coil_nat_sources": ["10.228.0.0/16", default]}))
    assert msg.startswith("n2: meshover_coil_nat_sources") and f"default route {default}" in msg
    assert "pods" in msg


def test_coil_nat_sources_same_prefix_written_twice_is_refused():
    msg = only_problem(
        inventory(n2={**COIL, "meshover_coil_nat_sources": ["2001:db8:228::/48", "2001:DB8:228:0::/48"]})
    )
    assert msg.startswith("n2: meshover_coil_nat_sources")
    assert "lists 2001:db8:228::/48 twice (as '2001:db8:228::/48' and '2001:DB8:228:0::/48')" in msg
    assert "remove the duplicate" in msg


def test_coil_nat_sources_without_coil_table_is_refused():
    msg = only_problem(inventory(n2={"meshover_coil_nat_sources": ["10.228.0.0/16"]}))
    assert msg.startswith("n2: meshover_coil_nat_sources is set but meshover_coil_table is not")
    assert "meshover_coil_table: 119" in msg and "drop meshover_coil_nat_sources" in msg
    # empty is off: no Coil table needed
    assert validate(inventory(n2={"meshover_coil_nat_sources": []})) == []
