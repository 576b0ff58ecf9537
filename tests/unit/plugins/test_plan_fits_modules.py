# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each section of the plan fits the options of the module the roles hand it to, as documented (ansible-test's
validate-modules holds each module's documentation equal to its argument spec): every key is an option or a
suboption, every value has the option's type as is (no conversion), every required option is there."""

from __future__ import annotations

import copy
import importlib

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.meshover.mesh.plugins.module_utils.controller._peers import plan_mesh

KEYS = {
    "n1": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
    "n2": "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=",
    "n3": "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
}
SHARED = {"meshover_shared_prefixes": ["198.51.100.0/24", "2001:db8:100::/64"]}
INVENTORY = {
    "n1": {"meshover_endpoint": ["fd00:10::1", "10.10.0.1"], **SHARED},
    "n2": {"meshover_endpoint": "fd00:10::2", "meshover_gathering": ["198.51.100.0/24", "2001:db8:100::/64"], **SHARED},
    "n3": {"meshover_nat": True, "meshover_announce": ["203.0.113.0/24"], **SHARED},
}


def spec_of(module: str) -> dict:
    """The argument spec a module documents (options, recursively)."""
    doc = yaml.safe_load(
        importlib.import_module(f"ansible_collections.meshover.mesh.plugins.modules.{module}").DOCUMENTATION
    )

    def convert(options):
        spec = {}
        for name, opt in options.items():
            entry = {k: opt[k] for k in ("type", "elements", "required", "choices", "default") if k in opt}
            if "suboptions" in opt:
                entry["options"] = convert(opt["suboptions"])
            spec[name] = entry
        return spec

    return convert(doc["options"])


def fits(module: str, args: dict) -> None:
    result = ArgumentSpecValidator(spec_of(module)).validate(copy.deepcopy(args))
    assert not result.error_messages, f"{module}: {result.error_messages}"
    given = {k: v for k, v in result.validated_parameters.items() if k in args}
    assert given == args, f"{module}: a value of the plan needed converting to the option's type"


@pytest.fixture(scope="module")
def plan():
    inventory = {h: {**v, "meshover_wg_public_key": KEYS[h]} for h, v in INVENTORY.items()}
    planned, _warnings, _updates = plan_mesh(inventory)
    return planned


@pytest.mark.parametrize("host", sorted(INVENTORY))
def test_wireguard_section_fits_wireguard_interface(plan, host):
    wg = plan[host]["wireguard"]
    assert wg["peers"]
    args = {k: wg[k] for k in ("listen_port", "address", "mtu", "peers")}
    fits("wireguard_interface", {"name": wg["interface"], "private_key_path": "/etc/wireguard/k", **args})


@pytest.mark.parametrize("host", sorted(INVENTORY))
def test_tunnels_section_fits_gre_tunnels(plan, host):
    assert plan[host]["tunnels"]
    fits("gre_tunnels", {"tunnels": plan[host]["tunnels"], "batch_path": "/etc/meshover/gre.batch"})


@pytest.mark.parametrize("host", ["n1", "n3"])
def test_source_routing_section_fits_source_routes(plan, host):
    sr = plan[host]["source_routing"]
    assert sr["gateways"] and sr["exempt"]
    fits("source_routes", {"gateways": sr["gateways"], "priority": sr["priority"], "exempt": sr["exempt"]})


def test_a_section_that_does_not_fit_is_caught(plan):
    bad = copy.deepcopy(plan["n1"]["tunnels"])
    bad[0]["colour"] = "blue"
    with pytest.raises(AssertionError, match="colour"):
        fits("gre_tunnels", {"tunnels": bad})
    bad = copy.deepcopy(plan["n1"]["wireguard"]["peers"])
    bad[0]["persistent_keepalive"] = "25"
    with pytest.raises(AssertionError, match="converting"):
        fits("wireguard_interface", {"name": "wg0", "private_key_path": "/k", "peers": bad})
