#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Idempotent-rerun budget of site.yml against `ansible -m ping`, and the --limit peer check.

    .venv/bin/python bench/converge_budget.py -i .lab/LAB/inventory.yml [--runs 3] [--strategies plain,mitogen]

Issue 14's budget (fresh-server lab): an idempotent rerun executes at most 17 tasks per host,
changes nothing, and takes at most 12x (plain linear strategy, pipelining) / 3x (mitogen_linear) the wall time of
`ansible mesh -m ping` (plain, pipelining) measured in the same run on the same lab. Each run
measures ping, then one rerun per strategy, back to back. Tasks are counted by the
bench/callback_plugins/meshover_tally callback. Then a `--limit <first host>` run must leave every
node with all its WireGuard peers (the key cache).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import REPO, ansible_env, emit, fail, load_inventory, ssh, timed_run

BUDGET = {"plain": 12.0, "mitogen": 3.0}
MAX_TASKS = 17


def converge(inv_path, strategy, extra=()):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tf:
        out = tf.name
    env = ansible_env(
        strategy,
        ANSIBLE_CALLBACK_PLUGINS=str(REPO / "bench" / "callback_plugins"),
        ANSIBLE_CALLBACKS_ENABLED="meshover_tally",
        MESHOVER_TALLY_OUT=out,
    )
    seconds, res = timed_run(["ansible-playbook", "-i", inv_path, str(REPO / "playbooks" / "site.yml"), *extra], env)
    if res.returncode != 0:
        fail(f"site.yml ({strategy}) failed:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}")
    with open(out, encoding="utf-8") as f:
        data = json.load(f)
    os.unlink(out)
    # The budget is per node: the preflight's check that group mesh has hosts runs on localhost.
    hosts = {host: tally for host, tally in data["hosts"].items() if host != "localhost"}
    return seconds, hosts, data["durations"]


def ping(inv_path, group):
    seconds, res = timed_run(["ansible", "-i", inv_path, group, "-m", "ansible.builtin.ping"], ansible_env("plain"))
    if res.returncode != 0:
        fail(f"ansible -m ping failed:\n{res.stdout[-2000:]}")
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--inventory", required=True)
    ap.add_argument("--group", default="mesh")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--strategies", default="plain,mitogen")
    args = ap.parse_args()
    strategies = args.strategies.split(",")
    inv = load_inventory(args.inventory)
    hosts = sorted(inv)

    converge(args.inventory, "mitogen")  # converged, warm ssh control sockets
    pings, times, tallies = [], {s: [] for s in strategies}, {s: [] for s in strategies}
    slowest = {}
    for run in range(args.runs):
        pings.append(ping(args.inventory, args.group))
        for s in strategies:
            seconds, tally, durations = converge(args.inventory, s)
            slowest[s] = sorted(durations.items(), key=lambda kv: -kv[1])[:4]
            times[s].append(seconds)
            tallies[s].append(tally)
            per_host = {h: t["executed"] for h, t in tally.items()}
            changed = sum(t["changed"] for t in tally.values())
            print(
                f"run {run + 1} {s}: {seconds:.1f} s, ping {pings[-1]:.1f} s, tasks/host {per_host}, changed {changed}"
            )

    emit("ping", f"`ansible {args.group} -m ping`, {len(hosts)} hosts (plain, pipelining)", "s", pings, "—", None)
    for s in strategies:
        tasks = max(max(t["executed"] for t in tally.values()) for tally in tallies[s])
        changed = max(sum(t["changed"] for t in tally.values()) for tally in tallies[s])
        ratios = [t / p for t, p in zip(times[s], pings)]
        emit(
            f"rerun_{s}",
            f"idempotent rerun of site.yml, {s} strategy{' (mitogen_linear)' if s == 'mitogen' else ', pipelining'}",
            "s",
            times[s],
            f"≤ {BUDGET[s]:g}x ping",
            statistics.median(ratios) <= BUDGET[s] and changed == 0,
            f"{statistics.median(ratios):.1f}x ping (median of per-run ratios); {tasks} tasks per host at most "
            f"(budget {MAX_TASKS}); {changed} changed; slowest tasks: "
            + ", ".join(f"{name.split(' : ')[-1][:32]} {sec:.1f} s" for name, sec in slowest[s]),
        )
    tally = tallies[strategies[0]][-1]
    worst = max(tally, key=lambda h: tally[h]["executed"])
    emit(
        "tasks_per_host",
        "tasks executed per host in an idempotent rerun (incl. argument-spec checks and run-once tasks)",
        "tasks",
        [float(t["executed"]) for t in tally.values()],
        f"≤ {MAX_TASKS}",
        max(t["executed"] for t in tally.values()) <= MAX_TASKS,
        f"{worst}: " + ", ".join(t["name"].split(" : ")[-1][:40] for t in tally[worst]["tasks"]),
    )

    # --limit on one node: every node keeps all its peers (the key cache gives the others' keys). A
    # node's peers are those of the full converge above: on a routed underlay a pair that shares no
    # family has no peer of its own (transit), so N-1 is not the figure there.
    iface = inv[hosts[0]].get("meshover_wg_interface", "meshover0")

    def peers():
        return {h: sorted(re.findall(r"\S+", ssh(inv[h], f"wg show {iface} peers").stdout)) for h in hosts}

    full = peers()
    converge(args.inventory, "mitogen", ("--limit", hosts[0]))
    limited = peers()
    emit(
        "limit_peers",
        f"WireGuard peers on each node after `site.yml --limit {hosts[0]}` ({len(hosts)} nodes)",
        "peers",
        [float(len(limited[h])) for h in hosts],
        "those of the full converge, on every node",
        limited == full,
        "full converge: " + ", ".join(f"{h} {len(full[h])}" for h in hosts),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
