#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scale without a lab (not a test): how the controller's work and each node's configuration grow with N.

For each mesh size N (an inventory of N hosts like bench/plan_scale.py's, dual stack: meshover_pool4 set,
as in the lab) it measures, in this process and without any node:

- the preflight (`_preflight.check`) and the plan (`_peers.plan_mesh`): median seconds of --runs runs;
- per node, the frr.conf the role meshover.mesh.frr_bgp would write: roles/frr_bgp/templates/frr.conf.j2
  rendered from the node's plan as the role's template lookup renders it (trim_blocks, Ansible's own
  `comment` filter), in bytes and lines, and the seconds the controller spends rendering it;
- per node, the Prometheus series its exporter serves with N-1 peers, all up: the collection's own
  build_snapshot() of synthetic `wg show all dump`, `ip -j -d link` and vtysh outputs for the node's plan,
  metric_families(), then /metrics rendered by prometheus_client (ProcessCollector's process_* series
  included) and read back by its parser; and the seconds one collection's parsing and rendering take.

Then it fits each figure against N (linear for sizes and counts, a power law for times) on the sizes
up to --fit-max (the lab's range) and projects the fit to 100 and 300 nodes, next to what was measured
there. Prints a table, then one JSON record per figure (_benchlib.emit) and the fits as JSON lines.

Run from a checkout (after `make venv`): .venv/bin/python bench/scale_static.py [--sizes 4,8,16,32,64,100,300]
    [--runs 3] [--nodes 32] [--no-pool4] [--shared] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import REPO, collection_on_path, emit

collection_on_path()

import jinja2  # noqa: E402  (ansible-core's dependency)
from ansible.plugins.filter.core import comment  # noqa: E402
from plan_scale import inventory, timed  # noqa: E402
from prometheus_client.exposition import generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import MeshError  # noqa: E402
from ansible_collections.meshover.mesh.plugins.module_utils.controller._peers import plan_mesh  # noqa: E402
from ansible_collections.meshover.mesh.plugins.module_utils.controller._preflight import check  # noqa: E402
from ansible_collections.meshover.mesh.plugins.module_utils.node import _exporter as E  # noqa: E402

SIZES = (4, 8, 16, 32, 64, 100, 300)
PROJECT_TO = (100, 300)
NOW = 1795640000.0
FRR_VERSION = "10.3.1"


# ---------------------------------------------------------------- the mesh


def mesh_inventory(count: int, pool4: bool, shared: bool = False) -> dict[str, dict[str, Any]]:
    """plan_scale's inventory; with pool4, every host also gets an IPv4 loopback (the lab's dual stack); with
    shared, meshover_shared_prefixes of both families (Coil pools, PureLB ranges: the molecule lab's case)."""
    inv = inventory(count)
    for host_vars in inv.values():
        if pool4:
            host_vars["meshover_pool4"] = "10.96.0.0/12"  # room for 300 hashed /32s without a collision
        if shared:
            host_vars["meshover_shared_prefixes"] = ["10.88.0.0/16", "fd88::/48"]
    return inv


def spread(items: list[str], count: int) -> list[str]:
    """count items spread evenly over the list (all of them when it is no longer)."""
    if len(items) <= count:
        return list(items)
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


# ---------------------------------------------------------------- frr.conf as the role renders it


def frr_template() -> jinja2.Template:
    """roles/frr_bgp/templates/frr.conf.j2 with what the role's template lookup gives it: trim_blocks,
    undefined variables fail, Ansible's own `comment` filter (the only filter the template uses)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPO / "roles" / "frr_bgp" / "templates")),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["comment"] = comment
    return env.get_template("frr.conf.j2")


def render_frr_conf(template: jinja2.Template, bgp_plan: dict[str, Any]) -> str:
    """The node's frr.conf (frr_bgp_runtime stands for the probe's result: the Coil method is only read when
    the plan has a Coil table, which the bench's inventory has not)."""
    return template.render(
        frr_bgp_plan=bgp_plan,
        frr_bgp_runtime={"coil_method": "table-direct"},
        frr_bgp_coil_vrf="meshover-coil",
        ansible_managed="Ansible managed",
    )


# ---------------------------------------------------------------- the exporter of a node with N-1 peers, all up


def exporter_config(host: str, plan: dict[str, Any]) -> dict[str, Any]:
    """What roles/exporter/templates/exporter.json.j2 writes for this host (commands left out: none run)."""
    me = plan[host]
    tunnels = {t["peer"]: t["name"] for t in me["tunnels"]}
    ident = me["identity"]
    return {
        "hostname": host,
        "asn": ident["asn"],
        "router_id": ident["router_id"],
        "loopback6": ident["loopback6"],
        "loopback4": ident["loopback4"] or "",
        "frr_mode": me["bgp"]["frr"]["mode"],
        "wg_interface": me["wireguard"]["interface"],
        "peers": [
            {
                "name": p["name"],
                "public_key": p["public_key"],
                "tunnel": tunnels.get(p["name"], ""),
                "loopback6": plan[p["name"]]["identity"]["loopback6"] if p["name"] in plan else "",
            }
            for p in me["wireguard"]["peers"]
        ],
    }


def kernel_outputs(host: str, plan: dict[str, Any]) -> dict[str, str]:
    """The three commands' output on a node whose every peer is up: fresh handshakes, tunnels UP, both
    address families' sessions Established with its peers' loopbacks received, BFD up. Shaped like the
    unit tests' fixtures (tests/unit/plugins/module_utils/fixtures/exporter/n1.*)."""
    me = plan[host]
    wg = me["wireguard"]
    lines = [f"{wg['interface']}\tcHJpdmF0ZQ==\tcHVibGlj\t{wg['listen_port']}\toff"]
    for i, p in enumerate(wg["peers"]):
        allowed = ",".join(p["allowed_ips"])
        lines.append(
            f"{wg['interface']}\t{p['public_key']}\t(none)\t{p['endpoint']}\t{allowed}\t{int(NOW) - 5 - i % 100}"
            f"\t{1000 + i}\t{2000 + i}\toff"
        )
    links = [
        {
            "ifindex": 100 + i,
            "ifname": t["name"],
            "flags": ["POINTOPOINT", "NOARP", "UP", "LOWER_UP"],
            "mtu": t["mtu"],
            "operstate": "UNKNOWN",
            "ifalias": f"meshover:{t['peer']}",
            "linkinfo": {"info_kind": "ip6gre", "info_data": {"local": t["local"], "remote": t["remote"], "ttl": 64}},
        }
        for i, t in enumerate(me["tunnels"])
    ]
    bgp = me["bgp"]
    npeers = len(bgp["neighbours"])
    summary = {}
    for af in ("ipv4Unicast", "ipv6Unicast"):
        summary[af] = {
            "routerId": bgp["router_id"],
            "as": bgp["asn"],
            "peerCount": npeers,
            "peers": {
                n["interface"]: {
                    "hostname": n["peer"],
                    "remoteAs": n["peer_asn"],
                    "localAs": bgp["asn"],
                    "peerUptimeMsec": 600000,
                    "pfxRcd": npeers,
                    "pfxSnt": npeers,
                    "state": "Established",
                    "peerState": "OK",
                    "desc": f"{n['peer']} AS{n['peer_asn']}",
                    "idType": "interface",
                }
                for n in bgp["neighbours"]
            },
        }
    bfd = [
        {"peer": n["peer_link_local"], "local": bgp["link_local"], "interface": n["interface"], "status": "up"}
        for n in bgp["neighbours"]
    ]
    frr = f"{json.dumps(summary)}\n{json.dumps(bfd)}\nFRRouting {FRR_VERSION} ({host}) on Linux(6.12.0).\n"
    return {"wg": "\n".join(lines) + "\n", "ip": json.dumps(links), "frr": frr}


class _Families:
    def __init__(self, fams: list) -> None:
        self.fams = fams

    def families(self) -> list:
        return self.fams


def exporter_figures(host: str, plan: dict[str, Any], runs: int) -> dict[str, Any]:
    """Series and bytes of the node's /metrics, and the seconds one collection's parsing + rendering takes."""
    config, outputs = exporter_config(host, plan), kernel_outputs(host, plan)
    timing = {"age": 1.0, "duration": 0.2, "interval": E.DEFAULT_INTERVAL}

    def once() -> str:
        snap = E.build_snapshot(config, outputs, NOW)
        return generate_latest(E.metrics_registry(_Families(E.metric_families(snap, {}, 180, timing)))).decode()

    times, text = timed(once, runs)
    snap = E.build_snapshot(config, outputs, NOW)
    if snap["errors"]:
        raise SystemExit(f"{host}: the synthetic outputs did not parse: {snap['errors']}")
    fams = E.metric_families(snap, {}, 180, timing)
    samples = [s for fam in text_string_to_metric_families(text) for s in fam.samples]
    process = sum(1 for s in samples if s.name.startswith("process_"))
    edges = sum(len(f[3]) for f in fams if f[0].startswith(E.PREFIX + "graph_edge"))
    return {
        "series": len(samples),
        "mesh_series": len(samples) - process,
        "process_series": process,
        "edge_series": edges,
        "bytes": len(text.encode()),
        "seconds": statistics.median(times),
    }


def mesh_page_figures(plan: dict[str, Any], runs: int) -> dict[str, Any]:
    """What one /mesh.html costs the exporter that draws it, past the peers' answers: every peer's
    /state.json checked (as fetch_peer_states does for each answer), the graph merged and the page drawn.
    The states are every node's snapshot of the synthetic outputs, through JSON as they travel."""
    hosts = sorted(plan)
    states = [
        json.loads(json.dumps(E.build_snapshot(exporter_config(h, plan), kernel_outputs(h, plan), NOW))) for h in hosts
    ]

    def once() -> str:
        mine, others = states[0], [s for s in states[1:] if E._drawable(s)]
        return E.render_mesh_html(E.mesh_graph([mine, *others]), title="bench")

    times, page = timed(once, runs)
    return {"seconds": statistics.median(times), "bytes": len(page.encode())}


# ---------------------------------------------------------------- one size


def measure(count: int, runs: int, nodes: int, pool4: bool, shared: bool) -> dict[str, Any]:
    inv = mesh_inventory(count, pool4, shared)
    pre_times, result = timed(lambda: check(inv), runs)
    if result.problems:
        raise SystemExit("\n".join(result.problems))
    try:
        plan_times, (plan, _w, _u) = timed(lambda: plan_mesh(inv, {}), runs)
    except MeshError as exc:
        raise SystemExit("\n".join(exc.messages)) from None
    template = frr_template()
    hosts = sorted(plan)
    sample = spread(hosts, nodes)
    conf_bytes, conf_lines, render_s = [], [], []
    for host in sample:
        times, text = timed(lambda host=host: render_frr_conf(template, plan[host]["bgp"]), 1)
        conf_bytes.append(len(text.encode()))
        conf_lines.append(text.count("\n"))
        render_s.append(times[0])
    # every node emits every Node Graph edge it is on (both ends do): the same series on every node
    exp = [exporter_figures(host, plan, runs if host == hosts[0] else 1) for host in spread(hosts, min(nodes, 3))]
    page = mesh_page_figures(plan, runs if count <= 100 else 1)
    return {
        "n": count,
        "peers": count - 1,
        "preflight_s": statistics.median(pre_times),
        "preflight_runs": pre_times,
        "plan_s": statistics.median(plan_times),
        "plan_runs": plan_times,
        "nodes_measured": len(sample),
        "frr_conf_bytes": statistics.median(conf_bytes),
        "frr_conf_bytes_max": max(conf_bytes),
        "frr_conf_lines": statistics.median(conf_lines),
        "frr_conf_render_s": statistics.median(render_s),
        "series_max": exp[0]["series"],
        "series_min": min(e["series"] for e in exp),
        "series_process": exp[0]["process_series"],
        "metrics_bytes": exp[0]["bytes"],
        "exporter_collect_s": exp[0]["seconds"],
        # every node serves the same series, its Node Graph edges included (both ends emit each edge)
        "mesh_series": count * exp[0]["series"],
        "mesh_page_s": page["seconds"],
        "mesh_page_bytes": page["bytes"],
    }


# ---------------------------------------------------------------- fits


def fit_linear(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares y = a + b x."""
    n, mx, my = len(xs), statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if n > 1 and sxx else 0.0
    return my - b * mx, b


def fit_quadratic(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x + c x^2 (normal equations, Cramer's rule)."""
    s = [sum(x**k for x in xs) for k in range(5)]
    t = [sum(y * x**k for x, y in zip(xs, ys)) for k in range(3)]
    m = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]]

    def det(a: list[list[float]]) -> float:
        return (
            a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
        )

    d = det(m)
    out = []
    for col in range(3):
        mc = [row[:] for row in m]
        for r in range(3):
            mc[r][col] = t[r]
        out.append(det(mc) / d)
    return out[0], out[1], out[2]


def fit_power(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares on log-log: y = c x^k; returns (c, k)."""
    pairs = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    a, k = fit_linear([p[0] for p in pairs], [p[1] for p in pairs])
    return math.exp(a), k


# figure -> (label, unit, model): linear for what one node holds per peer, quadratic for mesh-wide totals,
# a power law for times (its exponent says how they grow)
FIGURES = {
    "preflight_s": ("preflight (check), whole inventory", "s", "power"),
    "plan_s": ("plan (plan_mesh), every host", "s", "power"),
    "frr_conf_bytes": ("frr.conf per node", "bytes", "linear"),
    "frr_conf_lines": ("frr.conf per node", "lines", "linear"),
    "frr_conf_render_s": ("frr.conf render per node (controller)", "s", "power"),
    "series_max": ("exporter series per node (the same on every node)", "series", "linear"),
    "metrics_bytes": ("/metrics body per node", "bytes", "linear"),
    "exporter_collect_s": ("exporter: parse + render one collection", "s", "power"),
    "mesh_series": ("series over the whole mesh", "series", "quadratic"),
    "mesh_page_s": ("/mesh.html: check N-1 states, merge, draw", "s", "power"),
    "mesh_page_bytes": ("/mesh.html page", "bytes", "quadratic"),
}


def predict(model: str, coef: tuple[float, ...], n: float) -> float:
    if model == "power":
        return coef[0] * n ** coef[1]
    return sum(c * n**i for i, c in enumerate(coef))


def fits(rows: list[dict[str, Any]], fit_max: int) -> dict[str, dict[str, Any]]:
    """Each figure's fit on the sizes up to fit_max, projected to PROJECT_TO; times as a power law on the
    three largest of those sizes (the smallest are start-up costs), and the exponent measured between the
    two largest sizes of the run (how the figure really grows there)."""
    base = [r for r in rows if r["n"] <= fit_max]
    xs = [float(r["n"]) for r in base]
    top = rows[-2:]
    out = {}
    for key, (_label, _unit, model) in FIGURES.items():
        ys = [float(r[key]) for r in base]
        if len(xs) < (3 if model == "quadratic" else 2):
            continue
        if model == "linear":
            coef = fit_linear(xs, ys)
            formula = f"{coef[0]:.4g} + {coef[1]:.4g}·N"
        elif model == "quadratic":
            coef = fit_quadratic(xs, ys)
            formula = f"{coef[0]:.4g} + {coef[1]:.4g}·N + {coef[2]:.4g}·N²"
        else:
            coef = fit_power(xs[-3:], ys[-3:])
            formula = f"{coef[0]:.3g}·N^{coef[1]:.2f} (N = {', '.join(str(int(x)) for x in xs[-3:])})"
        measured = {r["n"]: r[key] for r in rows}
        exponent = None
        if len(top) == 2 and top[0][key] > 0 and top[1][key] > 0:
            exponent = math.log(top[1][key] / top[0][key]) / math.log(top[1]["n"] / top[0]["n"])
        out[key] = {
            "model": model,
            "formula": formula,
            "fitted_on": [int(x) for x in xs],
            "exponent_measured": None if exponent is None else round(exponent, 2),
            "exponent_between": [r["n"] for r in top],
            "projection": {n: predict(model, coef, n) for n in PROJECT_TO},
            "measured": {n: measured[n] for n in PROJECT_TO if n in measured},
        }
    return out


# ---------------------------------------------------------------- output


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:,.0f}"


def print_table(rows: list[dict[str, Any]], fitted: dict[str, dict[str, Any]]) -> None:
    head = (
        "| N | preflight | plan | frr.conf bytes / node | lines / node | render / node | series / node "
        "(max) | /metrics bytes | exporter collect | series, whole mesh | /mesh.html draw |"
    )
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for r in rows:
        print(
            f"| {r['n']} | {_fmt(r['preflight_s'], 's')} | {_fmt(r['plan_s'], 's')} | {r['frr_conf_bytes']:,.0f} | "
            f"{r['frr_conf_lines']:,.0f} | {_fmt(r['frr_conf_render_s'], 's')} | {r['series_max']:,} | "
            f"{r['metrics_bytes']:,} | {_fmt(r['exporter_collect_s'], 's')} | {r['mesh_series']:,} | "
            f"{_fmt(r['mesh_page_s'], 's')} |"
        )
    print()
    print(
        "| figure | fit (N ≤ fit-max) | exponent, two largest N | "
        + " | ".join(f"projected / measured at {n}" for n in PROJECT_TO)
        + " |"
    )
    print("| --- | --- | --- |" + " --- |" * len(PROJECT_TO))
    for key, f in fitted.items():
        label, unit, _model = FIGURES[key]
        cells = []
        for n in PROJECT_TO:
            got = f["measured"].get(n)
            cells.append(_fmt(f["projection"][n], unit) + (f" / {_fmt(got, unit)}" if got is not None else ""))
        print(f"| {label} ({unit}) | {f['formula']} | {f['exponent_measured']} | " + " | ".join(cells) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="mesh sizes N, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs of each timed step (the median is reported)")
    parser.add_argument("--nodes", type=int, default=32, help="nodes whose frr.conf is rendered per size (spread)")
    parser.add_argument("--fit-max", type=int, default=32, help="fit on the sizes up to this N (the lab's)")
    parser.add_argument("--no-pool4", action="store_true", help="IPv6 only: no meshover_pool4, no IPv4 loopbacks")
    parser.add_argument("--shared", action="store_true", help="set meshover_shared_prefixes (IPv4 and IPv6)")
    parser.add_argument("--json", help="also write the rows and the fits to this file")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    rows = []
    for count in sizes:
        row = measure(count, args.runs, args.nodes, not args.no_pool4, args.shared)
        rows.append(row)
        print(f"N={count}: done", file=sys.stderr, flush=True)
    fitted = fits(rows, args.fit_max)
    print_table(rows, fitted)
    for r in rows:
        n = r["n"]
        emit(f"static_preflight_{n}", f"preflight (check), {n} hosts", "s", r["preflight_runs"], "—", None)
        emit(f"static_plan_{n}", f"full plan (plan_mesh), {n} hosts", "s", r["plan_runs"], "—", None)
        emit(
            f"static_frr_conf_{n}",
            f"frr.conf per node, {n} hosts",
            "bytes",
            [r["frr_conf_bytes"]],
            "—",
            None,
            f"{r['frr_conf_lines']:.0f} lines, max {r['frr_conf_bytes_max']} bytes over {r['nodes_measured']} nodes",
        )
        emit(
            f"static_series_{n}",
            f"exporter series per node, {n} hosts ({n - 1} peers)",
            "series",
            [r["series_max"]],
            "—",
            None,
            f"{r['series_process']} process_* series included; {r['metrics_bytes']} bytes; "
            f"{r['mesh_series']} series over the mesh",
        )
    for key, f in fitted.items():
        print(json.dumps({"fit": key, **f}), flush=True)
    if args.json:
        doc = {
            "rows": rows,
            "fits": fitted,
            "pool4": not args.no_pool4,
            "shared": args.shared,
            "time": time.strftime("%Y-%m-%d %H:%M"),
        }
        pathlib.Path(args.json).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
