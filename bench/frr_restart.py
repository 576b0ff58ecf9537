#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""FRR killed and brought back by systemd, RUNS times: how long until every BGP session is up again.

    .venv/bin/python bench/frr_restart.py -i .lab/demo/inventory.yml [--nodes n1,n2,n3] [--runs 5] [--wait 240]

Per run: SIGKILL to watchfrr on each of NODES at once (as molecule's verify does; the unit's Restart= brings
FRR back: the package's frr.service or the container's meshover-frr.service), then every mesh node's
`show bgp summary json` every 2 s until each has all its sessions Established in both families, or WAIT
seconds. A session still down then is written out with what bgpd and bfdd say of it (the neighbour's state,
its last reset, bgpd's BFD status, bfdd's session) into .lab/frr-restart-<time>.json, and the run counts as
stuck. Figure: seconds until all sessions are back, per run; target: no run stuck.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import REPO, collection_on_path, emit, load_inventory, ssh, vtysh_of


def sessions(host: dict) -> dict[str, str]:
    """{"<afi> <peer>": state} of the node's BGP sessions, read by the product's own parser ({} when FRR does
    not answer yet)."""
    collection_on_path()
    from ansible_collections.meshover.mesh.plugins.module_utils.node._kernel import bgp_sessions

    try:  # vtysh waits for daemons that are starting: no answer in time is no session up
        out = ssh(host, f"{vtysh_of(host)} -c 'show bgp summary json' 2>/dev/null", timeout=60)
        return {f"{s['afi']} {s['neighbor']}": s["state"] for s in bgp_sessions(json.loads(out.stdout))}
    except (ValueError, TypeError, subprocess.TimeoutExpired):
        return {}


def diagnose(host: dict, down: list[str]) -> dict:
    """What bgpd and bfdd say of the sessions that are down, and FRR's log since the kill."""
    v = vtysh_of(host)
    unit = "frr.service" if host.get("meshover_frr_mode") == "package" else "meshover-frr.service"
    out = ssh(
        host,
        f"{v} -c 'show bgp neighbors json'; echo '@@'; {v} -c 'show bfd peers json'; echo '@@';"
        f" journalctl -u {unit} --since '-10min' --no-pager -o cat | tail -n 80",
        timeout=90,
    ).stdout.split("@@")
    peers = {k.split(" ", 1)[1] for k in down}
    try:
        bgp = json.loads(out[0])
    except (ValueError, IndexError):
        bgp = {}
    try:
        bfd = json.loads(out[1])
    except (ValueError, IndexError):
        bfd = []
    return {
        "bgp": {p: bgp.get(p) for p in sorted(peers)},
        "bfd": bfd,
        "log": out[2].strip().splitlines()[-80:] if len(out) > 2 else [],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--inventory", required=True)
    ap.add_argument("--nodes", default="", help="comma-separated nodes whose FRR is killed (default: all)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--wait", type=float, default=240.0, help="seconds to wait for every session")
    args = ap.parse_args()
    inv = load_inventory(args.inventory)
    victims = [n for n in args.nodes.split(",") if n] or sorted(inv)
    pool = concurrent.futures.ThreadPoolExecutor(len(inv))
    times, stuck = [], []
    for run in range(1, args.runs + 1):
        before = dict(zip(inv, pool.map(sessions, inv.values())))
        if not all(before.values()) or any(s != "Established" for st in before.values() for s in st.values()):
            sys.exit(f"run {run}: not every session is up before the kill: {before}")
        t0 = time.monotonic()
        list(pool.map(lambda n: ssh(inv[n], "pkill -9 -x watchfrr"), victims))
        time.sleep(5)  # the sessions go down first: do not count the old state as back
        while True:
            now = dict(zip(inv, pool.map(sessions, inv.values())))
            down = {n: [k for k in before[n] if now[n].get(k) != "Established"] for n in inv}
            if not any(down.values()):
                times.append(round(time.monotonic() - t0, 1))
                print(f"run {run}: every session back after {times[-1]} s", flush=True)
                break
            if time.monotonic() - t0 > args.wait:
                report = {n: {"states": now[n], **diagnose(inv[n], d)} for n, d in down.items() if d}
                path = REPO / ".lab" / f"frr-restart-{time.strftime('%Y%m%dT%H%M%S')}.json"
                path.write_text(json.dumps(report, indent=1))
                stuck.append(run)
                print(f"run {run}: STUCK after {args.wait:.0f} s: {json.dumps({n: d for n, d in down.items() if d})}")
                print(f"  what bgpd and bfdd say: {path}", flush=True)
                break
            time.sleep(2)
    emit(
        "frr_restart",
        f"every BGP session back after FRR was killed on {','.join(victims)} (systemd restarts it)",
        "s",
        times,
        f"no run stuck past {args.wait:.0f} s",
        not stuck,
        f"stuck in run(s) {stuck}" if stuck else "",
    )
    return 1 if stuck else 0


if __name__ == "__main__":
    sys.exit(main())
