# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""meshover Prometheus exporter: parsers, metric model, mesh picture, and the node's script.

PRIVATE to meshover.mesh: not a public API, may change without notice.

This one file is both the collection's module_utils (the pure parts are unit-tested in
tests/unit/plugins/module_utils/test__exporter.py) and the script the role meshover.mesh.exporter
installs on every node (``python3 meshover_exporter.py --config /etc/meshover/exporter.json``).
It reads the commands' output with the collection's node readers, module_utils/node/_kernel.py (standard
library only), which the role installs beside it as ``meshover_kernel.py``: imported from the collection
when this file is imported as module_utils (``__package__`` is set), from that sibling file when it runs
as the script. It needs prometheus_client (Debian's python3-prometheus-client, 0.16 in bookworm, 0.21 in
trixie) for /metrics only, imported where it is used: build_snapshot() and mesh_graph() (which the status
play's filter imports) need the standard library only.

Pure parts: build_snapshot(), metric_families(), prometheus_families(), render_exposition(),
mesh_graph(), render_mesh_html().
Side effects (commands, HTTP) live in Collector, fetch_peer_states(), ExporterServer,
make_server() and main() only.
"""

from __future__ import annotations

import errno
import html
import io
import json
import os
import re
import selectors
import socket
import subprocess
import threading
import time

if __package__:  # the collection's module_utils (unit tests, the controller's filters)
    from ansible_collections.meshover.mesh.plugins.module_utils.node import _kernel as kernel
else:  # the node's script: the role meshover.mesh.exporter installs _kernel.py beside it
    import meshover_kernel as kernel

PREFIX = "meshover_"
DEFAULT_PORT = 9474
# A handshake older than this (seconds) means the WireGuard session is stale (WireGuard re-keys every
# 120 s while traffic flows, and keepalives/BGP keep traffic flowing; 180 s = REJECT_AFTER_TIME).
DEFAULT_HANDSHAKE_STALE = 180
# Background collection: every DEFAULT_INTERVAL seconds (start to start) while someone reads the
# exporter; asleep after DEFAULT_IDLE_AFTER seconds without a request. A snapshot served is at most
# interval + one collection old (< Prometheus's default 15 s scrape interval).
DEFAULT_INTERVAL = 5.0
DEFAULT_IDLE_AFTER = 120.0
COLLECTOR_NICE = 10  # the collector thread and its commands yield the CPU to the HTTP threads
# Clients cannot hold the exporter (ExporterServer). A client has DEFAULT_CLIENT_TIMEOUT seconds from
# connecting to send its request head (at most MAX_HEAD_BYTES) and as long to take the answer; until
# its head is complete it costs a socket, not a thread, and at most DEFAULT_MAX_PENDING wait (the
# oldest is dropped for a new one). Prometheus sends its head at once and reads at once.
DEFAULT_CLIENT_TIMEOUT = 5.0
MAX_HEAD_BYTES = 16384
DEFAULT_MAX_PENDING = 128
# Requests answered at once, one thread each; one more gets 503 at once. systemd counts every thread
# and process of the unit against TasksMax=64 (meshover-exporter.service). Besides the answers:
#   the serving thread (accepts, reads every request head)                                   1
#   the collector thread and its 3 reader threads                                             4
#   its one command, ip (WireGuard and FRR are read from the helpers' sockets: their runs are
#   tasks of their own units, meshover-exporter-wg@ and meshover-exporter-frr@)              1
#   that is 6; 16 answers make 22, far from the limit. /mesh.html starts no thread
#   (one selector reads every peer), and at most MAX_MESH_PAGES are drawn at once (each holds a
#   socket per peer: file descriptors stay far below systemd's default limit of 1024).
DEFAULT_MAX_REQUESTS = 16
MAX_MESH_PAGES = 2
# /mesh.html: the body of a peer's /state.json may be at most this long (50 peers' state is ~45 KiB).
DEFAULT_PEER_STATE_MAX_BYTES = 1 << 20


# ---------------------------------------------------------------- snapshot and metrics (pure)


def _peer_names(config: dict) -> dict:
    """Public key -> name of the configured peer (the first one listed with that key): one lookup per
    WireGuard peer, not a scan of the peer list for each (N-1 peers: O(N), not O(N^2))."""
    names: dict = {}
    for p in config.get("peers", []):
        names.setdefault(p.get("public_key"), p["name"])
    return names


def build_snapshot(config: dict, outputs: dict, now: float) -> dict:
    """One node's state from the raw outputs of its commands.

    outputs: {"wg": str or None, "ip": str or None, "frr": str or None}; None = the command failed.
    A part that cannot be parsed, whatever the reason (a parse error, JSON of an unexpected shape), is
    dropped whole and named in ``errors``: never an exception, never half a part.
    """
    snap = {
        "hostname": config["hostname"],
        "asn": str(config.get("asn", "")),
        "router_id": config.get("router_id") or "",
        "loopback6": config.get("loopback6") or "",
        "loopback4": config.get("loopback4") or "",
        "frr_mode": config.get("frr_mode") or "",
        "frr_version": "",
        "time": now,
        "peers": sorted(p["name"] for p in config.get("peers", [])),
        "wireguard": None,
        "gre": None,
        "bgp": None,
        "bfd": None,
        "errors": {},
    }
    tunnels = {p.get("tunnel"): p["name"] for p in config.get("peers", []) if p.get("tunnel")}
    names = _peer_names(config)
    wg_if = config.get("wg_interface")

    def frr(text):
        value = kernel.parse_frr_output(text)
        # The tunnel name identifies the peer (FRR's description is "<peer> AS<asn>").
        if value["bgp"] is not None:
            value["bgp"] = [
                dict(s, peer_host=tunnels.get(s["neighbor"]) or (s["peer_host"].split() or [""])[0])
                for s in kernel.bgp_sessions(value["bgp"])
            ]
        if value["bfd"] is not None:
            value["bfd"] = [
                dict(b, peer_host=kernel.bfd_owner(b, tunnels, link_locals)) for b in kernel.bfd_peers(value["bfd"])
            ]
        return value

    def wireguard(text):
        devices = kernel.parse_wg_dump_all(text)
        return [
            {
                "interface": ifname,
                "public_key": p["public_key"],
                "endpoint": p["endpoint"],
                "allowed_ips": p["allowed_ips"],
                "latest_handshake": p["latest_handshake"],
                "rx_bytes": p["rx"],
                "tx_bytes": p["tx"],
                "peer": names.get(p["public_key"], ""),
                "handshake_age": (now - p["latest_handshake"]) if p["latest_handshake"] else None,
            }
            for ifname, device in devices.items()
            if not wg_if or ifname == wg_if
            for p in device["peers"].values()
        ]

    link_locals: dict = {}  # the peers' link-local addresses, from the tunnels gre() reads before frr()

    def gre(text):
        links = kernel.parse_links(text)
        link_locals.update(kernel.tunnel_link_locals(links, tunnels))
        return [
            {
                "mtu": int(link["mtu"] or 0),
                "operstate": link["operstate"],
                "admin_up": link["admin_up"],
                "up": link["up"],
                "kind": link["kind"],
                "alias": link["alias"],
                "name": link["name"],
                "peer": tunnels[link["name"]],
            }
            for link in sorted(links, key=lambda link: link["name"])
            if link["name"] in tunnels
        ]

    parsers = {
        "wireguard": wireguard,
        "gre": gre,
        "frr": frr,
    }
    sources = {"wireguard": "wg", "gre": "ip", "frr": "frr"}
    for part, parse in parsers.items():
        text = outputs.get(sources[part])
        if text is None:
            snap["errors"][part] = outputs.get(sources[part] + "_error") or "command failed"
            continue
        try:
            value = parse(text)
        except Exception as exc:  # output of any shape: this part is down, the collection goes on
            snap["errors"][part] = f"parse error: {type(exc).__name__}: {exc}"[:300]
            continue
        if part == "frr":
            snap["bgp"], snap["bfd"], snap["frr_version"] = value["bgp"], value["bfd"], value["version"] or ""
            if value["bgp"] is None:
                snap["errors"]["frr"] = "no BGP summary (bgpd down?)"
        else:
            snap[part] = value
    return snap


def peer_statuses(snap: dict, stale: float = DEFAULT_HANDSHAKE_STALE, peers=None) -> dict:
    """This node's view of each of ``peers`` (default: its own peers): {peer: peer_status()}.

    One pass over the snapshot's WireGuard peers and BGP sessions for all of them: a node with N-1 peers
    costs O(N), where asking peer_status() for each peer would scan them all N-1 times (O(N^2), and
    O(N^3) for mesh_graph() over the whole mesh).
    """
    wireguard, bgp = snap.get("wireguard"), snap.get("bgp")
    ages: dict = {}
    for p in wireguard or []:
        ages[p["peer"]] = p["handshake_age"]  # a peer listed twice: the last entry counts
    codes: dict = {}
    for s in bgp or []:
        codes.setdefault(s["peer_host"], []).append(s["state_code"])
    out = {}
    for peer in snap["peers"] if peers is None else peers:
        wg, bgp_state, age = "unknown", "unknown", None
        if wireguard is not None:
            wg = "down"
            if peer in ages:
                age = ages[peer]
                wg = "up" if age is not None and age <= stale else "down"
        if bgp is not None:
            states = codes.get(peer, [])
            bgp_state = "up" if states and all(c == 1 for c in states) else "down"
        out[peer] = {"wg": wg, "bgp": bgp_state, "handshake_age": age}
    return out


def peer_status(snap: dict, peer: str, stale: float = DEFAULT_HANDSHAKE_STALE) -> dict:
    """This node's view of one peer: wg (up/down/unknown), bgp (up/down/unknown), handshake age."""
    return peer_statuses(snap, stale, [peer])[peer]


def edge_id(a: str, b: str) -> str:
    """Mesh-wide id of the edge between two hosts: the sorted names joined by ``--``."""
    first, second = sorted((a, b))
    return f"{first}--{second}"


def _fmt_age(age: float | None) -> str:
    return "never" if age is None else f"{int(age)}s"


NAN, INF = float("nan"), float("inf")


def metric_families(
    snap: dict, errors_total: dict | None = None, stale: float = DEFAULT_HANDSHAKE_STALE, timing: dict | None = None
) -> list:
    """The metric model: a list of (name, type, help, [(labels dict, value)]).

    type is gauge, counter (the name lacks _total) or info (the name ends in _info, the value is 1).
    No label carries a value that changes while the mesh runs (a state, an age, a count): every node,
    peer, session and edge is one series for its whole life, and what changes is its sample value.
    Info series (node_info, frr_info, wg_peer_info) change only when the configuration or the FRR
    version does. render_exposition() and MeshCollector turn this model into prometheus_client's
    metric families. timing (from Collector.timing()): {"age", "duration", "interval"} in seconds,
    emitted as the exporter_* gauges that make a stale snapshot visible; None (a one-off render)
    emits none.
    """
    fams = []

    def fam(name, mtype, doc, samples):
        fams.append((PREFIX + name, mtype, doc, samples))

    host = snap["hostname"]
    fam(
        "node_info",
        "info",
        "This node: hostname, ASN, router id, loopbacks and FRR mode (value 1).",
        [
            (
                {
                    "hostname": host,
                    "asn": snap["asn"],
                    "router_id": snap["router_id"],
                    "loopback6": snap["loopback6"],
                    "loopback4": snap["loopback4"],
                    "frr_mode": snap["frr_mode"],
                },
                1,
            )
        ],
    )
    if snap["frr_version"]:
        fam(
            "frr_info",
            "info",
            "The FRR version that answered the latest collection (value 1).",
            [({"version": snap["frr_version"]}, 1)],
        )
    parts = ("wireguard", "gre", "frr")
    fam(
        "collector_up",
        "gauge",
        "1 if the collector's command ran and parsed in the latest collection.",
        [({"collector": c}, 0 if c in snap["errors"] else 1) for c in parts],
    )
    errors_total = errors_total or {}
    fam(
        "collector_errors",
        "counter",
        "Failed or unparsable collector runs since the exporter started.",
        [({"collector": c}, errors_total.get(c, 0)) for c in parts],
    )
    if timing is not None:
        fam(
            "exporter_snapshot_age_seconds",
            "gauge",
            "Seconds since the state served was collected (at most interval + one collection when healthy).",
            [({}, round(timing["age"], 3))],
        )
        fam(
            "exporter_collection_duration_seconds",
            "gauge",
            "Seconds the latest collection (all commands, in parallel) took.",
            [({}, round(timing["duration"], 3))],
        )
        fam(
            "exporter_collect_interval_seconds",
            "gauge",
            "Configured interval between the starts of two background collections.",
            [({}, float(timing["interval"]))],
        )
    if snap["wireguard"] is not None:
        wg = snap["wireguard"]

        def lab(p):
            return {"interface": p["interface"], "peer": p["peer"], "public_key": p["public_key"]}

        fam(
            "wg_peer_info",
            "info",
            "WireGuard peer (value 1): its endpoint and allowed ips.",
            [(dict(lab(p), endpoint=p["endpoint"] or "", allowed_ips=",".join(p["allowed_ips"])), 1) for p in wg],
        )
        fam(
            "wg_peer_latest_handshake_seconds",
            "gauge",
            "Unix time of the latest handshake with the peer (0 = never).",
            [(lab(p), p["latest_handshake"]) for p in wg],
        )
        fam(
            "wg_peer_handshake_age_seconds",
            "gauge",
            "Seconds since the latest handshake with the peer (+Inf = never).",
            [(lab(p), INF if p["handshake_age"] is None else round(p["handshake_age"], 3)) for p in wg],
        )
        fam("wg_peer_received_bytes", "counter", "Bytes received from the peer.", [(lab(p), p["rx_bytes"]) for p in wg])
        fam("wg_peer_sent_bytes", "counter", "Bytes sent to the peer.", [(lab(p), p["tx_bytes"]) for p in wg])
    if snap["gre"] is not None:
        gre = snap["gre"]
        fam(
            "gre_tunnel_up",
            "gauge",
            "1 if the GRE tunnel to the peer is admin up and operationally UP/UNKNOWN with LOWER_UP.",
            [({"tunnel": t["name"], "peer": t["peer"]}, 1 if t["up"] else 0) for t in gre],
        )
        fam(
            "gre_tunnel_mtu_bytes",
            "gauge",
            "MTU of the GRE tunnel to the peer.",
            [({"tunnel": t["name"], "peer": t["peer"]}, t["mtu"]) for t in gre],
        )
    if snap["bgp"] is not None:
        bgp = snap["bgp"]

        def blab(s):
            return {"afi": s["afi"], "safi": s["safi"], "peer": s["neighbor"], "peer_host": s["peer_host"]}

        fam(
            "bgp_peer_state",
            "gauge",
            "BGP session state: 1 = Established, 0 = down, 2 = administratively down, 3 = stopped by maximum-prefix.",
            [(dict(blab(s), remote_as=s["remote_as"]), s["state_code"]) for s in bgp],
        )
        fam(
            "bgp_peer_uptime_seconds",
            "gauge",
            "Seconds the session has been Established (0 when down).",
            [(blab(s), s["uptime_seconds"]) for s in bgp],
        )
        fam(
            "bgp_peer_prefixes_received",
            "gauge",
            "Prefixes accepted from the neighbour.",
            [(blab(s), s["prefixes_received"]) for s in bgp],
        )
        fam(
            "bgp_peer_prefixes_advertised",
            "gauge",
            "Prefixes advertised to the neighbour.",
            [(blab(s), s["prefixes_advertised"]) for s in bgp],
        )
    if snap["bfd"] is not None:
        fam(
            "bfd_peer_state",
            "gauge",
            "BFD session state: 1 = up, 0 = anything else.",
            [
                ({"peer": b["peer"], "interface": b["interface"], "peer_host": b["peer_host"]}, b["up"])
                for b in snap["bfd"]
            ],
        )
    # Node Graph: one node series per node (each node emits its own), one edge per configured peer:
    # both ends of a pair emit it, with the same labels (id, source and target = the sorted pair), so
    # an edge outlives either end's exporter and the dashboard can ask whether every end sees it up.
    # Labels are names only, the stats are the values (the dashboard's queries turn them into the
    # panel's fields).
    views = peer_statuses(snap, stale)
    up = sum(1 for v in views.values() if v["bgp"] == "up")
    node = {"id": host, "title": host, "subtitle": f"AS{snap['asn']}"}
    fam("graph_node", "gauge", "Node Graph node (value = peers with BGP up).", [(node, up)])
    edges = [
        ({"id": edge_id(host, peer), "source": min(host, peer), "target": max(host, peer)}, view)
        for peer, view in sorted(views.items())
    ]
    fam(
        "graph_edge",
        "gauge",
        "Node Graph edge between two peers as this end sees it (1 = WireGuard handshake fresh and BGP up, "
        "0 = not); both ends emit it, source and target are the sorted pair.",
        [(lab, 1 if v["wg"] == "up" and v["bgp"] == "up" else 0) for lab, v in edges],
    )
    fam(
        "graph_edge_handshake_age_seconds",
        "gauge",
        "Node Graph edge: seconds since this end's latest WireGuard handshake with the other end "
        "(+Inf = never, NaN = WireGuard not read).",
        [
            (lab, NAN if v["wg"] == "unknown" else INF if v["handshake_age"] is None else round(v["handshake_age"], 3))
            for lab, v in edges
        ],
    )
    return fams


def prometheus_families(families: list) -> list:
    """metric_families() as prometheus_client metric families (the library escapes and formats)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

    result = []
    for name, mtype, doc, samples in families:
        if mtype == "info":
            family = InfoMetricFamily(name[: -len("_info")], doc, labels=[])
            for labels, _one in samples:
                family.add_metric([], {k: str(v) for k, v in labels.items()})
        else:
            family = (CounterMetricFamily if mtype == "counter" else GaugeMetricFamily)(name, doc)
            sample = name + "_total" if mtype == "counter" else name
            for labels, value in samples:
                family.add_sample(sample, {k: str(v) for k, v in labels.items()}, float(value))
        result.append(family)
    return result


class MeshCollector:
    """prometheus_client's custom collector of the node's state: the families of the latest snapshot.

    ``source`` has a families() method returning metric_families() (Collector, or a fixed list's
    holder in tests). Registered with a CollectorRegistry next to prometheus_client's ProcessCollector.
    """

    def __init__(self, source):
        self.source = source

    def collect(self):
        yield from prometheus_families(self.source.families())


class _Fixed:
    def __init__(self, families: list):
        self._families = families

    def families(self) -> list:
        return self._families


def render_exposition(families: list, openmetrics: bool = False) -> str:
    """metric_families() in Prometheus's text format 0.0.4 (or OpenMetrics 1.0), by prometheus_client."""
    if openmetrics:
        from prometheus_client.openmetrics.exposition import generate_latest
    else:
        from prometheus_client.exposition import generate_latest
    return generate_latest(MeshCollector(_Fixed(families))).decode()


def metrics_registry(source):
    """What /metrics serves: the mesh (MeshCollector of ``source``) and this process (process_*)."""
    from prometheus_client import CollectorRegistry, ProcessCollector

    registry = CollectorRegistry()
    registry.register(MeshCollector(source))
    ProcessCollector(registry=registry)
    return registry


# ---------------------------------------------------------------- the mesh picture (pure)

COLOURS = {"up": "#2e7d32", "partial": "#ef6c00", "down": "#c62828", "unknown": "#9e9e9e"}


def mesh_graph(snapshots: list[dict], stale: float = DEFAULT_HANDSHAKE_STALE) -> dict:
    """Merge the snapshots of several nodes into {nodes: [...], edges: [...]}.

    Every host that is a snapshot or a peer of one is a node (``reached`` false if no snapshot).
    One edge per pair; its state combines both ends' views: up when every known view has WireGuard
    and BGP up, down when no known view has, partial otherwise, unknown when neither end answered.
    """
    by_host = {s["hostname"]: s for s in snapshots}
    hosts = sorted(set(by_host) | {p for s in snapshots for p in s["peers"]})
    nodes = [
        {
            "id": h,
            "reached": h in by_host,
            "asn": by_host[h]["asn"] if h in by_host else "",
            "loopback6": by_host[h]["loopback6"] if h in by_host else "",
            "errors": sorted(by_host[h]["errors"]) if h in by_host else [],
        }
        for h in hosts
    ]
    pairs = sorted({tuple(sorted((s["hostname"], p))) for s in snapshots for p in s["peers"]})
    seen = {h: peer_statuses(s, stale) for h, s in by_host.items()}  # each node's view of each of its peers
    edges = []
    for a, b in pairs:
        views = {}
        for me, other in ((a, b), (b, a)):
            if me in seen and other in seen[me]:
                views[me] = seen[me][other]
        known = [v for v in views.values() if v["wg"] != "unknown" or v["bgp"] != "unknown"]
        good = [v["wg"] == "up" and v["bgp"] == "up" for v in known]
        if not known:
            state = "unknown"
        elif all(good):
            state = "up"
        elif not any(good):
            state = "down"
        else:
            state = "partial"
        edges.append({"id": edge_id(a, b), "source": a, "target": b, "state": state, "views": views})
    return {"nodes": nodes, "edges": edges}


def render_mesh_html(graph: dict, title: str = "meshover mesh", generated: str = "") -> str:
    """A self-contained HTML page: an inline SVG of the mesh (nodes on a circle) and a table of edges."""
    import math

    nodes, edges = graph["nodes"], graph["edges"]
    n = max(len(nodes), 1)
    size, radius = 640, 250
    centre = size / 2
    pos = {}
    for i, node in enumerate(nodes):
        angle = 2 * math.pi * i / n - math.pi / 2
        pos[node["id"]] = (centre + radius * math.cos(angle), centre + radius * math.sin(angle))
    esc = html.escape
    svg = [
        f'<svg id="mesh" xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">'
    ]
    for e in edges:
        (x1, y1), (x2, y2) = pos[e["source"]], pos[e["target"]]
        svg.append(
            f'<line class="edge {e["state"]}" data-id="{esc(e["id"])}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" '
            f'y2="{y2:.1f}" stroke="{COLOURS[e["state"]]}" stroke-width="4">'
            f"<title>{esc(e['id'])}: {e['state']}</title></line>"
        )
    for node in nodes:
        x, y = pos[node["id"]]
        fill = "#1565c0" if node["reached"] else "#9e9e9e"
        svg.append(
            f'<g class="node" data-id="{esc(node["id"])}"><circle cx="{x:.1f}" cy="{y:.1f}" r="28" fill="{fill}"/>'
            f'<text x="{x:.1f}" y="{y + 5:.1f}" text-anchor="middle" fill="#fff" font-size="14" '
            f'font-family="sans-serif">{esc(node["id"])}</text></g>'
        )
    svg.append("</svg>")
    rows = []
    for e in edges:
        detail = "; ".join(
            f"{esc(me)}: wg {v['wg']} ({_fmt_age(v['handshake_age'])}), bgp {v['bgp']}"
            for me, v in sorted(e["views"].items())
        )
        rows.append(
            f'<tr class="{e["state"]}"><td>{esc(e["id"])}</td><td style="color:{COLOURS[e["state"]]}">'
            f"{e['state']}</td><td>{detail or 'no data'}</td></tr>"
        )
    node_rows = "".join(
        f"<tr><td>{esc(x['id'])}</td><td>{'yes' if x['reached'] else 'no'}</td><td>{esc(x['asn'])}</td>"
        f"<td>{esc(x['loopback6'])}</td><td>{esc(', '.join(x['errors']))}</td></tr>"
        for x in nodes
    )
    legend = " ".join(f'<span style="color:{c}">&#9632; {k}</span>' for k, c in COLOURS.items())
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        + esc(title)
        + "</title><style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}</style></head><body>"
        + f"<h1>{esc(title)}</h1><p>{esc(generated)} {len(nodes)} nodes, {len(edges)} edges. {legend}</p>"
        + "".join(svg)
        + '<h2>Links</h2><table id="edges"><tr><th>edge</th><th>state</th><th>views</th></tr>'
        + "".join(rows)
        + '</table><h2>Nodes</h2><table id="nodes"><tr><th>node</th><th>answered</th><th>ASN</th>'
        "<th>loopback6</th><th>collector errors</th></tr>" + node_rows + "</table></body></html>\n"
    )


# ---------------------------------------------------------------- WireGuard's public state (the wg helper)
#
# The exporter has no CAP_NET_ADMIN: `wg show` over netlink needs it, and with it the WireGuard private
# key could be read. A socket-activated helper run (meshover-exporter-wg@.service: the exporter's user,
# CAP_NET_ADMIN and nothing else, no argument from the client) runs the role's shell script
# meshover-wg-state: `wg show all dump` with the interface's private key and any preshared key replaced
# by "(hidden)" and every line of another shape dropped. The exporter reads it with the one reader of
# the dump, parse_wg_dump_all() (which keeps a preshared key only as has_preshared_key).


# ---------------------------------------------------------------- side effects (node only)

# The longest answer taken from a helper's socket (vtysh's JSON for 300 peers is about 1 MiB).
DEFAULT_HELPER_MAX_BYTES = 16 << 20


def read_helper(path: str, timeout: float, max_bytes: int = DEFAULT_HELPER_MAX_BYTES) -> tuple[str | None, str]:
    """Ask a socket-activated helper (a systemd socket with Accept=yes: one helper run per connection)
    for its answer: connect, send nothing, read to the end within ``timeout`` seconds, at most
    ``max_bytes``. (text, "") or (None, reason), like run_command()."""
    deadline = time.monotonic() + timeout
    chunks, size = [], 0
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.shutdown(socket.SHUT_WR)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, f"timeout after {timeout}s"
                sock.settimeout(left)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    return None, f"{path}: answer longer than {max_bytes} bytes"
                chunks.append(chunk)
    except socket.timeout:
        return None, f"timeout after {timeout}s"
    except OSError as exc:
        return None, f"{path}: {exc.strerror or exc}"
    text = b"".join(chunks).decode("utf-8", "replace")
    if not text.strip():
        return None, f"{path}: the helper printed nothing (its errors are in the journal of its unit)"
    return text, ""


def run_command(argv: list[str] | dict, timeout: float) -> tuple[str | None, str]:
    """Run one command with a timeout; (stdout, "") on success, (None, reason) on any failure.

    ``{"socket": path}`` instead of a command asks a helper's socket (read_helper())."""
    if isinstance(argv, dict):
        return read_helper(argv["socket"], timeout)
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={"LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    except subprocess.TimeoutExpired:
        return None, f"timeout after {timeout}s"
    except OSError as exc:
        return None, str(exc)
    if proc.returncode != 0 and not proc.stdout.strip():
        return None, f"exit {proc.returncode}: {proc.stderr.strip()[:200]}"
    return proc.stdout, ""


class Collector:
    """Collects the node's state in a background thread; requests are served the latest snapshot.

    A collection runs the three commands in parallel (each under ``timeout``) every ``interval``
    seconds, start to start, so a snapshot is at most interval + one collection old (on a node so
    loaded that a collection takes more than interval / 2, at most three collections old: the
    thread then pauses as long as the collection took). While nobody
    has asked for a snapshot for ``idle_after`` seconds the thread sleeps (no commands run); the
    first request after that wakes it and waits for a fresh snapshot (at most ``timeout`` + 1 s).
    ``run`` is the command runner (run_command; tests pass a fake).

    Errors never leave the last good state current: a command that fails or prints something of an
    unexpected shape makes its part absent from the next snapshot (collector_up 0); a collection that
    fails as a whole publishes a snapshot with every part down; and a snapshot older than ``max_age``
    (the collector stalled) is served with every part down, its age unchanged.
    """

    def __init__(self, config: dict, run=run_command):
        self.run = run
        self.errors_total = {"wireguard": 0, "gre": 0, "frr": 0}
        self._configure(config)
        self.collections = 0  # finished collections (the snapshot's generation)
        self.duration = 0.0  # seconds the latest collection took
        self._snap: dict | None = None
        self._published = 0.0  # time.monotonic() of the latest snapshot
        self._cond = threading.Condition()
        self._last_request = time.monotonic()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def _configure(self, config: dict) -> None:
        self.config = config
        self.stale = float(config.get("handshake_stale", DEFAULT_HANDSHAKE_STALE))
        self.timeout = float(config.get("timeout", 2.0))
        self.interval = max(0.01, float(config.get("interval", DEFAULT_INTERVAL)))
        self.idle_after = max(self.interval, float(config.get("idle_after", DEFAULT_IDLE_AFTER)))
        # A healthy snapshot is at most max(interval, 2 collections) + one collection old, and a
        # collection takes at most about timeout (its commands run in parallel): twice that bound.
        self.max_age = float(config.get("max_age") or 2 * (max(self.interval, 2 * self.timeout) + self.timeout))

    def reconfigure(self, config: dict) -> None:
        """Take a new configuration (SIGHUP: the peers after a node joined or left): the next collection
        and every request from now on use it; the counters go on. The collection starts at once."""
        with self._cond:
            self._configure(config)
            self._cond.notify_all()

    def collect(self) -> dict:
        """One collection, synchronously: run the commands, parse, count errors, publish."""
        from concurrent.futures import ThreadPoolExecutor

        start = time.monotonic()
        commands = self.config["commands"]
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            futures = {key: pool.submit(self.run, argv, self.timeout) for key, argv in commands.items()}
            outputs = {}
            for key, fut in futures.items():
                try:
                    outputs[key], outputs[key + "_error"] = fut.result()
                except Exception as exc:  # a runner that raises fails its part only
                    outputs[key], outputs[key + "_error"] = None, f"collector error: {type(exc).__name__}: {exc}"
        snap = build_snapshot(self.config, outputs, time.time())
        self._publish(snap, start)
        return snap

    def _down(self, reason: str, when: float) -> dict:
        """A snapshot of this node with every part down for one reason, dated ``when``."""
        return build_snapshot(self.config, {f"{key}_error": reason for key in ("wg", "ip", "frr")}, when)

    def _publish(self, snap: dict, start: float) -> None:
        with self._cond:
            for part in snap["errors"]:
                self.errors_total[part] += 1
            self._snap = snap
            self._published = time.monotonic()
            self.duration = self._published - start
            self.collections += 1
            self._cond.notify_all()

    def snapshot(self) -> dict:
        """One synchronous collection (kept for callers that want fresh state, e.g. tests)."""
        return self.collect()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="meshover-collector", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _idle(self, now: float) -> bool:
        return now - self._last_request > self.idle_after

    def _loop(self) -> None:
        # Lower this thread's CPU priority (Linux: per thread, inherited by the worker threads and
        # commands it starts), so a scrape is served promptly even while `podman exec` or `docker exec` runs.
        try:
            tid = threading.get_native_id()  # relative: a service started with Nice= keeps the gap
            os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + COLLECTOR_NICE, 19))
        except (AttributeError, OSError):
            pass
        while True:
            start = time.monotonic()
            try:
                self.collect()
            except Exception as exc:  # never let the thread die, nor the last good state look current
                try:
                    self._publish(self._down(f"collection failed: {type(exc).__name__}: {exc}", time.time()), start)
                except Exception:  # nothing left to report with: the age gauge and max_age show the gap
                    pass
            with self._cond:
                # Start to start every interval; a collection slower than interval / 2 (an overloaded
                # node) is followed by a pause as long as itself: collection never takes over the CPU.
                deadline = start + max(self.interval, 2 * (time.monotonic() - start))
                while not self._stopping:
                    now = time.monotonic()
                    if self._idle(now):
                        self._cond.wait()  # until a request (or stop) wakes us
                    elif now >= deadline:
                        break
                    else:
                        self._cond.wait(deadline - now)
                if self._stopping:
                    return

    def current(self) -> dict:
        """The latest snapshot, at once; after an idle period (or before the first) a fresh one."""
        with self._cond:
            now = time.monotonic()
            woke = self._idle(now) or self._snap is None
            self._last_request = now
            if woke:
                generation = self.collections
                self._cond.notify_all()
                self._cond.wait_for(lambda: self.collections > generation, timeout=self.timeout + 1.0)
            if self._snap is None:  # the first collection has not finished in time
                return build_snapshot(self.config, {}, time.time())
            snap, age = self._snap, time.monotonic() - self._published
        if age > self.max_age:  # the collector stalled: say so rather than serve old data as current
            return self._down(f"stale: collected {age:.0f} s ago (more than {self.max_age:g} s)", snap["time"])
        return snap

    def timing(self, snap: dict) -> dict:
        return {"age": max(0.0, time.time() - snap["time"]), "duration": self.duration, "interval": self.interval}

    def families(self) -> list:
        snap = self.current()
        with self._cond:
            errors = dict(self.errors_total)
        return metric_families(snap, errors, self.stale, self.timing(snap))


def _response_done(buf: bytearray, max_bytes: int) -> bool:
    """Whether an HTTP response read so far is complete by its Content-Length; ValueError if too large."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD_BYTES:
            raise ValueError("response head too large")
        return False
    match = re.search(rb"(?im)^content-length:[ \t]*([0-9]+)[ \t]*\r?$", bytes(buf[:end]))
    if match and int(match.group(1)) > max_bytes:
        raise ValueError("response body too large")
    if len(buf) - end - 4 > max_bytes:
        raise ValueError("response body too large")
    return bool(match) and len(buf) - end - 4 >= int(match.group(1))


def _drawable(state) -> bool:
    """Whether a peer's /state.json can be drawn: the fields mesh_graph() and render_mesh_html() use."""
    if not (isinstance(state, dict) and isinstance(state.get("hostname"), str)):
        return False
    if not (isinstance(state.get("peers"), list) and all(isinstance(p, str) for p in state["peers"])):
        return False
    try:
        render_mesh_html(mesh_graph([state]))
    except Exception:  # any other shape: the peer counts as not answering
        return False
    return True


def _peer_state(raw: bytes) -> dict | None:
    """The state in one raw HTTP response (http.client parses it), None unless 200 with a drawable state."""
    from http.client import HTTPException, HTTPResponse

    class Received:  # what HTTPResponse reads from: the bytes already received
        def makefile(self, *_args, **_kwargs):
            return io.BytesIO(raw)

    try:
        resp = HTTPResponse(Received())
        resp.begin()
        state = json.loads(resp.read().decode()) if resp.status == 200 else None
    except (HTTPException, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    return state if _drawable(state) else None


def fetch_peer_states(config: dict, timeout: float, max_bytes: int | None = None) -> list[dict]:
    """The /state.json of every peer exporter (listed in the config with its URL), all at once.

    Bounded in time and size: one deadline, ``timeout`` seconds after the call, ends connecting,
    sending and reading for every peer together, and a response body may be at most ``max_bytes``
    (config ``peer_state_max_bytes``, default 1 MiB). A peer that refuses, answers too slowly, sends
    too much or something that is not a state is left out: /mesh.html shows it as not answering.
    No thread: one selector over every peer's socket (the URLs hold addresses, not names to resolve).
    """
    from urllib.parse import urlsplit

    limit = int(max_bytes or config.get("peer_state_max_bytes", DEFAULT_PEER_STATE_MAX_BYTES))
    deadline = time.monotonic() + timeout
    urls = [p["state_url"] for p in config.get("peers", []) if p.get("state_url")]
    received: dict[int, bytes] = {}
    sel = selectors.DefaultSelector()

    def step(sock: socket.socket, conn: list) -> bool:
        """Move one peer on (conn: [index, bytes to send, bytes received]); True when it is done."""
        if conn[1]:  # connecting, then sending the request
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            conn[1] = conn[1][sock.send(conn[1]) :]
            if not conn[1]:
                sel.modify(sock, selectors.EVENT_READ, conn)
            return False
        chunk = sock.recv(65536)
        conn[2] += chunk
        if chunk and not _response_done(conn[2], limit):
            return False
        received[conn[0]] = bytes(conn[2])  # complete, or the peer closed: parsed below
        return True

    try:
        for index, url in enumerate(urls):
            sock = None
            try:
                parts = urlsplit(url)
                family, _type, _proto, _name, address = socket.getaddrinfo(
                    parts.hostname, parts.port or DEFAULT_PORT, type=socket.SOCK_STREAM
                )[0]
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setblocking(False)
                err = sock.connect_ex(address)
                if err not in (0, errno.EINPROGRESS):
                    raise OSError(err, os.strerror(err))
            except (OSError, ValueError):  # a bad URL or an unreachable peer: left out
                if sock is not None:
                    sock.close()
                continue
            request = f"GET {parts.path or '/state.json'} HTTP/1.0\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
            sel.register(sock, selectors.EVENT_WRITE, [index, request.encode(), bytearray()])
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _events in sel.select(remaining):
                try:
                    if not step(key.fileobj, key.data):
                        continue
                except BlockingIOError:  # a spurious wake-up: wait again
                    continue
                except (OSError, ValueError):  # refused, reset, too large: left out
                    pass
                sel.unregister(key.fileobj)
                key.fileobj.close()
    finally:  # past the deadline: whoever has not answered is left out
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()
    states = (_peer_state(received[i]) for i in sorted(received))
    return [s for s in states if s is not None]


class _SocketWriter(io.BufferedIOBase):
    """A handler's wfile: each write is one sendall(), which the socket's timeout bounds as a whole."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self._sock.sendall(b)
        with memoryview(b) as view:
            return view.nbytes


class ExporterServer:
    """The exporter's HTTP server: a thread per request being answered, none per connection.

    The serving thread accepts connections and reads their request heads (request line and
    headers, at most MAX_HEAD_BYTES) without blocking, all at once: a client that connects and
    sends nothing, or sends slowly, costs a socket, no thread, and is dropped ``client_timeout``
    seconds after it connected. At most ``max_pending`` such connections wait; the oldest is
    dropped to make room for a new one. A complete head gets a thread if fewer than
    ``max_requests`` requests are being answered, else an immediate 503 from the serving thread.
    The answer must be written within ``client_timeout`` seconds too (socket timeout on sendall).
    One request per connection (HTTP/1.0, as http.server answers by default).
    ``handler`` is a BaseHTTPRequestHandler class whose setup() takes (socket, head) as its request.
    """

    def __init__(
        self,
        address: str,
        port: int,
        handler,
        client_timeout: float = DEFAULT_CLIENT_TIMEOUT,
        max_requests: int = DEFAULT_MAX_REQUESTS,
        max_pending: int = DEFAULT_MAX_PENDING,
    ):
        self.handler = handler
        self.client_timeout = max(0.1, float(client_timeout))
        self.max_requests = max(1, int(max_requests))
        self.max_pending = max(1, int(max_pending))
        self.socket = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # The loopback may appear after the exporter starts (FRR's zebra adds it): bind anyway.
            self.socket.setsockopt(socket.SOL_IP, getattr(socket, "IP_FREEBIND", 15), 1)
            self.socket.bind((address, port))
            self.socket.listen(128)
            self.socket.setblocking(False)
        except OSError:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()[:2]
        self._slots = threading.BoundedSemaphore(self.max_requests)
        self._pending: dict[socket.socket, list] = {}  # socket -> [deadline, head so far, client]; oldest first
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._serving = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.socket, selectors.EVENT_READ, "listen")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._serving.set()
        try:
            while not self._stopping:
                timeout = None
                if self._pending:  # one client_timeout for all: the oldest is the next to expire
                    timeout = max(0.0, next(iter(self._pending.values()))[0] - time.monotonic())
                for key, _events in sel.select(timeout):
                    if key.data == "listen":
                        self._accept(sel)
                    elif key.data == "wake":  # shutdown(): the loop's condition ends it
                        self._wake_r.recv(64)
                    else:
                        self._read(sel, key.fileobj)
                now = time.monotonic()
                while self._pending and next(iter(self._pending.values()))[0] <= now:
                    self._drop(sel, next(iter(self._pending)))
        finally:
            for conn in list(self._pending):
                self._drop(sel, conn)
            sel.close()
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serve_forever() (from another thread) and wait for it; answers in progress finish."""
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._serving.is_set():
            self._stopped.wait()

    def server_close(self) -> None:
        for sock in (self.socket, self._wake_r, self._wake_w):
            sock.close()

    def _drop(self, sel, conn: socket.socket) -> None:
        del self._pending[conn]
        sel.unregister(conn)
        conn.close()

    def _accept(self, sel) -> None:
        for _burst in range(64):  # then the waiting connections get their turn
            try:
                conn, client = self.socket.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):  # out of descriptors: free one
                    if self._pending:
                        self._drop(sel, next(iter(self._pending)))
                    else:
                        time.sleep(0.05)  # every descriptor answers a request: let them finish
                return
            if len(self._pending) >= self.max_pending:
                self._drop(sel, next(iter(self._pending)))  # the oldest, the closest to its timeout
            conn.setblocking(False)
            self._pending[conn] = [time.monotonic() + self.client_timeout, bytearray(), client]
            sel.register(conn, selectors.EVENT_READ)

    def _read(self, sel, conn: socket.socket) -> None:
        _deadline, head, client = self._pending[conn]
        try:
            chunk = conn.recv(MAX_HEAD_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self._drop(sel, conn)
            return
        head += chunk
        if b"\r\n\r\n" in head or b"\n\n" in head:
            del self._pending[conn]
            sel.unregister(conn)
            self._dispatch(conn, bytes(head), client)
        elif len(head) > MAX_HEAD_BYTES:
            del self._pending[conn]
            sel.unregister(conn)
            self._refuse(conn, 431, "Request Header Fields Too Large")

    def _dispatch(self, conn: socket.socket, head: bytes, client) -> None:
        if self._slots.acquire(blocking=False):
            try:
                threading.Thread(
                    target=self._answer, args=(conn, head, client), name="meshover-http", daemon=True
                ).start()
                return
            except RuntimeError:  # no thread to be had (TasksMax): refuse like over the limit
                self._slots.release()
        self._refuse(conn, 503, "Service Unavailable")

    def _refuse(self, conn: socket.socket, code: int, reason: str) -> None:
        """Answer from the serving thread without waiting: the send fits a fresh socket's buffer, or is lost."""
        body = f"{code} {reason}: retry later\n"
        try:
            conn.send(
                f"HTTP/1.0 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                f"Retry-After: 1\r\nConnection: close\r\n\r\n{body}".encode()
            )
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        conn.close()

    def _answer(self, conn: socket.socket, head: bytes, client) -> None:
        try:
            conn.settimeout(self.client_timeout)
            self.handler((conn, head), client, self)
        except OSError:  # the client went away or stopped reading (timeout): nothing to report
            pass
        except Exception:  # a bug: to the journal, as socketserver does, and the next request goes on
            import traceback

            traceback.print_exc()
        finally:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()
            self._slots.release()


def make_server(config: dict, collector: Collector) -> ExporterServer:
    """The HTTP server of /metrics, /state.json, /mesh.html and / for this collector, bound, not yet serving."""
    from http.server import BaseHTTPRequestHandler

    from prometheus_client.exposition import choose_encoder

    pages = threading.BoundedSemaphore(MAX_MESH_PAGES)
    registry = metrics_registry(collector)

    class Handler(BaseHTTPRequestHandler):
        def setup(self):  # socketserver API; ExporterServer has read the request head already
            self.connection, head = self.request
            self.rfile = io.BytesIO(head)
            self.wfile = _SocketWriter(self.connection)

        def _send(self, code, ctype, body):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # http.server API
            path = self.path.split("?", 1)[0]
            if path == "/metrics":  # OpenMetrics if the Accept header asks for it (Prometheus does), else text 0.0.4
                encoder, ctype = choose_encoder(self.headers.get("Accept", ""))
                self._send(200, ctype, encoder(registry))
            elif path == "/state.json":
                self._send(200, "application/json", json.dumps(collector.current()).encode())
            elif path == "/mesh.html":
                if not pages.acquire(blocking=False):
                    self._send(503, "text/plain", b"503 Service Unavailable: other /mesh.html being drawn, retry\n")
                    return
                try:
                    mine = collector.current()
                    # the collector's configuration: a reload (SIGHUP) changes the peers
                    peers = fetch_peer_states(collector.config, collector.timeout + 1.0)
                    states = [mine] + [s for s in peers if s["hostname"] != mine["hostname"]]
                finally:
                    pages.release()
                page = render_mesh_html(
                    mesh_graph(states, collector.stale),
                    title=f"meshover mesh seen from {mine['hostname']}",
                    generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                )
                self._send(200, "text/html; charset=utf-8", page.encode())
            elif path == "/":
                body = b'<a href="/metrics">metrics</a> <a href="/mesh.html">mesh</a> <a href="/state.json">state</a>'
                self._send(200, "text/html", body)
            else:
                self._send(404, "text/plain", b"not found\n")

        def log_message(self, *args):  # quiet: scrapes are frequent
            return

    return ExporterServer(
        config.get("listen_address") or "::",
        int(config.get("port", DEFAULT_PORT)),
        Handler,
        client_timeout=float(config.get("client_timeout", DEFAULT_CLIENT_TIMEOUT)),
        max_requests=int(config.get("max_requests", DEFAULT_MAX_REQUESTS)),
        max_pending=int(config.get("max_pending", DEFAULT_MAX_PENDING)),
    )


# What the HTTP server was built with: a reload cannot change these, a restart must.
SERVER_KEYS = ("listen_address", "port", "client_timeout", "max_requests", "max_pending")


def reload_config(path: str, collector: Collector) -> str:
    """SIGHUP (`systemctl reload meshover-exporter`): read the configuration again and hand it to the collector.

    Returns what happened, for the journal. A file that cannot be read or parsed leaves the running
    configuration in place. A change of what the HTTP server was built with (SERVER_KEYS) raises
    SystemExit: the process ends with status 1, and systemd (Restart=on-failure) starts it again on the
    new address."""
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
        if not isinstance(config, dict) or not isinstance(config.get("commands"), dict):
            raise ValueError("not an exporter configuration (an object with commands)")
    except (OSError, ValueError) as exc:
        return f"meshover exporter: reload of {path} failed, the running configuration stays: {exc}"
    moved = [k for k in SERVER_KEYS if config.get(k) != collector.config.get(k)]
    if moved:
        raise SystemExit(f"meshover exporter: {', '.join(moved)} changed in {path}: exiting for a restart")
    collector.reconfigure(config)
    return f"meshover exporter: reloaded {path} ({len(config.get('peers', []))} peers)"


def main(argv: list[str] | None = None) -> None:
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(description="meshover Prometheus exporter")
    parser.add_argument("--config", default="/etc/meshover/exporter.json")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        config = json.load(fh)
    try:
        import prometheus_client  # noqa: F401  (said at start, not at the first scrape)
    except ImportError as exc:
        msg = "meshover exporter: needs prometheus_client (Debian: apt install python3-prometheus-client)"
        raise SystemExit(msg) from exc
    collector = Collector(config)
    collector.start()
    server = make_server(config, collector)
    # the handler runs in this (the serving) thread, between two requests
    signal.signal(signal.SIGHUP, lambda _sig, _frame: sys.stderr.write(reload_config(args.config, collector) + "\n"))
    server.serve_forever()


if __name__ == "__main__":
    main()
