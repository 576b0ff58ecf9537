# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable

from ansible_collections.meshover.mesh.plugins.filter.mesh import (
    FilterModule,
    bgp_sessions,
    bgp_undrained,
    frr_coil_method,
    frr_probe,
    frr_reload_test,
    frr_runtime_install,
    mesh_hostvars,
    mesh_identities,
    mesh_identity,
    mesh_rolevars,
    vtysh_script,
)
from ansible_collections.meshover.mesh.plugins.module_utils.node import _kernel as K


def test_filters_registered():
    assert set(FilterModule().filters()) == {
        "mesh_identity",
        "mesh_identities",
        "mesh_hostvars",
        "mesh_rolevars",
        "bgp_undrained",
        "bgp_sessions",
        "frr_coil_method",
        "frr_probe",
        "frr_reload_test",
        "frr_runtime_install",
        "vtysh_script",
        "quote_for",
    }


def test_mesh_identity_default_mesh():
    ident = mesh_identity("n1")
    assert ident["interface_id"] == "3d27e462938bc19a"
    assert ident["asn"] == 4275762751
    assert ident["gre_name"] == "mo-n1"


def test_mesh_identity_kwargs():
    ident = mesh_identity("n1", prefix6="fd00:1:2::/48", pool4="10.99.0.0/24", asn_range=[64512, 64512])
    assert ident["loopback6"] == "fd00:1:2:0:3d27:e462:938b:c19a"
    assert ident["loopback4"] == "10.99.0.56"
    assert ident["asn"] == 64512
    assert mesh_identity("n1", mesh_name="lab")["loopback6"] != mesh_identity("n1")["loopback6"]


@pytest.mark.parametrize("args, kwargs", [((5,), {}), (("bad_name",), {}), (("n1",), {"prefix6": "10.0.0.0/8"})])
def test_mesh_identity_errors_name_fqcn(args, kwargs):
    with pytest.raises(AnsibleFilterError) as err:
        mesh_identity(*args, **kwargs)
    assert "meshover.mesh.mesh_identity" in str(err.value)


def test_mesh_identities_list_and_dict():
    by_list = mesh_identities(["n1", "n2", "n3"])
    assert by_list["n2"]["interface_id"] == "834735cb77b531ef"
    by_dict = mesh_identities({"n1": {"meshover_pool4": "10.99.0.0/24"}, "n2": {"meshover_asn": 64513}})
    assert by_dict["n1"]["loopback4"] == "10.99.0.56"  # mesh-wide settings read from the first host
    assert by_dict["n2"]["asn"] == 64513


def test_mesh_identities_collisions_all_reported():
    with pytest.raises(AnsibleFilterError) as err:
        mesh_identities(["n1", "n2", "n3"], asn_range=[64512, 64512])
    text = str(err.value)
    assert "meshover.mesh.mesh_identities" in text
    assert "n1, n2 and n3 derive the same ASN 64512: set meshover_asn on one of them" in text


def test_mesh_identities_bad_input():
    with pytest.raises(AnsibleFilterError, match=r"meshover\.mesh\.mesh_identities expects"):
        mesh_identities("n1")


class LazyVars(dict):
    """Mimics HostVarsVars: templating happens on item access only."""

    def __init__(self, data, accessed):
        super().__init__(data)
        self.accessed = accessed

    def __getitem__(self, key):
        self.accessed.append(key)
        return super().__getitem__(key)


def test_mesh_hostvars_only_meshover_vars_and_lazy():
    accessed: list[str] = []
    hostvars = {
        "n1": LazyVars({"meshover_endpoint": "2001:db8::1", "ansible_host": "x", "secret": "s"}, accessed),
        "n2": LazyVars({"meshover_nat": True}, accessed),
        "n3": LazyVars({}, accessed),
    }
    assert mesh_hostvars(["n1", "n2"], hostvars) == {
        "n1": {"meshover_endpoint": "2001:db8::1"},
        "n2": {"meshover_nat": True},
    }
    assert accessed == ["meshover_endpoint", "meshover_nat"]


def test_mesh_hostvars_errors():
    with pytest.raises(AnsibleFilterError, match=r"meshover\.mesh\.mesh_hostvars"):
        mesh_hostvars(["n9"], {"n1": {}})
    with pytest.raises(AnsibleFilterError, match=r"meshover\.mesh\.mesh_hostvars"):
        mesh_hostvars("n1", {"n1": {}})


def _real_hostvars(tmp_path, inventory_yaml):
    """Ansible's own lazy hostvars over an inventory file with this text."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager

    (tmp_path / "hosts.yml").write_text(inventory_yaml)
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(tmp_path / "hosts.yml")])
    variable_manager = VariableManager(loader=loader, inventory=inventory)
    return HostVars(inventory=inventory, variable_manager=variable_manager, loader=loader)


def test_mesh_hostvars_on_real_ansible_hostvars(tmp_path):
    hostvars = _real_hostvars(
        tmp_path,
        "all:\n"
        "  vars:\n"
        "    meshover_pool4: 10.99.0.0/24\n"
        "    base_port: 51000\n"
        "  hosts:\n"
        "    n1:\n"
        "      meshover_endpoint: 2001:db8::1\n"
        "      meshover_wg_port: '{{ base_port + 1 }}'\n"
        "      unrelated: '{{ undefined_variable }}'\n"
        "    n2:\n"
        "      meshover_nat: true\n",
    )
    result = mesh_hostvars(["n1", "n2"], hostvars)
    assert result["n1"] == {
        "meshover_pool4": "10.99.0.0/24",
        "meshover_endpoint": "2001:db8::1",
        "meshover_wg_port": 51001,
    }
    assert result["n2"] == {"meshover_pool4": "10.99.0.0/24", "meshover_nat": True}
    assert mesh_identities(result)["n1"]["loopback4"] == "10.99.0.56"


def test_bgp_undrained_filter():
    tables = {"ipv6": {"routes": {"fd46::2/128": [{"bestpath": True, "path": "7 2"}, {"path": "2"}]}}}
    assert bgp_undrained(tables, "7") == ["ipv6 fd46::2/128"]
    assert bgp_undrained(tables, 2) == []  # every path goes through AS 2: nothing to move
    with pytest.raises(AnsibleFilterError, match="must be a dict"):
        bgp_undrained([], 7)
    with pytest.raises(AnsibleFilterError, match="asn must be an integer"):
        bgp_undrained(tables, "n3")


def test_frr_coil_method_filter():
    assert frr_coil_method("10.3.1") == "table-direct"
    assert frr_coil_method("8.4.4-1.1~deb12u2") == "vrf"
    assert frr_coil_method("1:10.0-1") == "table-direct"
    with pytest.raises(AnsibleFilterError, match=r"meshover\.mesh\.frr_coil_method: 'lab' is not an FRR version"):
        frr_coil_method("lab")
    with pytest.raises(AnsibleFilterError, match=r"meshover\.mesh\.frr_coil_method expects an FRR version string"):
        frr_coil_method(10.3)


def test_frr_runtime_install_filter():
    assert frr_runtime_install("podman", "debian 13") == {
        "packages": ["podman", "ca-certificates"],
        "install_recommends": False,
    }
    assert frr_runtime_install("docker") == {"packages": ["docker.io", "ca-certificates"], "install_recommends": True}
    with pytest.raises(AnsibleFilterError, match=r"meshover\.mesh\.frr_runtime_install expects a runtime name"):
        frr_runtime_install("docker", None)


def test_frr_probe_filter():
    out = frr_probe("mode=package\nfrr_version=8.4.4-1.1~deb12u2\nsource=installed\n")
    assert out["frr_version"] == "8.4.4-1.1~deb12u2" and out["source"] == "installed" and out["runtime"] == ""
    with pytest.raises(AnsibleFilterError, match=r"meshover\.mesh\.frr_probe expects the probe's stdout"):
        frr_probe(["mode=package"])


def test_frr_probe_filter_reads_what_the_entry_point_probe_adds():
    # roles/frr_bgp tasks_from: probe (playbooks/tasks/frr_vtysh.yml): whether the container exists, and the state
    out = frr_probe("container=yes\nstate=container\nmode=container\nruntime=/usr/bin/docker\nframe=1\n")
    assert (out["container"], out["state"], out["runtime"]) == ("yes", "container", "/usr/bin/docker")
    out = frr_probe("container=\nstate=none\nmode=\nnote=no FRR found\n")
    assert (out["container"], out["state"], out["mode"], out["note"]) == ("", "none", "", "no FRR found")
    # a converge's probe (the role's main) prints neither key
    out = frr_probe("mode=container\nruntime=/usr/bin/podman\nframe=1\n")
    assert out["container"] == "" and out["state"] == ""


def test_frr_reload_test_filter():
    out = frr_reload_test("\nLines To Add\n============\nrouter bgp 65001\n")
    assert out == {"delete": [], "add": ["router bgp 65001"], "ignored": []}
    with pytest.raises(AnsibleFilterError, match=r"frr_reload_test expects the output of frr-reload\.py"):
        frr_reload_test(None)


def test_frr_probe_of_an_undefined_output_is_undefined():
    # `frr_bgp_runtime is defined` before the probe ran must be false, not an error (ansible-core 2.18)
    from jinja2 import Undefined

    with pytest.raises(AnsibleUndefinedVariable, match="probe has not run"):
        frr_probe(Undefined(name="frr_bgp__probe"))


def test_mesh_rolevars_on_real_ansible_hostvars(tmp_path):
    hostvars = _real_hostvars(
        tmp_path,
        "all:\n"
        "  vars:\n"
        "    gre_overlay_firewall: false\n"
        "    base_port: 9000\n"
        "  hosts:\n"
        "    n1:\n"
        "      exporter_port: '{{ base_port + 474 }}'\n"
        "      exporter_test__scratch: 1\n"
        "      frr_bgp_plan: '{{ registered_later.plan }}'\n"
        "      meshover_nat: true\n"
        "    n2: {}\n",
    )
    assert mesh_rolevars(["n1", "n2"], hostvars) == {
        "n1": {"gre_overlay_firewall": False, "exporter_port": 9474},
        "n2": {"gre_overlay_firewall": False},
    }
    with pytest.raises(AnsibleFilterError, match=r"meshover\.mesh\.mesh_rolevars"):
        mesh_rolevars(["n9"], hostvars)


class _RawHostvars(dict):
    """hostvars whose raw (untemplated) values are known, as Ansible's HostVars.raw_get gives them."""

    def __init__(self, raw):
        super().__init__()
        self.raw = raw

    def raw_get(self, host):
        return self.raw[host]


def test_a_template_rendered_to_text_is_read_back_as_its_value():
    # ansible-core 2.18 renders '{{ base + 1 }}' to '51001' and leaves a template with an undefined variable as written
    from ansible_collections.meshover.mesh.plugins.filter import mesh as mesh_filter

    hv = _RawHostvars({"n1": {"p": "{{ base + 1 }}", "t": "51001", "u": "{{ later.plan }}", "s": "{{ name }}"}})
    assert mesh_filter._as_native(hv, "n1", "p", "51001") == 51001
    assert mesh_filter._as_native(hv, "n1", "t", "51001") == "51001"  # written as text, stays text
    assert mesh_filter._as_native(hv, "n1", "s", "eth0") == "eth0"  # not a literal: text
    with pytest.raises(AnsibleUndefinedVariable):
        mesh_filter._as_native(hv, "n1", "u", "{{ later.plan }}")


def test_bgp_sessions_filter_reads_the_summary_per_family():
    summary = {
        "ipv4Unicast": {"peers": {"mo-n2": {"state": "Established", "remoteAs": 7, "pfxRcd": 3}}},
        "ipv6Unicast": {"peers": {"mo-n2": {"state": "Active", "remoteAs": 7}}},
        "l2VpnEvpn": {"peers": {"x": {"state": "Established"}}},  # not a family the mesh uses
    }
    sessions = bgp_sessions(summary)
    assert [(s["afi"], s["neighbor"], s["state"]) for s in sessions] == [
        ("ipv4", "mo-n2", "Established"),
        ("ipv6", "mo-n2", "Active"),
    ]
    assert sessions[0]["prefixes_received"] == 3
    assert bgp_sessions(None) == []
    with pytest.raises(AnsibleFilterError, match="bgp_sessions"):
        bgp_sessions({"ipv4Unicast": {"peers": []}})


@pytest.mark.parametrize("bfd", [True, False, "True", "false", "yes"])
def test_vtysh_script_is_the_node_readers_runs(bfd):
    with_bfd = bfd in (True, "True", "yes")
    script = vtysh_script("vtysh", bfd=bfd)
    assert script == K.vtysh_script("vtysh", bfd=with_bfd)
    assert ("-d bfdd" in script) is with_bfd
    assert script.count("vtysh -d ") == (3 if with_bfd else 2)


@pytest.mark.parametrize("vtysh, bfd, match", [(None, True, "the vtysh command"), ("vtysh", "maybe", "bfd must")])
def test_vtysh_script_refuses_what_it_cannot_use(vtysh, bfd, match):
    with pytest.raises(AnsibleFilterError, match=match):
        vtysh_script(vtysh, bfd=bfd)
