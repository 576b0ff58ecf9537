# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node's readers (_kernel): wg dumps, ip -j links and netlink links, FRR's vtysh output."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.node import _kernel as K
from ansible_collections.meshover.mesh.plugins.module_utils.node._gre import normalize_tunnels, plan_tunnels

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
REPO = Path(__file__).resolve().parents[4]
NOW = 1795640000  # the exporter fixtures' clock

K0 = "0aWsmgFfrC73s0FnNjVRKhUR9B/jfREbJn8DnuxdT1g="
K1 = "arnx6499M4j0+dWG9m6Z/VQIDfLERvDlhmiwnAihbdA="
K_OWN = "AV9+a8Wur0g3JAieklLME7UJUaa2lBJSJ2XP9NeAMG4="
K3 = "L1BSyf0VsZoYxYTQE2NWgZhhPww06EQJ73k4cJoVnsI="
PRIVATE_IN_FIXTURE = "cGFyaXZhdGUta2V5LW5ldmVyLXNob3duLWFueXdoZXJlIT0="
N2 = "fd4b:1c2a:77e0:1:9a3b:11f2:d0c4:8e21/128"


def fixture(name):
    return (FIX / name).read_text(encoding="utf-8")


def test_stdlib_only():
    """The exporter role installs this file alone beside the script: it may import the standard library only."""
    tree = ast.parse((REPO / "plugins" / "module_utils" / "node" / "_kernel.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "ipaddress", "json", "re", "shlex"}


# ---------------------------------------------------------------- wg show <if> dump / wg show all dump


def test_parse_dump_drops_private_key():
    dump = K.parse_wg_dump(fixture("wg_show_dump.txt"))
    assert dump["interface"] == {"public_key": K_OWN, "listen_port": 51820, "fwmark": 0}
    assert PRIVATE_IN_FIXTURE not in repr(dump)
    assert list(dump["peers"]) == [K0, K1, K3]  # the dump's order
    assert dump["peers"][K0]["endpoint"] == "[fd00:10::2]:51820"
    assert dump["peers"][K0]["allowed_ips"] == [N2]
    assert dump["peers"][K0]["persistent_keepalive"] == 0
    assert dump["peers"][K1]["persistent_keepalive"] == 25
    assert dump["peers"][K3] == {
        "public_key": K3,
        "has_preshared_key": False,
        "endpoint": None,
        "allowed_ips": [],
        "latest_handshake": 0,
        "rx": 0,
        "tx": 0,
        "persistent_keepalive": 0,
    }


def test_parse_dump_interface_only_and_errors():
    dump = K.parse_wg_dump(f"{PRIVATE_IN_FIXTURE}\t{K_OWN}\t0\t0x10\n")
    assert dump == {"interface": {"public_key": K_OWN, "listen_port": 0, "fwmark": 16}, "peers": {}}
    for bad in (
        "",
        f"a\tb\t51820\toff\n{K0}\tonly-two\n",
        "a\tb\tc\td\n",
        f"{K0}\t(none)\t(none)\t(none)\t0\t0\t0\toff\n",
    ):
        with pytest.raises(ValueError):
            K.parse_wg_dump(bad)


def test_no_error_quotes_the_private_key():
    for bad in (f"{PRIVATE_IN_FIXTURE}\t{K_OWN}\tx\toff\n", f"{PRIVATE_IN_FIXTURE}\t{K_OWN}\n"):
        with pytest.raises(ValueError) as exc:
            K.parse_wg_dump(bad)
        assert PRIVATE_IN_FIXTURE not in str(exc.value)
    with pytest.raises(ValueError) as exc:
        K.parse_wg_dump_all(f"wg0\t{PRIVATE_IN_FIXTURE}\t{K_OWN}\t51820\tnope\n")
    assert PRIVATE_IN_FIXTURE not in str(exc.value)


def test_all_dump_is_the_same_reader_per_interface():
    """``wg show all dump`` is ``wg show <if> dump`` of each interface with its name in front."""
    one = fixture("wg_show_dump.txt")
    lab = fixture("wg_show_dump_lab.txt")
    text = "".join(f"{name}\t{line}\n" for name, dump in (("wg0", one), ("wg1", lab)) for line in dump.splitlines())
    assert K.parse_wg_dump_all(text) == {"wg0": K.parse_wg_dump(one), "wg1": K.parse_wg_dump(lab)}
    assert PRIVATE_IN_FIXTURE not in repr(K.parse_wg_dump_all(text))
    assert K.parse_wg_dump_all("") == {}


def test_all_dump_of_the_exporter_fixture():
    devices = K.parse_wg_dump_all(fixture("exporter/n1.wg"))
    assert list(devices) == ["meshover0"]
    assert devices["meshover0"]["interface"]["listen_port"] == 51820
    peers = list(devices["meshover0"]["peers"].values())
    assert [p["public_key"][:12] for p in peers] == ["MTpubkeyN2bb", "MTpubkeyN3cc"]
    assert peers[0]["endpoint"] == "192.0.2.2:51820"
    assert peers[0]["allowed_ips"] == ["fd46:76a3:fa9b:1:8347:35cb:77b5:31ef/128"]
    assert (peers[1]["latest_handshake"], peers[1]["rx"], peers[1]["tx"]) == (NOW - 15, 2000, 4000)
    assert "cHJpdmF0ZS1rZXk" not in json.dumps(devices)


@pytest.mark.parametrize(
    "line, handshake, endpoint",
    [
        ("wg0\tPK=\t(none)\t(none)\t(none)\t0\t0\t0\toff", 0, None),
        ("wg0\tPK=\t(none)\t[fd00::1]:51820\tfd00::1/128\t17\t1\t2\t25", 17, "[fd00::1]:51820"),
    ],
)
def test_all_dump_peer_lines_without_their_interface_line(line, handshake, endpoint):
    device = K.parse_wg_dump_all(line + "\n")["wg0"]
    assert device["interface"] is None
    (peer,) = device["peers"].values()
    assert (peer["latest_handshake"], peer["endpoint"]) == (handshake, endpoint)


def test_all_dump_rejects_garbage():
    with pytest.raises(ValueError):
        K.parse_wg_dump_all("meshover0\tonly\tthree\n")


# ---------------------------------------------------------------- links: ip -j link / addr, netlink

# `ip -j -d link show dev mo-n2` and `ip -j -6 addr show dev mo-n2` on a lab node (iproute2 6.1, bookworm).
IP_LINK_JSON = """[{"ifindex":7,"link":null,"ifname":"mo-n2","flags":["POINTOPOINT","NOARP","UP","LOWER_UP"],
"mtu":1376,"qdisc":"noqueue","operstate":"UNKNOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,
"link_type":"gre6","address":"fd46:76a3:fa9b:1:3d27:e462:938b:c19a","link_pointtopoint":true,
"broadcast":"fd46:76a3:fa9b:1:8347:35cb:77b5:31ef","permaddr":"d2d0:392:2f30::","promiscuity":0,"allmulti":0,
"min_mtu":0,"max_mtu":0,"linkinfo":{"info_kind":"ip6gre","info_data":{"remote":"fd46:76a3:fa9b:1:8347:35cb:77b5:31ef",
"local":"fd46:76a3:fa9b:1:3d27:e462:938b:c19a","ttl":64,"ip6_tnl_f_ign_encap_limit":true,"tclass":"0x00",
"flowlabel":"0x00000"}},"inet6_addr_gen_mode":"none","num_tx_queues":1,"num_rx_queues":1,"gso_max_size":65536,
"gso_max_segs":65535,"tso_max_size":65536,"tso_max_segs":65535,"gro_max_size":65536,"ifalias":"meshover:n2"},
{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"inet6_addr_gen_mode":"eui64"}]"""
IP_ADDR_JSON = """[{"ifindex":7,"link":null,"ifname":"mo-n2","flags":["POINTOPOINT","NOARP","UP","LOWER_UP"],
"mtu":1376,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"addr_info":[{"family":"inet6",
"local":"fe80::3d27:e462:938b:c19a","prefixlen":64,"scope":"link","valid_life_time":4294967295,
"preferred_life_time":4294967295}]},{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet6","local":"::1",
"prefixlen":128},{"family":"inet","local":"127.0.0.1","prefixlen":8}]}]"""
MO_N2 = {
    "name": "mo-n2",
    "index": 7,
    "kind": "ip6gre",
    "alias": "meshover:n2",
    "mtu": 1376,
    "operstate": "UNKNOWN",
    "admin_up": True,
    "up": True,
    "addrgenmode": 1,
    "addresses": ["fe80::3d27:e462:938b:c19a/64"],
    "local": "fd46:76a3:fa9b:1:3d27:e462:938b:c19a",
    "remote": "fd46:76a3:fa9b:1:8347:35cb:77b5:31ef",
    "ttl": 64,
    "ign_encap_limit": True,
}


def test_links_of_real_output():
    have = K.parse_links(IP_LINK_JSON, IP_ADDR_JSON)
    assert have[0] == MO_N2
    assert have[1]["name"] == "lo" and have[1]["kind"] is None and have[1]["addresses"] == ["::1/128", "127.0.0.1/8"]
    assert have[1]["addrgenmode"] == 0 and have[1]["alias"] is None and have[1]["local"] is None
    assert K.parse_links(json.loads(IP_LINK_JSON), json.loads(IP_ADDR_JSON)) == have  # decoded JSON alike


def test_the_planner_reads_the_record_as_converged():
    want = normalize_tunnels(
        [
            {
                "name": "mo-n2",
                "peer": "n2",
                "local": "fd46:76a3:fa9b:1:3d27:e462:938b:c19a",
                "remote": "fd46:76a3:fa9b:1:8347:35cb:77b5:31ef",
                "link_local": "fe80::3d27:e462:938b:c19a/64",
                "mtu": 1376,
            }
        ]
    )
    plan = plan_tunnels(want, K.parse_links(IP_LINK_JSON, IP_ADDR_JSON))
    assert (plan["create"], plan["recreate"], plan["modify"], plan["delete"]) == ([], [], [], [])


def test_addr_show_carries_its_own_addresses():
    """``ip -j -d addr show dev X`` (meshover.mesh.wireguard_interface): one list with links and addresses."""
    data = [
        {
            "ifindex": 9,
            "ifname": "meshover0",
            "flags": ["POINTOPOINT", "NOARP", "UP", "LOWER_UP"],
            "mtu": 1420,
            "operstate": "UNKNOWN",
            "linkinfo": {"info_kind": "wireguard"},
            "addr_info": [
                {"family": "inet6", "local": "fd00:1::5", "prefixlen": 64, "scope": "global"},
                {"family": "inet", "local": "10.0.0.1", "address": "10.0.0.2", "prefixlen": 32},  # point-to-point
                {"family": "inet6", "local": "fe80::1"},  # no prefix length: not read
            ],
        }
    ]
    (link,) = K.parse_links(data)
    assert link["addresses"] == ["fd00:1::5/64", "10.0.0.1/32"]
    assert (link["kind"], link["admin_up"], link["up"], link["local"], link["addrgenmode"]) == (
        "wireguard",
        True,
        True,
        None,
        None,
    )


def test_links_a_type_filter_left_out_are_skipped():
    """iproute2 6.1 prints {} for each link `ip -j link show type ip6gre` leaves out (ip6_gre not loaded)."""
    assert K.parse_links("[{},{}]") == []
    assert [link["name"] for link in K.parse_links("[{}, " + IP_LINK_JSON[1:])] == ["mo-n2", "lo"]


def test_links_of_another_shape():
    assert K.parse_links("") == []
    with pytest.raises(ValueError):
        K.parse_links('{"not": "a list"}')
    with pytest.raises(ValueError):
        K.parse_links("[]", '{"not": "a list"}')
    with pytest.raises(ValueError):
        K.parse_links("not json")
    with pytest.raises((AttributeError, TypeError)):
        K.parse_links("[1]")


def test_links_of_the_exporter_fixture():
    links = {link["name"]: link for link in K.parse_links(fixture("exporter/n1.ip.json"))}
    assert (links["mo-n2"]["up"], links["mo-n2"]["alias"], links["mo-n2"]["operstate"]) == (
        True,
        "meshover:n2",
        "UNKNOWN",
    )
    assert (links["mo-foreign"]["admin_up"], links["mo-foreign"]["up"]) == (False, False)


@pytest.mark.parametrize(
    "flags, operstate, up",
    [
        (["POINTOPOINT", "NOARP", "UP", "LOWER_UP"], "UNKNOWN", True),  # ip6gre and WireGuard at work
        (["BROADCAST", "UP", "LOWER_UP"], "UP", True),
        (["POINTOPOINT", "NOARP", "UP", "LOWER_UP"], None, True),  # no operstate printed: UNKNOWN
        (["POINTOPOINT", "NOARP"], "DOWN", False),  # administratively down
        (["POINTOPOINT", "NOARP", "UP"], "LOWERLAYERDOWN", False),  # no carrier
        (["POINTOPOINT", "NOARP", "UP"], "UNKNOWN", False),  # no carrier, whatever the state says
        (["BROADCAST", "UP", "LOWER_UP"], "DORMANT", False),
    ],
)
def test_one_definition_of_up(flags, operstate, up):
    assert K.link_up("UP" in flags, "LOWER_UP" in flags, operstate) is up
    link = {"ifindex": 3, "ifname": "x", "flags": flags}
    if operstate is not None:
        link["operstate"] = operstate
    (record,) = K.parse_links([link])
    assert (record["admin_up"], record["up"]) == ("UP" in flags, up)
    assert record["operstate"] == (operstate or "UNKNOWN")


class Msg(dict):
    """A pyroute2 message: its fields by [key], its attributes (NLAs) by get_attr()."""

    def __init__(self, fields=None, **attrs):
        super().__init__(fields or {})
        self.get_attr = attrs.get


class IPRoute:
    """The two links of IP_LINK_JSON / IP_ADDR_JSON as pyroute2 decodes them."""

    def get_links(self):
        data = Msg(
            IFLA_IP6GRE_LOCAL="fd46:76a3:fa9b:1:3d27:e462:938b:c19a",
            IFLA_IP6GRE_REMOTE="fd46:76a3:fa9b:1:8347:35cb:77b5:31ef",
            IFLA_IP6GRE_TTL=64,
            IFLA_IP6GRE_FLAGS=K.IP6_TNL_F_IGN_ENCAP_LIMIT,
        )

        def spec(mode):
            return Msg(AF_INET6=Msg(IFLA_INET6_ADDR_GEN_MODE=mode))

        return [
            Msg(
                {"index": 7, "flags": K.IFF_UP | K.IFF_LOWER_UP | 0x90},
                IFLA_IFNAME="mo-n2",
                IFLA_IFALIAS="meshover:n2",
                IFLA_MTU=1376,
                IFLA_OPERSTATE="UNKNOWN",  # pyroute2 decodes the number to ip's word
                IFLA_LINKINFO=Msg(IFLA_INFO_KIND="ip6gre", IFLA_INFO_DATA=data),
                IFLA_AF_SPEC=spec(1),
            ),
            Msg(
                {"index": 1, "flags": K.IFF_UP | K.IFF_LOWER_UP | 0x8},
                IFLA_IFNAME="lo",
                IFLA_MTU=65536,
                IFLA_OPERSTATE=0,  # a number is mapped too
                IFLA_AF_SPEC=spec(0),
            ),
        ]

    def get_addr(self, family=None):
        addrs = [
            (7, K.AF_INET6, {"IFA_ADDRESS": "fe80::3d27:e462:938b:c19a"}, 64),
            (1, K.AF_INET6, {"IFA_ADDRESS": "::1"}, 128),
            (1, 2, {"IFA_LOCAL": "127.0.0.1", "IFA_ADDRESS": "127.0.0.1"}, 8),
        ]
        return [
            Msg({"index": i, "prefixlen": plen, "family": fam}, **attrs)
            for i, fam, attrs, plen in addrs
            if family in (None, fam)
        ]


def test_netlink_gives_the_same_record_as_ip():
    by_ip = K.parse_links(IP_LINK_JSON, IP_ADDR_JSON)
    by_netlink = K.links_from_netlink(IPRoute(), address_family=None)
    assert by_netlink == by_ip
    assert K.links_from_netlink(IPRoute())[1]["addresses"] == ["::1/128"]  # IPv6 only by default


# ---------------------------------------------------------------- FRR: one vtysh run


def test_parse_frr_output_running():
    out = K.parse_frr_output(fixture("exporter/n1.frr"))
    assert sorted(out["bgp"]) == ["ipv4Unicast", "ipv6Unicast"]
    assert [p["interface"] for p in out["bfd"]] == ["mo-n2", "mo-n3"]
    assert out["version"] == "8.4.4"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("bgpd is not running\nbfdd is not running\nFRRouting 8.4.4 (n3) on Linux.\n", (None, None, "8.4.4")),
        ("", (None, None, None)),
        ("% Unknown command: show bfd peers json\n{}\n", ({}, None, None)),
        ("[] {broken", (None, [], None)),
    ],
)
def test_parse_frr_output_partial(text, expected):
    out = K.parse_frr_output(text)
    assert (out["bgp"], out["bfd"], out["version"]) == expected


def test_bgp_sessions_states():
    summary = {
        "ipv6Unicast": {
            "peers": {
                "mo-a": {"state": "Established", "peerUptimeMsec": 1500, "pfxRcd": 4, "pfxSnt": 5, "remoteAs": 65001},
                "mo-b": {"state": "Idle (Admin)", "peerUptimeMsec": 99},
                "mo-c": {"state": "Connect"},
                "mo-d": {"state": "Idle (PfxCt)"},
            }
        }
    }
    got = [(s["neighbor"], s["afi"], s["state_code"], s["uptime_seconds"]) for s in K.bgp_sessions(summary)]
    assert got == [
        ("mo-a", "ipv6", 1, 1.5),
        ("mo-b", "ipv6", 2, 0.0),
        ("mo-c", "ipv6", 0, 0.0),
        ("mo-d", "ipv6", 3, 0.0),  # stopped by maximum-prefix: its own alert, not "shut down on purpose"
    ]
    assert K.bgp_sessions(None) == []


def test_bfd_peers_and_shapes():
    assert K.bfd_peers([{"peer": "fe80::1", "interface": "mo-a", "status": "up"}, {"status": "down"}]) == [
        {"peer": "fe80::1", "interface": "mo-a", "status": "up", "up": 1},
        {"peer": "", "interface": "", "status": "down", "up": 0},
    ]
    assert K.bfd_peers(None) == []
    for bad in ({}, [1]):
        with pytest.raises(ValueError):
            K.bfd_peers(bad)
    for bad in ([], {"ipv4Unicast": []}, {"ipv4Unicast": {"peers": []}}, {"ipv6Unicast": {"peers": {"x": 1}}}):
        with pytest.raises(ValueError):
            K.bgp_sessions(bad)


def test_every_vtysh_run_asks_one_daemon():
    # a vtysh without -d connects to every daemon, mgmtd too: in FRR 10.3 the end of its session discards a
    # concurrent reload's uncommitted configuration
    assert [run[:2] for run in K.VTYSH_RUNS] == [("-d", "bgpd"), ("-d", "bfdd"), ("-d", "zebra")]
    assert K.vtysh_script() == (
        "vtysh -d bgpd -c 'show bgp summary json'; vtysh -d bfdd -c 'show bfd peers json'; "
        "vtysh -d zebra -c 'show version'"
    )
    assert K.vtysh_script("/usr/bin/vtysh", bfd=False) == (
        "/usr/bin/vtysh -d bgpd -c 'show bgp summary json'; /usr/bin/vtysh -d zebra -c 'show version'"
    )


def _tunnel(name, remote):
    return {"name": name, "kind": "ip6gre", "remote": remote}


def test_a_tunnels_remote_names_the_peers_link_local():
    links = [
        _tunnel("mo-n2", "fd46:76a3:fa9b:1:8347:35cb:77b5:31ef"),
        _tunnel("mo-n3", "fd46:76a3:fa9b:1:55a:add1:ad48:2aa"),
        _tunnel("mo-foreign", "fd00::9"),  # not a peer's tunnel
        _tunnel("mo-n4", None),  # read without -d: no remote
        {"name": "eth0", "kind": None, "remote": None},
    ]
    tunnels = {"mo-n2": "n2", "mo-n3": "n3", "mo-n4": "n4"}
    assert K.tunnel_link_locals(links, tunnels) == {"fe80::8347:35cb:77b5:31ef": "n2", "fe80::55a:add1:ad48:2aa": "n3"}


def test_the_link_local_rule_is_the_identitys():
    # the controller derives both addresses from one interface id; the node reads one from the other
    from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (
        derive_identity,
        settings_from_vars,
    )

    settings = settings_from_vars({"meshover_prefix6": "2001:db8:77::/48"})
    cases = [
        ("n1", {}),
        ("n2", {}),
        ("node-17.eu-west.example.com", {}),
        ("n9", {"meshover_interface_id": "00000000000000ff"}),
    ]
    for host, overrides in cases:
        ident = derive_identity(host, settings, overrides)
        links = [_tunnel(ident.gre_name, str(ident.transport6))]
        assert K.tunnel_link_locals(links, {ident.gre_name: host}) == {str(ident.link_local): host}


def test_a_bfd_session_without_its_interface_still_has_its_peer():
    tunnels = {"mo-n2": "n2", "mo-n3": "n3"}
    link_locals = {"fe80::8347:35cb:77b5:31ef": "n2"}
    bound = {"peer": "fe80::55a:add1:ad48:2aa", "interface": "mo-n3", "status": "up", "up": 1}
    # FRR 10.3's bfdd after watchfrr restarted it on a loaded node: the session up, no interface
    unbound = {"peer": "fe80::8347:35cb:77b5:31ef", "interface": "", "status": "up", "up": 1}
    scoped = dict(unbound, peer="fe80::8347:35cb:77b5:31ef%mo-n2")
    assert K.bfd_owner(bound, tunnels, link_locals) == "n3"
    assert K.bfd_owner(unbound, tunnels, link_locals) == "n2"
    assert K.bfd_owner(scoped, tunnels, link_locals) == "n2"
    assert K.bfd_owner(dict(unbound, peer="fe80::1"), tunnels, link_locals) == ""
    assert K.bfd_owner(dict(unbound, peer="10.0.0.1"), tunnels, link_locals) == ""
    assert K.bfd_owner(dict(unbound, peer=""), tunnels, link_locals) == ""
