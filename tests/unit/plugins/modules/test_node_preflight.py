# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import dataclasses

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.node._node_preflight import NodeFacts
from ansible_collections.meshover.mesh.plugins.modules import node_preflight

GOOD = NodeFacts(
    kernel_release="6.1.0-37-amd64",
    sys_module={"wireguard": True, "ip6_gre": True},
    systemd=True,
    python=(3, 11, 2),
    disk={"/": (5000, 1), "/var": (5000, 1)},
    runtimes={"podman": None, "docker": "/usr/bin/docker"},
)


@pytest.fixture
def run(run_module, monkeypatch):
    """Run the module against these facts; also return the arguments gather() got."""
    seen = {}

    def _run(args, facts=GOOD):
        def fake_gather(runner, which):
            seen["runner"], seen["which"] = runner, which
            return facts

        monkeypatch.setattr(node_preflight, "gather", fake_gather)
        return run_module(node_preflight.main, args), seen

    return _run


def test_success_is_never_changed(run):
    (rc, result), _seen = run({"container": True})
    assert rc == 0
    assert result["changed"] is False and result["problems"] == []
    assert result["checks"]["container"] == {"enabled": True, "runtimes": ["docker"], "runtime": "docker"}
    assert result["checks"]["disk"]["min_free_mb"] == 1024


def test_check_mode_same_result(run):
    (rc, result), _seen = run({"_ansible_check_mode": True})
    assert rc == 0 and result["changed"] is False
    assert result["checks"]["disk"]["min_free_mb"] == 200


def test_failure_lists_every_problem_with_the_port(run):
    facts = dataclasses.replace(GOOD, systemd=False, ufw_conf="ENABLED=yes", ufw_active=True)
    (rc, result), _seen = run({"wireguard_port": 51999, "min_free_mb": 10}, facts)
    assert rc == 1 and result["failed"] is True and result["changed"] is False
    lines = result["msg"].splitlines()
    assert lines[0] == "meshover node preflight found 2 problem(s):"
    assert lines[1:] == result["problems"]
    assert "ufw allow 51999/udp" in result["problems"][1]
    assert result["checks"]["systemd"] is False


def test_container_runtime_decides_dockers_forward_drop(run):
    """Docker's FORWARD drop without meshover's mo+ accepts: fine when FRR will run under Docker."""
    docker_forward = "-P INPUT ACCEPT\n-P FORWARD DROP\n-N DOCKER-USER\n-A FORWARD -j DOCKER-USER\n"
    facts = dataclasses.replace(GOOD, iptables={"iptables": docker_forward, "ip6tables": None})
    (rc, result), _seen = run({"container": True}, facts)
    assert rc == 0, result
    assert result["checks"]["firewall"]["iptables"] == [{"chain": "FORWARD", "mesh": "docker_unit"}]
    (rc, result), _seen = run({"container": True, "container_runtime": "podman"}, facts)
    assert rc == 1
    assert result["checks"]["container"]["runtime"] == "podman"
    assert "set frr_bgp_container_runtime: docker for this host" in result["problems"][0]


def test_commands_are_bounded_by_timeout(run, monkeypatch):
    from ansible.module_utils.basic import AnsibleModule

    calls = []
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: f"/usr/bin/{name}")
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, cmd, **kw: calls.append(cmd) or (0, "", ""))
    (rc, _result), seen = run({})
    assert rc == 0
    seen["runner"](["/usr/sbin/nft", "-j", "list", "ruleset"])
    assert calls == [["/usr/bin/timeout", "--kill-after=30", "10", "/usr/sbin/nft", "-j", "list", "ruleset"]]


def test_nat_checks_the_masquerade_modules(run):
    (rc, result), _seen = run({"nat": True})
    assert rc == 1 and [p.split(" module")[0].rsplit(" ", 1)[1] for p in result["problems"]] == [
        "nf_nat",
        "nft_chain_nat",
        "nft_masq",
    ]
    facts = dataclasses.replace(
        GOOD, sys_module={**GOOD.sys_module, "nf_nat": True, "nft_chain_nat": True, "nft_masq": True}
    )
    (rc, result), _seen = run({"nat": True}, facts)
    assert rc == 0 and result["checks"]["kernel"]["modules"]["nft_masq"] == "loaded"
