#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scale benchmark (not a test, issue #20): the mesh on N real nodes of the scale lab
(molecule/lab/scalelab.py: systemd-nspawn containers in one qemu-TCG guest), for each N in turn.

Per N, on fresh nodes: first converge; idempotent rerun (0 changed); FRR and exporter memory per node;
frr.conf size; one scrape of the exporter (time, series); preflight and plan time (the controller
tasks of the run); one node added (time, tasks changed on the others, BGP sessions between the others
reset: must be 0); that node decommissioned (time, resets); a node killed (per other node: time until
its last route change for the dead node's loopbacks, and whether any route is left). Then a fit of the
growth and a projection to 100 and 300 nodes.

Run: .venv/bin/python bench/scale.py --nodes 4,8,16,32      (boots the lab if needed; `make bench-scale`)
Results: .lab/scale/results.json (one object per N) and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _benchlib import REPO, ansible_env, emit

sys.path.insert(0, str(REPO / "molecule" / "lab"))
import scalelab

PROBE = (REPO / "bench" / "scale_probe.py").read_text()
PLAN_TASK = "Compute the mesh plan once, on the controller"
PREFLIGHT_TASK = "Validate every meshover variable of every mesh host, and the roles' variables it sets"


def probe(st: dict, *args: str, timeout: float = 600) -> dict:
    res = subprocess.run(
        [*scalelab.guest_ssh(st), "python3 - " + " ".join(args)],
        input=PROBE,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if res.returncode != 0:
        raise SystemExit(f"probe {args} failed: {res.stderr[-2000:]}")
    return json.loads(res.stdout)


# BFD timers of every run (--bfd): None keeps the product's defaults (300 ms x 3); the lab's load can make
# those flap at 16 nodes and more, which hides what the product does (BENCHMARKS, "Scale lab").
BFD: dict | None = None


def parse_bfd(text: str) -> dict | None:
    """--bfd INTERVAL:MULTIPLIER (milliseconds, count) as meshover_bfd; "" for the product's defaults."""
    if not text:
        return None
    try:
        interval, multiplier = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bfd {text!r}: INTERVAL:MULTIPLIER, e.g. 1000:10") from None
    return {"interval": interval, "multiplier": multiplier}


def playbook(name: str, nodes: int, strategy: str, extra: list[str] | None = None) -> dict:
    """One ansible-playbook run over the scale lab's inventory: wall time, tally, rc."""
    lab = scalelab.lab()
    tally = lab / "tally.json"
    tally.unlink(missing_ok=True)
    env = ansible_env(
        strategy,
        ANSIBLE_FORKS=str(max(nodes, 5)),
        ANSIBLE_CALLBACK_PLUGINS=str(REPO / "bench" / "callback_plugins"),
        ANSIBLE_CALLBACKS_ENABLED="meshover_tally",
        MESHOVER_TALLY_OUT=str(tally),
    )
    cmd = [str(REPO / ".venv/bin/ansible-playbook"), "-i", str(lab / "inventory.yml"), str(REPO / "playbooks" / name)]
    cmd += extra or []
    if BFD:  # as an operator would set it for the fleet; the preflight checks it like any other value
        cmd += ["-e", json.dumps({"meshover_bfd": BFD})]
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=7200, check=False)
    wall = time.monotonic() - t0
    log = lab / f"{name}-{nodes}-{int(time.time())}.log"
    log.write_text(res.stdout + res.stderr)
    data = json.loads(tally.read_text()) if tally.is_file() else {"hosts": {}, "durations": {}}
    log.with_suffix(".tally.json").write_text(json.dumps(data, indent=1))
    hosts = data["hosts"]
    failed = sum(h["failed"] for h in hosts.values())
    return {
        "wall_s": round(wall, 1),
        "rc": res.returncode,
        "failed": failed,
        "changed": {h: v["changed"] for h, v in hosts.items() if h != "localhost"},
        "changed_tasks": {
            h: sorted({t["name"] for t in v["tasks"] if t["changed"]}) for h, v in hosts.items() if h != "localhost"
        },
        "plan_s": duration(data["durations"], PLAN_TASK),
        "preflight_s": duration(data["durations"], PREFLIGHT_TASK),
        "slowest_tasks": dict(sorted(data["durations"].items(), key=lambda kv: -kv[1])[:5]),
        "log": str(log),
    }


def duration(durations: dict, task: str) -> float | None:
    """A task's duration in the tally (a role's task is named "<role> : <name>")."""
    found = [v for k, v in durations.items() if k == task or k.endswith(" : " + task)]
    return found[0] if found else None


def must(run: dict, what: str) -> dict:
    if run["rc"] != 0 or run["failed"]:
        raise SystemExit(f"{what} failed (rc {run['rc']}, {run['failed']} failed tasks); see {run['log']}")
    return run


def resets(before: dict, after: dict, among: set[str]) -> list[str]:
    """BGP sessions between two nodes of `among` that dropped or re-established between two probes."""
    out = []
    for node, peers in after.items():
        if node not in among:
            continue
        for peer, v in peers.items():
            other = peer.removeprefix("mo-")
            if other not in among or not isinstance(v, dict):
                continue
            b = before.get(node, {}).get(peer, {})
            if v.get("state") != "Established" or v.get("dropped") != b.get("dropped"):
                out.append(f"{node}-{other}")
    return out


# NOTIFICATION codes a configuration change sends (RFC 4486: Cease/Administrative Shutdown, Peer
# De-configured, Administrative Reset, Other Configuration Change); the lab's load shows as 6/10 (BFD Down),
# 4/0 (Hold Timer Expired) and their follow-ons (6/7 Connection Collision Resolution, an OPEN race).
CONFIG_CODES = ("6/2", "6/3", "6/4", "6/6")


def down_reasons(downs: dict, among: set[str]) -> dict:
    """Sessions between two nodes of `among` that went down (bench/scale_probe.py downs): how many pairs, how
    many down events, the NOTIFICATION codes counted, and the pairs that got one a configuration sends."""
    pairs, events, codes, config = set(), 0, {}, set()
    for node, items in downs.items():
        if node not in among or not isinstance(items, list):
            continue
        for e in items:
            other = e["peer"].removeprefix("mo-")
            if other not in among:
                continue
            pair = "-".join(sorted((node, other), key=lambda h: int(h[1:]) if h[1:].isdigit() else 0))
            if "reason" in e:
                pairs.add(pair)
                events += 1
            else:
                codes[e["notification"]] = codes.get(e["notification"], 0) + 1
                if e["notification"].split()[0] in CONFIG_CODES:
                    config.add(pair)
    return {
        "pairs_down": len(pairs),
        "down_events": events,
        "notifications": dict(sorted(codes.items(), key=lambda kv: -kv[1])),
        "pairs_reset_by_configuration": sorted(config),
    }


def restarted(before: dict, after: dict, among: set[str]) -> dict:
    """Per daemon (frr, exporter), the nodes among `among` whose processes changed (a restart) or are gone."""
    return {
        what: sorted(n for n in among if before.get(n, {}).get(what) != after.get(n, {}).get(what))
        for what in ("frr", "exporter")
    }


def established(bgp: dict) -> int:
    return sum(
        1
        for peers in bgp.values()
        if isinstance(peers, dict)
        for v in peers.values()
        if isinstance(v, dict) and v.get("state") == "Established"
    )


def one_n(n: int, strategy: str, kill_wait: float, save, reuse: bool = False, steps: set[str] | None = None) -> dict:
    """The figures of one size; save(rec) after each step keeps what was measured if a later step fails."""
    steps = steps or {"add", "remove", "kill"}
    st = scalelab.state()
    if not (reuse and st.get("nodes") == n):
        scalelab.reset(st)
    t0 = time.monotonic()
    scalelab.set_nodes(st, n)
    rec: dict = {"nodes": n, "strategy": strategy, "bfd": BFD, "boot_s": round(time.monotonic() - t0, 1)}
    first = playbook("site.yml", n, strategy)
    rec["first"] = {k: first[k] for k in ("wall_s", "plan_s", "preflight_s", "rc", "failed")}
    save(rec)
    # A converge that failed on some nodes (a lab too loaded to answer, e.g. D-Bus timeouts at 32 nodes) is
    # run again: a rerun must finish what an interrupted converge left (at most twice, each recorded).
    last, rec["finishing"] = first, []
    while (last["rc"] != 0 or last["failed"]) and len(rec["finishing"]) < 2:
        last = playbook("site.yml", n, strategy)
        rec["finishing"].append({k: last[k] for k in ("wall_s", "rc", "failed", "changed")})
        save(rec)
    must(last, f"first converge of {n} (and {len(rec['finishing'])} finishing runs)")
    rerun = must(playbook("site.yml", n, strategy), f"rerun at {n}")
    rec["rerun"] = {
        "wall_s": rerun["wall_s"],
        "per_host_s": round(rerun["wall_s"] / n, 2),
        "changed": sum(rerun["changed"].values()),
        "plan_s": rerun["plan_s"],
        "preflight_s": rerun["preflight_s"],
        "slowest_tasks": rerun["slowest_tasks"],
    }
    time.sleep(10)  # sessions settle (BFD, the exporter's first snapshots)
    bgp = probe(st, "bgp")
    rec["sessions_established"] = established(bgp)
    rec["sessions_expected"] = n * (n - 1)
    mem = probe(st, "memory")
    rec["memory_kib"] = {
        key: round(statistics.median(v[key] for v in mem.values()))
        for key in ("frr_rss_kib", "frr_pss_kib", "exporter_rss_kib", "exporter_pss_kib")
    }
    daemons = sorted({d for v in mem.values() for d in v.get("frr_daemons_rss_kib", {})})
    rec["memory_kib"]["frr_daemons_rss_kib"] = {
        d: round(statistics.median(v.get("frr_daemons_rss_kib", {}).get(d, 0) for v in mem.values())) for d in daemons
    }
    rec["bgpd_show_memory"] = next((v["bgpd_show_memory"] for v in mem.values() if "bgpd_show_memory" in v), [])
    files = probe(st, "files")
    rec["frr_conf"] = {
        "bytes": round(statistics.median(v["frr_conf_bytes"] for v in files.values())),
        "lines": round(statistics.median(v["frr_conf_lines"] for v in files.values())),
    }
    scr = probe(st, "scrape", "n1", f"n{n}")
    ok = [v for v in scr.values() if "scrape_s" in v]
    rec["scrape"] = {
        "seconds": max(v["scrape_s"] for v in ok) if ok else None,
        "series": max(v["series"] for v in ok) if ok else None,
        "bytes": max(v["bytes"] for v in ok) if ok else None,
        "errors": {k: v["error"] for k, v in scr.items() if "error" in v},
    }
    save(rec)
    if "add" not in steps:
        return rec
    # one node added
    before, pids_before = probe(st, "bgp"), probe(st, "pids")
    scalelab.set_nodes(st, n + 1)
    add = must(playbook("site.yml", n + 1, strategy), f"adding n{n + 1}")
    time.sleep(10)
    after, pids_after = probe(st, "bgp"), probe(st, "pids")
    old = {f"n{i}" for i in range(1, n + 1)}
    rec["add"] = {
        "wall_s": add["wall_s"],
        "others_changed_tasks": sorted({t for h, ts in add["changed_tasks"].items() if h in old for t in ts}),
        "others_resets": resets(before, after, old),
        "others_downs": down_reasons(probe(st, "downs", str(before["now"])), old),
        "others_restarted": restarted(pids_before, pids_after, old),
        "new_sessions_established": sum(
            1
            for node in old
            for p, v in after.get(node, {}).items()
            if p == f"mo-n{n + 1}" and v.get("state") == "Established"
        ),
    }
    save(rec)
    victim = f"n{n + 1}"  # without the decommission, the node just added dies
    if "remove" in steps:
        # that node decommissioned
        before, pids_before = after, pids_after
        dec = must(playbook("decommission.yml", n + 1, strategy, ["-e", f"node=n{n + 1}"]), f"decommission of n{n + 1}")
        scalelab.set_nodes(st, n)  # the node's container stops; the inventory loses it (as the playbook says)
        after = probe(st, "bgp")
        rec["remove"] = {
            "wall_s": dec["wall_s"],
            "others_resets": resets(before, after, old),
            "others_downs": down_reasons(probe(st, "downs", str(before["now"])), old),
            "others_restarted": restarted(pids_before, probe(st, "pids"), old),
        }
        save(rec)
        victim = f"n{n}"
    if "kill" not in steps:
        return rec
    # a node dies: every other node must withdraw its routes
    rec["kill"] = kill_figures(probe(st, "withdraw", victim, str(kill_wait), timeout=kill_wait + 600))
    return rec


def kill_figures(w: dict) -> dict:
    """What one power cut (bench/scale_probe.py withdraw) gives: when every other node was done with the dead
    node's loopbacks, how many route changes each made (the rounds of path hunting), and any route left."""
    times = [v["last_event_s"] for v in w["nodes"].values()]
    return {
        "victim": w["victim"],
        "prefixes": w["prefixes"],
        "withdrawn_by_s": max(t for t in times if t is not None) if all(t is not None for t in times) else None,
        "median_s": statistics.median(t for t in times if t is not None) if any(t is not None for t in times) else None,
        "nodes_without_event": [k for k, v in w["nodes"].items() if v["last_event_s"] is None],
        "route_events_median": statistics.median(v["events"] for v in w["nodes"].values()),
        "route_events_max": max(v["events"] for v in w["nodes"].values()),
        "routes_left": {k: v["routes_left"] for k, v in w["nodes"].items() if v["routes_left"]},
    }


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """y = a * x^b, least squares in log-log: (a, b)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y and y > 0]
    if len(pts) < 2:
        return (float("nan"), float("nan"))
    mx = statistics.mean(p[0] for p in pts)
    my = statistics.mean(p[1] for p in pts)
    b = sum((p[0] - mx) * (p[1] - my) for p in pts) / sum((p[0] - mx) ** 2 for p in pts)
    return (math.exp(my - b * mx), b)


FIGURES = [
    ("first converge, wall (s)", lambda r: r["first"]["wall_s"]),
    ("idempotent rerun, wall (s)", lambda r: r["rerun"]["wall_s"]),
    ("rerun per host (s)", lambda r: r["rerun"]["per_host_s"]),
    ("add one node, wall (s)", lambda r: r["add"]["wall_s"]),
    ("add: sessions reset between the others", lambda r: len(r["add"]["others_resets"])),
    ("add: others whose FRR restarted", lambda r: len(r["add"]["others_restarted"]["frr"])),
    ("add: others whose exporter restarted", lambda r: len(r["add"]["others_restarted"]["exporter"])),
    ("decommission one node, wall (s)", lambda r: r["remove"]["wall_s"]),
    ("dead node withdrawn everywhere (s)", lambda r: r["kill"]["withdrawn_by_s"]),
    ("route changes per node for it (median)", lambda r: r["kill"]["route_events_median"]),
    ("FRR RSS per node (MiB)", lambda r: r["memory_kib"]["frr_rss_kib"] / 1024),
    ("exporter RSS per node (MiB)", lambda r: r["memory_kib"]["exporter_rss_kib"] / 1024),
    ("frr.conf per node (KiB)", lambda r: r["frr_conf"]["bytes"] / 1024),
    ("scrape (s)", lambda r: r["scrape"]["seconds"]),
    ("series per node", lambda r: r["scrape"]["series"]),
    ("plan task (s)", lambda r: r["rerun"]["plan_s"]),
    ("preflight task (s)", lambda r: r["rerun"]["preflight_s"]),
]


def table(results: list[dict]) -> str:
    ns = [r["nodes"] for r in results]
    head = "| figure | " + " | ".join(f"N={n}" for n in ns) + " | fit y = a·N^b | N=100 | N=300 |"
    lines = [head, "|" + " --- |" * (len(ns) + 4)]
    for title, get in FIGURES:
        vals = []
        for r in results:
            try:
                vals.append(get(r))
            except (KeyError, TypeError):
                vals.append(None)
        a, b = fit(ns, [v for v in vals]) if all(v is not None for v in vals) else (float("nan"), float("nan"))
        proj = [a * 100**b, a * 300**b] if not math.isnan(a) else [None, None]
        cells = [f"{v:.2f}" if isinstance(v, float) else ("—" if v is None else str(v)) for v in vals]
        fit_s = f"{a:.3g}·N^{b:.2f}" if not math.isnan(a) else "—"
        proj_s = [f"{p:.3g}" if p is not None else "—" for p in proj]
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {fit_s} | {proj_s[0]} | {proj_s[1]} |")
    return "\n".join(lines)


def same_run(rec: dict, n: int, strategy: str) -> bool:
    """rec is an earlier result of this size, strategy and BFD setting (which a new one replaces)."""
    return rec["nodes"] == n and rec["strategy"] == strategy and rec.get("bfd") == BFD


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", default="4,8,16,32", help="comma-separated N values, ascending")
    p.add_argument("--strategy", default="mitogen", choices=["mitogen", "linear"])
    p.add_argument("--kill-wait", type=float, default=15.0, help="seconds to watch the routes after a kill")
    p.add_argument("--out", default=str(REPO / ".lab" / "scale" / "results.json"))
    p.add_argument("--steps", default="add,remove,kill", help="which of add, remove, kill to run after the rerun")
    p.add_argument(
        "--bfd",
        type=parse_bfd,
        default=None,
        metavar="INTERVAL:MULTIPLIER",
        help="meshover_bfd for every run (e.g. 1000:10, the molecule lab's); default: the product's (300:3)",
    )
    p.add_argument("--table-only", action="store_true", help="print the table of --out and stop")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="keep the running nodes for the first size if there are exactly that many (after a run that "
        "failed before it changed a node, e.g. in the controller's preflight)",
    )
    args = p.parse_args()
    global BFD
    BFD = args.bfd
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else []
    if not args.table_only:
        ns = [int(x) for x in args.nodes.split(",")]
        lab = scalelab.lab()
        if not (scalelab.meshlab.load_state(lab) and scalelab.meshlab.lab_pid(lab, lab / "guest.pid")):
            scalelab.main(["up", "--nodes", "1"])
        steps = set(args.steps.split(","))
        for n in ns:
            t0 = time.monotonic()

            def save(rec: dict, n: int = n, t0: float = t0) -> None:
                nonlocal results
                rec["bench_s"] = round(time.monotonic() - t0, 1)
                rec["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                results = [r for r in results if not same_run(r, n, args.strategy)] + [rec]
                results.sort(key=lambda r: (r["strategy"], json.dumps(r.get("bfd")), r["nodes"]))
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(results, indent=1))

            rec = one_n(n, args.strategy, args.kill_wait, save, reuse=args.reuse and n == ns[0], steps=steps)
            save(rec)
            print(json.dumps(rec), flush=True)
            emit(
                f"scale_rerun_{n}",
                f"idempotent rerun, {n} nodes",
                "s",
                [rec["rerun"]["wall_s"]],
                "0 changed",
                rec["rerun"]["changed"] == 0,
            )
    print(table([r for r in results if r["strategy"] == args.strategy and r.get("bfd") == BFD]))


if __name__ == "__main__":
    main()
