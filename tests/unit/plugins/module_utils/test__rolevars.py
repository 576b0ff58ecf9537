# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.meshover.mesh.plugins.module_utils.controller._preflight import check
from ansible_collections.meshover.mesh.plugins.module_utils.controller._rolevars import (
    NETWORK_LISTS,
    NODE_PATHS,
    PORTS,
    POSITIVE,
    RANGES,
    ROLES,
    STRICT_NETWORK_LISTS,
    STRING_RULES,
    is_role_var,
    role_specs_from,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._rolevars import (
    check_role_vars as _check_role_vars,
)

REPO = Path(__file__).resolve().parents[4]
# The roles' argument specs, read as the action meshover.mesh.mesh_preflight reads them: the only table.
ROLE_SPECS = role_specs_from(
    {role: yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text()) for role in ROLES}
)


def check_role_vars(role_vars):
    return _check_role_vars(role_vars, ROLE_SPECS)


SOURCES = ["192.0.2.0/24", "10.0.0.300"]


def test_role_specs_are_the_main_entry_points_options():
    specs = role_specs_from(
        {
            "r": {
                "argument_specs": {
                    "main": {"options": {"r_a": {"type": "list", "elements": "str"}, "r_b": {"choices": ["x"]}}},
                    "remove": {"options": {"r_c": {"type": "int"}}},
                }
            }
        }
    )
    assert specs == {"r_a": ("r", {"type": "list", "elements": "str"}), "r_b": ("r", {"type": "str", "choices": ["x"]})}
    assert ROLE_SPECS["gre_overlay_firewall"] == ("gre_overlay", {"type": "bool"})
    assert {role for role, _spec in ROLE_SPECS.values()} == set(ROLES)


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
    assert check(inventory, {"n1": {"exporter_port": 0}}, ROLE_SPECS).problems == [
        "n1: exporter_port is 0: a port is 1..65535 (role exporter)"
    ]
    assert check(inventory).problems == []


# One row per value: (variable, value, None if it passes, else a piece of the expected message).
LONG = "/etc/" + "x" * 80
MEANINGS = [
    # paths on the node
    ("frr_bgp_config_dir", "/etc/frr", None),
    ("exporter_install_dir", "/opt/mesh_over/v1.2+x@y/f-g", None),
    ("exporter_install_dir", "/usr/local/lib/meshover", None),
    ("exporter_install_dir", "/usr/local/bin", "a system directory"),
    ("exporter_install_dir", "/", "a system directory"),
    ("exporter_install_dir", "/opt", "a system directory"),
    ("gre_overlay_batch_path", "/", None),
    ("frr_bgp_config_dir", "etc/frr", "not an absolute path"),
    ("exporter_config_path", "/etc/../meshover/exporter.json", "without '..'"),
    ("gre_overlay_firewall_path", "/etc//meshover/firewall.nft", "write '/etc/meshover/firewall.nft'"),
    ("frr_bgp_config_dir", "/etc/frr/", "write '/etc/frr'"),
    ("source_routing_batch4_path", "/etc/./x.batch", "not a normalised path"),
    ("source_routing_batch6_path", "/etc/meshover/x.batch\n", r"contains '\n'"),
    ("wireguard_mesh_private_key_path", "/etc/wire guard/key", "contains ' '"),
    ("exporter_install_dir", "/opt/$(reboot)", "contains '$'"),
    ("exporter_install_dir", "$HOME/meshover", "contains '$'"),
    ("exporter_install_dir", "~/meshover", "contains '~'"),
    ("exporter_config_path", "/etc/'x'.json", 'contains "\'"'),
    ("exporter_config_path", '/etc/"x".json', "contains '\"'"),
    ("exporter_config_path", "/etc/`id`.json", "contains '`'"),
    ("exporter_config_path", "/etc/a\\b.json", "contains '\\\\'"),
    ("exporter_config_path", "/etc/100%.json", "contains '%'"),
    ("exporter_config_path", "/etc/a;b.json", "contains ';'"),
    (
        "exporter_config_path",
        LONG + "$",
        "exporter_config_path is '/etc/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...: it contains '$'",
    ),
    # the key cache, on the controller
    ("wireguard_mesh_key_cache_dir", "", None),
    ("wireguard_mesh_key_cache_dir", "../my inventory/host_vars", None),
    ("wireguard_mesh_key_cache_dir", "host_vars\n", r"contains '\n'"),
    ("wireguard_mesh_key_cache_dir", "host\tvars", r"contains '\t'"),
    # interface names
    ("gre_overlay_wg_interface", "meshover0", None),
    ("gre_overlay_wg_interface", "x" * 15, None),
    ("gre_overlay_accept_ra_interfaces", ["eth0", "eth0.100", "br_lan-1@x"], None),
    ("gre_overlay_wg_interface", "x" * 16, "16 characters"),
    ("gre_overlay_wg_interface", "", "0 characters"),
    ("gre_overlay_wg_interface", "..", "'.' and '..'"),
    ("gre_overlay_wg_interface", "wg0:1", "contains ':'"),
    ("gre_overlay_accept_ra_interfaces", ["eth0", "eth/1"], "gre_overlay_accept_ra_interfaces[1] is 'eth/1'"),
    ("gre_overlay_accept_ra_interfaces", ["eth0 "], "contains ' '"),
    ("gre_overlay_accept_ra_interfaces", ['"eth0"'], "contains '\"'"),
    ("gre_overlay_accept_ra_interfaces", ["eth0\n"], r"contains '\n'"),
    ("frr_bgp_coil_vrf", "meshover-coil", None),
    ("frr_bgp_coil_vrf", "lo", "deletes this VRF device"),
    ("frr_bgp_coil_vrf", "mo-n2", "deletes this VRF device"),
    ("frr_bgp_coil_vrf", "coil vrf", "contains ' '"),
    # Debian packages (meshover.mesh.bundle takes plain names)
    ("wireguard_mesh_packages", ["wireguard-tools", "python3-pyroute2", "g++", "libc6.1"], None),
    ("exporter_packages", [], None),
    ("frr_bgp_packages", ["frr=10.3-1"], "write 'frr'"),
    ("frr_bgp_packages", ["frr:amd64"], "no :arch"),
    ("frr_bgp_packages", ["Frr"], "not a Debian package name"),
    ("frr_bgp_packages", ["f"], "not a Debian package name"),
    ("exporter_packages", ["sudo;reboot"], "not a Debian package name"),
    ("exporter_packages", ["sudo", "sudo"], "exporter_packages lists 'sudo' twice"),
    # the egress NAT's plan section (normally the plan's): prefixes of each family, an exempt list with sources
    (
        "gre_overlay_coil_nat",
        {"sources": {"ipv4": ["10.228.0.0/16"], "ipv6": []}, "exempt": {"ipv4": ["10.0.0.0/8"], "ipv6": []}},
        None,
    ),
    ("gre_overlay_coil_nat", {"sources": {"ipv4": [], "ipv6": []}, "exempt": {"ipv4": [], "ipv6": []}}, None),
    (
        "gre_overlay_coil_nat",
        {"sources": {"ipv4": ["10.0.0.0/8; reboot"], "ipv6": []}, "exempt": {"ipv4": ["10.0.0.0/8"], "ipv6": []}},
        "gre_overlay_coil_nat.sources.ipv4[0] is",
    ),
    (
        "gre_overlay_coil_nat",
        {"sources": {"ipv4": ["fd00::/8"], "ipv6": []}, "exempt": {"ipv4": ["10.0.0.0/8"], "ipv6": []}},
        "not an IPv4 prefix",
    ),
    (
        "gre_overlay_coil_nat",
        {"sources": {"ipv4": ["10.228.0.0/16"], "ipv6": []}, "exempt": {"ipv4": [], "ipv6": []}},
        "exempt.ipv4 is empty",
    ),
    ("gre_overlay_coil_nat", {"sources": ["10.228.0.0/16"]}, "must map ipv4 and ipv6"),
    # systemd service units
    ("frr_bgp_container_unit", "meshover-frr.service", None),
    ("frr_bgp_package_unit", "frr@default.service", None),
    ("frr_bgp_package_unit", "a:b_c.d-e.service", None),
    ("frr_bgp_container_unit", "meshover-frr", "must end with .service"),
    ("frr_bgp_container_unit", "meshover-frr.timer", "must end with .service"),
    ("frr_bgp_container_unit", "x" * 250 + ".service", "at most 255"),
    ("frr_bgp_container_unit", ".service", "NAME.service"),
    ("frr_bgp_container_unit", "frr@.service", "NAME@INSTANCE.service"),
    ("frr_bgp_package_unit", "frr%i.service", "contains '%'"),
    ("frr_bgp_package_unit", "frr/x.service", "contains '/'"),
    ("frr_bgp_package_unit", "frr .service", "contains ' '"),
    # container names
    ("frr_bgp_container_name", "frr", None),
    ("exporter_frr_container_name", "FRR_1.a-b", None),
    ("frr_bgp_container_name", "-frr", "not a container name"),
    ("frr_bgp_container_name", "fr r", "not a container name"),
    ("exporter_frr_container_name", "frr$(id)", "not a container name"),
    ("exporter_frr_container_name", "", "not a container name"),
    # container runtimes
    ("frr_bgp_container_runtime", "", None),
    ("frr_bgp_container_runtime", "podman", None),
    ("frr_bgp_container_runtime", "docker", None),
    ("frr_bgp_container_runtime", "/usr/local/bin/docker", None),
    ("exporter_container_runtime", "/usr/bin/podman", None),
    ("exporter_container_runtime", "docker", None),
    ("frr_bgp_container_runtime", "nerdctl", "podman and docker only"),
    ("frr_bgp_container_runtime", "/usr/bin/nerdctl", "podman and docker only"),
    ("frr_bgp_container_runtime", "/usr/bin/podman/", "podman and docker only"),
    ("frr_bgp_container_runtime", "bin/podman", "not an absolute path"),
    ("frr_bgp_container_runtime", "/usr/bin/../bin/podman", "not a normalised path"),
    ("frr_bgp_container_runtime", "podman\n", r"contains '\n'"),
    ("frr_bgp_container_runtime", "$(which podman)", "contains '$'"),
    ("exporter_container_runtime", "", "leave it unset"),
    ("exporter_container_runtime", "/usr/bin/docker; id", "contains ';'"),
    ("exporter_container_runtime", "~/bin/podman", "contains '~'"),
    # capabilities
    ("frr_bgp_container_capabilities", ["CHECKPOINT_RESTORE", "BPF", "NET_ADMIN", "NET_RAW", "SYS_ADMIN"], None),
    ("frr_bgp_container_capabilities", ["NET_RAW", "CAP_NET_ADMIN"], "[1] is 'CAP_NET_ADMIN': write 'NET_ADMIN'"),
    ("frr_bgp_container_capabilities", [], "lacks NET_ADMIN, NET_RAW, SYS_ADMIN"),
    ("frr_bgp_container_capabilities", ["SYS_NICE"], "the list replaces the role's default"),
    ("frr_bgp_container_capabilities", ["NET_ADMIN", "SYS_ADMIN"], "lacks NET_RAW:"),
    ("frr_bgp_container_capabilities", ["net_admin"], "write 'NET_ADMIN'"),
    ("frr_bgp_container_capabilities", ["NET_ADMINS"], "not a Linux capability"),
    ("frr_bgp_container_capabilities", ["ALL"], "not a Linux capability"),
    ("frr_bgp_container_capabilities", ["NET_ADMIN NET_RAW"], "not a Linux capability"),
    # the exporter's user, its listen address, Ansible groups
    ("exporter_user", "meshover-exporter", None),
    ("exporter_user", "_" + "a" * 31, None),
    ("exporter_user", "Exporter", "not a system user name"),
    ("exporter_user", "1exporter", "not a system user name"),
    ("exporter_user", "a" * 33, "not a system user name"),
    ("exporter_user", "exporter\n", "not a system user name"),
    ("exporter_listen_address", "", None),
    ("exporter_listen_address", "::", None),
    ("exporter_listen_address", "fd12:3456:789a::1", None),
    ("exporter_listen_address", "192.0.2.1", None),
    ("exporter_listen_address", "localhost", "not an IPv4 or IPv6 address"),
    ("exporter_listen_address", "[::1]", "not an IPv4 or IPv6 address"),
    ("exporter_listen_address", "::/0", "not an IPv4 or IPv6 address"),
    ("exporter_listen_address", "0.0.0.0", "write '::'"),
    ("exporter_listen_address", "fe80::1", "link-local"),
    ("exporter_listen_address", "ff02::1", "multicast"),
    ("wireguard_mesh_group", "mesh", None),
    ("exporter_group", "meshover_remaining", None),
    ("wireguard_mesh_group", "my-mesh", "not an Ansible group name"),
    ("exporter_group", "2mesh", "not an Ansible group name"),
    ("exporter_group", "mesh ", "not an Ansible group name"),
    # numbers, networks
    ("frr_bgp_watchfrr_restart_timeout", 1, None),
    ("frr_bgp_watchfrr_restart_timeout", 0, "it must be greater than 0"),
    ("source_routing_exempt", ["10.96.0.0/12", "fd00::/8"], None),
    ("source_routing_exempt", ["10.96.0.0/33"], "not an IPv4/IPv6 prefix"),
    ("source_routing_extra_exempt", ["10.96.0.1/12"], "no host bits set: write 10.96.0.0/12"),
    ("gre_overlay_firewall_exporter_sources", ["192.0.2.1/24"], None),  # nft takes host bits
    ("exporter_port", 9474, None),
    ("exporter_port", 1024, None),
    ("exporter_port", 80, "it must be 1024..65535 (the exporter runs as its own unprivileged user"),
    ("exporter_port", 70000, "a port is 1..65535"),
    ("exporter_handshake_stale", 180, None),
    ("exporter_handshake_stale", 60, "it must be at least 135 (seconds; WireGuard renews"),
]


@pytest.mark.parametrize(("var", "value", "expected"), MEANINGS)
def test_meaning_of_each_rule(var, value, expected):
    problems = check_role_vars({"n1": {var: value}})
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1, problems
        assert problems[0].startswith(f"n1: {var}") and problems[0].endswith(f"(role {ROLE_SPECS[var][0]})")
        assert expected in problems[0]


def test_every_rule_names_real_options_and_every_string_option_has_a_rule():
    ruled = {name for names, _rule in STRING_RULES for name in names}
    numbers = {*PORTS, *POSITIVE, *NETWORK_LISTS, *STRICT_NETWORK_LISTS, *RANGES}
    assert (ruled | numbers) <= set(ROLE_SPECS)
    for var, (_role, spec) in ROLE_SPECS.items():
        if spec["type"] in ("str", "path") or spec.get("elements") == "str":
            assert "choices" in spec or var in ruled | numbers, f"{var} has no meaning check"
    assert {v for v, (_r, s) in ROLE_SPECS.items() if s["type"] == "path"} - set(NODE_PATHS) == {
        "exporter_container_runtime"
    }


def _plain(value):
    """No Jinja anywhere in it (a default computed at run time is checked by the role)."""
    return "{{" not in json.dumps(value) and "{%" not in json.dumps(value)


def _role_defaults():
    for role in ROLES:
        defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
        spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
        documented = {k: o["default"] for k, o in spec["argument_specs"]["main"]["options"].items() if "default" in o}
        for source, values in (("defaults/main.yml", defaults), ("argument_specs.yml", documented)):
            for var, value in values.items():
                if _plain(value):
                    yield pytest.param(var, value, id=f"{role}/{source}/{var}")


@pytest.mark.parametrize(("var", "value"), list(_role_defaults()))
def test_role_defaults_pass(var, value):
    assert check_role_vars({"n1": {var: value}}) == []


def _role_values(tree, found):
    """Every role variable set to a plain value anywhere in a parsed YAML document."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in ROLE_SPECS and _plain(value):
                found.append((key, value))
            _role_values(value, found)
    elif isinstance(tree, list):
        for item in tree:
            _role_values(item, found)
    return found


def _set_in_yaml():
    """(file, variable, value): each role variable the example inventory, the lab or a playbook sets."""
    for top in ("inventory.example", "molecule", "playbooks"):
        for path in sorted((REPO / top).rglob("*.y*ml")):
            for doc in yaml.safe_load_all(path.read_text()):
                for var, value in _role_values(doc, []):
                    yield str(path.relative_to(REPO)), var, value


SET_IN_YAML = list(_set_in_yaml())


def test_the_yaml_scan_finds_the_known_settings():
    found = {(path, var) for path, var, _value in SET_IN_YAML}
    assert ("molecule/default/inventory/hosts.yml", "frr_bgp_container_runtime") in found
    assert ("playbooks/decommission.yml", "wireguard_mesh_group") in found


@pytest.mark.parametrize(("path", "var", "value"), [pytest.param(*row, id=f"{row[0]}/{row[1]}") for row in SET_IN_YAML])
def test_role_variables_set_by_inventories_playbooks_and_the_lab_pass(path, var, value):
    assert check_role_vars({"n1": {var: value}}) == []


def test_lab_inventory_written_by_meshlab_passes(tmp_path):
    spec = importlib.util.spec_from_file_location("meshlab", REPO / "molecule" / "lab" / "meshlab.py")
    meshlab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(meshlab)
    state = {"lab": "t", "nodes": 3, "port_base": 2200, "releases": {"1": "trixie", "2": "trixie", "3": "bookworm"}}
    meshlab.write_inventory(tmp_path, state)
    hosts = yaml.safe_load((tmp_path / "inventory.yml").read_text())["all"]["children"]["mesh"]["hosts"]
    role_vars = {h: {k: v for k, v in hv.items() if is_role_var(k)} for h, hv in hosts.items()}
    assert role_vars["n2"] == {"frr_bgp_container_runtime": "docker"}
    assert check_role_vars(role_vars) == []


# `name: value` in the prose and examples of the docs; operations.md shows a value the preflight reports.
DOC_VALUE = re.compile(
    r"(?<![\w.])((?:wireguard_mesh|gre_overlay|frr_bgp|exporter|source_routing)_\w+): ([^\s`#{][^`#\n]*)"
)
REPORTED_IN_DOCS = {("docs/operations.md", "gre_overlay_firewall_exporter_sources")}


def _doc_values():
    docs = ("*.md", "docs/*.md", "roles/*/README.md", "molecule/*/README.md")
    for path in sorted(path for pattern in docs for path in REPO.glob(pattern)):
        for var, text in DOC_VALUE.findall(path.read_text()):
            if var in ROLE_SPECS:
                yield pytest.param(str(path.relative_to(REPO)), var, text.strip(), id=f"{path.relative_to(REPO)}/{var}")


@pytest.mark.parametrize(("doc", "var", "text"), list(_doc_values()))
def test_role_variable_values_shown_in_the_docs_pass(doc, var, text):
    problems = check_role_vars({"n1": {var: yaml.safe_load(text)}})
    assert bool(problems) is ((doc, var) in REPORTED_IN_DOCS), problems


@pytest.mark.parametrize(
    ("n1_vars", "n2_vars", "expected"),
    [
        ({"gre_overlay_wg_interface": "meshover0", "exporter_port": 9100}, {"exporter_port": 9100}, None),
        ({"gre_overlay_wg_port": "51820"}, {}, None),  # the same port, written as a string
        ({"gre_overlay_wg_interface": "wg0"}, {}, "n1: gre_overlay_wg_interface is 'wg0' while meshover_wg_interface"),
        ({"gre_overlay_wg_port": 51821}, {}, "n1: gre_overlay_wg_port is 51821 while meshover_wg_port makes it 51820"),
        ({"gre_overlay_firewall_exporter_port": 9100}, {}, "while exporter_port makes it 9474"),
        ({"exporter_frr_mode": "package"}, {}, "n1: exporter_frr_mode is 'package' while meshover_frr_mode"),
        ({"exporter_port": 9100}, {}, "exporter_port differs between hosts (9100 on n1; 9474 on n2)"),
        ({"frr_bgp_config_dir": "/srv/frr"}, {}, None),  # container mode: a bind mount, any directory
    ],
)
def test_role_variables_that_contradict_the_mesh(n1_vars, n2_vars, expected):
    inventory = {"n1": {"meshover_endpoint": "2001:db8::1"}, "n2": {"meshover_endpoint": "2001:db8::2"}}
    problems = check(inventory, {"n1": n1_vars, "n2": n2_vars}, ROLE_SPECS).problems
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0], problems


def test_package_mode_writes_the_configuration_where_debians_frr_reads_it():
    inventory = {
        "n1": {"meshover_endpoint": "2001:db8::1", "meshover_frr_mode": "package"},
        "n2": {"meshover_endpoint": "2001:db8::2"},
    }
    assert check(inventory, {"n1": {"frr_bgp_config_dir": "/etc/frr"}}, ROLE_SPECS).problems == []
    (problem,) = check(inventory, {"n1": {"frr_bgp_config_dir": "/srv/frr"}}, ROLE_SPECS).problems
    assert problem.startswith("n1: frr_bgp_config_dir is '/srv/frr' in package mode: Debian's frr reads /etc/frr")
