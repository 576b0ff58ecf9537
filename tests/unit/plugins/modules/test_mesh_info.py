# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""meshover.mesh.mesh_info against a fake node: the commands it runs and what it makes of their output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.module_utils import basic

from ansible_collections.meshover.mesh.plugins.modules import mesh_info

FIX = Path(__file__).resolve().parents[1] / "module_utils" / "fixtures" / "exporter"
PRIVATE = "cGFyaXZhdGUta2V5LW5ldmVyLXNob3duLWFueXdoZXJlIT0="  # the first field of the fixture's dump
PODMAN = ["/usr/bin/podman", "exec", "frr", "vtysh"]
PLAN = [
    {"name": "n2", "public_key": "MTpubkeyN2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb=", "tunnel": "mo-n2"},
    {"name": "n3", "public_key": "MTpubkeyN3ccccccccccccccccccccccccccccccccc=", "tunnel": "mo-n3"},
]


def wg_dump(host="n1"):
    """`wg show meshover0 dump` of the exporter fixture (its `wg show all dump` without the interface column)."""
    text = (FIX / f"{host}.wg").read_text()
    return "".join(line.split("\t", 1)[1] + "\n" for line in text.splitlines() if line.strip())


class FakeNode:
    """run_command and get_bin_path of a node whose commands print the exporter fixtures of n1."""

    def __init__(self):
        self.calls = []
        self.answers = {
            "wg": (0, wg_dump(), ""),
            "ip": (0, (FIX / "n1.ip.json").read_text(), ""),
            "vtysh": (0, (FIX / "n1.frr").read_text(), ""),
        }
        self.missing = set()

    def bin_path(self, name, *args, **kwargs):
        return None if name in self.missing else f"/usr/bin/{name}"

    def run(self, args, **kwargs):
        args = list(args)
        self.calls.append(args)
        assert args[:3] == ["/usr/bin/timeout", "--kill-after=30", "20"], args
        tool = args[3].rsplit("/", 1)[-1]
        return self.answers["vtysh" if tool in ("podman", "docker", "sh") else tool]


@pytest.fixture
def node(monkeypatch):
    fake = FakeNode()
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kw: fake.run(args, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: fake.bin_path(name))
    return fake


def test_reads_every_source_and_changes_nothing(node, run_module):
    rc, result = run_module(mesh_info.main, {"vtysh": PODMAN, "peers": PLAN})
    assert rc == 0
    assert result["changed"] is False and "failed" not in result
    assert result["errors"] == {}
    assert result["frr"] == {"access": "podman", "version": "8.4.4", "vtysh": PODMAN}
    assert result["wireguard"]["interface"] == "meshover0"
    assert result["expected"] == ["n2", "n3"]
    assert result["peers"]["n2"]["bgp"]["state"] == "Established"
    assert result["peers"]["n3"]["bfd"]["state"] == "down"
    assert [c[3:] for c in node.calls] == [
        ["/usr/bin/wg", "show", "meshover0", "dump"],
        ["/usr/bin/ip", "-j", "-d", "link", "show"],
        # in the container, one vtysh per daemon: none opens a session of FRR's mgmtd
        [
            *PODMAN[:-1],
            "sh",
            "-c",
            "vtysh -d bgpd -c 'show bgp summary json'; vtysh -d bfdd -c 'show bfd peers json'; "
            "vtysh -d zebra -c 'show version'",
        ],
    ]
    assert PRIVATE not in json.dumps(result)


def test_check_mode_reads_the_same(node, run_module):
    _rc, result = run_module(mesh_info.main, {"vtysh": PODMAN, "peers": PLAN})
    _rc, checked = run_module(mesh_info.main, {"vtysh": PODMAN, "peers": PLAN, "_ansible_check_mode": True})
    checked.pop("invocation", None)
    result.pop("invocation", None)
    assert checked == result
    assert len(node.calls) == 6


def test_no_frr_is_an_error_of_bgp_and_bfd_not_a_failure(node, run_module):
    rc, result = run_module(mesh_info.main, {"vtysh": [], "peers": PLAN})
    assert rc == 0 and result["changed"] is False
    assert result["frr"]["access"] == "none"
    assert set(result["errors"]) == {"bgp", "bfd"}
    assert result["errors"]["bgp"].startswith("FRR not reachable")
    assert all(p["bgp"] is None and p["bfd"] is None for p in result["peers"].values())
    assert all(p["wireguard"]["present"] for p in result["peers"].values())
    assert len(node.calls) == 2  # no vtysh run


def test_a_stopped_container_names_the_runtimes_message(node, run_module):
    node.answers["vtysh"] = (125, "", 'Error: no container with name or ID "frr" found: no such container\n')
    _rc, result = run_module(mesh_info.main, {"vtysh": PODMAN})
    assert result["errors"]["bgp"] == (
        '/usr/bin/podman exec frr vtysh failed (rc=125): Error: no container with name or ID "frr" found: '
        "no such container"
    )


def test_vtysh_failing_with_output_is_read(node, run_module):
    """vtysh exits non-zero when one of its commands fails (bgpd or bfdd not running): its output still counts."""
    node.answers["vtysh"] = (1, (FIX / "n3.frr").read_text(), "")
    _rc, result = run_module(mesh_info.main, {"vtysh": ["vtysh"]})
    assert result["frr"]["version"] == "8.4.4" and result["frr"]["access"] == "package"
    assert result["errors"]["bgp"] == "no BGP summary in vtysh's output (bgpd is not running)"


def test_a_command_that_hangs_is_an_error_of_its_source(node, run_module):
    node.answers["ip"] = (124, "", "")
    _rc, result = run_module(mesh_info.main, {"vtysh": PODMAN, "timeout": 20})
    assert result["errors"] == {"gre": "ip -j -d link show: no answer within 20 s"}


def test_wg_missing_or_failing_never_shows_the_dump(node, run_module):
    node.missing.add("wg")
    _rc, result = run_module(mesh_info.main, {"vtysh": PODMAN, "peers": PLAN})
    assert result["errors"]["wireguard"] == "wg is not installed (not found on PATH)"
    assert result["peers"]["n2"]["wireguard"] is None and result["peers"]["n2"]["gre"]["state"] == "up"
    node.missing.clear()
    node.answers["wg"] = (1, wg_dump(), "Unable to access interface: No such device\n")
    _rc, result = run_module(mesh_info.main, {"vtysh": PODMAN, "peers": PLAN})
    assert result["errors"]["wireguard"] == (
        "wg show meshover0 dump failed (rc=1): Unable to access interface: No such device"
    )
    assert PRIVATE not in json.dumps(result)


def test_the_wg_quick_file_names_peers_without_a_plan(node, run_module, tmp_path):
    conf = tmp_path / "meshover0.conf"
    conf.write_text(
        "[Interface]\nListenPort = 51820\n\n"
        "[Peer]\n# n2\nPublicKey = MTpubkeyN2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb=\n\n"
        "[Peer]\n# n3\nPublicKey = MTpubkeyN3ccccccccccccccccccccccccccccccccc=\n"
    )
    _rc, result = run_module(mesh_info.main, {"vtysh": PODMAN, "wg_config_path": str(conf)})
    assert result["expected"] is None
    assert sorted(result["peers"]) == ["n2", "n3"]
    assert result["peers"]["n2"]["wireguard"]["present"] and not result["peers"]["n2"]["anonymous"]
    _rc, result = run_module(mesh_info.main, {"vtysh": PODMAN, "wg_config_path": str(tmp_path / "absent.conf")})
    assert result["peers"]["MTpubkeyN2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb="]["anonymous"] is True
