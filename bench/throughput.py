#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TCP throughput (iperf3) of GRE-over-WireGuard against plain WireGuard between the same two VMs.

    .venv/bin/python bench/throughput.py -i .lab/LAB/inventory.yml [--src n1 --dst n2 --seconds 8 --runs 3]

Plain WireGuard: SRC's transport6 -> DST's transport6 (the WireGuard addresses). GRE over WireGuard:
SRC's loopback6 -> DST's loopback6, which BGP routes through the ip6gre tunnel (the route is checked).
The two are measured back to back, alternating, RUNS times; the figure is GRE / WireGuard per pair.
Target (issue 9): at least 0.90.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import emit, fail, identity, load_inventory, ssh


def iperf(src: dict, bind: str, target: str, seconds: int) -> float:
    res = ssh(src, f"iperf3 -6 -J -t {seconds} -O 1 -B {bind} -c {target}", timeout=seconds * 4 + 60)
    try:
        data = json.loads(res.stdout)
        return data["end"]["sum_received"]["bits_per_second"] / 1e6
    except (ValueError, KeyError):
        fail(f"iperf3 {bind} -> {target} failed: {res.stdout[-1500:]} {res.stderr[-500:]}")
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--inventory", required=True)
    ap.add_argument("--src", default="n1")
    ap.add_argument("--dst", default="n2")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    inv = load_inventory(args.inventory)
    src, dst = inv[args.src], inv[args.dst]
    a, b = identity(inv, args.src), identity(inv, args.dst)
    wg_a, wg_b = str(a.transport6), str(b.transport6)
    lo_a, lo_b = str(a.loopback6), str(b.loopback6)

    route = ssh(src, f"ip -6 route get {lo_b} from {lo_a}").stdout
    if f"dev {b.gre_name}" not in route:
        fail(f"{args.dst}'s loopback is not routed through the GRE tunnel {b.gre_name} on {args.src}: {route}")
    ssh(dst, "pkill -x iperf3; iperf3 -s -D")  # one server, the tests run one after another
    wg, gre = [], []
    try:
        for run in range(args.runs):
            for label, bind, target, acc in (("wireguard", wg_a, wg_b, wg), ("gre", lo_a, lo_b, gre)):
                time.sleep(1)
                acc.append(iperf(src, bind, target, args.seconds))
                print(f"run {run + 1} {label}: {acc[-1]:.0f} Mbit/s", flush=True)
    finally:
        ssh(dst, "pkill -x iperf3 || true")
    ratios = [g / w for g, w in zip(gre, wg)]
    emit("tput_wg", f"TCP throughput {args.src}->{args.dst}, plain WireGuard (iperf3)", "Mbit/s", wg, "—", None)
    emit("tput_gre", f"TCP throughput {args.src}->{args.dst}, GRE over WireGuard (iperf3)", "Mbit/s", gre, "—", None)
    emit(
        "tput_ratio",
        "GRE-over-WireGuard / plain WireGuard throughput, back to back",
        "ratio",
        ratios,
        "≥ 0.90",
        statistics.median(ratios) >= 0.90,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
