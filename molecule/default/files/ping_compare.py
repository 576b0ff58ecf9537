# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tell a loss of the mesh from a hiccup of the lab.

Two pings run side by side between the same two VMs for the same time: MESH_LOG through the mesh
(GRE inside WireGuard) and CONTROL_LOG on the raw underlay (the lab's switch), both started with
``ping -D -O -n -i 0.1``. A TCG guest frozen by a busy host loses or delays packets on both; a fault
of the product loses them on the mesh only.

A lost mesh packet is the lab's when, within WINDOW seconds of it, the control stream lost a packet
or answered one later than SLOW seconds. Both pings are stopped by one signal, and ping exits at
once: a packet sent less than SLOW seconds before the last line of either log had no time to be
answered, so it is counted as in flight, neither lost nor explained (a mesh that broke at the end
still loses every packet of the seconds before). Prints one line of figures; exits 1 when the mesh
lost a packet the control stream gives no reason for, 0 otherwise.

    python3 ping_compare.py MESH_LOG CONTROL_LOG [--window 2] [--slow 1]
"""

from __future__ import annotations

import argparse
import re
import sys

REPLY = re.compile(r"^\[([\d.]+)\] \d+ bytes from .*?icmp_seq=(\d+).*? time=([\d.]+) ms", re.M)
NO_ANSWER = re.compile(r"^\[([\d.]+)\] no answer yet for icmp_seq=(\d+)", re.M)
SENT = re.compile(r"(\d+) packets transmitted")


def read(text):
    """(sent, {seq: (reply time, rtt ms)}, {seq: time first seen unanswered}) of one ping log."""
    m = SENT.search(text)
    replies = {int(s): (float(t), float(rtt)) for t, s, rtt in REPLY.findall(text)}
    pending = {}
    for t, s in NO_ANSWER.findall(text):
        pending.setdefault(int(s), float(t))
    sent = int(m.group(1)) if m else max(list(replies) + list(pending) + [0])
    return sent, replies, pending


def lost_times(sent, replies, pending):
    """Time of each packet that never got a reply: when ping reported it unanswered, else interpolated."""
    seqs = sorted(replies)
    out = []
    for seq in range(1, sent + 1):
        if seq in replies:
            continue
        if seq in pending:
            out.append((seq, pending[seq]))
            continue
        before = [s for s in seqs if s < seq]
        after = [s for s in seqs if s > seq]
        if before:
            out.append((seq, replies[before[-1]][0] + 0.1 * (seq - before[-1])))
        elif after:
            out.append((seq, replies[after[0]][0] - 0.1 * (after[0] - seq)))
    return out


def compare(mesh_text, control_text, window=2.0, slow=1.0):
    m_sent, m_replies, m_pending = read(mesh_text)
    c_sent, c_replies, c_pending = read(control_text)
    # the last moment either log saw: the stop, give or take one interval
    end = max(
        [t for t, _ in m_replies.values()]
        + [t for t, _ in c_replies.values()]
        + list(m_pending.values())
        + list(c_pending.values())
        + [0.0]
    )
    c_bad = [t for _, t in lost_times(c_sent, c_replies, c_pending) if t <= end - slow]
    c_bad += [t for t, rtt in c_replies.values() if rtt > slow * 1000]
    lab, product, in_flight = [], [], []
    for seq, t in lost_times(m_sent, m_replies, m_pending):
        if t > end - slow:
            in_flight.append(seq)
        else:
            (lab if any(abs(t - b) <= window for b in c_bad) else product).append(seq)
    return {
        "mesh_sent": m_sent,
        "mesh_lost": m_sent - len(m_replies) - len(in_flight),
        "in_flight": in_flight,
        "control_sent": c_sent,
        "control_lost": c_sent - len(c_replies),
        "control_slow": sum(1 for _, rtt in c_replies.values() if rtt > slow * 1000),
        "lost_lab": lab,
        "lost_product": product,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mesh_log")
    p.add_argument("control_log")
    p.add_argument("--window", type=float, default=2.0)
    p.add_argument("--slow", type=float, default=1.0)
    a = p.parse_args(argv)
    with open(a.mesh_log) as f:
        mesh = f.read()
    with open(a.control_log) as f:
        control = f.read()
    r = compare(mesh, control, a.window, a.slow)
    verdict = "product loss" if r["lost_product"] else ("lab hiccup" if r["lost_lab"] else "no loss")
    print(
        f"mesh sent={r['mesh_sent']} lost={r['mesh_lost']} in_flight_at_stop={len(r['in_flight'])} "
        f"control sent={r['control_sent']} lost={r['control_lost']} slow={r['control_slow']} "
        f"lost_by_lab={len(r['lost_lab'])} lost_by_product={len(r['lost_product'])} verdict={verdict}"
        + (f" product_seqs={r['lost_product'][:20]}" if r["lost_product"] else "")
    )
    return 1 if r["lost_product"] else 0


if __name__ == "__main__":
    sys.exit(main())
