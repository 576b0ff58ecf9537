#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TCP throughput (iperf3) of GRE-over-WireGuard against plain WireGuard between the same two VMs.

    .venv/bin/python bench/throughput.py -i .lab/LAB/inventory.yml [--src n1 --dst n2 --seconds 8 --runs 3]
                                         [--link-rate 40mbit]

Plain WireGuard: SRC's transport6 -> DST's transport6 (the WireGuard addresses). GRE over WireGuard:
SRC's loopback6 -> DST's loopback6, which BGP routes through the ip6gre tunnel (the route is checked).
The two are measured back to back, alternating, RUNS times; the figure is GRE / WireGuard per pair.
Target (issue 9): at least 0.90.

Under qemu-TCG both are bound by the emulated CPU (encryption, and GRE's extra pass through the stack).
With --link-rate RATE the lab's router limits its data links to RATE in both directions (`meshlab.py netem
--rate`, no delay or loss) for the runs, below what either reaches, so both are bound by the link, as on a
server whose CPU outruns its uplink: the ratio is then what GRE's headers cost on the wire. The lab is the
inventory's directory name (.lab/LAB/inventory.yml); the limit is removed afterwards whatever happened.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import MESHLAB, emit, fail, identity, load_inventory, ssh


def link_rate(lab: str, rate: str) -> None:
    """The router's data links limited to `rate` (no delay, no loss), or unlimited again when `rate` is empty."""
    extra = ["on", "--delay", "0ms", "--loss", "0%", "--rate", rate] if rate else ["off"]
    subprocess.run([sys.executable, MESHLAB, "netem", "--lab", lab, *extra], check=True, capture_output=True, text=True)


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
    ap.add_argument("--link-rate", default="", help="limit the router's data links to this rate, e.g. 40mbit")
    args = ap.parse_args()
    lab = os.path.basename(os.path.dirname(os.path.abspath(args.inventory)))
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
        if args.link_rate:
            link_rate(lab, args.link_rate)
        for run in range(args.runs):
            for label, bind, target, acc in (("wireguard", wg_a, wg_b, wg), ("gre", lo_a, lo_b, gre)):
                time.sleep(1)
                acc.append(iperf(src, bind, target, args.seconds))
                print(f"run {run + 1} {label}: {acc[-1]:.0f} Mbit/s", flush=True)
    finally:
        ssh(dst, "pkill -x iperf3 || true")
        if args.link_rate:
            link_rate(lab, "")
    bound = f", the router's links at {args.link_rate}" if args.link_rate else ""
    key = "_link" if args.link_rate else ""  # a figure of its own: make bench keeps both
    ratios = [g / w for g, w in zip(gre, wg)]
    emit(
        f"tput_wg{key}",
        f"TCP throughput {args.src}->{args.dst}, plain WireGuard (iperf3){bound}",
        "Mbit/s",
        wg,
        "—",
        None,
    )
    emit(
        f"tput_gre{key}",
        f"TCP throughput {args.src}->{args.dst}, GRE over WireGuard (iperf3){bound}",
        "Mbit/s",
        gre,
        "—",
        None,
    )
    emit(
        f"tput_ratio{key}",
        f"GRE-over-WireGuard / plain WireGuard throughput, back to back{bound}",
        "ratio",
        ratios,
        "≥ 0.90",
        statistics.median(ratios) >= 0.90,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
