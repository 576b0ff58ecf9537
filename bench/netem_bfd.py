#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A worse underlay with the product's default BFD and BGP timers (issue 15): do sessions reset?

    .venv/bin/python bench/netem_bfd.py --lab demo [--node n1] [--seconds 120] [--delay 20ms --loss 1%]

Against a lab of molecule/lab/meshlab.py whose inventory leaves meshover_bfd and meshover_bgp_timers
at the product's defaults (BFD 300 ms x 3, BGP keepalive 3 s / hold 9 s): the `make demo` lab. Two
phases of SECONDS each on NODE: a control (underlay as it is) and netem (the lab's router adds DELAY
and LOSS on both segments: `meshlab.py netem`). Each phase reads, before and after, NODE's BGP
neighbours' connectionsDropped and BFD peers' session-down counters, and the host's load average
(a TCG guest frozen by a busy host misses BFD packets like a lossy link does: the control phase shows
what the host alone does). During each phase NODE pings every peer's loopback at 5/s. Prints one line
per phase and a Markdown table row; exit 0 unless the lab could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# the collection as `make collection` links it (.lab/collections), for the identity derivation
sys.path.insert(1, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".lab", "collections"))

from _benchlib import MESHLAB, identity, load_inventory, ssh, vtysh_of

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def counters(node: dict, vtysh: str) -> dict[str, int]:
    """{"bgp <tunnel>": connectionsDropped, "bfd <tunnel>": session-down} on the node."""
    out = ssh(node, f"{vtysh} -c 'show bgp neighbors json'; echo '@@'; {vtysh} -c 'show bfd peers counters json'")
    if out.returncode != 0 or "@@" not in out.stdout:
        raise SystemExit(f"cannot read FRR on the node: rc {out.returncode} {out.stderr.strip()}")
    bgp_text, bfd_text = out.stdout.split("@@", 1)
    found = {f"bgp {k}": int(v.get("connectionsDropped", 0)) for k, v in json.loads(bgp_text).items()}
    found.update({f"bfd {p.get('interface')}": int(p.get("session-down", 0)) for p in json.loads(bfd_text)})
    return found


def load() -> float:
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])


def netem(lab: str, action: str, delay: str, loss: str) -> None:
    argv = [sys.executable, MESHLAB, "netem", "--lab", lab, action]
    if action == "on":
        argv += ["--delay", delay, "--loss", loss]
    subprocess.run(argv, check=True, capture_output=True, text=True)


def phase(name, node, vtysh, loopbacks, seconds, lab, delay, loss):
    before, load_before = counters(node, vtysh), load()
    if name == "netem":
        netem(lab, "on", delay, loss)
    count = seconds * 5
    pings = " & ".join(
        f"ping -n -q -i 0.2 -c {count} {lo} >/tmp/mo_netem_{i}.out 2>&1" for i, lo in enumerate(loopbacks)
    )
    try:
        ssh(node, f"{pings}; wait; cat /tmp/mo_netem_*.out", timeout=seconds * 3 + 60)
        out = ssh(node, "cat /tmp/mo_netem_*.out; rm -f /tmp/mo_netem_*.out").stdout
    finally:
        if name == "netem":
            netem(lab, "off", delay, loss)
    after, load_after = counters(node, vtysh), load()
    sent = sum(int(m) for m in re.findall(r"(\d+) packets transmitted", out))
    received = sum(int(m) for m in re.findall(r"(\d+) received", out))
    changed = {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(before) | set(after))}
    resets = sum(v for k, v in changed.items() if k.startswith("bgp "))
    bfd_downs = sum(v for k, v in changed.items() if k.startswith("bfd "))
    return {
        "phase": name,
        "seconds": seconds,
        "bgp_resets": resets,
        "bfd_downs": bfd_downs,
        "per_session": {k: v for k, v in changed.items() if v},
        "ping_sent": sent,
        "ping_lost": sent - received,
        "load": (load_before, load_after),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab", default="demo")
    ap.add_argument("--node", default="n1")
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--delay", default="20ms")
    ap.add_argument("--loss", default="1%")
    args = ap.parse_args()
    inv = load_inventory(os.path.join(REPO, ".lab", args.lab, "inventory.yml"))
    node = inv[args.node]
    if "meshover_bfd" in node or "meshover_bgp_timers" in node:
        print(f"{args.node}: the lab sets meshover_bfd or meshover_bgp_timers: this bench is for the defaults")
        return 2
    loopbacks = [identity(inv, h).loopback6 for h in sorted(inv) if h != args.node]
    vtysh = vtysh_of(node)
    rows = []
    for name in ("control", "netem"):
        r = phase(name, node, vtysh, loopbacks, args.seconds, args.lab, args.delay, args.loss)
        rows.append(r)
        print(json.dumps(r))
        time.sleep(10)
    print(
        f"| {args.node} | {args.seconds} s each | "
        + " | ".join(
            f"{r['phase']}: {r['bgp_resets']} BGP resets, {r['bfd_downs']} BFD downs, "
            f"{r['ping_lost']}/{r['ping_sent']} pings lost, load {r['load'][0]:.1f}→{r['load'][1]:.1f}"
            for r in rows
        )
        + " |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
