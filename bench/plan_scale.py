#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scale benchmark (not a test): identity derivation + collision check, validation, and the full plan.

Run: .venv/bin/python bench/plan_scale.py [--runs 3]   (imports the collection from this checkout)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import collection_on_path, emit

collection_on_path()

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (  # noqa: E402
    MeshError,
    MeshSettings,
    derive_identity,
    find_collisions,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._peers import plan_mesh  # noqa: E402
from ansible_collections.meshover.mesh.plugins.module_utils.controller._preflight import validate  # noqa: E402


def hostnames(count: int) -> list[str]:
    return [f"node-{i:05d}.dc{i % 7}.example.net" for i in range(count)]


def inventory(count: int) -> dict[str, dict[str, Any]]:
    """count hosts with endpoints and (fake but well-formed) cached public keys."""
    inv = {}
    for i, host in enumerate(hostnames(count)):
        key = base64.b64encode(hashlib.sha256(host.encode()).digest()).decode()
        inv[host] = {
            "meshover_endpoint": f"2001:db8:{i >> 16:x}::{i & 0xFFFF:x}",
            "meshover_wg_public_key": key,
            # each host's loopback is a prefix every session may carry: the preflight wants room for them all
            "meshover_bgp_maximum_prefix": 2 * count + 100,
        }
    return inv


def timed(func: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        result = None  # free the previous result outside the timed section
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return times, result


def derive_and_check(names: list[str]) -> int:
    settings = MeshSettings()
    identities = [derive_identity(name, settings) for name in names]
    return len(find_collisions(identities))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for count in (1000, 10000):
        times, collisions = timed(lambda count=count: derive_and_check(hostnames(count)), args.runs)
        target, ok = ("< 2 s", max(times) < 2) if count == 1000 else ("—", None)
        note = f"{collisions} collisions under the default mesh"
        emit(f"derive_{count}", f"derive + collision check, {count:,} hosts", "s", times, target, ok, note)
    for count in (1000, 10000):
        inv = inventory(count)
        times, _problems = timed(lambda inv=inv: validate(inv), args.runs)
        emit(f"preflight_{count}", f"full preflight (all checks), {count:,} hosts", "s", times, "—", None)
    inv = inventory(1000)
    try:
        times, (plan, _w, _u) = timed(lambda: plan_mesh(inv, {}), args.runs)
    except MeshError as exc:
        raise SystemExit("\n".join(exc.messages)) from None
    entries = sum(len(p["wireguard"]["peers"]) + len(p["tunnels"]) for p in plan.values())
    emit(
        "plan_1000",
        "full plan (identities + peer matrix), 1,000 hosts",
        "s",
        times,
        "< 2 s",
        max(times) < 2,
        f"{entries:,} peer and tunnel entries",
    )
    one = next(iter(inv))
    times, _ = timed(lambda: plan_mesh(inv, {}, for_hosts=[one]), args.runs)
    emit("plan_one_of_1000", "plan for one host of 1,000 (what a --limit run needs)", "s", times, "—", None)


if __name__ == "__main__":
    main()
