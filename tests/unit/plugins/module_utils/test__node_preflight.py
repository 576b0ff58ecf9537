# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import dataclasses
import json

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.node._node_preflight import (
    NAT_KERNEL_MODULES,
    NodeFacts,
    evaluate,
    firewalld_allows,
    frr_runtime,
    gather,
    iptables_accepts,
    iptables_drop_policies,
    kernel_module_state,
    nft_accepts,
    nft_drop_chains,
    ufw_allows,
    ufw_enabled,
)

RELEASE = "6.1.0-37-amd64"
BUILTIN = "kernel/drivers/net/wireguard/wireguard.ko\nkernel/net/ipv4/tcp_cubic.ko\n"
DEP = (
    "kernel/net/ipv6/ip6_gre.ko.xz: kernel/net/ipv6/ip6_tunnel.ko.xz kernel/net/ipv6/tunnel6.ko.xz\n"
    "kernel/net/ipv6/ip6_tunnel.ko.xz: kernel/net/ipv6/tunnel6.ko.xz\n"
)


def good(**kw) -> NodeFacts:
    """A Debian 12 node that passes every check."""
    facts = NodeFacts(
        kernel_release=RELEASE,
        sys_module={"wireguard": True, "ip6_gre": False},
        modules_builtin="",
        modules_dep=DEP + "kernel/drivers/net/wireguard/wireguard.ko.xz: kernel/lib/crypto/libchacha.ko.xz\n",
        systemd=True,
        python=(3, 11, 2),
        disk={"/": (5000, 1), "/var": (5000, 1)},
        runtimes={"podman": "/usr/bin/podman", "docker": None},
        nft_ruleset=json.dumps({"nftables": [{"metainfo": {"version": "1.0.6"}}]}),
        iptables={"iptables": None, "ip6tables": None},
    )
    return dataclasses.replace(facts, **kw)


def nft(*chains, rules=()) -> str:
    """`nft -j list ruleset`: chains (family, table, name, hook, policy), then rules (family, table, chain, expr)."""
    items = [{"metainfo": {"version": "1.1.3", "release_name": "Commodore Bullmoose #4", "json_schema_version": 1}}]
    tables = []
    for family, table, name, hook, policy in chains:
        if (family, table) not in tables:
            tables.append((family, table))
            items.append({"table": {"family": family, "name": table, "handle": len(tables)}})
        chain = {"family": family, "table": table, "name": name, "handle": len(items)}
        if hook:
            chain.update(type="filter", hook=hook, prio=0, policy=policy)
        items.append({"chain": chain})
    for family, table, chain, expr in rules:
        items.append({"rule": {"family": family, "table": table, "chain": chain, "handle": len(items), "expr": expr}})
    return json.dumps({"nftables": items})


def match(left, right, op="=="):
    return {"match": {"op": op, "left": left, "right": right}}


ACCEPT = {"accept": None}
COUNTER = {"counter": {"packets": 0, "bytes": 0}}
UDP_DPORT = {"payload": {"protocol": "udp", "field": "dport"}}
L4PROTO = {"meta": {"key": "l4proto"}}
IIFNAME = {"meta": {"key": "iifname"}}
OIFNAME = {"meta": {"key": "oifname"}}
WG_ACCEPT = [match(UDP_DPORT, 51820), ACCEPT]  # udp dport 51820 accept
GRE_ACCEPT = [match(L4PROTO, "gre"), ACCEPT]  # meta l4proto gre accept

# Debian 13, docker.io 26.1.5 on iptables-nft: what Docker leaves in `nft -j list ruleset` (trimmed).
DOCKER_CHAINS = (
    ("ip", "nat", "PREROUTING", "prerouting", "accept"),
    ("ip", "nat", "DOCKER", None, None),
    ("ip", "filter", "FORWARD", "forward", "drop"),
    ("ip", "filter", "DOCKER", None, None),
    ("ip", "filter", "DOCKER-USER", None, None),
    ("ip", "filter", "DOCKER-ISOLATION-STAGE-1", None, None),
)
DOCKER_RULES = (
    ("ip", "filter", "FORWARD", [COUNTER, {"jump": {"target": "DOCKER-USER"}}]),
    ("ip", "filter", "FORWARD", [COUNTER, {"jump": {"target": "DOCKER-ISOLATION-STAGE-1"}}]),
    ("ip", "filter", "FORWARD", [match(OIFNAME, "docker0"), COUNTER, {"jump": {"target": "DOCKER"}}]),
    ("ip", "filter", "FORWARD", [match(IIFNAME, "docker0"), match(OIFNAME, "docker0", "!="), COUNTER, ACCEPT]),
)
# ...and the two rules meshover-docker-forward.service inserts (-I DOCKER-USER -i mo+ / -o mo+ -j ACCEPT)
MESHOVER_DOCKER_USER = (
    ("ip", "filter", "DOCKER-USER", [match(OIFNAME, "mo*"), COUNTER, ACCEPT]),
    ("ip", "filter", "DOCKER-USER", [match(IIFNAME, "mo*"), COUNTER, ACCEPT]),
)
DOCKER_IPTABLES_S = (
    "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N DOCKER\n-N DOCKER-ISOLATION-STAGE-1\n-N DOCKER-USER\n"
    "-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n-A FORWARD -o docker0 -j DOCKER\n"
    "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT\n"
)
UFW_STATUS = """Status: active

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW       Anywhere
51820/udp                  ALLOW       Anywhere
Anywhere/gre               ALLOW       Anywhere/gre
22/tcp (v6)                ALLOW       Anywhere (v6)
51820/udp (v6)             ALLOW       Anywhere (v6)
Anywhere/gre (v6)          ALLOW       Anywhere/gre (v6)
"""
# firewalld 2.x, `firewall-cmd --list-all` (its empty fields end in a space)
FIREWALLD_LIST = "\n".join(
    [
        "public (default, active)",
        "  target: default",
        "  icmp-block-inversion: no",
        "  interfaces: eth0",
        "  sources: ",
        "  services: dhcpv6-client ssh",
        "  ports: 51820/udp",
        "  protocols: gre",
        "  forward: yes",
        "  masquerade: no",
        "  rich rules: ",
        "",
    ]
)


# ---------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("facts", "name", "state"),
    [
        (good(modules_builtin=BUILTIN), "wireguard", "builtin"),
        (good(), "wireguard", "loaded"),
        (good(), "ip6_gre", "loadable"),
        (good(modules_dep="", sys_module={}), "ip6_gre", "missing"),
        (good(modules_dep=None, modules_builtin=None, sys_module={}), "wireguard", "missing"),
        # only a dependency of another module is not the module itself
        (good(modules_dep="kernel/a/x.ko: kernel/net/ipv6/ip6_gre.ko\n", sys_module={}), "ip6_gre", "missing"),
    ],
)
def test_kernel_module_state(facts, name, state):
    assert kernel_module_state(name, facts) == state


@pytest.mark.parametrize(
    ("conf", "enabled"),
    [
        ("# comment\nENABLED=yes\nLOGLEVEL=low\n", True),
        ("ENABLED='yes'\n", True),
        ("ENABLED=no\n", False),
        ("", False),
        (None, False),
    ],
)
def test_ufw_enabled(conf, enabled):
    assert ufw_enabled(conf) is enabled


def test_nft_drop_chains_only_base_input_forward_drop_outside_meshover():
    ruleset = nft(
        ("inet", "filter", "input", "input", "drop"),
        ("inet", "filter", "forward", "forward", "accept"),
        ("inet", "filter", "output", "output", "drop"),
        ("ip", "nat", "postrouting", "postrouting", "accept"),
        ("inet", "filter", "my_regular", None, None),
        ("inet", "meshover", "input", "input", "drop"),
        ("ip6", "fw", "fwd", "forward", "drop"),
    )
    assert nft_drop_chains(ruleset) == [
        {"family": "inet", "table": "filter", "chain": "input", "hook": "input"},
        {"family": "ip6", "table": "fw", "chain": "fwd", "hook": "forward"},
    ]


@pytest.mark.parametrize("text", ["not json", "[]", '{"other": 1}'])
def test_nft_drop_chains_rejects_other_text(text):
    with pytest.raises(ValueError):
        nft_drop_chains(text)


def test_iptables_drop_policies():
    text = "-P INPUT DROP\n-P FORWARD ACCEPT\n-P OUTPUT DROP\n-A INPUT -p udp --dport 51820 -j ACCEPT\n"
    assert iptables_drop_policies(text) == ["INPUT"]
    assert iptables_drop_policies("-P INPUT ACCEPT\n-P FORWARD DROP\n") == ["FORWARD"]


# ---------------------------------------------------------------- evaluate


def test_good_node_has_no_problem_and_reports_what_it_found():
    report = evaluate(good(), 51820, container=True)
    assert report.problems == []
    assert report.checks["kernel"] == {"release": RELEASE, "modules": {"wireguard": "loaded", "ip6_gre": "loadable"}}
    assert report.checks["systemd"] is True
    assert report.checks["python"] == "3.11.2"
    assert report.checks["disk"] == {"min_free_mb": 1024, "paths": {"/": {"free_mb": 5000}, "/var": {"free_mb": 5000}}}
    assert report.checks["container"] == {"enabled": True, "runtimes": ["podman"], "runtime": "podman"}
    assert report.checks["firewall"] == {"ufw": "inactive", "firewalld": "inactive", "nftables": []}


def test_no_container_runtime_is_not_a_problem():
    report = evaluate(good(runtimes={"podman": None, "docker": None}), 51820, container=True)
    assert report.problems == []
    assert report.checks["container"]["runtime"] is None


def test_nat_modules_are_checked_only_with_nat_sources():
    # good() has none of them: without NAT that is no problem, and they are not reported
    report = evaluate(good(), 51820, container=False)
    assert report.problems == [] and set(report.checks["kernel"]["modules"]) == {"wireguard", "ip6_gre"}
    report = evaluate(good(), 51820, container=False, nat=True)
    assert [p.split(" module")[0] for p in report.problems] == [
        f"kernel {RELEASE} has no nf_nat",
        f"kernel {RELEASE} has no nft_chain_nat",
        f"kernel {RELEASE} has no nft_masq",
    ]
    assert "meshover_coil_nat_sources" in report.problems[2] and report.problems[2].endswith(
        "or drop meshover_coil_nat_sources"
    )
    nat_dep = "".join(
        f"kernel/net/{p}.ko.xz: kernel/net/netfilter/nf_nat.ko.xz\n"
        for p in ("netfilter/nft_chain_nat", "netfilter/nft_masq")
    )
    found = good(modules_builtin="kernel/net/netfilter/nf_nat.ko\n", modules_dep=DEP + nat_dep)
    report = evaluate(found, 51820, container=False, nat=True)
    assert report.problems == []
    assert report.checks["kernel"]["modules"] == {
        "wireguard": "loaded",
        "ip6_gre": "loadable",
        "nf_nat": "builtin",
        "nft_chain_nat": "loadable",
        "nft_masq": "loadable",
    }


def test_missing_kernel_module():
    report = evaluate(good(modules_dep="", sys_module={"wireguard": True}), 51820, container=False)
    assert report.problems == [
        f"kernel {RELEASE} has no ip6_gre module (not built in, not loaded, not in modules.dep); install the "
        f"kernel's modules package (linux-image-{RELEASE}) or boot a kernel that has it"
    ]


def test_not_systemd_and_old_python():
    report = evaluate(good(systemd=False, python=(3, 8, 10)), 51820, container=False)
    assert len(report.problems) == 2
    assert report.problems[0].startswith("PID 1 is not systemd (/run/systemd/system is missing); ")
    assert report.problems[1].startswith("Python 3.8.10 runs the modules, older than 3.9; ")


@pytest.mark.parametrize(
    ("container", "min_free_mb", "expected"),
    [(True, None, 1024), (False, None, 200), (False, 4000, 4000), (True, 10, 10)],
)
def test_min_free_mb_default_depends_on_container(container, min_free_mb, expected):
    report = evaluate(good(disk={"/": (300, 1), "/var": (300, 1)}), 51820, container, min_free_mb)
    assert report.checks["disk"]["min_free_mb"] == expected
    assert bool(report.problems) is (300 < expected)


def test_disk_same_filesystem_reported_once_separate_var_on_its_own():
    same = evaluate(good(disk={"/": (100, 1), "/var": (100, 1)}), 51820, container=False)
    assert same.problems == ["/ has 100 MiB free, less than the 200 MiB needed; free space on / (or lower min_free_mb)"]
    apart = evaluate(good(disk={"/": (5000, 1), "/var": (100, 2)}), 51820, container=False)
    assert apart.problems == [
        "/var has 100 MiB free, less than the 200 MiB needed; free space on /var (or lower min_free_mb)"
    ]
    missing_var = evaluate(good(disk={"/": (5000, 1), "/var": None}), 51820, container=False)
    assert missing_var.problems == [] and list(missing_var.checks["disk"]["paths"]) == ["/"]


def test_ufw_active_needs_both_conf_and_service():
    assert evaluate(good(ufw_conf="ENABLED=yes\n", ufw_active=False), 51820, True).problems == []
    assert evaluate(good(ufw_conf="ENABLED=no\n", ufw_active=True), 51820, True).problems == []
    report = evaluate(good(ufw_conf="ENABLED=yes\n", ufw_active=True), 51821, True)
    assert report.checks["firewall"]["ufw"] == "dropped"
    assert report.problems == [
        "ufw is active and ufw status shows no ALLOW for WireGuard (udp/51821) and GRE; allow them (ufw allow "
        "51821/udp and ufw allow proto gre from any) or disable ufw (ufw disable)"
    ]


def test_ufw_active_with_the_mesh_allowed_is_fine():
    facts = good(ufw_conf="ENABLED=yes\n", ufw_active=True, ufw_status=UFW_STATUS)
    report = evaluate(facts, 51820, True)
    assert report.problems == [] and report.checks["firewall"]["ufw"] == "accepted"
    # another port: only WireGuard is missing, and the message names only that
    other = evaluate(facts, 51999, True)
    assert other.problems == [
        "ufw is active and ufw status shows no ALLOW for WireGuard (udp/51999); allow it (ufw allow 51999/udp) "
        "or disable ufw (ufw disable)"
    ]


def test_firewalld_running():
    report = evaluate(good(firewalld_active=True), 51820, True)
    assert report.checks["firewall"]["firewalld"] == "dropped"
    assert report.problems == [
        "firewalld is running and its default zone (firewall-cmd --list-all) does not open WireGuard (udp/51820) and "
        "GRE; allow them (firewall-cmd --permanent --add-port=51820/udp --add-protocol=gre && firewall-cmd --reload) "
        "or stop and disable firewalld"
    ]


def test_firewalld_with_port_and_gre_is_fine_and_each_missing_one_is_named():
    report = evaluate(good(firewalld_active=True, firewalld_zone=FIREWALLD_LIST), 51820, True)
    assert report.problems == [] and report.checks["firewall"]["firewalld"] == "accepted"
    no_gre = FIREWALLD_LIST.replace("protocols: gre", "protocols: ")
    report = evaluate(good(firewalld_active=True, firewalld_zone=no_gre), 51820, True)
    assert report.problems == [
        "firewalld is running and its default zone (firewall-cmd --list-all) does not open GRE; allow it "
        "(firewall-cmd --permanent --add-protocol=gre && firewall-cmd --reload) or stop and disable firewalld"
    ]


def test_nft_drop_policy_and_unreadable_ruleset():
    ruleset = nft(("inet", "filter", "input", "input", "drop"), ("inet", "meshover", "input", "input", "drop"))
    report = evaluate(good(nft_ruleset=ruleset), 51820, True)
    assert report.problems == [
        "nftables chain inet filter input (hook input) has policy drop and no accept rule of its table lets "
        "WireGuard (udp/51820) and GRE in; accept them (nft 'insert rule inet filter input udp dport 51820 accept' "
        "and nft 'insert rule inet filter input meta l4proto gre accept', and in the file that loads the table, "
        "e.g. /etc/nftables.conf) or set its policy to accept"
    ]
    assert report.checks["firewall"]["nftables"] == [
        {"family": "inet", "table": "filter", "chain": "input", "hook": "input", "mesh": "dropped"}
    ]
    unreadable = evaluate(good(nft_ruleset="garbage"), 51820, True)
    assert unreadable.problems == [] and unreadable.checks["firewall"]["nftables"] == "unreadable"
    skipped = evaluate(good(nft_ruleset=None), 51820, True)
    assert "nftables" not in skipped.checks["firewall"]


def test_iptables_drop_policies_each_family():
    facts = good(iptables={"iptables": "-P INPUT DROP\n-P FORWARD DROP\n", "ip6tables": "-P INPUT ACCEPT\n"})
    report = evaluate(facts, 51820, True)
    assert report.checks["firewall"]["iptables"] == [
        {"chain": "INPUT", "mesh": "dropped"},
        {"chain": "FORWARD", "mesh": "dropped"},
    ]
    assert report.checks["firewall"]["ip6tables"] == []
    assert report.problems == [
        "iptables chain INPUT has policy drop and no accept rule of its table lets WireGuard (udp/51820) and GRE "
        "in; accept them (iptables -I INPUT -p udp --dport 51820 -j ACCEPT and iptables -I INPUT -p gre -j ACCEPT, "
        "kept across reboots) or set the policy to ACCEPT (iptables -P INPUT ACCEPT)",
        "iptables chain FORWARD has policy drop and no accept rule of its table forwards traffic from or to the "
        "mesh's GRE tunnels (mo*); accept them (iptables -I FORWARD -i mo+ -j ACCEPT and iptables -I FORWARD -o "
        "mo+ -j ACCEPT, kept across reboots) or set the policy to ACCEPT (iptables -P FORWARD ACCEPT)",
    ]


def test_every_problem_says_what_to_do():
    facts = good(
        sys_module={},
        modules_dep="",
        systemd=False,
        python=(3, 7, 0),
        disk={"/": (1, 1), "/var": (1, 2)},
        ufw_conf="ENABLED=yes",
        ufw_active=True,
        firewalld_active=True,
        nft_ruleset=nft(("inet", "filter", "input", "input", "drop")),
        iptables={"iptables": "-P INPUT DROP\n", "ip6tables": "-P FORWARD DROP\n"},
    )
    problems = evaluate(facts, 51820, True).problems
    assert len(problems) == 11
    assert all("; " in p for p in problems)


# ---------------------------------------------------------------- firewall: what a drop chain's table accepts


def test_nft_input_drop_with_wireguard_and_gre_accepted_is_fine():
    ruleset = nft(
        ("inet", "filter", "input", "input", "drop"),
        rules=[
            ("inet", "filter", "input", [match({"ct": {"key": "state"}}, ["established", "related"]), ACCEPT]),
            ("inet", "filter", "input", WG_ACCEPT),
            ("inet", "filter", "input", GRE_ACCEPT),
        ],
    )
    report = evaluate(good(nft_ruleset=ruleset), 51820, True)
    assert report.problems == []
    assert report.checks["firewall"]["nftables"] == [
        {"family": "inet", "table": "filter", "chain": "input", "hook": "input", "mesh": "accepted"}
    ]


def test_nft_input_drop_without_them_names_what_is_missing():
    only_wg = nft(("inet", "filter", "input", "input", "drop"), rules=[("inet", "filter", "input", WG_ACCEPT)])
    report = evaluate(good(nft_ruleset=only_wg), 51820, True)
    assert report.problems == [
        "nftables chain inet filter input (hook input) has policy drop and no accept rule of its table lets GRE in; "
        "accept it (nft 'insert rule inet filter input meta l4proto gre accept', and in the file that loads the "
        "table, e.g. /etc/nftables.conf) or set its policy to accept"
    ]
    # the accepts of another table do not count: each table's drop is final
    elsewhere = nft(
        ("inet", "filter", "input", "input", "drop"),
        ("inet", "other", "input", "input", "accept"),
        rules=[("inet", "other", "input", WG_ACCEPT), ("inet", "other", "input", GRE_ACCEPT)],
    )
    assert len(evaluate(good(nft_ruleset=elsewhere), 51820, True).problems) == 1
    # nor do matches without accept, negated matches, or another port
    no = nft(
        ("inet", "filter", "input", "input", "drop"),
        rules=[
            ("inet", "filter", "input", [match(UDP_DPORT, 51820), {"drop": None}]),
            ("inet", "filter", "input", [match(L4PROTO, "gre", "!="), ACCEPT]),
            ("inet", "filter", "input", [match(UDP_DPORT, 51821), ACCEPT]),
        ],
    )
    assert nft_accepts(no, 51820)[("inet", "filter")]["wireguard"] is False
    assert len(evaluate(good(nft_ruleset=no), 51820, True).problems) == 1


@pytest.mark.parametrize(
    ("wireguard", "gre"),
    [
        (match(UDP_DPORT, {"set": [22, 51820]}), match({"payload": {"protocol": "ip6", "field": "nexthdr"}}, 47)),
        (
            match(UDP_DPORT, {"range": [51000, 52000]}),
            match({"payload": {"protocol": "ip", "field": "protocol"}}, "gre"),
        ),
        (
            match({"payload": {"protocol": "th", "field": "dport"}}, {"set": [{"range": [51800, 51830]}]}),
            match(L4PROTO, {"set": ["esp", "gre"]}),
        ),
    ],
)
def test_nft_accepts_sets_ranges_and_other_gre_matches(wireguard, gre):
    ruleset = nft(
        ("ip6", "fw", "in", "input", "drop"),
        ("ip6", "fw", "mesh", None, None),
        rules=[("ip6", "fw", "mesh", [wireguard, COUNTER, ACCEPT]), ("ip6", "fw", "mesh", [gre, ACCEPT])],
    )
    assert nft_accepts(ruleset, 51820)[("ip6", "fw")] == {
        "wireguard": True,
        "gre": True,
        "gre_in": False,
        "gre_out": False,
        "docker_user": False,
        "ufw": False,
    }
    assert evaluate(good(nft_ruleset=ruleset), 51820, True).problems == []


def test_nft_forward_drop_needs_both_directions_of_the_gre_tunnels():
    both = nft(
        ("inet", "filter", "forward", "forward", "drop"),
        rules=[
            ("inet", "filter", "forward", [match(IIFNAME, "mo*"), ACCEPT]),
            ("inet", "filter", "forward", [match(OIFNAME, {"set": ["eth0", "mo*"]}), ACCEPT]),
        ],
    )
    assert evaluate(good(nft_ruleset=both), 51820, True).problems == []
    one_tunnel_only = nft(
        ("inet", "filter", "forward", "forward", "drop"),
        rules=[
            ("inet", "filter", "forward", [match(IIFNAME, "mo*"), ACCEPT]),
            ("inet", "filter", "forward", [match(OIFNAME, "mo-n2"), ACCEPT]),
        ],
    )
    assert evaluate(good(nft_ruleset=one_tunnel_only), 51820, True).problems == [
        "nftables chain inet filter forward (hook forward) has policy drop and no accept rule of its table forwards "
        "traffic to the mesh's GRE tunnels (mo*); accept it (nft 'insert rule inet filter forward oifname \"mo*\" "
        "accept', and in the file that loads the table, e.g. /etc/nftables.conf) or set its policy to accept"
    ]


def test_docker_node_with_meshovers_docker_user_rules_is_fine():
    ruleset = nft(*DOCKER_CHAINS, rules=DOCKER_RULES + MESHOVER_DOCKER_USER)
    # whatever FRR runs under (here podman): the accepts are there
    report = evaluate(
        good(nft_ruleset=ruleset, runtimes={"podman": "/usr/bin/podman", "docker": "/usr/bin/docker"}), 51820, True
    )
    assert report.problems == []
    assert report.checks["firewall"]["nftables"] == [
        {"family": "ip", "table": "filter", "chain": "FORWARD", "hook": "forward", "mesh": "accepted"}
    ]


@pytest.mark.parametrize(
    ("runtimes", "container_runtime"),
    [
        ({"podman": None, "docker": "/usr/bin/docker"}, ""),
        ({"podman": "/usr/bin/podman", "docker": "/usr/bin/docker"}, "docker"),
        ({"podman": None, "docker": None}, "/usr/local/bin/docker"),
    ],
)
def test_docker_node_first_run_with_frr_under_docker_is_fine(runtimes, container_runtime):
    """No mo+ accepts yet: frr_bgp installs meshover-docker-forward.service, which adds them."""
    ruleset = nft(*DOCKER_CHAINS, rules=DOCKER_RULES)
    report = evaluate(good(nft_ruleset=ruleset, runtimes=runtimes), 51820, True, container_runtime=container_runtime)
    assert report.problems == []
    assert report.checks["firewall"]["nftables"][0]["mesh"] == "docker_unit"
    assert report.checks["container"]["runtime"] == (container_runtime or "docker")


def test_docker_present_but_frr_under_podman_without_mo_rules():
    ruleset = nft(*DOCKER_CHAINS, rules=DOCKER_RULES)
    facts = good(nft_ruleset=ruleset, runtimes={"podman": "/usr/bin/podman", "docker": "/usr/bin/docker"})
    report = evaluate(facts, 51820, True)
    assert report.checks["container"]["runtime"] == "podman"
    assert report.checks["firewall"]["nftables"][0]["mesh"] == "dropped"
    assert report.problems == [
        "nftables chain ip filter FORWARD (hook forward) has Docker's policy drop (its table has Docker's "
        "DOCKER-USER chain) and would drop what the mesh forwards through its GRE tunnels (mo*), and FRR will not "
        "run under Docker here, so meshover's DOCKER-USER unit is not installed; set frr_bgp_container_runtime: "
        "docker for this host, or add iptables -I DOCKER-USER -i mo+ -j ACCEPT and iptables -I DOCKER-USER -o mo+ "
        "-j ACCEPT (and the same with ip6tables where Docker made the chain), kept across reboots and Docker "
        "restarts (a unit run after docker.service)"
    ]
    # the same with podman named explicitly, and in package mode (FRR in no container at all)
    assert evaluate(facts, 51820, True, container_runtime="podman").problems == report.problems
    package = evaluate(facts, 51820, False, container_runtime="docker").problems
    assert len(package) == 1
    assert "set frr_bgp_container_runtime: docker and meshover_frr_mode: container for this host" in package[0]


def test_iptables_legacy_docker_forward_drop():
    facts = good(iptables={"iptables": DOCKER_IPTABLES_S, "ip6tables": None}, runtimes={"docker": "/usr/bin/docker"})
    assert evaluate(facts, 51820, True).checks["firewall"]["iptables"] == [{"chain": "FORWARD", "mesh": "docker_unit"}]
    podman = evaluate(facts, 51820, True, container_runtime="podman")
    assert len(podman.problems) == 1
    assert podman.problems[0].startswith("iptables chain FORWARD has Docker's policy drop ")
    opened = DOCKER_IPTABLES_S + "-A DOCKER-USER -i mo+ -j ACCEPT\n-A DOCKER-USER -o mo+ -j ACCEPT\n"
    report = evaluate(good(iptables={"iptables": opened}), 51820, True, container_runtime="podman")
    assert report.problems == [] and report.checks["firewall"]["iptables"] == [{"chain": "FORWARD", "mesh": "accepted"}]


def test_iptables_nft_filter_table_gets_iptables_commands():
    ruleset = nft(("ip6", "filter", "INPUT", "input", "drop"), rules=[("ip6", "filter", "INPUT", GRE_ACCEPT)])
    assert evaluate(good(nft_ruleset=ruleset), 51820, True).problems == [
        "nftables chain ip6 filter INPUT (hook input) has policy drop and no accept rule of its table lets WireGuard "
        "(udp/51820) in; accept it (ip6tables -I INPUT -p udp --dport 51820 -j ACCEPT, kept across reboots) or set "
        "the policy to ACCEPT (ip6tables -P INPUT ACCEPT)"
    ]


def test_ufw_tables_input_left_to_the_ufw_check_forward_told_in_ufw_terms():
    ruleset = nft(
        ("ip", "filter", "INPUT", "input", "drop"),
        ("ip", "filter", "FORWARD", "forward", "drop"),
        ("ip", "filter", "ufw-user-input", None, None),
        rules=[("ip", "filter", "ufw-user-input", [match(UDP_DPORT, 51820), COUNTER, ACCEPT])],
    )
    facts = good(nft_ruleset=ruleset, ufw_conf="ENABLED=yes\n", ufw_active=True, ufw_status=UFW_STATUS)
    report = evaluate(facts, 51820, True)
    assert [c["mesh"] for c in report.checks["firewall"]["nftables"]] == ["ufw", "dropped"]
    assert report.problems == [
        "nftables chain ip filter FORWARD (hook forward) has policy drop and no accept rule of its table forwards "
        "traffic from or to the mesh's GRE tunnels (mo*); allow them with ufw (ufw route allow in on mo+ and ufw "
        "route allow out on mo+)"
    ]
    # ufw's table while ufw is off (ENABLED=no): its own drop is reported, in ufw's terms
    off = evaluate(dataclasses.replace(facts, ufw_active=False), 51820, True).problems
    assert off[0].endswith("lets GRE in; allow it with ufw (ufw allow proto gre from any)")


@pytest.mark.parametrize(
    ("rule", "wireguard", "gre"),
    [
        ("-A INPUT -p udp -m udp --dport 51820 -j ACCEPT", True, False),
        ("-A INPUT -p udp -m multiport --dports 500,51000:52000 -j ACCEPT", True, False),
        ("-A INPUT -p udp -m udp --dport 51820: -j ACCEPT", True, False),
        ("-A INPUT -p tcp -m tcp --dport 51820 -j ACCEPT", False, False),
        ("-A INPUT -p udp -m udp ! --dport 51820 -j ACCEPT", False, False),
        ("-A INPUT -p udp -m udp --dport 51820 -j DROP", False, False),
        ("-A INPUT -p gre -j ACCEPT", False, True),
        ("-A INPUT -s 10.0.0.0/8 -p 47 -j ACCEPT", False, True),
        ("-A INPUT ! -p gre -j ACCEPT", False, False),
    ],
)
def test_iptables_accepts(rule, wireguard, gre):
    found = iptables_accepts("-P INPUT DROP\n" + rule + "\n", 51820)
    assert (found["wireguard"], found["gre"]) == (wireguard, gre)


def test_ufw_allows():
    assert ufw_allows(UFW_STATUS, 51820) == {"wireguard": True, "gre": True}
    assert ufw_allows("51000:52000/udp  ALLOW IN  Anywhere\n", 51820) == {"wireguard": True, "gre": False}
    assert ufw_allows("51820  ALLOW  10.0.0.0/8\n", 51820)["wireguard"] is True
    denied = "51820/udp  DENY  Anywhere\n51820/udp  ALLOW OUT  Anywhere\n51820/tcp  ALLOW  Anywhere\n"
    assert ufw_allows(denied, 51820) == {"wireguard": False, "gre": False}
    assert ufw_allows(None, 51820) == {"wireguard": False, "gre": False}


def test_firewalld_allows():
    assert firewalld_allows(FIREWALLD_LIST, 51820) == {"wireguard": True, "gre": True}
    assert firewalld_allows("  ports: 51800-51830/udp 22/tcp\n  protocols: esp\n", 51820) == {
        "wireguard": True,
        "gre": False,
    }
    assert firewalld_allows("  ports: 51820/tcp\n", 51820)["wireguard"] is False


def test_frr_runtime():
    assert frr_runtime(good(runtimes={"podman": "/usr/bin/podman", "docker": "/usr/bin/docker"})) == "podman"
    assert frr_runtime(good(runtimes={"podman": None, "docker": "/usr/bin/docker"})) == "docker"
    assert frr_runtime(good(runtimes={}), "docker") == "docker"
    assert frr_runtime(good(runtimes={})) is None


# ---------------------------------------------------------------- gather


class FakeNode:
    """Binaries on PATH and what each command prints; records the commands run."""

    def __init__(self, binaries, outputs):
        self.binaries = set(binaries)
        self.outputs = outputs
        self.calls = []

    def which(self, name):
        return f"/usr/sbin/{name}" if name in self.binaries else None

    def run(self, argv):
        self.calls.append(list(argv))
        key = " ".join([argv[0].rsplit("/", 1)[-1], *argv[1:]])
        return self.outputs.get(key, (1, "", "unknown command"))


def make_root(tmp_path, *, builtin=BUILTIN, dep=DEP, systemd=True, ufw=None):
    (tmp_path / "sys/module/ip6_gre").mkdir(parents=True)
    lib = tmp_path / "lib/modules" / RELEASE
    lib.mkdir(parents=True)
    (lib / "modules.builtin").write_text(builtin)
    (lib / "modules.dep").write_text(dep)
    if systemd:
        (tmp_path / "run/systemd/system").mkdir(parents=True)
    (tmp_path / "var").mkdir()
    if ufw is not None:
        (tmp_path / "etc/ufw").mkdir(parents=True)
        (tmp_path / "etc/ufw/ufw.conf").write_text(ufw)
    return str(tmp_path)


def test_gather_reads_files_and_commands(tmp_path):
    root = make_root(tmp_path, ufw="ENABLED=yes\n")
    node = FakeNode(
        ["systemctl", "nft", "iptables", "ip6tables", "docker"],
        {
            "systemctl is-active ufw": (0, "active\n", ""),
            "systemctl is-active firewalld": (3, "inactive\n", ""),
            "nft -j list ruleset": (0, nft(("inet", "filter", "input", "input", "drop")), ""),
            "iptables -V": (0, "iptables v1.8.9 (legacy)\n", ""),
            "iptables -S": (0, "-P INPUT DROP\n", ""),
            "ip6tables -V": (0, "ip6tables v1.8.9 (nf_tables)\n", ""),
        },
    )
    facts = gather(node.run, node.which, root=root, kernel_release=RELEASE)
    assert facts.sys_module == {"wireguard": False, "ip6_gre": True, **dict.fromkeys(NAT_KERNEL_MODULES, False)}
    assert facts.systemd is True
    assert facts.ufw_active is True and facts.firewalld_active is False
    assert facts.ufw_status is None  # no ufw binary on PATH: nothing to ask
    assert facts.runtimes == {"podman": None, "docker": "/usr/sbin/docker"}
    # legacy iptables is read; iptables-nft is left to the nftables check
    assert facts.iptables == {"iptables": "-P INPUT DROP\n", "ip6tables": None}
    assert facts.disk["/"] is not None and facts.disk["/var"] is not None
    assert ["/usr/sbin/ip6tables", "-S"] not in node.calls
    report = evaluate(facts, 51820, container=False, min_free_mb=0)
    assert report.checks["kernel"]["modules"] == {"wireguard": "builtin", "ip6_gre": "loaded"}
    assert [p.split(" ", 1)[0] for p in report.problems] == ["ufw", "nftables", "iptables"]


def test_gather_without_binaries_skips_commands(tmp_path):
    root = make_root(tmp_path, builtin="", dep="", systemd=False)
    node = FakeNode([], {})
    facts = gather(node.run, node.which, root=root, kernel_release=RELEASE)
    assert node.calls == []
    assert facts.nft_ruleset is None and facts.iptables == {"iptables": None, "ip6tables": None}
    assert facts.ufw_conf is None and facts.ufw_active is False
    report = evaluate(facts, 51820, container=False, min_free_mb=0)
    assert report.checks["kernel"]["modules"] == {"wireguard": "missing", "ip6_gre": "loaded"}
    assert report.checks["firewall"] == {"ufw": "inactive", "firewalld": "inactive"}
    assert len(report.problems) == 2  # wireguard missing, no systemd


def test_gather_ufw_conf_disabled_does_not_ask_systemctl(tmp_path):
    root = make_root(tmp_path, ufw="ENABLED=no\n")
    node = FakeNode(["systemctl"], {"systemctl is-active firewalld": (0, "active\n", "")})
    facts = gather(node.run, node.which, root=root, kernel_release=RELEASE)
    assert node.calls == [["/usr/sbin/systemctl", "is-active", "firewalld"]]
    assert facts.firewalld_active is True


def test_gather_reads_ufw_status_and_the_firewalld_zone_only_when_active(tmp_path):
    root = make_root(tmp_path, ufw="ENABLED=yes\n")
    outputs = {
        "systemctl is-active ufw": (0, "active\n", ""),
        "ufw status": (0, UFW_STATUS, ""),
        "systemctl is-active firewalld": (0, "active\n", ""),
        "firewall-cmd --list-all": (0, FIREWALLD_LIST, ""),
    }
    node = FakeNode(["systemctl", "ufw", "firewall-cmd"], outputs)
    facts = gather(node.run, node.which, root=root, kernel_release=RELEASE)
    assert facts.ufw_status == UFW_STATUS and facts.firewalld_zone == FIREWALLD_LIST
    report = evaluate(facts, 51820, container=False, min_free_mb=0)
    assert report.checks["firewall"] == {"ufw": "accepted", "firewalld": "accepted"}
    # a failing command reads as nothing allowed
    node = FakeNode(["systemctl", "ufw", "firewall-cmd"], dict(outputs, **{"ufw status": (1, "", "ERROR")}))
    assert gather(node.run, node.which, root=root, kernel_release=RELEASE).ufw_status is None
    # inactive: neither is asked
    node = FakeNode(["systemctl", "ufw", "firewall-cmd"], {})
    facts = gather(node.run, node.which, root=root, kernel_release=RELEASE)
    assert facts.ufw_status is None and facts.firewalld_zone is None
    assert [c[1:] for c in node.calls] == [["is-active", "ufw"], ["is-active", "firewalld"]]


def test_gather_reads_loaded_modules_from_proc_in_a_container(tmp_path):
    """systemd-nspawn and LXC show an empty /sys/module but the host's /proc/modules (scale lab, #20)."""
    root = make_root(tmp_path)
    (tmp_path / "sys/module/ip6_gre").rmdir()
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/modules").write_text(
        "ip6_gre 53248 0 - Live 0x0000000000000000\nwireguard 118784 0 - Live 0x0000000000000000\n"
    )
    node = FakeNode([], {})
    facts = gather(node.run, node.which, root=root, kernel_release="6.12.0-nomods")
    assert facts.sys_module == {"wireguard": True, "ip6_gre": True, **dict.fromkeys(NAT_KERNEL_MODULES, False)}
    assert kernel_module_state("wireguard", facts) == "loaded"
