# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import dataclasses
import json

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils._node_preflight import (
    NodeFacts,
    evaluate,
    gather,
    iptables_drop_policies,
    kernel_module_state,
    nft_drop_chains,
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


def nft(*chains) -> str:
    items = [{"metainfo": {"version": "1.0.6"}}]
    for family, table, name, hook, policy in chains:
        items.append({"table": {"family": family, "name": table, "handle": 1}})
        chain = {"family": family, "table": table, "name": name, "handle": 1}
        if hook:
            chain.update(type="filter", hook=hook, prio=0, policy=policy)
        items.append({"chain": chain})
    return json.dumps({"nftables": items})


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
    assert report.checks["firewall"] == {"ufw": False, "firewalld": False, "nftables": []}


def test_no_container_runtime_is_not_a_problem():
    report = evaluate(good(runtimes={"podman": None, "docker": None}), 51820, container=True)
    assert report.problems == []
    assert report.checks["container"]["runtime"] is None


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
    assert report.checks["firewall"]["ufw"] is True
    assert report.problems == [
        "ufw is active and would drop WireGuard (udp/51821) and GRE; allow them (ufw allow 51821/udp, and GRE: "
        "ufw allow proto gre from any) or disable ufw (ufw disable)"
    ]


def test_firewalld_running():
    report = evaluate(good(firewalld_active=True), 51820, True)
    assert len(report.problems) == 1
    assert report.problems[0].startswith("firewalld is running and would drop WireGuard (udp/51820) and GRE; ")
    assert "--add-port=51820/udp" in report.problems[0]


def test_nft_drop_policy_and_unreadable_ruleset():
    ruleset = nft(("inet", "filter", "input", "input", "drop"), ("inet", "meshover", "input", "input", "drop"))
    report = evaluate(good(nft_ruleset=ruleset), 51820, True)
    assert report.problems == [
        "nftables chain inet filter input (hook input) has policy drop and would drop WireGuard (udp/51820) and "
        "GRE; accept them in that chain (udp dport 51820, meta l4proto gre) or set its policy to accept"
    ]
    unreadable = evaluate(good(nft_ruleset="garbage"), 51820, True)
    assert unreadable.problems == [] and unreadable.checks["firewall"]["nftables"] == "unreadable"
    skipped = evaluate(good(nft_ruleset=None), 51820, True)
    assert "nftables" not in skipped.checks["firewall"]


def test_iptables_drop_policies_each_family():
    facts = good(iptables={"iptables": "-P INPUT DROP\n-P FORWARD DROP\n", "ip6tables": "-P INPUT ACCEPT\n"})
    report = evaluate(facts, 51820, True)
    assert report.checks["firewall"]["iptables"] == ["INPUT", "FORWARD"]
    assert report.checks["firewall"]["ip6tables"] == []
    assert report.problems[0] == (
        "iptables policy of INPUT is DROP and would drop WireGuard (udp/51820) and GRE; accept them "
        "(iptables -I INPUT -p udp --dport 51820 -j ACCEPT and -p gre -j ACCEPT) or set the policy to ACCEPT "
        "(iptables -P INPUT ACCEPT)"
    )
    assert len(report.problems) == 2


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
    assert facts.sys_module == {"wireguard": False, "ip6_gre": True}
    assert facts.systemd is True
    assert facts.ufw_active is True and facts.firewalld_active is False
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
    assert report.checks["firewall"] == {"ufw": False, "firewalld": False}
    assert len(report.problems) == 2  # wireguard missing, no systemd


def test_gather_ufw_conf_disabled_does_not_ask_systemctl(tmp_path):
    root = make_root(tmp_path, ufw="ENABLED=no\n")
    node = FakeNode(["systemctl"], {"systemctl is-active firewalld": (0, "active\n", "")})
    facts = gather(node.run, node.which, root=root, kernel_release=RELEASE)
    assert node.calls == [["/usr/sbin/systemctl", "is-active", "firewalld"]]
    assert facts.firewalld_active is True
