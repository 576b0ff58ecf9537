# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import ipaddress
import pathlib

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.controller._bgp import (
    DEFAULT_FRR_IMAGE,
    PROBE_KEYS,
    coil_method,
    coil_table_refusal,
    neighbour_entry,
    parse_bfd,
    parse_frr_version,
    parse_probe,
    parse_reload_test,
    parse_table,
    parse_timers,
    prefix_entry,
    resolve_template,
    route_map_slots,
    runtime_install,
    template_problems,
    undrained_prefixes,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import MeshSettings, derive_identity
from ansible_collections.meshover.mesh.plugins.module_utils.controller._peers import plan_mesh
from ansible_collections.meshover.mesh.plugins.module_utils.controller._preflight import validate

K = [
    "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
    "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=",
    "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
]
ASN = {"n1": 4275762751, "n2": 4284140060, "n3": 4232783764}
LO6 = {"n1": "fd46:76a3:fa9b:0:3d27:e462:938b:c19a/128", "n2": "fd46:76a3:fa9b:0:8347:35cb:77b5:31ef/128"}


def inv(**extra):
    base = {"meshover_pool4": "10.99.0.0/24", "meshover_shared_prefixes": ["10.88.0.0/16", "fd88::/48"]}
    out = {
        f"n{i + 1}": {**base, "meshover_endpoint": f"2001:db8::{i + 1}", "meshover_wg_public_key": K[i]}
        for i in range(3)
    }
    for host, host_vars in extra.items():
        out[host].update(host_vars)
    return out


def test_plan_of_n1():
    plan, _warnings, _updates = plan_mesh(inv(n2={"meshover_announce": ["192.0.2.0/24"]}))
    bgp = plan["n1"]["bgp"]
    assert bgp["asn"] == ASN["n1"] and bgp["router_id"] == "10.99.0.56"
    assert bgp["loopbacks"] == {"ipv4": ["10.99.0.56/32"], "ipv6": [LO6["n1"]]}
    assert bgp["originate"] == {"ipv4": ["10.99.0.56/32"], "ipv6": [LO6["n1"]]}
    # the link-locals of the lab's n1..n3 (derived from the names, as check_dataplane.py sees them)
    assert bgp["link_local"] == "fe80::3d27:e462:938b:c19a"
    assert bgp["neighbours"] == [
        {"interface": "mo-n2", "peer": "n2", "peer_asn": ASN["n2"], "peer_link_local": "fe80::8347:35cb:77b5:31ef"},
        {"interface": "mo-n3", "peer": "n3", "peer_asn": ASN["n3"], "peer_link_local": "fe80::55a:add1:ad48:2aa"},
    ]
    assert bgp["timers"] == {"keepalive": 3, "hold": 9}
    assert bgp["bfd"] == {"enabled": True, "interval": 300, "multiplier": 3}
    assert bgp["graceful_restart"] is False
    assert bgp["graceful_shutdown"] is False
    # the Coil hand-off is opt-in per host (unset: off); the method follows the FRR version read on the node
    assert bgp["coil"] is None
    assert bgp["purelb"] == {"interface": "kube-lb0"}
    assert bgp["frr"] == {"mode": "container", "image": DEFAULT_FRR_IMAGE, "template": None, "extra_config": ""}
    n2 = next(o for o in bgp["origins"] if o["host"] == "n2")
    assert n2["asn"] == ASN["n2"]
    # owned prefixes are exact: no other AS can get a more-specific of n2's /24 accepted
    assert n2["ipv4"] == [{"prefix": "10.99.0.162/32", "le": None}, {"prefix": "192.0.2.0/24", "le": None}]
    assert n2["ipv6"] == [{"prefix": LO6["n2"], "le": None}]
    assert bgp["shared"] == {
        "ipv4": [{"prefix": "10.88.0.0/16", "le": 32}],
        "ipv6": [{"prefix": "fd88::/48", "le": 128}],
    }
    # n1 may send its own loopbacks and the shared prefixes, not n2's announce
    assert {e["prefix"] for e in bgp["self_allowed"]["ipv4"]} == {"10.99.0.56/32", "10.88.0.0/16"}
    assert bgp["maximum_prefix"] == {"limit": 1000, "restart": 5}


def test_each_peers_neighbour_entry_is_built_once_and_shared():
    """A peer's session entry is the same on every host that has one: plan_mesh builds it once per peer, not
    once per pair (its link-local as text was most of the plan's time: 0.42 s -> 0.11 s for 300 hosts)."""
    plan, _w, _u = plan_mesh(inv())
    by_host = {h: {n["peer"]: n for n in plan[h]["bgp"]["neighbours"]} for h in plan}
    assert by_host["n1"]["n2"] is by_host["n3"]["n2"]
    assert by_host["n1"]["n2"] == neighbour_entry(derive_identity("n2", MeshSettings()))
    assert by_host["n1"]["n2"]["peer_asn"] == ASN["n2"]
    assert by_host["n1"]["n2"]["peer_link_local"] == plan["n2"]["identity"]["link_local"]
    assert by_host["n2"]["n1"]["interface"] == plan["n1"]["identity"]["gre_name"]
    # what neighbour_entry() builds, whether the hosts are planned together or one at a time
    one, _w, _u = plan_mesh(inv(), for_hosts=["n3"])
    assert one["n3"]["bgp"]["neighbours"] == plan["n3"]["bgp"]["neighbours"]


def test_transport_addresses_never_in_bgp():
    plan, _w, _u = plan_mesh(inv())
    transport = ipaddress.ip_network("fd46:76a3:fa9b:1::/64")
    for host_plan in plan.values():
        bgp = host_plan["bgp"]
        prefixes = bgp["originate"]["ipv6"] + [e["prefix"] for e in bgp["self_allowed"]["ipv6"]]
        prefixes += [e["prefix"] for o in bgp["origins"] for e in o["ipv6"]]
        prefixes += [e["prefix"] for e in bgp["shared"]["ipv6"]]
        assert prefixes and not any(ipaddress.ip_network(p).overlaps(transport) for p in prefixes)


def test_removed_node_has_no_neighbour_or_origin():
    full = inv()
    del full["n3"]
    plan, _w, _u = plan_mesh(full)
    assert [n["peer"] for n in plan["n1"]["bgp"]["neighbours"]] == ["n2"]
    assert {o["host"] for o in plan["n1"]["bgp"]["origins"]} == {"n1", "n2"}


def test_default_route_from_and_options():
    plan, _w, _u = plan_mesh(
        inv(
            n1={"meshover_default_route_from": ["n3"]},
            n2={"meshover_default_route_from": ["n3"]},
            n3={
                "meshover_default_route_from": ["n3"],
                "meshover_frr_mode": "package",
                "meshover_coil_table": None,
                "meshover_purelb_interface": None,
                "meshover_frr_extra_config": ["router bgp 1", " bgp log-neighbor-changes"],
            },
        )
    )
    assert [o["host"] for o in plan["n1"]["bgp"]["origins"] if o["default"]] == ["n3"]
    n3 = plan["n3"]["bgp"]
    assert n3["default_originate_allowed"] is True and plan["n1"]["bgp"]["default_originate_allowed"] is False
    assert n3["coil"] is None and n3["purelb"] is None
    assert n3["frr"]["mode"] == "package" and n3["frr"]["extra_config"] == "router bgp 1\n bgp log-neighbor-changes"


@pytest.mark.parametrize(
    ("host_vars", "message"),
    [
        ({"meshover_frr_mode": "docker"}, "n1: meshover_frr_mode = 'docker' must be one of container, package"),
        ({"meshover_frr_image": "a b"}, "n1: meshover_frr_image = 'a b' must be a container image reference"),
        (
            {"meshover_frr_image": "quay.io/FRRouting/frr:10.4.1"},
            "n1: meshover_frr_image = 'quay.io/FRRouting/frr:10.4.1' has the repository part 'FRRouting'",
        ),
        (
            {"meshover_frr_image": "quay.io/frrouting/frr:"},
            "n1: meshover_frr_image = 'quay.io/frrouting/frr:' has the tag ''",
        ),
        ({"meshover_frr_image": "--privileged"}, "n1: meshover_frr_image = '--privileged' has the repository part"),
        ({"meshover_frr_image": "frr@sha256:123"}, "n1: meshover_frr_image = 'frr@sha256:123' has the digest"),
        ({"meshover_coil_table": 254}, "n1: meshover_coil_table = 254 is the kernel's reserved table 254"),
        ({"meshover_purelb_interface": "x" * 16}, "n1: meshover_purelb_interface = "),
        ({"meshover_frr_extra_config": 5}, "n1: meshover_frr_extra_config = 5 must be FRR configuration text"),
        ({"meshover_frr_template": ""}, "n1: meshover_frr_template = '' must be the path of a Jinja2 template"),
        ({"meshover_bgp_graceful_shutdown": "maybe"}, "n1: meshover_bgp_graceful_shutdown = 'maybe'"),
        (
            {"meshover_announce_more_specifics": "sometimes"},
            "n1: meshover_announce_more_specifics = 'sometimes' is not a boolean: use true or false",
        ),
        ({"meshover_announce_more_specifics": 1}, "n1: meshover_announce_more_specifics = 1 is not a boolean"),
    ],
)
def test_preflight_host_vars(host_vars, message):
    problems = validate(inv(n1=host_vars))
    assert any(p.startswith(message) for p in problems), problems


def test_preflight_mesh_vars():
    bad = {"meshover_bgp_timers": {"keepalive": 5, "hold": 9}, "meshover_bfd": {"interval": 5}}
    problems = validate(inv(n1=bad, n2=bad, n3=bad))
    assert any("meshover_bgp_timers" in p and "hold 9 < 3 x keepalive 5" in p for p in problems), problems
    assert any("meshover_bfd" in p and "10..60000" in p for p in problems), problems
    differs = validate(inv(n1={"meshover_bfd": False}))
    assert any(p.startswith("meshover_bfd differs between hosts") for p in differs), differs
    unknown = {"meshover_default_route_from": ["n9"]}
    problems = validate(inv(n1=unknown, n2=unknown, n3=unknown))
    assert any("meshover_default_route_from names 'n9', which is not a mesh host" in p for p in problems), problems


def test_parsers_and_helpers():
    assert parse_timers({"keepalive": 1}) == {"keepalive": 1, "hold": 9}
    assert parse_bfd(False) == {"enabled": False, "interval": 300, "multiplier": 3}
    assert prefix_entry("10.0.0.1/32") == {"prefix": "10.0.0.1/32", "le": None}
    assert prefix_entry("fd88::/48") == {"prefix": "fd88::/48", "le": 128}
    assert prefix_entry("fd88::/48", more_specifics=False) == {"prefix": "fd88::/48", "le": None}
    assert prefix_entry("10.0.0.1/32", more_specifics=True) == {"prefix": "10.0.0.1/32", "le": None}


def test_plan_coil_does_not_depend_on_mode_or_image():
    plan, _w, _u = plan_mesh(
        inv(
            n1={"meshover_frr_image": "10.0.2.100/frr:lab", "meshover_coil_table": 119},
            n2={"meshover_frr_image": "quay.io/frrouting/frr@sha256:" + "0" * 64, "meshover_coil_table": 119},
            n3={"meshover_frr_mode": "package", "meshover_coil_table": 120},
        )
    )
    none_refused = {"table-direct": "", "vrf": ""}
    assert plan["n1"]["bgp"]["coil"] == plan["n2"]["bgp"]["coil"] == {"table": 119, "refused": none_refused}
    assert plan["n3"]["bgp"]["coil"] == {"table": 120, "refused": none_refused}


@pytest.mark.parametrize(
    ("version", "parsed", "method"),
    [
        ("10.3.1", (10, 3, 1), "table-direct"),  # zebra --version in the lab image (Debian 13's FRR)
        ("10.4.1", (10, 4, 1), "table-direct"),
        ("10.0", (10, 0, 0), "table-direct"),
        ("10.4-dev", (10, 4, 0), "table-direct"),  # a build from FRR's master
        ("10.3-2", (10, 3, 0), "table-direct"),  # Debian trixie style, no patch level
        ("1:10.0-1", (10, 0, 0), "table-direct"),  # Debian epoch
        ("v10.2.2", (10, 2, 2), "table-direct"),
        ("10.3.1.2+custom", (10, 3, 1), "table-direct"),
        (" 10.3.1\n", (10, 3, 1), "table-direct"),
        ("8.4.4-1.1~deb12u2", (8, 4, 4), "vrf"),  # Debian 12's package
        ("9.1.3", (9, 1, 3), "vrf"),
        ("9.99.99", (9, 99, 99), "vrf"),
        ("2:8.4rc1", (8, 4, 0), "vrf"),
    ],
)
def test_frr_version_and_coil_method(version, parsed, method):
    assert parse_frr_version(version) == parsed
    assert coil_method(version) == method


@pytest.mark.parametrize("version", ["", "lab", "latest", "10", "v", "10.x", "frr 10.3.1", ":10.3", "1:", None, 10.3])
def test_coil_method_refuses_what_is_not_a_version(version):
    with pytest.raises(ValueError, match="is not an FRR version"):
        coil_method(version)


def test_parse_probe_container():
    out = parse_probe(
        "mode=container\nruntime=/usr/bin/podman\nimage_id=sha256:abc=def\nfrr_version=10.3.1\nsource=cache\n"
    )
    assert out == {
        "mode": "container",
        "runtime": "/usr/bin/podman",
        "image_id": "sha256:abc=def",  # split at the first = only
        "frr_version": "10.3.1",
        "source": "cache",
        "pulled": "",
        "coil_vrf": "",
        "container": "",
        "state": "",
        "note": "",
        "os": "",
    }


def test_parse_probe_unknown_version_keeps_every_key_and_joins_notes():
    text = (
        "mode=container\nruntime=\n"
        "WARN[0000] a runtime's stray line = not a value\n"
        "note=no container runtime installed (podman or docker)\n"
        "bogus=1\nnote=\nnote=second\nframe\nframe=x\nfrr_version=\nsource=none\n"
    )
    out = parse_probe(text)
    assert set(out) == set(PROBE_KEYS)
    assert out["frr_version"] == "" and out["runtime"] == "" and out["source"] == "none"
    assert out["note"] == "no container runtime installed (podman or docker); second"
    assert parse_probe("") == dict.fromkeys(PROBE_KEYS, "")


def test_parse_probe_of_the_entry_point_probe_has_the_container_and_the_state():
    # tasks_from: probe, no mode given: a stopped FRR under podman (the runtime is there, the container is not)
    out = parse_probe("container=no\nstate=stopped\nmode=container\nruntime=/usr/bin/podman\nimage_id=\ncoil_vrf=no\n")
    assert (out["mode"], out["runtime"], out["container"], out["state"]) == (
        "container",
        "/usr/bin/podman",
        "no",
        "stopped",
    )
    # a converge's probe prints neither
    assert parse_probe("mode=package\nfrr_version=8.4.4-1\n")["state"] == ""


def test_parse_probe_last_value_wins():
    assert parse_probe("frr_version=\nfrr_version=8.4.4-1.1~deb12u2\n")["frr_version"] == "8.4.4-1.1~deb12u2"


def test_graceful_shutdown_is_per_host():
    plan, _w, _u = plan_mesh(inv(n3={"meshover_bgp_graceful_shutdown": True}))
    assert plan["n3"]["bgp"]["graceful_shutdown"] is True
    assert plan["n1"]["bgp"]["graceful_shutdown"] is False
    # the drained node stays a neighbour of the others (sessions stay up, only preference drops)
    assert [n["peer"] for n in plan["n1"]["bgp"]["neighbours"]] == ["n2", "n3"]


def _render_frr_conf(bgp_plan, coil_method="table-direct"):
    """frr.conf as the role renders it; coil_method stands for what the role read on the node."""
    jinja2 = pytest.importorskip("jinja2")
    root = pathlib.Path(__file__).resolve().parents[4]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root / "roles" / "frr_bgp" / "templates")),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["comment"] = lambda text, *a, **k: f"! {text}"
    return env.get_template("frr.conf.j2").render(
        frr_bgp_plan=bgp_plan,
        frr_bgp_runtime={"coil_method": coil_method},
        frr_bgp_coil_vrf="meshover-coil",
        ansible_managed="Ansible managed",
    )


def _af_block(conf, af):
    lines = conf.splitlines()
    start = lines.index(f" address-family {af} unicast")
    return lines[start : lines.index(" exit-address-family", start)]


def test_frr_conf_names_the_node_so_a_reload_deletes_no_hostname():
    """FRR shows the kernel's host name when frr.conf sets none, and every frr-reload.py run then first ran
    `no hostname` with a vtysh of its own right before its file (the mgmtd race of FRR 10.3)."""
    plan, _w, _u = plan_mesh(inv())
    for host in ("n1", "n2"):
        assert plan[host]["bgp"]["hostname"] == host
        lines = _render_frr_conf(plan[host]["bgp"], "table-direct").splitlines()
        assert lines.count(f"hostname {host}") == 1
        assert lines.index(f"hostname {host}") < lines.index("interface lo")


def test_frr_conf_coil_follows_the_method_read_on_the_node():
    plan, _w, _u = plan_mesh(inv(n1={"meshover_coil_table": 119}))
    direct = _render_frr_conf(plan["n1"]["bgp"], "table-direct")
    for af in ("ipv4", "ipv6"):
        assert f"  redistribute table-direct 119 route-map MO-SHARED-{af.upper()}" in _af_block(direct, af)
    assert "import-table" not in direct and "vrf" not in direct and "MO-COIL-RIB" not in direct
    # FRR < 10: the VRF bound to the table, redistributed there, imported into the default instance in both
    # families, and kept out of the main table by the table-map
    vrf = _render_frr_conf(plan["n1"]["bgp"], "vrf")
    lines = vrf.splitlines()
    for af in ("ipv4", "ipv6"):
        block = _af_block(vrf, af)  # the default instance's (it comes first)
        assert "  import vrf meshover-coil" in block and "  table-map MO-COIL-RIB" in block
        assert not any("redistribute table" in line or "redistribute kernel" in line for line in block)
    assert "import-table" not in vrf and "table-direct" not in vrf
    instance = lines[lines.index(f"router bgp {ASN['n1']} vrf meshover-coil") :]
    instance = instance[: instance.index("exit")]
    assert " bgp router-id 10.99.0.56" in instance
    for af in ("ipv4", "ipv6"):
        at = instance.index(f" address-family {af} unicast")
        assert instance[at + 1] == f"  redistribute kernel route-map MO-SHARED-{af.upper()}"
    rib = _blocks(vrf, "route-map MO-COIL-RIB ")
    assert rib == [
        ["route-map MO-COIL-RIB deny 10", " match source-vrf meshover-coil", "exit"],
        ["route-map MO-COIL-RIB permit 20", "exit"],
    ]
    # the VRF instance comes after the default one (FRR's own order, what frr-reload.py compares against)
    assert lines.index(f"router bgp {ASN['n1']}") < lines.index(f"router bgp {ASN['n1']} vrf meshover-coil")
    # no Coil table (the default): neither, whatever the version
    for method in ("table-direct", "vrf"):
        conf = _render_frr_conf(plan["n3"]["bgp"], method)
        assert "table-direct" not in conf and "import vrf" not in conf and " vrf " not in conf
        assert "MO-COIL-RIB" not in conf and "redistribute kernel" not in conf


def test_coil_hand_off_is_opt_in_and_each_method_says_what_it_refuses():
    plan, _w, _u = plan_mesh(inv(n1={"meshover_coil_table": 119}, n2={"meshover_coil_table": 70000}))
    assert plan["n1"]["bgp"]["coil"] == {"table": 119, "refused": {"table-direct": "", "vrf": ""}}
    refused = plan["n2"]["bgp"]["coil"]["refused"]
    assert refused["vrf"] == ""
    assert "reads tables 1..65535 only" in refused["table-direct"] and "70000" in refused["table-direct"]
    assert plan["n3"]["bgp"]["coil"] is None
    assert coil_table_refusal("table-direct", 65535) == "" and coil_table_refusal("table-direct", 65536) != ""
    assert coil_table_refusal("vrf", 4294967295) == ""


@pytest.mark.parametrize("value", [0, 253, 254, 255, 4294967296, -1, "x"])
def test_coil_table_refused_by_every_method(value):
    with pytest.raises(ValueError):
        parse_table(value)


@pytest.mark.parametrize("value", [1, 119, 252, 256, 65535, 65536, 4294967295])
def test_coil_table_some_method_reads(value):
    assert parse_table(value) == value


def _blocks(conf, header):
    """The bodies of every `header ...` block (up to its `exit`)."""
    out, current = [], None
    for line in conf.splitlines():
        if line.startswith(header):
            current = [line]
        elif current is not None:
            current.append(line)
            if line == "exit":
                out.append(current)
                current = None
    return out


def test_frr_conf_honours_and_sends_graceful_shutdown():
    plan, _w, _u = plan_mesh(inv(n3={"meshover_bgp_graceful_shutdown": True}))
    n1 = _render_frr_conf(plan["n1"]["bgp"])
    n3 = _render_frr_conf(plan["n3"]["bgp"])
    # only the drained node announces graceful shutdown
    assert " bgp graceful-shutdown" in n3.splitlines()
    assert " bgp graceful-shutdown" not in n1.splitlines()
    for conf in (n1, n3):
        lines = conf.splitlines()
        assert "bgp community-list standard MO-GSHUT seq 5 permit graceful-shutdown" in lines
        gshut = _blocks(conf, "route-map MO-GSHUT permit 10")
        assert gshut == [
            ["route-map MO-GSHUT permit 10", " match community MO-GSHUT", " set local-preference 0", "exit"]
        ]
        # the policy is defined before any route-map calls it, and before router bgp
        router = next(i for i, line in enumerate(lines) if line.startswith("router bgp "))
        assert lines.index("route-map MO-GSHUT permit 20") < router
        # every accepting clause of the inbound policy calls it; the final deny does not need to
        for af in ("IPV4", "IPV6"):
            accepting = _blocks(conf, f"route-map MO-IN-{af} permit")
            assert len(accepting) >= 3, accepting
            assert all(" call MO-GSHUT" in b for b in accepting), accepting
            assert lines.index("route-map MO-GSHUT permit 20") < lines.index(accepting[0][0])


N3 = 4232783764


def _path(aspath, best=False, multipath=False, valid=True):
    return {"valid": valid, "bestpath": best, "multipath": multipath, "path": aspath}


def test_undrained_prefixes():
    tables = {
        "ipv6": {
            "routes": {
                # n2's loopback: best path still via n3 although the direct one exists -> undrained
                "fd46::2/128": [_path(f"{N3} 4284140060", best=True), _path("4284140060")],
                # n3's own loopback: only reachable through n3 -> not listed
                "fd46::3/128": [_path(str(N3), best=True), _path(f"4284140060 {N3}")],
                # moved away already
                "fd46::4/128": [_path("4284140060", best=True), _path(f"{N3} 4284140060")],
            }
        },
        "ipv4": {
            "routes": {
                # ECMP (shared prefix) still using n3 as one of the paths -> undrained
                "10.88.0.0/16": [_path("4284140060", best=True, multipath=True), _path(str(N3), multipath=True)],
                # an invalid path avoiding n3 does not count as an alternative
                "10.77.0.1/32": [_path(str(N3), best=True), _path("4284140060", valid=False)],
                # local route (empty AS path)
                "10.99.0.56/32": [_path("", best=True)],
            }
        },
    }
    assert undrained_prefixes(tables, N3) == ["ipv4 10.88.0.0/16", "ipv6 fd46::2/128"]
    # drained: every in-use path avoids n3 where possible
    tables["ipv6"]["routes"]["fd46::2/128"] = [_path(f"{N3} 4284140060"), _path("4284140060", best=True)]
    tables["ipv4"]["routes"]["10.88.0.0/16"] = [_path("4284140060", best=True, multipath=True), _path(str(N3))]
    assert undrained_prefixes(tables, N3) == []
    # the ASN must match whole AS numbers, not substrings; detail-view `aspath.string` and AS sets are read too
    near = {"ipv6": {"routes": {"fd46::9/128": [{"bestpath": True, "aspath": {"string": f"{{1,{N3}}}"}}, _path("1")]}}}
    assert undrained_prefixes(near, N3) == ["ipv6 fd46::9/128"]
    assert undrained_prefixes({"ipv6": {"routes": {"x": [_path(f"{N3}0", best=True), _path("1")]}}}, N3) == []
    assert undrained_prefixes({}, N3) == [] and undrained_prefixes({"ipv4": {}}, N3) == []


# ---------------------------------------------------------------- BGP policy (#17 item 3)

ANNOUNCE = ["192.0.2.0/24", "2001:db8:f2::/64"]


def _entries(bgp, af, asn):
    return next(o[af] for o in bgp["origins"] if o["asn"] == asn)


def test_owned_prefixes_are_exact_inbound_and_outbound():
    plan, _w, _u = plan_mesh(inv(n2={"meshover_announce": ANNOUNCE}))
    for host in ("n1", "n2", "n3"):
        bgp = plan[host]["bgp"]
        # every node's MO-OWN entries for n2: loopbacks and announces, none with `le`
        assert _entries(bgp, "ipv4", ASN["n2"]) == [
            {"prefix": "10.99.0.162/32", "le": None},
            {"prefix": "192.0.2.0/24", "le": None},
        ]
        assert _entries(bgp, "ipv6", ASN["n2"]) == [
            {"prefix": LO6["n2"], "le": None},
            {"prefix": "2001:db8:f2::/64", "le": None},
        ]
        # shared prefixes keep their more-specifics (Coil blocks, PureLB addresses)
        assert bgp["shared"]["ipv4"] == [{"prefix": "10.88.0.0/16", "le": 32}]
    # n2's outbound list (MO-SELF) lets out exactly its prefixes, and the shared ones with more-specifics
    assert plan["n2"]["bgp"]["self_allowed"]["ipv4"] == [
        {"prefix": "10.99.0.162/32", "le": None},
        {"prefix": "192.0.2.0/24", "le": None},
        {"prefix": "10.88.0.0/16", "le": 32},
    ]
    assert plan["n2"]["bgp"]["self_allowed"]["ipv6"] == [
        {"prefix": LO6["n2"], "le": None},
        {"prefix": "2001:db8:f2::/64", "le": None},
        {"prefix": "fd88::/48", "le": 128},
    ]


@pytest.mark.parametrize("flag", [True, "yes", "true"])
def test_announce_more_specifics_is_per_host(flag):
    plan, _w, _u = plan_mesh(
        inv(
            n2={"meshover_announce": ANNOUNCE, "meshover_announce_more_specifics": flag},
            n3={"meshover_announce": ["198.51.100.0/24"]},
        )
    )
    for host in ("n1", "n2", "n3"):
        bgp = plan[host]["bgp"]
        # n2's announces carry more-specifics everywhere; its loopbacks are host routes either way
        assert _entries(bgp, "ipv4", ASN["n2"]) == [
            {"prefix": "10.99.0.162/32", "le": None},
            {"prefix": "192.0.2.0/24", "le": 32},
        ]
        assert _entries(bgp, "ipv6", ASN["n2"])[1] == {"prefix": "2001:db8:f2::/64", "le": 128}
        # n3 did not ask: exact
        assert _entries(bgp, "ipv4", ASN["n3"])[1] == {"prefix": "198.51.100.0/24", "le": None}
    assert plan["n2"]["bgp"]["self_allowed"]["ipv4"][1] == {"prefix": "192.0.2.0/24", "le": 32}
    assert plan["n3"]["bgp"]["self_allowed"]["ipv4"][1] == {"prefix": "198.51.100.0/24", "le": None}


def test_a_prefix_both_announced_and_shared_is_one_prefix_list_entry():
    """FRR refuses a second entry with the same prefix and le ("duplicated prefix list value")."""
    plan, _w, _u = plan_mesh(inv(n2={"meshover_announce": ["10.88.0.0/16"], "meshover_announce_more_specifics": True}))
    assert plan["n2"]["bgp"]["self_allowed"]["ipv4"] == [
        {"prefix": "10.99.0.162/32", "le": None},
        {"prefix": "10.88.0.0/16", "le": 32},
    ]


def test_announce_more_specifics_false_is_the_default():
    explicit, _w, _u = plan_mesh(inv(n2={"meshover_announce": ANNOUNCE, "meshover_announce_more_specifics": False}))
    default, _w, _u = plan_mesh(inv(n2={"meshover_announce": ANNOUNCE}))
    assert explicit["n1"]["bgp"]["origins"] == default["n1"]["bgp"]["origins"]
    assert explicit["n2"]["bgp"]["self_allowed"] == default["n2"]["bgp"]["self_allowed"]


def test_maximum_prefix_is_mesh_wide():
    every = {"meshover_bgp_maximum_prefix": 5000}
    plan, _w, _u = plan_mesh(inv(n1=every, n2=every, n3=every))
    assert {h: p["bgp"]["maximum_prefix"]["limit"] for h, p in plan.items()} == {"n1": 5000, "n2": 5000, "n3": 5000}
    assert plan["n1"]["bgp"]["maximum_prefix"]["restart"] == 5


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "is out of range 1..4294967295"),
        (4294967296, "is out of range 1..4294967295"),
        (-1, "is out of range 1..4294967295"),
        ("1000", "is a str, not an integer"),
        (True, "is a bool, not an integer"),
        (100.0, "is a float, not an integer"),
    ],
)
def test_preflight_maximum_prefix_range(value, message):
    every = {"meshover_bgp_maximum_prefix": value}
    problems = validate(inv(n1=every, n2=every, n3=every))
    assert any(p.startswith(f"n1, n2 and n3: meshover_bgp_maximum_prefix = {value!r} {message}") for p in problems), (
        problems
    )


def test_preflight_maximum_prefix_same_everywhere():
    problems = validate(inv(n1={"meshover_bgp_maximum_prefix": 2000}))
    assert any(p.startswith("meshover_bgp_maximum_prefix differs between hosts") for p in problems), problems


def test_preflight_maximum_prefix_above_the_inventory_prefixes():
    # 3 hosts: 3 IPv4 loopbacks + n2's 2 announces = 5; 3 IPv6 loopbacks + 1 announce = 4
    announce = {"meshover_announce": ["192.0.2.0/24", "198.51.100.0/24", "2001:db8:f2::/64"]}
    limit = {"meshover_bgp_maximum_prefix": 5}
    problems = validate(inv(n1=limit, n2={**limit, **announce}, n3=limit))
    assert problems == [
        "meshover_bgp_maximum_prefix = 5 is not above the 5 IPv4 prefixes the inventory itself puts in the mesh "
        "(every host's loopbacks and meshover_announce): a session may carry them all, and FRR would end it; set "
        "meshover_bgp_maximum_prefix above 5 plus the Coil blocks, PureLB addresses and more-specifics you expect"
    ]
    limit = {"meshover_bgp_maximum_prefix": 6}
    assert validate(inv(n1=limit, n2={**limit, **announce}, n3=limit)) == []
    limit = {"meshover_bgp_maximum_prefix": 4}
    problems = validate(inv(n1=limit, n2={**limit, **announce}, n3=limit))
    assert [p.split(" prefixes the")[0] for p in problems] == [
        "meshover_bgp_maximum_prefix = 4 is not above the 5 IPv4",
        "meshover_bgp_maximum_prefix = 4 is not above the 4 IPv6",
    ]


def test_preflight_maximum_prefix_default_named_when_unset():
    # 1000 hosts' IPv6 loopbacks reach the default limit of 1000: the message says it is the default
    hosts = {f"h{i}": {"meshover_endpoint": f"2001:db8:1::{i + 1:x}"} for i in range(1000)}
    problems = validate(hosts)
    assert problems == [
        "meshover_bgp_maximum_prefix (default 1000) is not above the 1000 IPv6 prefixes the inventory itself puts "
        "in the mesh (every host's loopbacks and meshover_announce): a session may carry them all, and FRR would "
        "end it; set meshover_bgp_maximum_prefix above 1000 plus the Coil blocks, PureLB addresses and "
        "more-specifics you expect"
    ]
    del hosts["h999"]
    assert validate(hosts) == []


def test_frr_conf_bgp_policy():
    plan, _w, _u = plan_mesh(inv(n2={"meshover_announce": ANNOUNCE}))
    conf = _render_frr_conf(plan["n1"]["bgp"])
    lines = conf.splitlines()
    router = next(i for i, line in enumerate(lines) if line.startswith("router bgp "))
    # (a) owned prefixes exact; shared ones with more-specifics
    assert "ip prefix-list MO-OWN-IPV4-4284140060 seq 10 permit 192.0.2.0/24" in lines
    assert "ipv6 prefix-list MO-OWN-IPV6-4284140060 seq 10 permit 2001:db8:f2::/64" in lines
    assert "ip prefix-list MO-SELF-IPV4 seq 5 permit 10.99.0.56/32" in lines
    assert "ip prefix-list MO-SHARED-IPV4 seq 5 permit 10.88.0.0/16 le 32" in lines
    assert "ip prefix-list MO-SELF-IPV4 seq 10 permit 10.88.0.0/16 le 32" in lines
    assert not any(" le " in line for line in lines if "MO-OWN-" in line)
    # (c) the group keeps remote-as external (see docs/design.md); each tunnel accepts only paths that start
    # with its peer's ASN, in both address families, with the as-path lists defined before router bgp
    assert " neighbor MESH remote-as external" in lines
    for peer, tunnel in (("n2", "mo-n2"), ("n3", "mo-n3")):
        acl = f"bgp as-path access-list MO-PEER-{ASN[peer]} seq 5 permit ^{ASN[peer]}_"
        assert acl in lines and lines.index(acl) < router
        for af in ("ipv4", "ipv6"):
            assert f"  neighbor {tunnel} filter-list MO-PEER-{ASN[peer]} in" in _af_block(conf, af)
    assert not any(f"MO-PEER-{ASN['n1']}" in line for line in lines)  # none for itself
    # (b) maximum-prefix on the group, per address family, written as FRR writes it back (frr-reload diff)
    for af in ("ipv4", "ipv6"):
        assert "  neighbor MESH maximum-prefix 1000 restart 5" in _af_block(conf, af)
    assert sum("maximum-prefix" in line for line in lines) == 2


def _frr_as_path_regex(text):
    """An as-path access-list's regex as bgpd runs it: `_` is any AS-path delimiter or the start or end
    (bgpd/bgp_regex.c), the rest POSIX extended regex, searched in the path as `show bgp` prints it."""
    import re

    return re.compile(text.replace("_", "(^|[,{}() ]|$)"))


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_frr_conf_passes_on_only_short_paths(depth):
    """MO-OUT-* denies a learned path of more than relay_depth ASNs (before this node's own is prepended), after
    the node's own routes and before everything else it passes on; the list is defined before router bgp."""
    plan, _w, _u = plan_mesh(inv())
    bgp = {**plan["n1"]["bgp"], "relay_depth": depth}
    lines = _render_frr_conf(bgp).splitlines()
    acl = [line for line in lines if line.startswith("bgp as-path access-list MO-LONG-PATH ")]
    assert len(acl) == 1 and lines.index(acl[0]) < next(i for i, x in enumerate(lines) if x.startswith("router bgp"))
    regex = _frr_as_path_regex(acl[0].split(" permit ", 1)[1])
    paths = ["", "4284140060", "4284140060 4232783764", "65001 65002 65003", "65001 65002 65003 65004"]
    assert [bool(regex.search(p)) for p in paths] == [len(p.split()) > depth for p in paths]
    for af in ("IPV4", "IPV6"):
        entries = [line for line in lines if line.startswith(f"route-map MO-OUT-{af} ")]
        assert entries[-2:] == [f"route-map MO-OUT-{af} deny 25", f"route-map MO-OUT-{af} permit 30"]
        start = lines.index(f"route-map MO-OUT-{af} deny 25")
        assert lines[start + 1 : start + 3] == [" match as-path MO-LONG-PATH", "exit"]


def test_frr_conf_mesh_origin_list_only_with_shared_prefixes():
    """MO-MESH (any mesh ASN as origin) is read only by the shared prefixes' clause: with shared prefixes it lists
    every mesh ASN and that clause matches on it; without any, neither is written (no dead line per host)."""
    plan, _w, _u = plan_mesh(inv())
    lines = _render_frr_conf(plan["n1"]["bgp"]).splitlines()
    mesh = [line for line in lines if line.startswith("bgp as-path access-list MO-MESH ")]
    # numbered by the ASN itself: the same whatever else is in the mesh
    assert mesh == [f"bgp as-path access-list MO-MESH seq {asn} permit _{asn}$" for asn in sorted(ASN.values())]
    for af, ip in (("IPV4", "ip"), ("IPV6", "ipv6")):
        start = lines.index(f"route-map MO-IN-{af} permit 60000")
        assert lines[start + 1 : start + 3] == [
            f" match {ip} address prefix-list MO-SHARED-{af}",
            " match as-path MO-MESH",
        ]
    unshared = inv()
    for host_vars in unshared.values():
        del host_vars["meshover_shared_prefixes"]
    plan, _w, _u = plan_mesh(unshared)
    conf = _render_frr_conf(plan["n1"]["bgp"])
    assert "MO-MESH" not in conf and "permit 60000" not in conf
    # origin validation itself is untouched: one clause per origin and address family, then the final deny
    assert conf.count("\n match as-path MO-FROM-") == 2 * len(ASN)


def test_frr_conf_more_specifics_and_limit():
    every = {"meshover_bgp_maximum_prefix": 4294967295}
    plan, _w, _u = plan_mesh(
        inv(
            n1=every,
            n2={**every, "meshover_announce": ANNOUNCE, "meshover_announce_more_specifics": True},
            n3=every,
        )
    )
    n1 = _render_frr_conf(plan["n1"]["bgp"]).splitlines()
    assert "ip prefix-list MO-OWN-IPV4-4284140060 seq 10 permit 192.0.2.0/24 le 32" in n1
    assert "ipv6 prefix-list MO-OWN-IPV6-4284140060 seq 10 permit 2001:db8:f2::/64 le 128" in n1
    assert "  neighbor MESH maximum-prefix 4294967295 restart 5" in n1
    n2 = _render_frr_conf(plan["n2"]["bgp"]).splitlines()
    assert "ip prefix-list MO-SELF-IPV4 seq 10 permit 192.0.2.0/24 le 32" in n2


def test_frr_conf_removed_neighbour_leaves_no_filter():
    full = inv()
    del full["n3"]
    plan, _w, _u = plan_mesh(full)
    conf = _render_frr_conf(plan["n1"]["bgp"])
    assert f"MO-PEER-{ASN['n3']}" not in conf and "mo-n3" not in conf
    assert f"  neighbor mo-n2 filter-list MO-PEER-{ASN['n2']} in" in _af_block(conf, "ipv6")


# ---- per-node FRR customisation: placeholders in the snippet, the template's path


def test_snippet_placeholders_get_each_nodes_values():
    snippet = [
        "ip prefix-list MO-CUSTOM seq 5 permit @LOOPBACK4@/32",
        "router bgp @ASN@",
        " ! @HOSTNAME@ @ROUTER_ID@ @LOOPBACK6@",
        "exit",
    ]
    plan = plan_mesh(inv(**{h: {"meshover_frr_extra_config": snippet} for h in ("n1", "n2", "n3")}))[0]
    assert plan["n1"]["bgp"]["frr"]["extra_config"] == (
        "ip prefix-list MO-CUSTOM seq 5 permit 10.99.0.56/32\n"
        f"router bgp {ASN['n1']}\n"
        f" ! n1 10.99.0.56 {LO6['n1'].split('/', maxsplit=1)[0]}\n"
        "exit"
    )
    assert f"router bgp {ASN['n2']}" in plan["n2"]["bgp"]["frr"]["extra_config"]


def test_snippet_placeholders_are_checked():
    problems = validate(inv(n1={"meshover_frr_extra_config": "router bgp @AS@"}))
    assert problems == [
        "n1: meshover_frr_extra_config = 'router bgp @AS@' uses the placeholder(s) @AS@, which meshover does not "
        "know: the placeholders are @ASN@, @ROUTER_ID@, @LOOPBACK4@, @LOOPBACK6@, @HOSTNAME@"
    ]
    no_pool = inv(n1={"meshover_frr_extra_config": "! @LOOPBACK4@"})
    for host_vars in no_pool.values():
        del host_vars["meshover_pool4"]
    assert validate(no_pool) == [
        "n1: meshover_frr_extra_config uses @LOOPBACK4@ but the host has no IPv4 loopback: set meshover_pool4 "
        "(mesh-wide) or meshover_loopback4, or remove the placeholder"
    ]


def test_template_path_is_relative_to_the_inventory_directory(tmp_path):
    (tmp_path / "frr.conf.j2").write_text("x")
    assert resolve_template("frr.conf.j2", str(tmp_path)) == f"{tmp_path}/frr.conf.j2"
    assert resolve_template("/etc/x.j2", str(tmp_path)) == "/etc/x.j2"
    assert resolve_template("x.j2", None) == "x.j2"
    inventory = {
        "n1": {"meshover_frr_template": "frr.conf.j2"},
        "n2": {"meshover_frr_template": "missing.j2"},
        "n3": {"meshover_frr_template": "/nowhere/frr.conf.j2"},
    }
    dirs = {h: str(tmp_path) for h in inventory}
    assert template_problems(inventory, dirs, lambda p: pathlib.Path(p).is_file()) == [
        f"n2: meshover_frr_template 'missing.j2' is not a file on the controller: {tmp_path}/missing.j2 (relative "
        f"to the host's inventory directory {tmp_path}); give an absolute path, or one relative to the directory of "
        "the inventory file that defines the host",
        "n3: meshover_frr_template '/nowhere/frr.conf.j2' is not a file on the controller: /nowhere/frr.conf.j2; give "
        "an absolute path, or one relative to the directory of the inventory file that defines the host",
    ]


# ---------------------------------------------------------------- frr-reload.py --test


def test_parse_reload_test_of_a_running_config_that_is_the_file():
    assert parse_reload_test("") == {"delete": [], "add": [], "ignored": []}
    # the headers of sections that held only `!`
    assert parse_reload_test("\nLines To Delete\n===============\n!\n") == {"delete": [], "add": [], "ignored": []}


def test_parse_reload_test_measured_on_frr_10_3():
    # FRR 10.3 after a converge whose frr.conf wrote the BFD profile's default timers (FRR does not write
    # defaults back) on a node whose running configuration has the kernel's host name
    text = (pathlib.Path(__file__).parent / "fixtures" / "frr_reload_test_10.3.txt").read_text()
    out = parse_reload_test(text)
    assert out["ignored"] == ["no hostname n1"]
    assert out["delete"] == []
    assert out["add"][:5] == ["bfd", " profile meshover", "  detect-multiplier 3", " exit", "exit"]
    assert len(out["add"]) == 15


def test_parse_reload_test_keeps_context_lines_and_drops_log_lines():
    text = (
        '2026-12-05 09:49:21,515  INFO: Called via "Namespace(test=True)"\n'
        "\nLines To Delete\n===============\n"
        "router bgp 4200000001\n no neighbor mo-n9 interface peer-group MESH\n"
        "no hostname 1.example.net\n"
        "ipv6 forwarding\n"
        "  no hostname inside-a-context\n"
        "\nLines To Add\n============\n"
        '2026-12-05 09:49:22,148  INFO: "frr version 10.3" cannot be removed\n'
        "router bgp 4200000001\n neighbor mo-n2 interface peer-group MESH\n!\n"
        "no ip forwarding\n"
    )
    out = parse_reload_test(text)
    assert out == {
        "delete": [
            "router bgp 4200000001",
            " no neighbor mo-n9 interface peer-group MESH",
            "  no hostname inside-a-context",
        ],
        "add": ["router bgp 4200000001", " neighbor mo-n2 interface peer-group MESH"],
        "ignored": ["no hostname 1.example.net", "ipv6 forwarding", "no ip forwarding"],
    }


# ---------------------------------------------------------------- adding a node only adds lines


def _conf_lines(conf):
    """frr.conf as a set of (enclosing contexts, line): what frr-reload.py compares (comments left out)."""
    out, stack = set(), []
    for line in conf.splitlines():
        if not line.strip() or line.lstrip().startswith("!"):
            continue
        depth = len(line) - len(line.lstrip())
        stack = stack[:depth]
        out.add((tuple(stack), line.strip()))
        stack = stack + [line.strip()] * (1 + depth - len(stack))
    return out


def _mesh(names, **host_vars):
    base = {
        "meshover_pool4": "10.99.0.0/24",
        "meshover_shared_prefixes": ["10.88.0.0/16", "fd88::/48"],
        "meshover_default_route_from": names[:3],
    }
    return {
        name: {
            **base,
            "meshover_endpoint": f"2001:db8::{i + 1:x}",
            "meshover_wg_public_key": __import__("base64").b64encode(name.encode().ljust(32, b"k")).decode(),
            **host_vars.get(name, {}),
        }
        for i, name in enumerate(names)
    }


@pytest.mark.parametrize("new", ["n17", "n0", "a0", "edge-7"])
def test_adding_a_node_only_adds_lines_to_the_others_frr_conf(new):
    # frr-reload.py applies deletions one vtysh each and a route-map entry whose match lines are being
    # replaced matches anything meanwhile: a node's arrival must not renumber the others' policy
    names = [f"n{i}" for i in range(1, 17)]
    before, _w, _u = plan_mesh(_mesh(names))
    after, _w, _u = plan_mesh(_mesh([*names, new]))
    position = sorted(o["asn"] for o in after["n1"]["bgp"]["origins"]).index(after[new]["bgp"]["asn"])
    assert 0 <= position <= 16
    for host in names:
        old = _conf_lines(_render_frr_conf(before[host]["bgp"]))
        new_conf = _conf_lines(_render_frr_conf(after[host]["bgp"]))
        assert sorted(old - new_conf) == [], host
        # and what it adds is about the new node: its neighbour, its ASN's lists and its route-map entries
        origin = next(o for o in after[host]["bgp"]["origins"] if o["host"] == new)
        own = (str(origin["asn"]), f"mo-{new}", f"MO-IN-IPV4 permit {origin['route_map_seq']}")
        own += (f"MO-IN-IPV6 permit {origin['route_map_seq']}",)
        added = new_conf - old
        assert added and all(any(o in text for o in own for text in (line, *ctx)) for ctx, line in added), host


def test_route_map_slots_are_stable_and_distinct():
    def home(asn):
        return 10 * (1 + asn % 5999)

    assert route_map_slots([64512, 64513, 4200000000]) == {64512: 45230, 64513: 45240, 4200000000: home(4200000000)}
    # two ASNs with the same home slot: the higher takes the next one, whatever else is there
    a, b = 64512, 64512 + 5999
    assert route_map_slots([b, a, 70000]) == {a: 45230, b: 45240, 70000: home(70000)}
    # the slot after the last wraps to the first
    assert route_map_slots([5998, 5998 + 5999]) == {5998: 59990, 5998 + 5999: 10}
    many = route_map_slots(range(64512, 64512 + 1000))
    assert len(set(many.values())) == 1000 and min(many.values()) >= 10 and max(many.values()) <= 59990


@pytest.mark.parametrize(
    ("runtime", "os_release", "packages", "recommends"),
    [
        ("podman", "debian 13", ["podman", "ca-certificates"], False),
        ("podman", "debian 12", ["podman", "ca-certificates"], False),
        ("podman", "", ["podman", "ca-certificates"], False),
        ("docker", "debian 13", ["docker.io", "ca-certificates", "apparmor", "docker-cli"], False),
        ("docker", "debian 12", ["docker.io", "ca-certificates", "apparmor"], False),
        ("docker", "debian 14", ["docker.io", "ca-certificates", "apparmor", "docker-cli"], False),
        # anything else keeps APT's default: Docker's recommended packages are what makes it work there
        ("docker", "debian 11", ["docker.io", "ca-certificates"], True),
        ("docker", "debian ", ["docker.io", "ca-certificates"], True),  # testing/sid: no VERSION_ID
        ("docker", "ubuntu 24.04", ["docker.io", "ca-certificates"], True),
        ("docker", "", ["docker.io", "ca-certificates"], True),
        ("/opt/bin/podman", "debian 13", [], True),  # a path: nothing the role installs
    ],
)
def test_runtime_install(runtime, os_release, packages, recommends):
    assert runtime_install(runtime, os_release) == {"packages": packages, "install_recommends": recommends}


def test_parse_probe_reads_the_os_line():
    assert parse_probe("mode=container\nruntime=\nos=debian 13\n")["os"] == "debian 13"
