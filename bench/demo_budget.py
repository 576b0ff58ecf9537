#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where `make demo`'s time goes (issue 14's budget: at most 4 minutes with cached images).

    .venv/bin/python bench/demo_budget.py [--keep]

Runs what molecule/lab/demo.sh runs, each step timed: the lab from scratch (`meshlab.py down`, then
`up --lab demo --nodes 3`: cached images if the recipe did not change), the first converge of the fresh
nodes (site.yml, Mitogen, as `make demo`; tasks timed by bench/callback_plugins/meshover_tally) and the
status (status.yml). Prints the total, the steps and the converge's slowest tasks (wall time of each
task: from its start to the last host's result), grouped by role, and writes them to
.lab/demo-budget.json. The lab stays up with --keep (for bench/converge_budget.py, say).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _benchlib import MESHLAB, REPO, ansible_env, fail, timed_run
from converge_budget import converge

BUDGET_S = 240.0
LAB = "demo"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="leave the demo lab running")
    args = ap.parse_args()
    meshlab = [sys.executable, MESHLAB]
    inventory = str(REPO / ".lab" / LAB / "inventory.yml")
    env = dict(os.environ)
    timed_run([*meshlab, "down", "--lab", LAB], env)
    steps = {}
    t0 = time.monotonic()
    steps["lab up (4 VMs, cached images)"], res = timed_run([*meshlab, "up", "--lab", LAB, "--nodes", "3"], env)
    if res.returncode != 0:
        fail(f"meshlab up failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    cached = "built " not in res.stdout + res.stderr
    seconds, hosts, durations = converge(inventory, "mitogen")
    steps["first converge (site.yml, Mitogen)"] = seconds
    steps["status (status.yml)"], res = timed_run(
        ["ansible-playbook", "-i", inventory, str(REPO / "playbooks" / "status.yml")], ansible_env("mitogen")
    )
    if res.returncode != 0:
        fail(f"status.yml failed:\n{res.stdout[-2000:]}")
    total = time.monotonic() - t0
    by_role: dict[str, float] = collections.defaultdict(float)
    for name, sec in durations.items():
        role = name.split(" : ")[0].replace("meshover.mesh.", "") if " : " in name else "(playbook)"
        by_role[role] += sec
    slowest = sorted(durations.items(), key=lambda kv: -kv[1])[:12]
    print(f"make demo, measured: {total:.0f} s (budget {BUDGET_S:.0f} s), images cached: {cached}")
    for what, sec in steps.items():
        print(f"  {what}: {sec:.1f} s")
    print("first converge by role (task wall times summed):")
    for role, sec in sorted(by_role.items(), key=lambda kv: -kv[1]):
        print(f"  {role}: {sec:.1f} s")
    print("slowest tasks of the first converge:")
    for name, sec in slowest:
        print(f"  {sec:6.1f} s  {name}")
    changed = {h: t["changed"] for h, t in hosts.items()}
    print(f"changed per host: {changed}")
    out = REPO / ".lab" / "demo-budget.json"
    out.write_text(
        json.dumps(
            {"total_s": total, "cached": cached, "steps": steps, "by_role": by_role, "durations": durations}, indent=1
        ),
        encoding="utf-8",
    )
    if not args.keep:
        timed_run([*meshlab, "down", "--lab", LAB], env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
