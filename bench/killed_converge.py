#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A converge killed halfway, then a rerun, leaves every node as a clean converge does (issue 17).

    .venv/bin/python bench/killed_converge.py -i .lab/demo/inventory.yml [--kill-after 20,40,60] [--strategy mitogen]

On a converged lab: (1) converge with the inventory as it is (state A) and record every node's state
(bench/node_state.py: links, addresses, routes, rules, WireGuard, nftables, sysctl, units, files, FRR's
running configuration, pending markers); (2) converge with a change that touches every role (state B:
MTU, keepalive, BGP timers, graceful shutdown, FRR's daemons file, the firewall, the exporter's
configuration; extra vars in CHANGE below) and record B; then for each kill point T: converge back to A
(its state must be A's), start the converge to B, kill ansible-playbook and its process group
(SIGKILL to its process group) T seconds in, rerun it to the end, wait for BGP, and record the state: it
must be B's, and one more converge must report 0 changed. Prints one JSON line per kill and a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import REPO, ansible_env, load_inventory, ssh

CHANGE = {
    "meshover_underlay_mtu": 1480,
    "meshover_persistent_keepalive": 21,
    "meshover_bgp_timers": {"keepalive": 4, "hold": 12},
    "meshover_bgp_graceful_shutdown": True,
    "frr_bgp_watchfrr_restart_timeout": 150,
    "gre_overlay_firewall_exporter_sources": ["192.0.2.10"],
    "exporter_collect_interval": 4.0,
}
NODE_STATE = (REPO / "bench" / "node_state.py").read_text()
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def converge(inv_path, env, extra=None, kill_after=None, log=None):
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", inv_path, str(REPO / "playbooks" / "site.yml")]
    if extra:
        argv += ["-e", "@" + extra]
    t0 = time.monotonic()
    with open(log or os.devnull, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return {"killed_at": round(time.monotonic() - t0, 1), "rc": proc.returncode}
    text = open(log, encoding="utf-8").read() if log else ""
    recap = {h: {"changed": int(c), "failed": int(f), "unreachable": int(u)} for h, _o, c, u, f in RECAP.findall(text)}
    return {"seconds": round(time.monotonic() - t0, 1), "rc": proc.returncode, "recap": recap}


def last_task(log):
    tasks = re.findall(r"^TASK \[(.*?)\]", open(log, encoding="utf-8").read(), re.M)
    return tasks[-1] if tasks else ""


def states(inv):
    out = {}
    for name, h in inv.items():
        r = ssh(h, "python3 - <<'PYEOF'\n" + NODE_STATE + "\nPYEOF", timeout=300)
        out[name] = json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-300:]}
    return out


def settled_states(inv, reference, wait=120):
    """The nodes' state, read again (BGP routes come back some seconds after FRR) until it equals the
    reference or ``wait`` seconds passed."""
    deadline = time.monotonic() + wait
    while True:
        now = states(inv)
        if now == reference or time.monotonic() > deadline:
            return now
        time.sleep(10)


def differences(a, b):
    out = []
    for host in sorted(set(a) | set(b)):
        for key in sorted(set(a.get(host, {})) | set(b.get(host, {}))):
            x, y = a.get(host, {}).get(key), b.get(host, {}).get(key)
            if x != y:
                if isinstance(x, dict) and isinstance(y, dict):
                    detail = {k: [x.get(k), y.get(k)] for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)}
                elif isinstance(x, list) and isinstance(y, list):
                    detail = {"only before": [v for v in x if v not in y], "only after": [v for v in y if v not in x]}
                else:
                    detail = [x, y]
                out.append({"host": host, "part": key, "detail": detail})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--inventory", required=True)
    ap.add_argument("--kill-after", default="20,40,60", help="seconds into the converge, comma-separated")
    ap.add_argument("--strategy", default="mitogen", choices=["linear", "mitogen"])
    ap.add_argument("--logs", default=str(REPO / ".lab" / "killed-converge"))
    args = ap.parse_args()
    inv = load_inventory(args.inventory)
    env = ansible_env(args.strategy, ANSIBLE_TIMEOUT="60")
    os.makedirs(args.logs, exist_ok=True)
    change = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(CHANGE, change)
    change.close()
    log = lambda name: os.path.join(args.logs, name + ".log")  # noqa: E731

    results = {"change": CHANGE, "kills": []}
    a_run = converge(args.inventory, env, log=log("A"))
    state_a = states(inv)
    b_run = converge(args.inventory, env, change.name, log=log("B"))
    b_again = converge(args.inventory, env, change.name, log=log("B-again"))
    state_b = states(inv)
    results["reference"] = {
        "A": a_run,
        "B": b_run,
        "B again (0 changed)": b_again,
        "parts that differ between A and B": sorted({d["part"] for d in differences(state_a, state_b)}),
    }
    print(json.dumps(results["reference"]), flush=True)
    if a_run["rc"] or b_run["rc"] or b_again["rc"] or any(v["changed"] for v in b_again["recap"].values()):
        why = "the clean converges to A and B must pass, the second to B with 0 changed"
        print(json.dumps({"ok": False, "why": why}))
        return 1
    for t in [float(x) for x in args.kill_after.split(",") if x]:
        back = converge(args.inventory, env, log=log(f"back-to-A-{t:g}"))
        back_diff = differences(state_a, settled_states(inv, state_a))
        killed = converge(args.inventory, env, change.name, kill_after=t, log=log(f"killed-{t:g}"))
        killed["last task started"] = last_task(log(f"killed-{t:g}"))
        mid = differences(state_b, states(inv))
        rerun = converge(args.inventory, env, change.name, log=log(f"rerun-{t:g}"))
        after = differences(state_b, settled_states(inv, state_b))
        again = converge(args.inventory, env, change.name, log=log(f"again-{t:g}"))
        row = {
            "kill_after": t,
            "back to A": {"rc": back["rc"], "seconds": back.get("seconds"), "differs from A": back_diff},
            "killed": killed,
            "parts not yet B when killed": sorted({f"{d['host']}:{d['part']}" for d in mid}),
            "rerun": rerun,
            "differs from a clean converge to B": after,
            "one more converge": again,
            "ok": rerun["rc"] == 0
            and not after
            and again["rc"] == 0
            and all(v["changed"] == 0 for v in again.get("recap", {}).values() if v),
        }
        results["kills"].append(row)
        print(json.dumps(row), flush=True)
    back = converge(args.inventory, env, log=log("final-A"))
    results["final converge to A"] = {"rc": back["rc"], "seconds": back.get("seconds")}
    results["ok"] = all(r["ok"] for r in results["kills"])
    with open(os.path.join(args.logs, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1)
    print(json.dumps({"ok": results["ok"], "kills": [(r["kill_after"], r["ok"]) for r in results["kills"]]}))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
