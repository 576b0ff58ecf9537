#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Path hunting A/B on the scale lab's N converged nodes (issue #20), not a test.

Mode B is the product (MO-LONG-PATH: a node passes on only short paths); mode A adds `route-map MO-OUT-IPV4/6
permit 24` through meshover_frr_extra_config, which lets every path out before MO-OUT's `deny 25`: the policy
before the limit, on the same nodes. Per mode: a converge, then KILLS power cuts of the last node
(bench/scale_probe.py withdraw), each followed by that node's restart and every session back.

    .venv/bin/python bench/scale.py --nodes 8 --steps none     # the lab, converged
    .venv/bin/python bench/scale_hunting.py 8 2 B,A            # N, cuts per mode, modes in order

Results: one JSON line per cut on stdout and .lab/scale/hunting-N-TIME.json.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scale
import scalelab

LOG = ["log syslog informational"]
A_EXTRA = [*LOG, "route-map MO-OUT-IPV4 permit 24", "exit", "route-map MO-OUT-IPV6 permit 24", "exit"]


def sessions_up(st: dict, want: int, timeout: float = 600) -> float:
    """Seconds until `want` BGP sessions are established in the lab."""
    t0, n = time.monotonic(), 0
    while time.monotonic() - t0 < timeout:
        n = scale.established(scale.probe(st, "bgp"))
        if n >= want:
            return round(time.monotonic() - t0, 1)
        time.sleep(10)
    raise SystemExit(f"only {n} of {want} sessions after {timeout} s")


def cut(st: dict, mode: str, k: int, victim: str) -> dict:
    """One power cut of victim (scale.kill_figures), with the mode and the guest's load."""
    w = scale.probe(st, "withdraw", victim, "25", timeout=900)
    load = scalelab.guest(st, "cat /proc/loadavg", capture=True).split()[:3]
    return {"mode": mode, "kill": k, **scale.kill_figures(w), "load": load}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    kills = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    modes = sys.argv[3].split(",") if len(sys.argv) > 3 else ["B", "A", "B", "A"]
    st, victim, out = scalelab.state(), f"n{n}", []
    for mode in modes:
        extra = ["-e", json.dumps({"meshover_frr_extra_config": A_EXTRA if mode == "A" else LOG})]
        run = scale.must(scale.playbook("site.yml", n, "mitogen", extra), f"converge for mode {mode}")
        print(f"mode {mode}: converge {run['wall_s']} s, changed {sum(run['changed'].values())}", flush=True)
        sessions_up(st, n * (n - 1))
        for k in range(1, kills + 1):
            time.sleep(20)
            out.append(cut(st, mode, k, victim))
            print(json.dumps(out[-1]), flush=True)
            scalelab.guest(st, f"systemctl reset-failed scale-node@{victim}.service || true")
            scalelab.set_nodes(st, n)
            print(f"  {victim} back, all sessions up after {sessions_up(st, n * (n - 1))} s", flush=True)
    (scalelab.lab() / f"hunting-{n}-{int(time.time())}.json").write_text(json.dumps(out, indent=1))
    for mode in sorted(set(modes)):
        rs = [r for r in out if r["mode"] == mode]
        print(
            mode, "withdrawn_by_s", [r["withdrawn_by_s"] for r in rs], "events", [r["route_events_median"] for r in rs]
        )


if __name__ == "__main__":
    main()
