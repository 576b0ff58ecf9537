# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs inside the scale lab's guest (as root, fed to python3 on stdin by bench/scale.py): looks into
every node container from outside, so that the probes cost the nodes nothing and need no ssh per node.

  memory                 per node: resident memory (RSS and PSS, KiB) of FRR's daemons and the exporter
  files                  per node: size of /etc/frr/frr.conf (bytes, lines)
  scrape NODE...         per node: time of one GET of the exporter's /metrics and its series count
  withdraw VICTIM SECS   cut VICTIM's link and kill it; per other node, when its last route to VICTIM's loopbacks went
  bgp                    per node: per BGP peer, its state, uptime, connections dropped, last reset's reason;
                         and "now", the guest's clock
  downs SINCE            per node: each BGP session that went down since SINCE (Unix time, the guest's clock),
                         with FRR's reason, from bgpd's log lines in the node's journal
  pids                   per node: the PIDs of FRR's daemons and of the exporter (a restart changes them)
Prints one JSON object.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import time

CG = "/sys/fs/cgroup/machine.slice"


def nodes() -> list[str]:
    out = []
    for d in glob.glob(f"{CG}/scale-node@*.service"):
        name = d.rsplit("@", 1)[1][: -len(".service")]
        if os.path.exists(f"{d}/cgroup.procs"):
            out.append(name)
    return sorted(out, key=lambda n: int(n[1:]))


def leader(node: str) -> int:
    out = subprocess.run(["machinectl", "show", node, "-p", "Leader", "--value"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def procs(cgroup: str) -> list[int]:
    pids = []
    for f in glob.glob(f"{cgroup}/**/cgroup.procs", recursive=True):
        try:
            pids += [int(p) for p in open(f).read().split()]
        except OSError:
            pass
    return pids


def rss_pss(pids: list[int]) -> tuple[int, int]:
    rss = pss = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


# bgpd's own account of its allocations (`show memory`), the lines that grow with its peers: the I/O buffers of
# each connection (FRR 10.3 gives each a ring buffer of 10 maximum-size messages, about 640 KiB, FRR PR 20554)
BGPD_MTYPES = re.compile(
    r"^\s*(Ring buffer|Stream|BGP peer|Peer connection|Total heap allocated|Used ordinary blocks)\b.*$", re.M | re.I
)


def memory() -> dict:
    """Per node: RSS and PSS of FRR's daemons together and of the exporter, and each FRR daemon's RSS; for the
    first node, bgpd's `show memory` lines for its per-connection buffers."""
    res = {}
    for i, n in enumerate(nodes()):
        base = f"{CG}/scale-node@{n}.service/payload/system.slice"
        per_pid = {pid: rss_pss([pid]) for pid in procs(f"{base}/frr.service")}  # each smaps_rollup read once
        exp = rss_pss(procs(f"{base}/meshover-exporter.service"))
        res[n] = {
            "frr_rss_kib": sum(r for r, _ in per_pid.values()),
            "frr_pss_kib": sum(p for _, p in per_pid.values()),
            "exporter_rss_kib": exp[0],
            "exporter_pss_kib": exp[1],
        }
        daemons: dict = {}
        for pid, (rss, _pss) in per_pid.items():
            name = comm(pid)
            if name in FRR_DAEMONS:
                daemons[name] = daemons.get(name, 0) + rss
        res[n]["frr_daemons_rss_kib"] = daemons
        if i == 0:
            out = in_node(n, ["vtysh", "-d", "bgpd", "-c", "show memory"], capture_output=True, text=True, timeout=120)
            res[n]["bgpd_show_memory"] = [m.group(0).strip() for m in BGPD_MTYPES.finditer(out.stdout)]
    return res


def files() -> dict:
    res = {}
    for n in nodes():
        p = f"/var/lib/machines/{n}/etc/frr/frr.conf"
        try:
            data = open(p, "rb").read()
        except OSError:
            continue
        res[n] = {"frr_conf_bytes": len(data), "frr_conf_lines": data.count(b"\n")}
    return res


def in_node(node: str, argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", "-t", str(leader(node)), "-n", "-m", "-p", *argv], **kw)


SCRAPE = r"""
import re, sys, time, urllib.request
addr = sys.argv[1]
t = time.monotonic()
body = urllib.request.urlopen(f"http://[{addr}]:9474/metrics", timeout=30).read().decode()
dt = time.monotonic() - t
series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
print(f"{dt:.4f} {series} {len(body)}")
"""


def loopback6(node: str) -> str:
    out = in_node(node, ["ip", "-j", "-6", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
    for link in json.loads(out or "[]"):
        for a in link.get("addr_info", []):
            if a["local"] != "::1":
                return a["local"]
    return ""


def loopbacks(node: str) -> list[str]:
    out = in_node(node, ["ip", "-j", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
    found = []
    for link in json.loads(out or "[]"):
        for a in link.get("addr_info", []):
            if a["local"] not in ("127.0.0.1", "::1"):
                found.append(a["local"])
    return found


def scrape(names: list[str]) -> dict:
    res = {}
    for n in names:
        addr = loopback6(n)
        out = in_node(n, ["python3", "-c", SCRAPE, addr], capture_output=True, text=True)
        if out.returncode != 0:
            res[n] = {"error": out.stderr.strip()[-300:]}
            continue
        dt, series, size = out.stdout.split()
        res[n] = {"scrape_s": float(dt), "series": int(series), "bytes": int(size)}
    return res


TS = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\]\s*(.*)$")


def withdraw(victim: str, secs: float) -> dict:
    prefixes = loopbacks(victim)
    others = [n for n in nodes() if n != victim]
    mons = {}
    for n in others:
        f = open(f"/run/mon-{n}.log", "w")
        mons[n] = (
            subprocess.Popen(["nsenter", "-t", str(leader(n)), "-n", "ip", "-ts", "monitor", "route"], stdout=f),
            f,
        )
    time.sleep(2)
    # A power cut, not a shutdown: the node's link goes first (its veth pair deleted: nothing more leaves
    # it, no FIN, no BFD AdminDown), then its processes are killed.
    t_kill = time.time()
    subprocess.run(["ip", "link", "del", f"vb-{victim}"], check=True)
    subprocess.run(["systemctl", "kill", "--signal=SIGKILL", f"scale-node@{victim}.service"], check=True)
    time.sleep(secs)
    for p, f in mons.values():
        p.terminate()
        p.wait()
        f.close()
    from datetime import datetime

    res = {"victim": victim, "prefixes": prefixes, "t_kill": t_kill, "nodes": {}}
    for n in others:
        last = None
        events = 0
        for line in open(f"/run/mon-{n}.log"):
            m = TS.match(line.strip())
            if not m:
                continue
            body = m.group(2)
            if any(re.search(r"(^|\s)" + re.escape(p) + r"(/\d+)?\s", body + " ") for p in prefixes):
                events += 1
                last = datetime.fromisoformat(m.group(1)).timestamp()
        routes = in_node(
            n, ["sh", "-c", " ; ".join(f"ip route show {p}" for p in prefixes)], capture_output=True, text=True
        )
        res["nodes"][n] = {
            "last_event_s": round(last - t_kill, 3) if last else None,
            "events": events,
            "routes_left": routes.stdout.strip(),
        }
    return res


FRR_DAEMONS = {"watchfrr", "zebra", "mgmtd", "bgpd", "bfdd", "staticd"}


def comm(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return ""


def pids() -> dict:
    """The long-lived processes only: frr-reload's and the helpers' short-lived children are not counted."""
    res = {}
    for n in nodes():
        base = f"{CG}/scale-node@{n}.service/payload/system.slice"
        res[n] = {
            "frr": sorted(p for p in procs(f"{base}/frr.service") if comm(p) in FRR_DAEMONS),
            "exporter": sorted(p for p in procs(f"{base}/meshover-exporter.service") if comm(p).startswith("python3")),
        }
    return res


def bgp() -> dict:
    res = {}
    for n in nodes():
        out = in_node(n, ["vtysh", "-c", "show bgp neighbors json"], capture_output=True, text=True)
        try:
            data = json.loads(out.stdout)
        except ValueError:
            res[n] = {"error": out.stderr.strip()[-200:]}
            continue
        res[n] = {
            peer: {
                "state": v.get("bgpState"),
                "uptime_ms": v.get("bgpTimerUpMsec"),
                "dropped": v.get("connectionsDropped"),
                "established": v.get("connectionsEstablished"),
                "last_reset": v.get("lastResetDueTo"),
            }
            for peer, v in data.items()
        }
    return {"now": time.time(), **res}


# bgpd (`bgp log-neighbor-changes`, on with `frr defaults datacenter`; the scale lab's frr.conf logs to syslog):
# "%ADJCHANGE: neighbor mo-n2(Unknown) in vrf default Down BFD down received"
ADJ_DOWN = re.compile(r"%ADJCHANGE: neighbor (\S+?)(?:\(.*?\))? in vrf \S+ Down ?(.*)$")
# "%NOTIFICATION: sent to neighbor mo-n6 6/10 (Cease/BFD Down) 0 bytes": the code says why ("BGP Notification
# send" in the ADJCHANGE line does not)
NOTIFICATION = re.compile(r"%NOTIFICATION: (sent to|received from) neighbor (\S+?)(?:\(.*?\))? (\d+/\d+) \((.*?)\)")


def downs(since: float) -> dict:
    """Per node, in order: each session that went down ({"peer", "reason"}) and each NOTIFICATION sent or
    received ({"peer", "notification": "6/10 Cease/BFD Down"})."""
    res = {}
    for n in nodes():
        out = in_node(
            n, ["journalctl", "--no-pager", "-o", "cat", "--since", f"@{int(since)}"], capture_output=True, text=True
        )
        events = []
        for line in out.stdout.splitlines():
            m = ADJ_DOWN.search(line)
            if m:
                events.append({"peer": m.group(1), "reason": m.group(2).strip()})
                continue
            m = NOTIFICATION.search(line)
            if m:
                events.append({"peer": m.group(2), "notification": f"{m.group(3)} {m.group(4)}"})
        res[n] = events
    return res


def main() -> None:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "memory":
        out = memory()
    elif cmd == "files":
        out = files()
    elif cmd == "scrape":
        out = scrape(args or nodes())
    elif cmd == "withdraw":
        out = withdraw(args[0], float(args[1]))
    elif cmd == "bgp":
        out = bgp()
    elif cmd == "downs":
        out = downs(float(args[0]))
    elif cmd == "pids":
        out = pids()
    else:
        raise SystemExit(f"unknown probe {cmd}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
