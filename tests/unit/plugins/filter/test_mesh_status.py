# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter meshover.mesh.mesh_status: a thin door onto module_utils/controller/_mesh_status.py (tested there)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshover.mesh.plugins.filter.mesh_status import FilterModule, mesh_status

PEER = {
    "name": "n2",
    "expected": True,
    "unexpected": False,
    "missing": False,
    "anonymous": False,
    "wireguard": {"present": True, "handshake_age": 7},
    "gre": {"present": True, "name": "mo-n2", "state": "up"},
    "bgp": {"present": True, "state": "Established", "established": True, "uptime": 4000},
    "bfd": {"present": True, "state": "up"},
}
NODES = {"n1": {"changed": False, "peers": {"n2": PEER}, "frr": {"version": "10.3.1", "access": "docker"}}}


def test_registered():
    assert FilterModule().filters() == {"mesh_status": mesh_status}


def test_formats():
    table = mesh_status(NODES, hosts=["n1", "n2"])
    assert table[0] == "meshover mesh status, 2 nodes (1 answered), 1 link (0 up, 1 degraded, 0 down)"
    assert table[4] == "n1     .                   7s up  Est 1h up"
    assert mesh_status(NODES, "json")["links"][0]["state"] == "degraded"  # n2 said nothing
    assert mesh_status(NODES, "dot")[0] == "graph meshover {"


def test_numbers_from_extra_vars_are_strings():
    """-e width=40 arrives as a string."""
    lines = mesh_status(NODES, "table", width="40", stale="5")
    assert lines[3:5] == ["from WGBF WGBF", "n1   .    s+++"]  # narrow, and a 7 s old handshake is stale after 5 s


@pytest.mark.parametrize(
    "args, message",
    [
        ((["n1"],), "expects a dict host -> mesh_info result, got list"),
        ((NODES, "svg"), "meshover.mesh.mesh_status: unknown format 'svg': use one of table, json, dot"),
        ((NODES, "table", "n1"), "hosts must be a list of inventory hostnames"),
        ((NODES, "table", None, "soon"), "stale must be a number"),
        (({"n1": {"rc": 0}},), "without peers"),
    ],
)
def test_errors_name_the_filter(args, message):
    with pytest.raises(AnsibleFilterError, match=r"meshover\.mesh\.mesh_status") as exc:
        mesh_status(*args)
    assert message in str(exc.value)
