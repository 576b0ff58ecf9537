#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the exporter costs a node: its helpers' answers and the share of the CPU it keeps busy.

    .venv/bin/python bench/exporter_cost.py -i .lab/demo/inventory.yml [--host n2 --runs 5 --window 30 --rounds 2]

Reads ansible_host/port/user/key from a lab inventory (as bench/scrape.py does). On HOST, as root:
- asks each helper socket (/run/meshover-exporter/wg.sock and frr.sock) RUNS times, alternated, and times
  each answer from connect to end of answer, as the exporter sees it (one systemd unit run each);
- the node's CPU busy share (/proc/stat, every CPU, steal counted as busy) over WINDOW seconds, ROUNDS
  times alternated: with the exporter collecting (one scrape of /metrics before the window wakes it: it
  then collects every interval for idle_after seconds) and with meshover-exporter.service stopped (started
  again at the end, also on failure).
Prints a summary on stderr and three figure records (bench/_benchlib.py) on stdout. No target: the
figures show what a node pays for its metrics (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _benchlib import NODE_METRICS_URL, emit, load_inventory, ssh  # bench/ is not a package: its dir is on sys.path

ON_NODE = (
    NODE_METRICS_URL
    + r"""
import socket, subprocess, sys, time
runs, window, rounds = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])

def ask(path):
    t = time.monotonic()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(60)
        s.connect(path)
        s.shutdown(socket.SHUT_WR)
        size = 0
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            size += len(chunk)
    return time.monotonic() - t, size

def cpu():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    idle = v[3] + v[4]
    return sum(v) - idle, idle

def share(seconds):
    b0, i0 = cpu()
    time.sleep(seconds)
    b1, i1 = cpu()
    return 100.0 * (b1 - b0) / max(1, (b1 - b0) + (i1 - i0))

def unit(verb):
    subprocess.run(["systemctl", verb, "meshover-exporter.service"], check=True)

out = {"wg": [], "frr": [], "wg_bytes": 0, "frr_bytes": 0, "collecting": [], "stopped": [], "scrape_errors": 0}
for _ in range(runs):
    for name in ("wg", "frr"):
        seconds, size = ask("/run/meshover-exporter/%s.sock" % name)
        out[name].append(seconds)
        out[name + "_bytes"] = size
try:
    for _ in range(rounds):
        try:
            opener.open(url, timeout=60).read()
        except OSError:
            out["scrape_errors"] += 1
        time.sleep(6)  # the first collection after the wake-up is done
        out["collecting"].append(share(window))
        unit("stop")
        time.sleep(3)
        out["stopped"].append(share(window))
        unit("start")
        time.sleep(3)
finally:
    unit("start")
print(json.dumps(out))
"""
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--inventory", required=True)
    ap.add_argument("--host", default="n2")
    ap.add_argument("--runs", type=int, default=5, help="answers of each helper")
    ap.add_argument("--window", type=float, default=30.0, help="seconds of each CPU measurement")
    ap.add_argument("--rounds", type=int, default=2, help="CPU measurements with and without the exporter")
    args = ap.parse_args()
    h = load_inventory(args.inventory)[args.host]
    timeout = int(args.runs * 2 * 70 + args.rounds * (2 * args.window + 80) + 60)
    proc = ssh(h, f"python3 - {args.runs} {args.window} {args.rounds} <<'EOF'\n{ON_NODE}\nEOF", timeout=timeout)
    if proc.returncode != 0:
        print(f"{args.host}: exit {proc.returncode}: {proc.stderr.strip()[:500]}", file=sys.stderr)
        return 1
    r = json.loads(proc.stdout)
    emit(
        "exporter_wg_helper",
        f"{args.host}: one answer of the exporter's WireGuard helper (socket to end of answer, one unit run)",
        "s",
        r["wg"],
        "—",
        None,
        f"{r['wg_bytes']} bytes",
    )
    emit(
        "exporter_frr_helper",
        f"{args.host}: one answer of the exporter's FRR helper (socket to end of answer, one unit run)",
        "s",
        r["frr"],
        "—",
        None,
        f"{r['frr_bytes']} bytes",
    )
    emit(
        "exporter_cpu_share",
        f"{args.host}: CPU busy while the exporter collects every interval, {args.window:g} s windows",
        "%",
        r["collecting"],
        "—",
        None,
        f"with meshover-exporter.service stopped: {', '.join(f'{x:.1f}' for x in r['stopped'])} %; "
        f"scrapes that failed: {r['scrape_errors']}",
    )
    print(
        f"{args.host}: wg helper {min(r['wg']):.2f}-{max(r['wg']):.2f} s, frr helper {min(r['frr']):.2f}-"
        f"{max(r['frr']):.2f} s; CPU busy collecting {', '.join(f'{x:.1f}' for x in r['collecting'])} %, "
        f"exporter stopped {', '.join(f'{x:.1f}' for x in r['stopped'])} %",
        file=sys.stderr,
    )
    return 0 if not r["scrape_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
