# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import copy

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.node._gre import (
    GreError,
    create_steps,
    ip_line,
    modify_steps,
    normalize_tunnels,
    plan_is_empty,
    plan_tunnels,
    render_batch,
)

LOCAL = "fd4b:1c2a:77e0:1:1111:2222:3333:4444"
R2 = "fd4b:1c2a:77e0:1:9a3b:11f2:d0c4:8e21"
R3 = "fd4b:1c2a:77e0:1:5c1d:e3aa:4410:2f09"
LL = "fe80::1111:2222:3333:4444/64"

WANT = [
    {"name": "mo-n3", "peer": "n3", "local": LOCAL, "remote": R3, "link_local": LL, "mtu": 1376, "ttl": 64},
    {"name": "mo-n2", "peer": "n2", "local": LOCAL, "remote": R2, "link_local": LL, "mtu": 1376, "ttl": 64},
]


def live(name, peer, remote, **kw):
    """A link as _kernel.parse_links() reads it (the keys the planner reads), converged by default."""
    link = {
        "name": name,
        "kind": "ip6gre",
        "alias": f"meshover:{peer}",
        "local": LOCAL,
        "remote": remote,
        "ttl": 64,
        "mtu": 1376,
        "ign_encap_limit": True,
        "addrgenmode": 1,
        "addresses": [LL],
        "admin_up": True,
    }
    link.update(kw)
    return link


HAVE = [
    {"name": "lo", "kind": None, "alias": None, "mtu": 65536, "admin_up": True, "addresses": ["::1/128"]},
    {"name": "eth1", "kind": None, "alias": "uplink", "mtu": 1500, "admin_up": True, "addresses": ["fd00:10::1/64"]},
    # the kernel's fallback device, foreign
    {
        "name": "ip6gre0",
        "kind": "ip6gre",
        "alias": None,
        "local": "::",
        "remote": "::",
        "ttl": 0,
        "mtu": 1448,
        "admin_up": False,
        "addresses": [],
    },
    live("mo-n2", "n2", R2),
    live("mo-n3", "n3", R3),
]


def names(plan):
    return {
        "create": [t["name"] for t in plan["create"]],
        "recreate": [(r["tunnel"]["name"], r["reasons"]) for r in plan["recreate"]],
        "modify": [(m["tunnel"]["name"], m["changes"]) for m in plan["modify"]],
        "delete": plan["delete"],
        "conflicts": len(plan["conflicts"]),
    }


def test_idempotent_plan_is_empty():
    plan = plan_tunnels(WANT, HAVE)
    assert plan_is_empty(plan)
    assert names(plan) == {"create": [], "recreate": [], "modify": [], "delete": [], "conflicts": 0}


def test_create_everything_from_scratch_sorted():
    plan = plan_tunnels(WANT, HAVE[:3])
    assert names(plan)["create"] == ["mo-n2", "mo-n3"]
    assert plan["create"][0]["ttl"] == 64


def _have_with(name, **kw):
    have = copy.deepcopy(HAVE)
    for h in have:
        if h["name"] == name:
            h.update(kw)
    return have


CASES = [
    ("remote moved", _have_with("mo-n2", remote=R3.replace("2f09", "2f0a")), {"recreate": [("mo-n2", ["remote"])]}),
    ("local moved", _have_with("mo-n2", local="fd00::9"), {"recreate": [("mo-n2", ["local"])]}),
    (
        "wrong kind",
        _have_with("mo-n2", kind="gre", local=None, remote=None, ttl=None, ign_encap_limit=None),
        {"recreate": [("mo-n2", ["kind", "local", "remote"])]},
    ),
    ("default encaplimit", _have_with("mo-n2", ign_encap_limit=False), {"recreate": [("mo-n2", ["encaplimit"])]}),
    ("ttl", _have_with("mo-n2", ttl=255), {"recreate": [("mo-n2", ["ttl"])]}),
    ("mtu drift", _have_with("mo-n2", mtu=1448), {"modify": [("mo-n2", {"mtu": 1376})]}),
    ("down", _have_with("mo-n3", admin_up=False), {"modify": [("mo-n3", {"up": True})]}),
    ("address missing", _have_with("mo-n2", addresses=[]), {"modify": [("mo-n2", {"add_addresses": [LL]})]}),
    (
        "random link-local from eui64",
        _have_with("mo-n2", addrgenmode=0, addresses=[LL, "fe80::5054:ff:fe12:3456/64", "fd99::1/128"]),
        {"modify": [("mo-n2", {"addrgenmode": "none", "del_addresses": ["fe80::5054:ff:fe12:3456/64"]})]},
    ),
    (
        "alias of another peer",
        _have_with("mo-n2", alias="meshover:old"),
        {"modify": [("mo-n2", {"alias": "meshover:n2"})]},
    ),
    ("owned but unwanted", [*HAVE, live("mo-n9", "n9", "fd00::99")], {"delete": ["mo-n9"]}),
    ("foreign with our name", _have_with("mo-n2", alias=None), {"conflicts": 1}),
    ("foreign unrelated ip6gre kept", [*HAVE, dict(live("gre-x", "x", "fd00::77"), alias="someone else")], {}),
    ("address written differently", _have_with("mo-n2", remote=R2.upper()), {}),
]


@pytest.mark.parametrize("desc, have, expected", CASES, ids=[c[0] for c in CASES])
def test_plan_table(desc, have, expected):
    got = names(plan_tunnels(WANT, have))
    full = {"create": [], "recreate": [], "modify": [], "delete": [], "conflicts": 0}
    full.update(expected)
    assert got == full


def test_owner_prefix_is_honoured():
    have = [
        dict(h, alias=h["alias"].replace("meshover:", "lab1:")) if (h.get("alias") or "").startswith("meshover:") else h
        for h in HAVE
    ]
    assert plan_is_empty(plan_tunnels(WANT, have, owner_prefix="lab1:"))
    # With the default prefix, the same tunnels are foreign: both names conflict, nothing is deleted.
    plan = plan_tunnels(WANT, have)
    assert len(plan["conflicts"]) == 2 and plan["delete"] == []


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"name": "mo-this-is-too-long"}, "invalid"),
        ({"remote": "10.0.0.1"}, "IPv6"),
        ({"link_local": "fd00::1/64"}, "fe80"),
        ({"mtu": 1000}, "1280"),
        ({"peer": "bad peer"}, "peer"),
    ],
)
def test_validation(bad, match):
    with pytest.raises(GreError, match=match):
        normalize_tunnels([dict(WANT[0], **bad)])


def test_duplicates_rejected():
    with pytest.raises(GreError, match="twice"):
        normalize_tunnels([WANT[0], dict(WANT[0], remote=R2)])
    with pytest.raises(GreError, match="same local and remote"):
        normalize_tunnels([WANT[0], dict(WANT[0], name="mo-x")])


def test_link_local_without_prefix_gets_64():
    assert normalize_tunnels([dict(WANT[0], link_local="fe80::1")])[0]["link_local"] == "fe80::1/64"


EXPECTED_BATCH = f"""\
# Managed by meshover.mesh.gre_tunnels; local changes are overwritten.
# Replay with: ip -force -batch <this file>. On a re-run, 'link add' of an existing tunnel
# fails (exit status 1); every other line is idempotent.
link add mo-n2 type ip6gre local {LOCAL} remote {R2} ttl 64 encaplimit none
link set dev mo-n2 addrgenmode none
link set dev mo-n2 mtu 1376 alias "meshover:n2"
addr replace {LL} dev mo-n2
link set dev mo-n2 up
link add mo-n3 type ip6gre local {LOCAL} remote {R3} ttl 64 encaplimit none
link set dev mo-n3 addrgenmode none
link set dev mo-n3 mtu 1376 alias "meshover:n3"
addr replace {LL} dev mo-n3
link set dev mo-n3 up
"""


def test_render_batch_deterministic():
    assert render_batch(WANT) == EXPECTED_BATCH
    assert render_batch(list(reversed(WANT))) == EXPECTED_BATCH
    assert render_batch([]).count("\n") == 3


def test_the_boot_file_is_the_live_steps_written_as_ip_lines():
    # one sequence (create_steps) for both: the module applies each step through netlink, the file holds them
    body = render_batch(WANT).splitlines()[3:]
    steps = [step for t in normalize_tunnels(WANT) for step in create_steps(t, "meshover:")]
    assert body == [ip_line(step) for step in steps]
    assert [s[0] for s in create_steps(normalize_tunnels(WANT)[0], "meshover:")] == [
        "add",
        "addrgenmode_none",  # before up: no random link-local
        "set",
        "addr",
        "up",
    ]


def test_modify_steps_follow_the_changes_in_order():
    t = normalize_tunnels(WANT)[0]
    changes = {"addrgenmode": "none", "mtu": 1400, "del_addresses": ["fe80::99/64"], "add_addresses": ["fe80::1/64"]}
    assert [ip_line(s) for s in modify_steps(t, {**changes, "up": True})] == [
        f"link set dev {t['name']} addrgenmode none",
        f"link set dev {t['name']} mtu 1400",
        f"addr del fe80::99/64 dev {t['name']}",
        f"addr replace fe80::1/64 dev {t['name']}",
        f"link set dev {t['name']} up",
    ]
    assert modify_steps(t, {}) == []
