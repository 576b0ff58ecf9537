# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/controller/_mesh_status.py: the status of the whole mesh from every node's mesh_info result.

The 3-node fixture is the exporter's (fixtures/exporter): n1 and n2 have their session up, n3's bgpd and
bfdd are stopped, so n1 and n2 see their sessions to n3 in Active and BFD down. Each node's view is
built by _mesh_info from those command outputs, as the module builds it."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess

import pytest
from mesh_fixtures import mesh_nodes

from ansible_collections.meshover.mesh.plugins.module_utils.controller import _mesh_status as S


@pytest.fixture
def nodes():
    return mesh_nodes()


GOLDEN_TABLE = """\
meshover mesh status, 3 nodes (3 answered), 3 links (1 up, 0 degraded, 2 down)

to     n1                     n2                     n3
from   WG  GRE BGP     BFD    WG  GRE BGP     BFD    WG  GRE BGP     BFD
n1     .                      5s  up  Est 10m up     15s up  Active  down
n2     5s  up  Est 10m up     .                      15s up  Active  down
n3     5s  up  ?       ?      15s up  ?       ?      .

FRR n1 8.4.4 (podman), n2 8.4.4 (docker), n3 8.4.4 (package)
WG = age of the latest WireGuard handshake (! = older than 180s, never = none yet),
GRE = tunnel state, BGP = session state and uptime (Est = Established), BFD = session state
(- = no session, BFD off); miss = in the plan but absent, ? = not read (see the problems),
. = the node itself.
Problems (4)
- n3: BGP not read: no BGP summary in vtysh's output (bgpd is not running)
- n3: BFD not read: no BFD peers in vtysh's output (bfdd is not running)
- n1 -> n3: BGP Active (ipv4 Active, ipv6 Active), BFD down
- n2 -> n3: BGP Active (ipv4 Active, ipv6 Active), BFD down"""

GOLDEN_NARROW = """\
meshover mesh status, 3 nodes (3 answered), 3 links (1 up, 0 degraded, 2 down)

to   n1   n2   n3
from WGBF WGBF WGBF
n1   .    ++++ ++--
n2   ++++ .    ++--
n3   ++?? ++?? .

FRR n1 8.4.4 (podman), n2 8.4.4 (docker), n3 8.4.4 (package)
One character per source, W = WireGuard, G = GRE, B = BGP, F = BFD. + = up, - = down,
s = handshake older than 180s, n = never handshaked, x = in the plan but absent,
. = no BFD session (BFD off), ? = not read (see the problems); a lone . is the node itself.
Problems (4)"""

GOLDEN_DOT = """\
graph meshover {
  graph [label="meshover mesh - 3 links, 1 up, 0 degraded, 2 down", labelloc=t, fontname=Helvetica];
  node [shape=circle, style=filled, fontname=Helvetica, fontcolor=white];
  edge [penwidth=3, fontname=Helvetica, fontsize=10];
  "n1" [fillcolor="#1565c0", tooltip="FRR 8.4.4 (podman)"];
  "n2" [fillcolor="#1565c0", tooltip="FRR 8.4.4 (docker)"];
  "n3" [fillcolor="#1565c0", tooltip="FRR 8.4.4 (package)"];
  "n1" -- "n2" [color="#2e7d32", label="n1 5s Est 10m\\nn2 5s Est 10m", tooltip="n1--n2 up"];
  "n1" -- "n3" [color="#c62828", label="n1 15s Active\\nn3 5s bgp ?", tooltip="n1--n3 down"];
  "n2" -- "n3" [color="#c62828", label="n2 15s Active\\nn3 15s bgp ?", tooltip="n2--n3 down"];
}"""


def test_golden_table(nodes):
    lines = S.render(nodes, "table", hosts=["n3", "n1", "n2"])
    assert "\n".join(lines) == GOLDEN_TABLE
    # what the default callback prints well: no line starts with a space, none ends with one, no tabs or quotes
    assert all(line == line.strip() and "\t" not in line and '"' not in line for line in lines[:9])


def test_golden_narrow_table_when_the_wide_one_does_not_fit(nodes):
    lines = S.render(nodes, "table", width=60)
    assert "\n".join(lines[: GOLDEN_NARROW.count("\n") + 1]) == GOLDEN_NARROW


def test_golden_dot(nodes):
    assert "\n".join(S.render(nodes, "dot")) == GOLDEN_DOT


DOT_LINE = re.compile(
    r'^  "(?P<a>[^"]+)" -- "(?P<b>[^"]+)" \[color="(?P<colour>#[0-9a-f]{6})", label="(?P<label>(?:[^"\\]|\\.)*)", '
    r'tooltip="[^"]*"\];$'
)
NODE_LINE = re.compile(r'^  "(?P<name>[^"]+)" \[fillcolor="#[0-9a-f]{6}", tooltip="[^"]*"\];$')


def test_dot_is_graphviz(nodes, tmp_path):
    """With Graphviz installed, dot itself parses it; without (the usual case here), its structure is checked:
    one undirected graph, one node statement per host, one edge per pair, colours from the state."""
    lines = S.render(nodes, "dot")
    text = "\n".join(lines) + "\n"
    assert lines[0] == "graph meshover {" and lines[-1] == "}"
    assert text.count("{") == text.count("}") == 1
    hosts = [m["name"] for m in map(NODE_LINE.match, lines) if m]
    edges = [m.groupdict() for m in map(DOT_LINE.match, lines) if m]
    assert hosts == ["n1", "n2", "n3"]
    assert {(e["a"], e["b"]) for e in edges} == {("n1", "n2"), ("n1", "n3"), ("n2", "n3")}
    assert [e["colour"] for e in edges] == [S.STATE_COLOURS["up"], S.STATE_COLOURS["down"], S.STATE_COLOURS["down"]]
    assert all(len(e["label"].split("\\n")) == 2 for e in edges)
    assert len(lines) == 4 + len(hosts) + len(edges) + 1  # header, nodes, edges, closing brace: nothing else
    if shutil.which("dot"):
        dot = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, check=False, timeout=30)
        assert dot.returncode == 0, dot.stderr
        assert dot.stdout.count('class="edge"') == 3


def test_dot_escapes_quotes_and_backslashes():
    nodes = {'a"b\\c': {"peers": {}, "frr": {"version": '1"2', "access": "package"}}}
    lines = S.render(nodes, "dot")
    assert '  "a\\"b\\\\c" [fillcolor="#1565c0", tooltip="FRR 1\\"2 (package)"];' in lines


def test_json_is_the_merged_data(nodes):
    data = S.render(nodes, "json", hosts=["n1", "n2", "n3", "n4"])
    assert json.loads(json.dumps(data)) == data  # plain JSON
    assert set(data) == {"stale_after", "summary", "nodes", "links", "transit", "problems"}
    assert data["transit"] == []
    assert data["summary"] == {
        "nodes": 4,
        "answered": 3,
        "links": 3,
        "up": 1,
        "degraded": 0,
        "down": 2,
        "unknown": 0,
    }
    assert data["nodes"]["n4"] is None
    assert set(data["nodes"]["n1"]) == set(S.NODE_KEYS)  # Ansible's keys (changed, invocation) dropped
    assert data["nodes"]["n1"]["peers"] == nodes["n1"]["peers"]
    link = data["links"][0]
    assert (link["id"], link["nodes"], link["state"]) == ("n1--n2", ["n1", "n2"], "up")
    assert link["views"]["n1"] == {
        "state": "up",
        "checks": {"wireguard": "up", "gre": "up", "bgp": "up", "bfd": "up"},
        "handshake_age": 5,
        "gre_state": "up",
        "bgp_state": "Established",
        "bgp_uptime": 600,
        "bfd_state": "up",
    }
    n1n3 = data["links"][1]
    assert n1n3["views"]["n3"]["state"] == "degraded" and n1n3["views"]["n1"]["state"] == "down"
    assert "n4: no answer (unreachable, or the play failed there)" in data["problems"]


def test_a_node_that_did_not_answer(nodes):
    del nodes["n3"]
    lines = S.render(nodes, "table", hosts=["n1", "n2", "n3"])
    assert lines[0] == "meshover mesh status, 3 nodes (2 answered), 3 links (1 up, 0 degraded, 2 down)"
    assert lines[6] == "n3     ?                      ?                      ."
    assert "- n3: no answer (unreachable, or the play failed there)" in lines


def test_missing_never_stale_and_not_a_peer(nodes):
    n1 = nodes["n1"]["peers"]
    n1["n2"]["wireguard"]["handshake_age"] = 600  # stale
    n1["n3"]["wireguard"].update(handshake_age=None, latest_handshake=None)  # never
    n1["n3"]["gre"].update(present=False, state=None)
    n1["n3"]["bgp"]["present"] = False
    del nodes["n2"]["peers"]["n3"]  # n2 does not know n3 at all
    lines = S.render(nodes, "table")
    assert lines[0] == "meshover mesh status, 3 nodes (3 answered), 3 links (0 up, 1 degraded, 2 down)"
    assert lines[4] == "n1     .                         10m!  up   Est 10m up     never miss miss    down"
    assert lines[5] == "n2     5s    up   Est 10m up     .                         no peer"
    problems = lines[lines.index("Problems (4)") + 1 :]
    assert "- n1 -> n2: WireGuard handshake 10m ago (stale after 180s)" in problems
    assert "- n1 -> n3: WireGuard never handshaked, no GRE tunnel mo-n3, no BGP session, BFD down" in problems


def test_a_peer_found_but_not_planned_and_an_anonymous_key(nodes):
    extra = copy.deepcopy(nodes["n1"]["peers"]["n2"])
    nodes["n1"]["peers"]["n9"] = dict(extra, name="n9", expected=False, unexpected=True)
    key = "MTpubkeyN4dddddddddddddddddddddddddddddddddd="
    nodes["n1"]["peers"][key] = dict(extra, name=key, expected=False, unexpected=True, anonymous=True)
    data = S.status_data(nodes)
    assert "n1 -> n9: not in the plan" in data["problems"]
    assert "n1: WireGuard peer MTpubkeyN4dd... has no name (not in the plan)" in data["problems"]
    assert [link["id"] for link in data["links"]] == ["n1--n2", "n1--n3", "n1--n9", "n2--n3"]
    assert data["links"][2]["views"]["n9"] is None and data["links"][2]["state"] == "degraded"


@pytest.mark.parametrize(
    "words, state",
    [
        ({"wireguard": "up", "gre": "up", "bgp": "up", "bfd": "up"}, "up"),
        ({"wireguard": "up", "gre": "up", "bgp": "up", "bfd": "off"}, "up"),
        ({"wireguard": "up", "gre": "up", "bgp": "up", "bfd": "down"}, "degraded"),
        ({"wireguard": "up", "gre": "up", "bgp": "unknown", "bfd": "unknown"}, "degraded"),
        ({"wireguard": "stale", "gre": "up", "bgp": "up", "bfd": "up"}, "down"),
        ({"wireguard": "never", "gre": "up", "bgp": "unknown", "bfd": "unknown"}, "down"),
        ({"wireguard": "up", "gre": "missing", "bgp": "up", "bfd": "up"}, "down"),
        ({"wireguard": "up", "gre": "up", "bgp": "down", "bfd": "up"}, "down"),
        ({"wireguard": "unknown", "gre": "unknown", "bgp": "unknown", "bfd": "unknown"}, "unknown"),
    ],
)
def test_view_state(words, state):
    assert S.view_state(words) == state


@pytest.mark.parametrize(
    "states, state",
    [
        (["up", "up"], "up"),
        (["up", "unknown"], "degraded"),
        (["up", "degraded"], "degraded"),
        (["down", "up"], "down"),
        (["down", "unknown"], "down"),
        (["unknown", "unknown"], "unknown"),
    ],
)
def test_link_state(states, state):
    assert S.link_state(states) == state


@pytest.mark.parametrize(
    "seconds, text", [(0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (7200, "2h"), (90000, "1d")]
)
def test_age(seconds, text):
    assert S.age(seconds) == text


def test_unknown_format_names_the_formats(nodes):
    with pytest.raises(S.StatusError, match=r"unknown format 'svg': use one of table, json, dot"):
        S.render(nodes, "svg")


def test_input_must_be_mesh_info_results():
    with pytest.raises(S.StatusError, match="expects a dict"):
        S.render(["n1"], "table")
    with pytest.raises(S.StatusError, match="without peers"):
        S.render({"n1": {"rc": 0}}, "table")


def test_transit_pairs_are_shown_as_such(nodes):
    """n2 and n3 share no underlay family (the plan's transit): no peer of each other, through n1."""
    for a, b in (("n2", "n3"), ("n3", "n2")):
        nodes[a]["peers"].pop(b)
        nodes[a]["expected"] = [p for p in nodes[a]["expected"] if p != b]
    plan = {"n1": {"transit": {}}, "n2": {"transit": {"n3": "n1"}}, "n3": {"transit": {"n2": "n1"}}}
    transit = {h: p["transit"] for h, p in plan.items()}
    data = S.render(nodes, "json", transit=transit)
    assert data["transit"] == [{"nodes": ["n2", "n3"], "via": {"n2": "n1", "n3": "n1"}}]
    assert [link["id"] for link in data["links"]] == ["n1--n2", "n1--n3"]
    table = S.render(nodes, "table", transit=transit)
    n2_row = next(line for line in table if line.startswith("n2 "))
    assert n2_row.rstrip().endswith("via n1"), table
    assert any(line.startswith("via X = the pair shares no underlay address family") for line in table)
    narrow = S.render(nodes, "table", transit=transit, width=20)
    assert next(line for line in narrow if line.startswith("n3 ")).split()[-1] == "."
    assert "v n1" in next(line for line in narrow if line.startswith("n3 "))
    dot = S.render(nodes, "dot", transit=transit)
    assert any('"n2" -- "n3" [style=dashed' in line for line in dot), dot
