# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""molecule/default/files/ping_compare.py: a mesh loss the underlay stream explains is the lab's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "ping_compare", Path(__file__).resolve().parents[3] / "molecule/default/files/ping_compare.py"
)
ping_compare = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(ping_compare)


def log(t0, sent, lost=(), slow=(), no_answer=()):
    lines = ["PING fe80::2%mo-n2(fe80::2%mo-n2) 56 data bytes"]
    for seq in range(1, sent + 1):
        t = t0 + 0.1 * seq
        if seq in no_answer:
            lines.append(f"[{t + 0.1:.6f}] no answer yet for icmp_seq={seq}")
        if seq in lost:
            continue
        rtt = 1500.0 if seq in slow else 3.1
        lines.append(f"[{t + rtt / 1000:.6f}] 64 bytes from fe80::2%mo-n2: icmp_seq={seq} ttl=64 time={rtt} ms")
    received = sent - len(lost)
    lines.append(f"{sent} packets transmitted, {received} received, {100 * (sent - received) // sent}% packet loss")
    return "\n".join(lines) + "\n"


def test_no_loss():
    r = ping_compare.compare(log(1000, 200), log(1000, 200))
    assert r["mesh_lost"] == 0 and r["lost_lab"] == [] and r["lost_product"] == []


def test_loss_on_the_mesh_only_is_the_products():
    r = ping_compare.compare(log(1000, 200, lost={50}), log(1000, 200))
    assert r["lost_product"] == [50] and r["lost_lab"] == []


def test_loss_on_both_streams_at_the_same_time_is_the_labs():
    r = ping_compare.compare(log(1000, 200, lost={50}, no_answer={50}), log(1000, 200, lost={52}))
    assert r["lost_lab"] == [50] and r["lost_product"] == []


def test_a_slow_control_reply_explains_a_mesh_loss_nearby():
    r = ping_compare.compare(log(1000, 200, lost={120}), log(1000, 200, slow={119}))
    assert r["lost_lab"] == [120] and r["control_slow"] == 1


def test_a_control_loss_far_away_explains_nothing():
    r = ping_compare.compare(log(1000, 300, lost={250}), log(1000, 300, lost={10}))
    assert r["lost_product"] == [250]


def test_the_last_packet_in_flight_when_both_pings_stop_is_not_lost():
    # CI of c4eaa06: the mesh ping sent 1313 an instant before the signal, the control ping was answered
    r = ping_compare.compare(log(1000, 1313, lost={1313}), log(1000, 1314))
    assert r["in_flight"] == [1313] and r["lost_product"] == [] and r["mesh_lost"] == 0


def test_a_mesh_that_broke_before_the_stop_still_loses():
    # the last 3 s unanswered: only the final second is in flight, the rest is the product's
    r = ping_compare.compare(log(1000, 300, lost=set(range(271, 301))), log(1000, 300))
    assert r["lost_product"] == list(range(271, 291)) and len(r["in_flight"]) == 10


@pytest.mark.parametrize("lost,rc", [(set(), 0), ({7}, 1)])
def test_main_exit_code(tmp_path, capsys, lost, rc):
    (tmp_path / "m").write_text(log(1000, 100, lost=lost))
    (tmp_path / "c").write_text(log(1000, 100))
    assert ping_compare.main([str(tmp_path / "m"), str(tmp_path / "c")]) == rc
    assert ("verdict=product loss" in capsys.readouterr().out) == bool(lost)
