#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time scrapes of a lab node's exporter (/metrics) with a given number of WireGuard peers.

    .venv/bin/python bench/scrape.py -i .lab/LAB/inventory.yml [--host n1 --peers 50 --runs 10 --gap 0.5]

Reads ansible_host/port/user/key from a lab inventory (as bench/reroute.py does). On HOST: adds
fake WireGuard peers (random public keys, allowed-ips in fd99:5c7a::/64, no endpoint: they never
send a packet) with `wg set` until the interface has PEERS peers, then scrapes
http://[listen_address]:port/metrics from the node itself RUNS times (Python urllib, one GET after
another, GAP seconds apart, after one warm-up scrape that is reported on its own), and removes
the fake peers again (also on failure or Ctrl-C). Prints a summary on stderr and one figure record
(bench/_benchlib.py) on stdout.
Target (issue 7): a scrape under 1 s with 50 peers.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _benchlib import NODE_METRICS_URL, emit, load_inventory, ssh  # bench/ is not a package: its dir is on sys.path

SCRAPER = (
    NODE_METRICS_URL
    + r"""
import sys, time
runs, gap = int(sys.argv[1]), float(sys.argv[2])
times, body = [], b""
for i in range(runs + 1):
    t = time.perf_counter()
    body = opener.open(url, timeout=60).read()
    times.append(time.perf_counter() - t)
    time.sleep(gap)
peers = body.count(b"meshover_wg_peer_sent_bytes_total{")
print(json.dumps({"warmup": times[0], "times": times[1:], "bytes": len(body), "wg_peers_in_metrics": peers,
                  "interface": cfg.get("wg_interface")}))
"""
)


def remote(h: dict, command: str, timeout: int = 300) -> str:
    proc = ssh(h, command, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:80]}...: exit {proc.returncode}: {proc.stderr.strip()[:300]}")
    return proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--inventory", required=True)
    ap.add_argument("--host", default="n1")
    ap.add_argument("--peers", type=int, default=50, help="total WireGuard peers during the scrapes")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--gap", type=float, default=0.5, help="seconds between two scrapes")
    args = ap.parse_args()
    h = load_inventory(args.inventory)[args.host]
    iface = json.loads(remote(h, "cat /etc/meshover/exporter.json"))["wg_interface"]
    existing = len(remote(h, f"wg show {iface} peers").split())
    fakes = [base64.b64encode(os.urandom(32)).decode() for _ in range(max(0, args.peers - existing))]
    try:
        if fakes:
            remote(
                h,
                f"wg set {iface} "
                + " ".join(f"peer {k} allowed-ips fd99:5c7a::{i + 1:x}/128" for i, k in enumerate(fakes)),
            )
        total = len(remote(h, f"wg show {iface} peers").split())
        result = json.loads(remote(h, f"python3 - {args.runs} {args.gap} <<'EOF'\n{SCRAPER}\nEOF"))
    finally:
        if fakes:
            remote(h, f"wg set {iface} " + " ".join(f"peer {k} remove" for k in fakes))
    left = len(remote(h, f"wg show {iface} peers").split())
    times = result["times"]
    figure = emit(
        "exporter_scrape",
        f"exporter scrape (/metrics) on {args.host} with {total} WireGuard peers ({len(fakes)} fake), "
        f"{result['bytes']} bytes",
        "s",
        times,
        "< 1 s",
        max(times) < 1.0 and result["wg_peers_in_metrics"] == total,
        f"warm-up {result['warmup']:.3f} s; {result['wg_peers_in_metrics']} peers in the metrics; "
        f"{left} peers left after clean-up",
    )
    print(
        f"{args.host}: {total} WireGuard peers ({len(fakes)} fake), {len(times)} scrapes of {result['bytes']} bytes: "
        f"median {figure['median']} s, max {figure['max']} s (warm-up {result['warmup']:.3f} s); "
        f"{left} peers left after clean-up",
        file=sys.stderr,
    )
    return 0 if left == existing else 1


if __name__ == "__main__":
    sys.exit(main())
