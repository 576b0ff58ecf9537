# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.meshover.mesh.plugins.module_utils._preflight import check
from ansible_collections.meshover.mesh.plugins.module_utils._rolevars import (
    ROLE_SPECS,
    ROLES,
    check_role_vars,
    is_role_var,
)

REPO = Path(__file__).resolve().parents[4]
SOURCES = ["192.0.2.0/24", "10.0.0.300"]


def test_role_specs_mirror_the_argument_specs():
    from_yaml = {}
    for role in ROLES:
        spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
        for name, opt in spec["argument_specs"]["main"]["options"].items():
            entry = {"type": opt.get("type", "str")}
            entry.update({k: opt[k] for k in ("elements", "choices") if k in opt})
            from_yaml[name] = (role, entry)
    assert ROLE_SPECS == from_yaml


@pytest.mark.parametrize(
    ("name", "yes"),
    [
        ("gre_overlay_firewall", True),
        ("exporter_whatever", True),
        ("frr_bgp__bundle", False),
        ("exporter_test__pattern", False),
        ("meshover_endpoint", False),
        ("node_exporter_port", False),
    ],
)
def test_is_role_var(name, yes):
    assert is_role_var(name) is yes


def test_each_problem_named_with_host_variable_and_role():
    problems = check_role_vars(
        {
            "n1": {"gre_overlay_firewall": "maybe", "frr_bgp_package_state": "newest", "exporter_port": 70000},
            "n2": {
                "gre_overlay_firewal": True,
                "gre_overlay_firewall_exporter_sources": ["192.0.2.0/24", "10.0.0.300"],
            },
            "n3": {
                "gre_overlay_firewall_exporter_sources": ["192.0.2.0/24", "10.0.0.300"],
                "exporter_collect_interval": 0,
            },
        }
    )
    assert sorted(problems) == sorted(
        [
            "n1: exporter_port is 70000: a port is 1..65535 (role exporter)",
            "n1: value of frr_bgp_package_state must be one of: present, latest, got: newest (role frr_bgp)",
            next(p for p in problems if p.startswith("n1: argument 'gre_overlay_firewall' is of type str")),
            "n2: gre_overlay_firewal is not a variable of any meshover role: did you mean gre_overlay_firewall?",
            "n2 and n3: gre_overlay_firewall_exporter_sources[1] is '10.0.0.300': not an IPv4/IPv6 address or prefix "
            "(role gre_overlay)",
            "n3: exporter_collect_interval is 0.0: it must be greater than 0 (role exporter)",
        ]
    )
    assert "(role gre_overlay)" in next(p for p in problems if "'gre_overlay_firewall'" in p)


def test_good_values_unrelated_and_registered_names_pass():
    good = {
        "gre_overlay_firewall": "yes",
        "gre_overlay_firewall_exporter_sources": ["2001:db8::7", "192.0.2.0/24"],
        "exporter_port": "9474",
        "frr_bgp_package_state": "latest",
        "wireguard_mesh_plan": {"plan": {}},
        "frr_bgp_runtime": {"mode": "container", "runtime": "/usr/bin/docker"},
        "exporter_scrape_job_of_another_role": 1,
    }
    assert check_role_vars({"n1": good, "n2": {}, "n3": None}) == []


def test_preflight_reports_role_variables_with_the_inventory():
    inventory = {"n1": {"meshover_endpoint": "2001:db8::1"}, "n2": {"meshover_endpoint": "2001:db8::2"}}
    assert check(inventory, {"n1": {"exporter_port": 0}}).problems == [
        "n1: exporter_port is 0: a port is 1..65535 (role exporter)"
    ]
    assert check(inventory).problems == []
