# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.controller._gathering import (
    check_gathering,
    derive_table,
    mesh_exempt,
    parse_table_range,
    source_blocks,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import MeshSettings
from ansible_collections.meshover.mesh.plugins.module_utils.controller._peers import plan_mesh
from ansible_collections.meshover.mesh.plugins.module_utils.controller._preflight import check, validate
from ansible_collections.meshover.mesh.plugins.module_utils.node._source_routing import (
    PROTO,
    RULE_PRIORITY,
    SourceRoutingError,
    Step,
    build_steps,
    change_steps,
    command,
    expand,
    ip_line,
    plan_diff,
    render_batch,
    routes_from_ip_json,
    rules_from_ip_json,
    state_lines,
)

K1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
K2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
K3 = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
PREFIX6 = "fd46:76a3:fa9b::/48"  # default prefix of the mesh "meshover"


# The gathered blocks' addresses are PureLB VIPs or Coil pods on other nodes: shared prefixes, which
# BGP carries back to the gathering host (the preflight refuses a block without that reply path).
SHARED = {"meshover_shared_prefixes": ["198.51.100.0/24", "2001:db8:100::/64", "203.0.113.0/24"]}


def inv(**extra):
    base = {
        "n1": {"meshover_endpoint": "fd00:10::1", "meshover_wg_public_key": K1, **SHARED},
        "n2": {"meshover_endpoint": "fd00:10::2", "meshover_wg_public_key": K2, **SHARED},
        "n3": {"meshover_endpoint": "fd00:10::3", "meshover_wg_public_key": K3, **SHARED},
    }
    for host, host_vars in extra.items():
        base[host].update(host_vars)
    return base


GATHER = {"meshover_gathering": ["198.51.100.0/24", "2001:db8:100::/64"]}


# ---------------------------------------------------------------- table ids


def test_derived_tables_are_golden_and_in_range():
    # pinned: changing the derivation renumbers every mesh's tables
    assert derive_table("n1") == 22742
    assert derive_table("N1.") == 22742
    assert derive_table("n2") != derive_table("n1")
    assert all(20000 <= derive_table(f"host{i}") <= 29999 for i in range(200))
    assert 100 <= derive_table("n1", (100, 110)) <= 110


@pytest.mark.parametrize(
    "value, message",
    [
        ([5], "two integers"),
        ([30000, 20000], "min greater than max"),
        ([200, 300], "253..255"),
        ([0, 10], "out of range"),
        ("20000-29999", "two integers"),
    ],
)
def test_bad_table_range(value, message):
    with pytest.raises(ValueError, match=message):
        parse_table_range(value)


def test_table_collision_names_both_hosts_and_the_override():
    inventory = inv(n1=dict(GATHER), n2={"meshover_gathering": ["203.0.113.0/24"], "meshover_gathering_table": 22742})
    problems = validate(inventory)
    assert problems == [
        "n1 (derived) and n2 (meshover_gathering_table) have the same source-routing table 22742: set "
        "meshover_gathering_table on one of them (a free id, e.g. inside meshover_gathering_table_range)"
    ]


def test_table_collision_in_a_tiny_range():
    tiny = {"meshover_gathering_table_range": [30000, 30000]}
    inventory = inv(n1={**GATHER, **tiny}, n2={"meshover_gathering": ["203.0.113.0/24"], **tiny}, n3=dict(tiny))
    assert validate(inventory) == [
        "n1 (derived) and n2 (derived) have the same source-routing table 30000: set meshover_gathering_table "
        "on one of them (a free id, e.g. inside meshover_gathering_table_range)"
    ]
    inventory["n2"]["meshover_gathering_table"] = 30001
    assert validate(inventory) == []
    assert check(inventory).tables == {"n1": 30000, "n2": 30001}


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({"n1": {"meshover_gathering_table": 254, **GATHER}}, "n1: meshover_gathering_table = 254 is a kernel table"),
        ({"n1": {"meshover_gathering_table": "x", **GATHER}}, "n1: meshover_gathering_table = 'x' is a str"),
        ({"n2": {"meshover_gathering_table": 20001}}, "n2: meshover_gathering_table is set but the host has no"),
        (
            {"n1": {"meshover_gathering_table_range": [1, 300]}},
            "n1: meshover_gathering_table_range = [1, 300] includes",
        ),
        (
            {"n1": {"meshover_gathering_table_range": [1000, 2000]}},
            "meshover_gathering_table_range differs between hosts ([1000, 2000] on n1; [20000, 29999] on n2 and n3)",
        ),
        (
            {"n1": {"meshover_gathering": ["fd00:10::/64"]}},
            "n2: meshover_endpoint fd00:10::2 is inside n1's meshover_gathering fd00:10::/64",
        ),
    ],
)
def test_preflight_problems(extra, expected):
    problems = validate(inv(**extra))
    assert any(p.startswith(expected) for p in problems), problems


def test_range_set_everywhere_is_fine():
    rng = {"meshover_gathering_table_range": [40000, 40999]}
    inventory = inv(n1={**GATHER, **rng}, n2=dict(rng), n3=dict(rng))
    assert validate(inventory) == []
    assert check(inventory).tables == {"n1": derive_table("n1", (40000, 40999))}


def test_gathering_checks_that_already_existed_still_hold():
    # malformed, overlap between hosts, a default route, overlap with the mesh's own prefixes
    assert any("meshover_gathering entry 'x'" in p for p in validate(inv(n1={"meshover_gathering": ["x"]})))
    both = inv(n1={"meshover_gathering": ["198.51.100.0/24"]}, n2={"meshover_gathering": ["198.51.100.128/25"]})
    assert any("overlapping prefixes" in p for p in validate(both))
    assert any("not a source block" in p for p in validate(inv(n1={"meshover_gathering": ["::/0"]})))
    assert any("meshover_prefix6" in p for p in validate(inv(n1={"meshover_gathering": ["fd46:76a3:fa9b:5::/64"]})))


def test_source_blocks_sorted_once_without_defaults():
    nets = [ipaddress.ip_network(n) for n in ("::/0", "2001:db8::/32", "198.51.100.0/24", "2001:db8::/32")]
    assert [str(n) for n in source_blocks(nets)] == ["198.51.100.0/24", "2001:db8::/32"]
    assert source_blocks([]) == ()


def test_the_plan_reads_gathering_as_the_preflight_parsed_it():
    # written unsorted and with another spelling: the preflight's parse is what the plan uses
    inventory = inv(n1={"meshover_gathering": ["2001:DB8:100:0::/64", "198.51.100.0/24"]})
    assert [str(n) for n in check(inventory).hosts["n1"].gathering] == ["198.51.100.0/24", "2001:db8:100::/64"]
    plan, _warnings, _updates = plan_mesh(inventory)
    assert plan["n2"]["source_routing"]["gateways"][0]["prefixes"] == ["198.51.100.0/24", "2001:db8:100::/64"]


# ---------------------------------------------------------------- plan


def test_mesh_exempt():
    announce = {"n1": (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("::/0")), "n2": ()}
    endpoints = {h: (ipaddress.ip_address(f"fd00:10::{i}"),) for i, h in enumerate(("n1", "n2", "n3"), 1)}
    settings = MeshSettings(pool4=ipaddress.IPv4Network("10.99.0.0/24"), shared_prefixes=("192.0.2.0/24",))
    assert mesh_exempt(announce, endpoints, settings) == [
        "10.99.0.0/24",
        "169.254.0.0/16",
        "192.0.2.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "fd00:10::1/128",
        "fd00:10::2/128",
        "fd00:10::3/128",
        PREFIX6,
        "fe80::/10",
        "ff00::/8",
    ]


def test_plan_mesh_source_routing():
    plan, warnings = plan_mesh(inv(n1=dict(GATHER)))[:2]
    assert warnings == []
    assert plan["n1"]["source_routing"] == {"priority": 10100, "protocol": 77, "exempt": [], "gateways": []}
    n2 = plan["n2"]["source_routing"]
    assert n2["gateways"] == [
        {"host": "n1", "table": 22742, "dev": "mo-n1", "prefixes": ["198.51.100.0/24", "2001:db8:100::/64"]}
    ]
    assert PREFIX6 in n2["exempt"] and "fd00:10::1/128" in n2["exempt"]
    assert plan["n3"]["source_routing"]["gateways"] == n2["gateways"]


def test_plan_without_gathering_is_empty_everywhere():
    plan = plan_mesh(inv())[0]
    assert all(p["source_routing"]["gateways"] == [] and p["source_routing"]["exempt"] == [] for p in plan.values())


def test_gateway_without_tunnel_is_skipped_with_one_warning():
    inventory = inv(n1=dict(GATHER))
    del inventory["n1"]["meshover_wg_public_key"]  # never converged: no tunnel to it yet
    plan, warnings = plan_mesh(inventory)[:2]
    assert plan["n2"]["source_routing"]["gateways"] == []
    assert (
        "n1: n2 and n3 have no GRE tunnel to it (no key yet, or both behind NAT): their traffic sourced from "
        "n1's meshover_gathering is not source-routed this run"
    ) in warnings


def test_two_gathering_hosts():
    inventory = inv(n1=dict(GATHER), n3={"meshover_gathering": ["203.0.113.0/24"]})
    plan = plan_mesh(inventory)[0]
    assert [(g["host"], g["dev"]) for g in plan["n2"]["source_routing"]["gateways"]] == [
        ("n1", "mo-n1"),
        ("n3", "mo-n3"),
    ]
    assert [g["host"] for g in plan["n1"]["source_routing"]["gateways"]] == ["n3"]
    assert [g["host"] for g in plan["n3"]["source_routing"]["gateways"]] == ["n1"]


# ---------------------------------------------------------------- kernel objects, diff, batch

GW = [{"host": "n1", "table": 22742, "dev": "mo-n1", "prefixes": ["198.51.100.0/24", "2001:db8:100::/64"]}]
EXEMPT = ["10.99.0.0/24", PREFIX6]


def test_expand():
    rules, routes = expand(GW, EXEMPT)
    assert rules == [
        {"family": 4, "priority": RULE_PRIORITY, "src": "198.51.100.0/24", "table": 22742},
        {"family": 6, "priority": RULE_PRIORITY, "src": "2001:db8:100::/64", "table": 22742},
    ]
    assert routes == [
        {"family": 4, "table": 22742, "type": "unicast", "dst": "0.0.0.0/0", "dev": "mo-n1"},
        {"family": 4, "table": 22742, "type": "throw", "dst": "10.99.0.0/24", "dev": None},
        {"family": 6, "table": 22742, "type": "unicast", "dst": "::/0", "dev": "mo-n1"},
        {"family": 6, "table": 22742, "type": "throw", "dst": PREFIX6, "dev": None},
    ]


def test_expand_one_family_gets_only_its_routes():
    rules, routes = expand([{**GW[0], "prefixes": ["198.51.100.0/24"]}], EXEMPT)
    assert [r["family"] for r in rules] == [4]
    assert [(r["family"], r["dst"]) for r in routes] == [(4, "0.0.0.0/0"), (4, "10.99.0.0/24")]


@pytest.mark.parametrize(
    "gateways, message",
    [
        ([{**GW[0], "table": 254}], "not a usable table id"),
        ([{**GW[0], "dev": "a-very-long-interface"}], "not an interface name"),
        ([{**GW[0], "prefixes": ["0.0.0.0/0"]}], "default route"),
        ([{**GW[0], "prefixes": ["198.51.100.1/24"]}], "not a prefix"),
        ([GW[0], {**GW[0], "host": "n3"}], "same table"),
        ([GW[0], {**GW[0], "host": "n3", "table": 1}], "two gateways"),
    ],
)
def test_expand_rejects(gateways, message):
    with pytest.raises(SourceRoutingError, match=message):
        expand(gateways, EXEMPT)


def test_plan_diff_from_nothing_then_idempotent():
    rules, routes = expand(GW, EXEMPT)
    want = {"rules": rules, "routes": routes}
    diff = plan_diff(want, {"rules": [], "routes": []})
    assert diff["rules"]["add"] == rules and diff["routes"]["add"] == routes
    assert diff["rules"]["delete"] == [] and diff["routes"]["delete"] == [] and diff["conflicts"] == []
    have = {"rules": [dict(r, other=False) for r in rules], "routes": [dict(r, protocol=PROTO) for r in routes]}
    assert change_steps(plan_diff(want, have)) == []


def test_plan_diff_removes_what_left_and_fixes_what_changed():
    rules, routes = expand(GW, EXEMPT)
    stale_rule = {"family": 4, "priority": RULE_PRIORITY, "src": "203.0.113.0/24", "table": 23000}
    stale_route = {"family": 4, "table": 23000, "type": "unicast", "dst": "0.0.0.0/0", "dev": "mo-n3"}
    moved = dict(routes[0], dev="mo-old")
    have = {"rules": [*rules, stale_rule], "routes": [moved, *routes[1:], stale_route]}
    diff = plan_diff({"rules": rules, "routes": routes}, have)
    assert diff["rules"] == {"add": [], "delete": [stale_rule]}
    assert diff["routes"]["add"] == [routes[0]]
    assert diff["routes"]["delete"] == [moved, stale_route]


def test_plan_diff_everything_goes_when_nothing_is_wanted():
    rules, routes = expand(GW, EXEMPT)
    diff = plan_diff({"rules": [], "routes": []}, {"rules": rules, "routes": routes})
    assert diff["rules"]["delete"] == rules and diff["routes"]["delete"] == routes
    assert diff["rules"]["add"] == [] and diff["routes"]["add"] == []


def test_plan_diff_owned_rule_with_extra_selectors_is_replaced():
    rules, routes = expand(GW, EXEMPT)
    odd = dict(rules[0], other=True)
    diff = plan_diff({"rules": rules, "routes": routes}, {"rules": [odd, rules[1]], "routes": routes})
    assert diff["rules"] == {"add": [rules[0]], "delete": [odd]}


def test_plan_diff_foreign_route_in_our_table_is_a_conflict():
    rules, routes = expand(GW, EXEMPT)
    foreign = [{"family": 4, "table": 22742, "type": "unicast", "dst": "0.0.0.0/0", "dev": "eth0", "protocol": 4}]
    diff = plan_diff({"rules": rules, "routes": routes}, {"rules": [], "routes": [], "foreign_routes": foreign})
    assert diff["conflicts"] == [
        "table 22742 already has a route to 0.0.0.0/0 that meshover did not install (protocol 4): another program "
        "uses this table; set meshover_gathering_table on the gathering host or meshover_gathering_table_range "
        "to a free range"
    ]


def test_render_batch_per_family():
    rules, routes = expand(GW, EXEMPT)
    four = render_batch(rules, routes, 4)
    assert four.splitlines()[3:] == [
        "route replace 0.0.0.0/0 dev mo-n1 table 22742 proto 77",
        "route replace throw 10.99.0.0/24 table 22742 proto 77",
        "rule add priority 10100 from 198.51.100.0/24 lookup 22742 protocol 77",
    ]
    assert "ip -4 -force -batch" in four
    six = render_batch(rules, routes, 6)
    assert six.splitlines()[3:] == [
        "route replace ::/0 dev mo-n1 table 22742 proto 77",
        f"route replace throw {PREFIX6} table 22742 proto 77",
        "rule add priority 10100 from 2001:db8:100::/64 lookup 22742 protocol 77",
    ]
    assert render_batch([], [], 6).count("\n") == 3  # header only: the boot unit still has a file to run
    with pytest.raises(SourceRoutingError):
        render_batch(rules, routes, 5)


def test_state_lines():
    rules, routes = expand(GW, EXEMPT[:1])
    assert state_lines(rules, routes).splitlines() == [
        "ip -4 route replace 0.0.0.0/0 dev mo-n1 table 22742 proto 77",
        "ip -4 route replace throw 10.99.0.0/24 table 22742 proto 77",
        "ip -6 route replace ::/0 dev mo-n1 table 22742 proto 77",
        "ip -4 rule add priority 10100 from 198.51.100.0/24 lookup 22742 protocol 77",
        "ip -6 rule add priority 10100 from 2001:db8:100::/64 lookup 22742 protocol 77",
    ]
    assert state_lines([], []) == ""


# ---------------------------------------------------------------- steps: the live change and the boot files


def owned(rules, routes):
    """What the readers give for these rules and routes once the kernel holds them."""
    return {"rules": [dict(r, other=False) for r in rules], "routes": [dict(r, protocol=PROTO) for r in routes]}


def steps_of(want_gateways, have_gateways=None, priority=RULE_PRIORITY, have_priority=RULE_PRIORITY):
    rules, routes = expand(want_gateways, EXEMPT, priority)
    have = owned(*expand(have_gateways, EXEMPT, have_priority)) if have_gateways else {"rules": [], "routes": []}
    return [command(s) for s in change_steps(plan_diff({"rules": rules, "routes": routes}, have))]


def test_change_steps_from_nothing_both_families():
    assert steps_of(GW) == [
        "ip -4 route replace 0.0.0.0/0 dev mo-n1 table 22742 proto 77",
        "ip -4 route replace throw 10.99.0.0/24 table 22742 proto 77",
        "ip -6 route replace ::/0 dev mo-n1 table 22742 proto 77",
        f"ip -6 route replace throw {PREFIX6} table 22742 proto 77",
        "ip -4 rule add priority 10100 from 198.51.100.0/24 lookup 22742 protocol 77",
        "ip -6 rule add priority 10100 from 2001:db8:100::/64 lookup 22742 protocol 77",
    ]
    assert steps_of(GW, GW) == []


def test_change_steps_removal_rules_before_routes():
    assert steps_of([], GW) == [
        "ip -4 rule del priority 10100 from 198.51.100.0/24 lookup 22742 protocol 77",
        "ip -6 rule del priority 10100 from 2001:db8:100::/64 lookup 22742 protocol 77",
        "ip -4 route del 0.0.0.0/0 dev mo-n1 table 22742 proto 77",
        "ip -4 route del throw 10.99.0.0/24 table 22742 proto 77",
        "ip -6 route del ::/0 dev mo-n1 table 22742 proto 77",
        f"ip -6 route del throw {PREFIX6} table 22742 proto 77",
    ]


def test_change_steps_new_priority_replaces_the_rules_only():
    assert steps_of(GW, GW, priority=10200) == [
        "ip -4 rule del priority 10100 from 198.51.100.0/24 lookup 22742 protocol 77",
        "ip -6 rule del priority 10100 from 2001:db8:100::/64 lookup 22742 protocol 77",
        "ip -4 rule add priority 10200 from 198.51.100.0/24 lookup 22742 protocol 77",
        "ip -6 rule add priority 10200 from 2001:db8:100::/64 lookup 22742 protocol 77",
    ]


def test_change_steps_new_table_moves_rules_and_routes_in_a_safe_order():
    steps = steps_of([{**GW[0], "table": 23000}], GW)
    # the old rules go first (traffic falls back to main, never into an emptied table), the old table goes,
    # the new table is filled before the new rules point at it
    assert [s.split(" table ")[0] if " route " in s else s for s in steps] == [
        "ip -4 rule del priority 10100 from 198.51.100.0/24 lookup 22742 protocol 77",
        "ip -6 rule del priority 10100 from 2001:db8:100::/64 lookup 22742 protocol 77",
        "ip -4 route del 0.0.0.0/0 dev mo-n1",
        "ip -4 route del throw 10.99.0.0/24",
        "ip -6 route del ::/0 dev mo-n1",
        f"ip -6 route del throw {PREFIX6}",
        "ip -4 route replace 0.0.0.0/0 dev mo-n1",
        "ip -4 route replace throw 10.99.0.0/24",
        "ip -6 route replace ::/0 dev mo-n1",
        f"ip -6 route replace throw {PREFIX6}",
        "ip -4 rule add priority 10100 from 198.51.100.0/24 lookup 23000 protocol 77",
        "ip -6 rule add priority 10100 from 2001:db8:100::/64 lookup 23000 protocol 77",
    ]
    assert all(" table 22742 " in s for s in steps[2:6]) and all(" table 23000 " in s for s in steps[6:10])


def test_change_steps_one_family_changes_alone():
    v6_only = [{**GW[0], "prefixes": ["2001:db8:100::/64"]}]
    assert steps_of(v6_only, GW) == [
        "ip -4 rule del priority 10100 from 198.51.100.0/24 lookup 22742 protocol 77",
        "ip -4 route del 0.0.0.0/0 dev mo-n1 table 22742 proto 77",
        "ip -4 route del throw 10.99.0.0/24 table 22742 proto 77",
    ]


def test_the_boot_files_are_the_live_steps_written_as_ip_lines():
    # one sequence for both: from an empty kernel the module applies build_steps() through netlink, and each
    # family's boot file holds exactly those steps, one ip_line() a step, in the same order
    rules, routes = expand(GW, EXEMPT)
    live = change_steps(plan_diff({"rules": rules, "routes": routes}, {"rules": [], "routes": []}))
    assert live == build_steps(rules, routes)
    for fam in (4, 6):
        body = render_batch(rules, routes, fam).splitlines()[3:]
        assert body == [ip_line(s) for s in live if s.family == fam]
        assert [f"ip -{fam} {line}" for line in body] == [command(s) for s in live if s.family == fam]
    assert state_lines(rules, routes) == "".join(command(s) + "\n" for s in live)


def test_ip_line_every_step_kind():
    rule = {"family": 4, "priority": 5, "src": None, "dst": "10.0.0.0/8", "table": 254}
    route = {"family": 6, "table": 7, "type": "unicast", "dst": "::/0", "dev": "mo-n1"}
    assert (
        ip_line(Step("rule", "add", rule, 200)) == "rule add priority 5 from all to 10.0.0.0/8 lookup 254 protocol 200"
    )
    assert ip_line(Step("rule", "del", rule, 77)) == "rule del priority 5 from all to 10.0.0.0/8 lookup 254 protocol 77"
    assert ip_line(Step("route", "del", route, 77)) == "route del ::/0 dev mo-n1 table 7 proto 77"
    with pytest.raises(SourceRoutingError, match="unknown step route add"):
        ip_line(Step("route", "add", route, 77))


def test_check_gathering_ignores_nat_endpoints():
    # n2 and n3 behind NAT: the preflight gives them no endpoint the others dial, so none is inside n1's block
    inventory = inv(n1={"meshover_gathering": ["fd00:10::/64"]})
    block = (ipaddress.ip_network("fd00:10::/64"),)
    nat = {"n1": (ipaddress.ip_address("fd00:10::1"),), "n2": (), "n3": ()}
    assert check_gathering(inventory, {"n1": block}, nat)[0] == []
    dialled = {**nat, "n2": (ipaddress.ip_address("fd00:10::2"),)}
    assert check_gathering(inventory, {"n1": block}, dialled)[0] == [
        "n2: meshover_endpoint fd00:10::2 is inside n1's meshover_gathering fd00:10::/64: its WireGuard packets "
        "would be source-routed into the mesh; use an endpoint outside it"
    ]


# Captured on a lab node (iproute2 6.1): `ip -N -j -4|-6 rule show`, `... route show table all proto 77`
# and `... route show table 23168` with meshover's rules and routes plus one static route of another program.
RULES4 = (
    '[{"priority":0,"src":"all","table":"255"},{"priority":10050,"src":"all","dst":"10.0.0.0","dstlen":8,'
    '"table":"254","protocol":"77"},{"priority":10100,"src":"198.51.100.0","srclen":24,"table":"23168",'
    '"protocol":"77"},{"priority":32766,"src":"all","table":"254"},{"priority":32767,"src":"all","table":"253"}]'
)
RULES6 = (
    '[{"priority":0,"src":"all","table":"255"},{"priority":10100,"src":"2001:db8::","srclen":48,"table":"23168",'
    '"protocol":"77"},{"priority":32766,"src":"all","table":"254"}]'
)
OWNED4 = (
    '[{"dst":"default","dev":"mo-n2","table":"23168","scope":"253","flags":[]},'
    '{"type":"9","dst":"10.0.0.0/8","table":"23168","flags":[]}]'
)
OWNED6 = (
    '[{"type":"9","dst":"fd00::/8","dev":"lo","table":"23168","metric":1024,"flags":[],"pref":"medium"},'
    '{"dst":"default","dev":"mo-n2","table":"23168","metric":1024,"flags":[],"pref":"medium"}]'
)
TABLE4 = (
    '[{"dst":"default","dev":"mo-n2","protocol":"77","scope":"253","flags":[]},{"type":"9","dst":"10.0.0.0/8",'
    '"protocol":"77","flags":[]},{"dst":"192.0.2.0/24","dev":"mo-n2","protocol":"4","scope":"253","flags":[]}]'
)


def test_rules_and_routes_from_ip_json_real_output():
    import json

    rules = rules_from_ip_json({4: json.loads(RULES4), 6: json.loads(RULES6)}, 77)
    assert rules == [
        {"family": 4, "priority": 10050, "src": None, "dst": "10.0.0.0/8", "table": 254, "other": False},
        {"family": 4, "priority": 10100, "src": "198.51.100.0/24", "dst": None, "table": 23168, "other": False},
        {"family": 6, "priority": 10100, "src": "2001:db8::/48", "dst": None, "table": 23168, "other": False},
    ]
    owned, foreign = routes_from_ip_json(
        {4: json.loads(OWNED4), 6: json.loads(OWNED6)}, {4: {23168: json.loads(TABLE4)}}, 77
    )
    base = {"table": 23168, "protocol": 77, "other": False}
    assert owned == [
        {"family": 4, "type": "unicast", "dst": "0.0.0.0/0", "dev": "mo-n2", **base},
        {"family": 4, "type": "throw", "dst": "10.0.0.0/8", "dev": None, **base},
        {"family": 6, "type": "throw", "dst": "fd00::/8", "dev": None, **base},
        {"family": 6, "type": "unicast", "dst": "::/0", "dev": "mo-n2", **base},
    ]
    assert foreign == [
        {"family": 4, "table": 23168, "type": "unicast", "dst": "192.0.2.0/24", "dev": "mo-n2", "protocol": 4}
        | {"other": False}
    ]
    # a rule with another action, or an interface match, is not meshover's shape: "other"
    odd = [{"priority": 5, "src": "all", "action": "unreachable", "protocol": "77"}]
    odd.append({"priority": 6, "src": "all", "iif": "eth0", "table": "7", "protocol": "77"})
    assert [r["other"] for r in rules_from_ip_json({4: odd}, 77)] == [True, True]
