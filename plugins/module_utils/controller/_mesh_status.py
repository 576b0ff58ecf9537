# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""The mesh's status from every node's meshover.mesh.mesh_info result (playbooks/status.yml).

Controller side: used by the filter meshover.mesh.mesh_status; no node module imports it. Pure functions.
status_data() merges the nodes' views and judges each pair of hosts; render_table() turns that into
lines for a terminal (a node x peer matrix, a legend and the problems), render_dot() into a Graphviz
graph. The colours and the handshake age after which a WireGuard session is stale are the exporter's
(its /mesh.html and metrics judge alike).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.meshover.mesh.plugins.module_utils.node._exporter import COLOURS, DEFAULT_HANDSHAKE_STALE

FORMATS = ("table", "json", "dot")
DEFAULT_WIDTH = 120
# What the nodes return (mesh_info's RETURN); the rest of a registered result (changed, invocation) is dropped.
NODE_KEYS = ("time", "wireguard", "frr", "peers", "expected", "errors")
SOURCES = ("wireguard", "gre", "bgp", "bfd")
STATES = ("up", "degraded", "down", "unknown")
STATE_COLOURS = {
    "up": COLOURS["up"],
    "degraded": COLOURS["partial"],
    "down": COLOURS["down"],
    "unknown": COLOURS["unknown"],
}
NODE_COLOURS = {True: "#1565c0", False: COLOURS["unknown"]}  # answered, no answer (as /mesh.html)
BGP_SHORT = {
    "Established": "Est",
    "OpenConfirm": "OpenConf",
    "Idle (Admin)": "Admin",
    "Idle (PfxCt)": "PfxCt",
}
BFD_SHORT = {"shutdown": "shut"}
# One character per source in the narrow table.
SYMBOLS = {"up": "+", "stale": "s", "never": "n", "missing": "x", "down": "-", "unknown": "?", "off": "."}


class StatusError(ValueError):
    """Input the renderers cannot use."""


def natural_key(name: str) -> list:
    """n2 before n10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(name))]


def count(n: int, word: str) -> str:
    """1 link, 2 links."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def age(seconds: Any) -> str:
    """12s, 5m, 3h, 2d (rounded down)."""
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


# ---------------------------------------------------------------- judging one node's view of one peer


def checks(peer: Mapping[str, Any], stale: float = DEFAULT_HANDSHAKE_STALE) -> dict[str, str]:
    """One word per source: wireguard up/stale/never/missing, gre up/down/missing, bgp up/down/missing,
    bfd up/down/off (no session: BFD not configured); unknown when the node could not read the source."""
    out = {}
    wg = peer.get("wireguard")
    if wg is None:
        out["wireguard"] = "unknown"
    elif not wg.get("present"):
        out["wireguard"] = "missing"
    elif wg.get("handshake_age") is None:
        out["wireguard"] = "never"
    else:
        out["wireguard"] = "up" if wg["handshake_age"] <= stale else "stale"
    for source, good in (("gre", lambda s: s.get("state") == "up"), ("bgp", lambda s: bool(s.get("established")))):
        section = peer.get(source)
        if section is None:
            out[source] = "unknown"
        elif not section.get("present"):
            out[source] = "missing"
        else:
            out[source] = "up" if good(section) else "down"
    bfd = peer.get("bfd")
    if bfd is None:
        out["bfd"] = "unknown"
    elif not bfd.get("present"):
        out["bfd"] = "off"
    else:
        out["bfd"] = "up" if bfd.get("state") == "up" else "down"
    return out


def view_state(words: Mapping[str, str]) -> str:
    """up: WireGuard, GRE and BGP up and BFD up or off; down: any of those three not working; unknown:
    nothing readable; degraded: the rest (BFD down under a working session, a source not readable)."""
    main = [words["wireguard"], words["gre"], words["bgp"]]
    if all(w == "unknown" for w in [*main, words["bfd"]]):
        return "unknown"
    if any(w in ("stale", "never", "missing", "down") for w in main):
        return "down"
    if all(w == "up" for w in main) and words["bfd"] in ("up", "off"):
        return "up"
    return "degraded"


def link_state(states: Iterable[str]) -> str:
    """A pair of hosts from its two views (a side that said nothing counts as unknown): down when either
    side sees it down, up when both see it up, unknown when neither says anything, else degraded."""
    states = list(states)
    if all(s == "unknown" for s in states):
        return "unknown"
    if "down" in states:
        return "down"
    if all(s == "up" for s in states):
        return "up"
    return "degraded"


def problems_of(host: str, name: str, peer: Mapping[str, Any], words: Mapping[str, str], stale: float) -> list[str]:
    found = []
    wg = peer.get("wireguard") or {}
    word = words["wireguard"]
    if word == "stale":
        found.append(f"WireGuard handshake {age(wg['handshake_age'])} ago (stale after {int(stale)}s)")
    elif word == "never":
        found.append("WireGuard never handshaked")
    elif word == "missing":
        found.append("no WireGuard peer")
    gre = peer.get("gre") or {}
    if words["gre"] == "missing":
        found.append(f"no GRE tunnel {gre.get('name')}" if gre.get("name") else "no GRE tunnel")
    elif words["gre"] == "down":
        admin = "up" if gre.get("admin_up") else "down"
        found.append(f"GRE {gre.get('name')} down (operstate {gre.get('operstate')}, admin {admin})")
    bgp = peer.get("bgp") or {}
    if words["bgp"] == "missing":
        found.append("no BGP session")
    elif words["bgp"] == "down":
        families = bgp.get("address_families") or {}
        detail = ", ".join(f"{af} {f.get('state')}" for af, f in families.items())
        found.append(f"BGP {bgp.get('state')}" + (f" ({detail})" if detail else ""))
    if words["bfd"] == "down":
        found.append(f"BFD {(peer.get('bfd') or {}).get('state')}")
    if peer.get("unexpected"):
        found.append("not in the plan")
    return [f"{host} -> {name}: " + ", ".join(found)] if found else []


# ---------------------------------------------------------------- the merged data


def _node(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    if not isinstance(result, Mapping) or not isinstance(result.get("peers"), Mapping):
        raise StatusError(f"expects meshover.mesh.mesh_info results, got {type(result).__name__} without peers")
    return {key: result.get(key) for key in NODE_KEYS}


def _side(peer: Mapping[str, Any] | None, stale: float) -> dict[str, Any] | None:
    if peer is None:
        return None
    words = checks(peer, stale)
    wg, bgp = peer.get("wireguard") or {}, peer.get("bgp") or {}
    return {
        "state": view_state(words),
        "checks": words,
        "handshake_age": wg.get("handshake_age"),
        "gre_state": (peer.get("gre") or {}).get("state"),
        "bgp_state": bgp.get("state"),
        "bgp_uptime": bgp.get("uptime"),
        "bfd_state": (peer.get("bfd") or {}).get("state"),
    }


def status_data(
    nodes: Mapping[str, Any],
    hosts: Iterable[str] | None = None,
    stale: float = DEFAULT_HANDSHAKE_STALE,
    transit: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Every node's view merged, each pair of hosts judged.

    nodes: host -> its mesh_info result (None or absent: the node did not answer). hosts: the hosts the
    status ran on (default: the keys of nodes); a host without a result is reported as not answering.
    transit: host -> {peer: via} from the plan: the pairs that share no underlay family and reach each
    other through another host (no WireGuard peer of each other, by design).
    Returns ``{stale_after, summary, nodes, links, transit, problems}``: ``nodes`` host -> result (None: no
    answer), ``links`` one per pair of hosts that either side lists as peer, with its ``state`` (up,
    degraded, down, unknown) and each side's view (None when that side said nothing of it); ``transit``
    one entry per such pair of hosts, ``{"nodes": [a, b], "via": {a: first hop, b: first hop}}``.
    """
    if not isinstance(nodes, Mapping):
        raise StatusError(f"expects a dict host -> mesh_info result, got {type(nodes).__name__}")
    names = sorted({*nodes, *(hosts or [])}, key=natural_key)
    merged = {host: _node(nodes.get(host)) for host in names}
    problems: list[str] = []
    pairs = set()
    for host, node in merged.items():
        if node is None:
            problems.append(f"{host}: no answer (unreachable, or the play failed there)")
            continue
        errors = node.get("errors") or {}
        by_message: dict[str, list[str]] = {}
        for source in SOURCES:
            if source in errors:
                by_message.setdefault(str(errors[source]), []).append(
                    {"wireguard": "WireGuard"}.get(source, source.upper())
                )
        for message, sources in by_message.items():
            problems.append(f"{host}: {' and '.join(sources)} not read: {message}")
        for name, peer in sorted(node["peers"].items(), key=lambda kv: natural_key(kv[0])):
            if peer.get("anonymous"):
                problems.append(f"{host}: WireGuard peer {name[:12]}... has no name (not in the plan)")
                continue
            if name != host:
                pairs.add(tuple(sorted((host, name), key=natural_key)))
    links = []
    for a, b in sorted(pairs, key=lambda p: (natural_key(p[0]), natural_key(p[1]))):
        views = {}
        for me, other in ((a, b), (b, a)):
            node = merged.get(me)
            views[me] = _side((node or {}).get("peers", {}).get(other), stale) if node else None
        state = link_state(v["state"] if v else "unknown" for v in views.values())
        links.append({"id": f"{a}--{b}", "nodes": [a, b], "state": state, "views": views})
        for me, other in ((a, b), (b, a)):
            node = merged.get(me)
            peer = (node or {}).get("peers", {}).get(other)
            if peer is not None:
                problems.extend(problems_of(me, other, peer, views[me]["checks"], stale))
    summary = {"nodes": len(names), "answered": sum(n is not None for n in merged.values()), "links": len(links)}
    summary.update({s: sum(link["state"] == s for link in links) for s in STATES})
    through: dict[tuple[str, str], dict[str, str]] = {}
    for host, peers in (transit or {}).items():
        for peer, via in (peers or {}).items():
            if host in merged and peer in merged:
                through.setdefault(tuple(sorted((host, peer), key=natural_key)), {})[host] = via
    return {
        "stale_after": stale,
        "summary": summary,
        "nodes": merged,
        "links": links,
        "transit": [{"nodes": list(pair), "via": via} for pair, via in sorted(through.items())],
        "problems": problems,
    }


# ---------------------------------------------------------------- the table


def _words(peer: Mapping[str, Any] | None, stale: float) -> dict[str, str] | None:
    """The four texts of one cell (wide table)."""
    if peer is None:
        return None
    words = checks(peer, stale)
    wg, bgp, bfd = peer.get("wireguard") or {}, peer.get("bgp") or {}, peer.get("bfd") or {}
    text = {"unknown": "?", "missing": "miss", "never": "never", "off": "-"}
    out = {}
    w = words["wireguard"]
    out["wireguard"] = age(wg["handshake_age"]) + ("!" if w == "stale" else "") if w in ("up", "stale") else text[w]
    out["gre"] = text.get(words["gre"], words["gre"])
    if words["bgp"] in ("up", "down"):
        state = str(bgp.get("state"))
        short = BGP_SHORT.get(state, state)
        out["bgp"] = (
            f"{short} {age(bgp['uptime'])}" if words["bgp"] == "up" and bgp.get("uptime") is not None else short
        )
    else:
        out["bgp"] = text[words["bgp"]]
    out["bfd"] = (
        BFD_SHORT.get(str(bfd.get("state")), str(bfd.get("state")))
        if words["bfd"] in ("up", "down")
        else text[words["bfd"]]
    )
    return out


HEADS = {"wireguard": "WG", "gre": "GRE", "bgp": "BGP", "bfd": "BFD"}


def render_table(data: Mapping[str, Any], width: int = DEFAULT_WIDTH) -> list[str]:
    """Lines for a terminal: a summary, the node x peer matrix (wide, or one character per source when
    the wide one would be more than ``width`` characters), the nodes' FRR, a legend and the problems."""
    stale = data["stale_after"]
    nodes = data["nodes"]
    rows = list(nodes)
    columns = sorted({*rows, *(n for link in data["links"] for n in link["nodes"])}, key=natural_key)
    s = data["summary"]
    unknown = f", {s['unknown']} unknown" if s["unknown"] else ""
    lines = [
        f"meshover mesh status, {count(s['nodes'], 'node')} ({s['answered']} answered), {count(s['links'], 'link')} "
        f"({s['up']} up, {s['degraded']} degraded, {s['down']} down{unknown})",
        "",
    ]
    # Each cell: "self", "noanswer", "none" (not a peer of that node), "via X" (transit) or the peer's entry.
    via = {(h, p): v for t in data.get("transit") or [] for h, v in t["via"].items() for p in t["nodes"] if p != h}
    cells: dict[tuple[str, str], Any] = {}
    for row in rows:
        for col in columns:
            node = nodes[row]
            if col == row:
                cells[row, col] = "self"
            elif node is None:
                cells[row, col] = "noanswer"
            else:
                default = f"via {via[row, col]}" if (row, col) in via and col not in node["peers"] else "none"
                cells[row, col] = node["peers"].get(col, default)
    texts = {key: _words(c, stale) for key, c in cells.items() if not isinstance(c, str)}
    sub = {src: max([len(h), *(len(t[src]) for t in texts.values())]) for src, h in HEADS.items()}
    label = max([len("from"), *(len(r) for r in rows)])
    col_width = {c: max(len(c), sum(sub.values()) + len(sub) - 1) for c in columns}
    if label + sum(3 + w for w in col_width.values()) <= width:
        wide, sep = True, "   "
        special = {"self": ".", "noanswer": "?", "none": "no peer"}
        head = " ".join(h.ljust(sub[src]) for src, h in HEADS.items())

        def cell(key: tuple[str, str]) -> str:
            c = cells[key]
            if isinstance(c, str):
                return special.get(c, c)
            return " ".join(texts[key][src].ljust(sub[src]) for src in sub)

    else:
        wide, sep = False, " "
        special = {"self": ".", "noanswer": "????", "none": ""}
        head = "WGBF"
        col_width = {c: max(len(c), len(head)) for c in columns}

        def cell(key: tuple[str, str]) -> str:
            c = cells[key]
            if isinstance(c, str):
                return special.get(c, "v " + c[4:] if c.startswith("via ") else c)
            words = checks(c, stale)
            return "".join(SYMBOLS[words[src]] for src in SOURCES)

    def line(first: str, parts: Iterable[str]) -> str:
        return (first.ljust(label) + "".join(sep + p for p in parts)).rstrip()

    lines.append(line("to", (c.ljust(col_width[c]) for c in columns)))
    lines.append(line("from", (head.ljust(col_width[c]) for c in columns)))
    for row in rows:
        lines.append(line(row, (cell((row, c)).ljust(col_width[c]) for c in columns)))
    lines.append("")
    frr = [(h, n.get("frr") or {}) for h, n in nodes.items() if n is not None]
    if frr:
        lines.append("FRR " + ", ".join(f"{h} {f.get('version') or '?'} ({f.get('access') or '?'})" for h, f in frr))
    if wide:
        lines += [
            f"WG = age of the latest WireGuard handshake (! = older than {int(stale)}s, never = none yet),",
            "GRE = tunnel state, BGP = session state and uptime (Est = Established), BFD = session state",
            "(- = no session, BFD off); miss = in the plan but absent, ? = not read (see the problems),",
            ". = the node itself.",
        ]
    else:
        lines += [
            "One character per source, W = WireGuard, G = GRE, B = BGP, F = BFD. + = up, - = down,",
            f"s = handshake older than {int(stale)}s, n = never handshaked, x = in the plan but absent,",
            ". = no BFD session (BFD off), ? = not read (see the problems); a lone . is the node itself.",
        ]
    if via:
        lines.append(
            f"{'via' if wide else 'v'} X = the pair shares no underlay address family: they reach each other through X "
            "over BGP (transit)."
        )
    problems = data["problems"]
    lines.append(f"Problems ({len(problems)})" if problems else "Problems (0), the mesh is healthy.")
    lines += [f"- {p}" for p in problems]
    return lines


# ---------------------------------------------------------------- Graphviz


def _dot_escape(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def _dot_id(text: Any) -> str:
    return f'"{_dot_escape(text)}"'


def _edge_text(host: str, side: Mapping[str, Any] | None) -> str:
    if side is None:
        return f"{host} no data"
    words = side["checks"]
    if words["wireguard"] in ("up", "stale"):
        wg = age(side["handshake_age"]) + ("!" if words["wireguard"] == "stale" else "")
    else:
        wg = {"unknown": "wg ?", "missing": "no wg"}.get(words["wireguard"], words["wireguard"])
    if words["bgp"] == "up":
        bgp = "Est" + (f" {age(side['bgp_uptime'])}" if side.get("bgp_uptime") is not None else "")
    elif words["bgp"] == "down":
        bgp = BGP_SHORT.get(str(side["bgp_state"]), str(side["bgp_state"]))
    else:
        bgp = {"unknown": "bgp ?", "missing": "no bgp"}[words["bgp"]]
    return f"{host} {wg} {bgp}"


def render_dot(data: Mapping[str, Any]) -> list[str]:
    """A Graphviz graph: one node per host (grey when it did not answer), one edge per pair coloured by its
    state (green up, orange degraded, red down, grey unknown), labelled with each side's handshake age
    and BGP state. ``dot -Tsvg`` draws it."""
    s = data["summary"]
    title = f"meshover mesh - {count(s['links'], 'link')}, {s['up']} up, {s['degraded']} degraded, {s['down']} down"
    lines = [
        "graph meshover {",
        f"  graph [label={_dot_id(title)}, labelloc=t, fontname=Helvetica];",
        "  node [shape=circle, style=filled, fontname=Helvetica, fontcolor=white];",
        "  edge [penwidth=3, fontname=Helvetica, fontsize=10];",
    ]
    hosts = sorted({*data["nodes"], *(n for link in data["links"] for n in link["nodes"])}, key=natural_key)
    for host in hosts:
        node = data["nodes"].get(host)
        if node is None:
            tip = "no answer" if host in data["nodes"] else "not in this run"
        else:
            frr = node.get("frr") or {}
            tip = f"FRR {frr.get('version') or '?'} ({frr.get('access') or '?'})"
        lines.append(
            f"  {_dot_id(host)} [fillcolor={_dot_id(NODE_COLOURS[node is not None])}, tooltip={_dot_id(tip)}];"
        )
    for link in data["links"]:
        a, b = link["nodes"]
        label = "\\n".join(_dot_escape(_edge_text(h, link["views"][h])) for h in (a, b))  # \n: a line break
        lines.append(
            f"  {_dot_id(a)} -- {_dot_id(b)} [color={_dot_id(STATE_COLOURS[link['state']])}, "
            f'label="{label}", tooltip={_dot_id(link["id"] + " " + link["state"])}];'
        )
    for t in data.get("transit") or []:
        a, b = t["nodes"]
        tip = ", ".join(f"{h} via {v}" for h, v in sorted(t["via"].items()))
        lines.append(
            f"  {_dot_id(a)} -- {_dot_id(b)} [style=dashed, penwidth=1, color={_dot_id(COLOURS['unknown'])}, "
            f"label={_dot_id('transit')}, tooltip={_dot_id(tip)}];"
        )
    lines.append("}")
    return lines


def render(
    nodes: Mapping[str, Any],
    fmt: str = "table",
    hosts: Iterable[str] | None = None,
    stale: float = DEFAULT_HANDSHAKE_STALE,
    width: int = DEFAULT_WIDTH,
    transit: Mapping[str, Mapping[str, str]] | None = None,
) -> Any:
    """``table`` and ``dot``: a list of lines; ``json``: the merged data (status_data())."""
    if fmt not in FORMATS:
        raise StatusError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    data = status_data(nodes, hosts, stale, transit)
    if fmt == "json":
        return data
    if fmt == "dot":
        return render_dot(data)
    return render_table(data, width)
