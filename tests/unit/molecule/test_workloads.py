# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""molecule/default/files/workloads.py: the main-table verdict and the ping plan, from ip's JSON as the lab's
nodes print it (iproute2 6.1 and 6.12), so that a leak cannot pass and no pair is forgotten."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SPEC = importlib.util.spec_from_file_location("workloads", REPO / "molecule/default/files/workloads.py")
workloads = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = workloads
SPEC.loader.exec_module(workloads)

# table 119 on an FRR 8.4 node: Coil's block (protocol 30) and what the kernel adds for the VRF bound to it
EXPORT6 = [
    {"dst": "fd88:0:0:3::/120", "dev": "lo", "protocol": "30", "metric": 1024, "flags": []},
    {"dst": "fe80::/64", "dev": "meshover-coil", "protocol": "kernel", "metric": 256, "flags": []},
    {"type": "multicast", "dst": "ff00::/8", "dev": "meshover-coil", "protocol": "kernel", "flags": []},
]
MAIN6 = [
    {"dst": "fd88:0:0:3::2", "dev": "podhost", "protocol": "30", "metric": 1024, "flags": []},
    {"dst": "fe80::/64", "dev": "eth0", "protocol": "kernel", "metric": 256, "flags": []},
    {"dst": "fd88:0:0:2::/120", "nexthops": [], "protocol": "bgp", "metric": 20, "flags": []},  # n2's block
]
EXPORT4 = [{"dst": "10.88.3.0/27", "dev": "lo", "protocol": "30", "scope": "link", "flags": []}]
MAIN4 = [
    {"dst": "10.88.3.2", "dev": "podhost", "protocol": "30", "scope": "link", "flags": []},
    {"dst": "10.88.2.0/27", "gateway": "169.254.0.1", "dev": "mo-n2", "protocol": "bgp", "flags": ["onlink"]},
]
PODS = ["10.88.3.2", "fd88:0:0:3::2"]


def test_a_clean_main_table_passes_and_the_vrf_routes_of_the_kernel_are_not_coil_routes():
    assert workloads.main_table_leaks(EXPORT6, MAIN6, PODS) == []
    assert workloads.main_table_leaks(EXPORT4, MAIN4, PODS) == []
    assert [r["dst"] for r in workloads.exported_routes(EXPORT6)] == ["fd88:0:0:3::/120"]


def test_the_block_installed_into_main_is_a_leak_whatever_its_protocol():
    # what `ip import-table` did on FRR 8.4: zebra installed table 119 into main
    leaked = [*MAIN4, {"dst": "10.88.3.0/27", "dev": "lo", "protocol": "zebra", "metric": 20, "flags": []}]
    assert workloads.main_table_leaks(EXPORT4, leaked, PODS) == [
        "10.88.3.0/27 (protocol zebra) is in the export table and in main"
    ]
    leaked6 = [*MAIN6, {"dst": "fd88:0:0:3::/120", "dev": "lo", "protocol": "bgp", "flags": []}]
    assert len(workloads.main_table_leaks(EXPORT6, leaked6, PODS)) == 1


def test_a_coil_route_in_main_that_is_no_pod_host_route_is_a_leak():
    stray = [*MAIN4, {"dst": "10.88.3.7", "dev": "lo", "protocol": "30", "flags": []}]
    assert workloads.main_table_leaks(EXPORT4, stray, PODS) == [
        "10.88.3.7/32 has Coil's protocol 30 in main but is no pod's host route"
    ]
    # without the test's own pod routes allowed, they are leaks too: the allowance is what lets them pass
    assert len(workloads.main_table_leaks(EXPORT4, MAIN4, [])) == 1


def test_the_ping_plan_covers_every_pair_both_families():
    wl = {
        "pod@n2": {"node": "n2", "ns": "pod", "addr4": "10.88.2.2", "addr6": "fd88:0:0:2::2"},
        "vm@n2": {"node": "n2", "ns": "vm", "addr4": "10.200.2.2", "addr6": "2001:db8:f2::2"},
        "pod@n3": {"node": "n3", "ns": "pod", "addr4": "10.88.3.2", "addr6": "fd88:0:0:3::2"},
    }
    lo = {n: {"loopback4": f"10.99.0.{i}", "loopback6": f"fd99::{i}"} for i, n in enumerate(("n1", "n2", "n3"), 1)}
    plan = workloads.ping_plan(wl, lo, "n2")
    # each of n2's 2 workloads: 2 other workloads + 3 loopbacks, x2 families; n2 itself: 3 workloads x2
    assert len(plan) == 2 * (2 + 3) * 2 + 3 * 2
    assert ("pod", "pod@n2", "10.200.2.2") in plan and ("vm", "vm@n2", "fd88:0:0:3::2") in plan
    assert ("pod", "pod@n2", "fd99::1") in plan and (None, "n2", "2001:db8:f2::2") in plan
    assert not any(ns == "pod" and target == "10.88.2.2" for ns, _l, target in plan)  # not itself
    # n1 holds no workload: it only pings them
    assert workloads.ping_plan(wl, lo, "n1") == [
        (None, "n1", a) for w in sorted(wl) for a in (wl[w]["addr4"], wl[w]["addr6"])
    ]
