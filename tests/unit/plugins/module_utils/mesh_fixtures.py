# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Command outputs of a 3-node mesh for the mesh_info and mesh status tests (see fixtures/mesh_info/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.meshover.mesh.plugins.module_utils.node._mesh_info import node_view, read_sources

FIX = Path(__file__).parent / "fixtures"
NOW = 1795640000  # the exporter fixtures' clock: handshakes 5 s and 15 s old
PRIVATE_IN_FIXTURES = "cGFyaXZhdGUta2V5LW5ldmVyLXNob3duLWFueXdoZXJlIT0="
# fixtures/wg_show_dump.txt: n2, a laptop behind NAT, and n3 that never handshook
K0 = "0aWsmgFfrC73s0FnNjVRKhUR9B/jfREbJn8DnuxdT1g="
K1 = "arnx6499M4j0+dWG9m6Z/VQIDfLERvDlhmiwnAihbdA="
K3 = "L1BSyf0VsZoYxYTQE2NWgZhhPww06EQJ73k4cJoVnsI="


def wg_if_dump(text: str) -> str:
    """`wg show all dump` -> `wg show <if> dump`: the same lines without their first column."""
    return "".join(line.split("\t", 1)[1] + "\n" for line in text.splitlines() if line.strip())


def exporter_outputs(host: str) -> dict:
    d = FIX / "exporter"
    return {
        "wg": wg_if_dump((d / f"{host}.wg").read_text()),
        "ip": (d / f"{host}.ip.json").read_text(),
        "frr": (d / f"{host}.frr").read_text(),
    }


def exporter_plan(host: str) -> list:
    """The peers the exporter fixtures' config gives the host: name, public key and tunnel."""
    config = json.loads((FIX / "exporter" / f"{host}.config.json").read_text())
    return [{"name": p["name"], "public_key": p["public_key"], "tunnel": p["tunnel"]} for p in config["peers"]]


FRR10_PLAN = [
    {"name": "n2", "public_key": K0, "tunnel": "mo-n2"},
    {"name": "n3", "public_key": K3, "tunnel": "mo-n3"},
]


def frr10_outputs() -> dict:
    """n1 under FRR 10.3: WireGuard from wg_show_dump.txt (n3 never handshook), links from the exporter's n1."""
    return {
        "wg": (FIX / "wg_show_dump.txt").read_text(),
        "ip": (FIX / "exporter" / "n1.ip.json").read_text(),
        "frr": (FIX / "mesh_info" / "n1.frr-10.3.txt").read_text(),
    }


VTYSH = {
    "n1": ["/usr/bin/podman", "exec", "frr", "vtysh"],
    "n2": ["/usr/bin/docker", "exec", "frr", "vtysh"],
    "n3": ["vtysh"],
}


def mesh_nodes() -> dict:
    """host -> the mesh_info result of each node of the exporter's 3-node fixture, with what Ansible adds."""
    out = {}
    for host, vtysh in VTYSH.items():
        view = node_view(
            read_sources(exporter_outputs(host)), exporter_plan(host), now=NOW, wg_interface="meshover0", vtysh=vtysh
        )
        out[host] = dict(view, changed=False, invocation={"module_args": {}}, failed=False)
    return out
