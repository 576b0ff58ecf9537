# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""meshover.mesh.mesh_peers on the controller: the mesh plan, and the cache of the nodes' public keys.

run() is the whole of the action plugin's work (plugins/action/mesh_peers.py), in the controller's process:
read the key cache, plan the mesh (module_utils/controller/_peers.py), write the cache files whose key is new or changed
(module_utils/node/_files.py; public keys only), and say so in check mode and diff mode.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import MeshError, parse_wg_public_key
from ansible_collections.meshover.mesh.plugins.module_utils.controller._peers import plan_mesh
from ansible_collections.meshover.mesh.plugins.module_utils.node._files import read_text, write_atomic

CACHE_FILE = "meshover_wg_public_key.yml"


def cache_content(public_key: str) -> str:
    return (
        "---\n# Written by meshover.mesh.mesh_peers: WireGuard public key cache (public key only).\n"
        f'meshover_wg_public_key: "{public_key}"\n'
    )


# The one line of a cache file that matters, as cache_content() writes it.
CACHE_LINE = re.compile(r"""^meshover_wg_public_key:\s*["']?([A-Za-z0-9+/=]+)["']?\s*$""", re.M)


def read_cache(hosts, key_cache_dir: str) -> tuple[dict[str, str], list[str]]:
    """The keys cached in key_cache_dir for these hosts, and a warning per unreadable file.

    Read here, not only through the inventory's host_vars, so that a cache directory outside the
    inventory (an AWX job's inventory is a fresh checkout every run) is a cache, not a write-only log."""
    keys, warnings = {}, []
    for host in sorted(hosts):
        path = os.path.join(key_cache_dir, host, CACHE_FILE)
        try:
            text = read_text(path, errors="strict")
        except (OSError, UnicodeDecodeError) as exc:
            warnings.append(f"{host}: key cache file {path} cannot be read ({exc}): ignored")
            continue
        if text is None:
            continue
        match = CACHE_LINE.search(text)
        try:
            keys[host] = parse_wg_public_key(match.group(1) if match else "")
        except ValueError:
            warnings.append(
                f"{host}: key cache file {path} holds no WireGuard public key: ignored"
                f" (the next run that reaches {host} rewrites it)"
            )
    return keys, warnings


def wanted_cache(inventory: dict, learned_keys: dict, key_cache_dir: str) -> list[tuple[str, str, str | None, str]]:
    """(host, path, current content, wanted content) for each valid learned key whose cache file differs."""
    changes = []
    for host in sorted(learned_keys):
        if host not in inventory:
            continue
        try:
            key = parse_wg_public_key(learned_keys[host])
        except ValueError:
            continue
        path = os.path.join(key_cache_dir, host, CACHE_FILE)
        before, after = read_text(path, errors="strict"), cache_content(key)
        if before != after:
            changes.append((host, path, before, after))
    return changes


def run(
    inventory: dict,
    learned_keys: dict | None,
    key_cache_dir: str | None,
    hosts: list | None,
    check_mode: bool,
    diff: bool,
) -> tuple[dict[str, Any], list[str]]:
    """The task's result and its warnings: the plan of ``hosts`` (all when None), the key cache brought up to
    date with the keys learned this run (nothing written in check mode)."""
    learned = learned_keys or {}
    cached, warnings = read_cache(inventory, key_cache_dir) if key_cache_dir else ({}, [])
    try:
        plan, plan_warnings, _updates = plan_mesh(inventory, learned, for_hosts=hosts, cached_keys=cached)
    except MeshError as exc:
        problems = exc.messages
        msg = f"meshover preflight found {len(problems)} problem(s):\n" + "\n".join(problems)
        return {"failed": True, "changed": False, "msg": msg, "problems": problems}, warnings
    warnings += plan_warnings
    changes = wanted_cache(inventory, learned, key_cache_dir) if key_cache_dir else []
    for _host, path, _before, after in [] if check_mode else changes:
        try:
            write_atomic(path, after, 0o644, dir_mode=0o755)
        except OSError as exc:
            return {"failed": True, "changed": False, "msg": f"cannot write key cache file {path}: {exc}"}, warnings
    result: dict[str, Any] = {"changed": bool(changes), "plan": plan, "cache_updates": [h for h, *_rest in changes]}
    if diff:
        result["diff"] = [
            {"before_header": path, "after_header": path, "before": before or "", "after": after}
            for _host, path, before, after in changes
        ]
    return result, warnings
