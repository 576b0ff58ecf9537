# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: not part of the collection's public API.
"""One host given two values of a variable by two of its groups (issue 17, item 1).

Ansible merges a host's group variables in the order (depth, ansible_group_priority, name): a child
group overrides its parents on purpose, but between two groups of the same depth and priority the one
whose name sorts last wins, silently. For the variables meshover reads, that is refused: the operator
says which value the host gets (host_vars, one group, or ansible_group_priority).

The input is `ansible-inventory --list --export` (group variables stay on their groups there), the one
reader of that format.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

DEFAULT_PRIORITY = 1


def export_argv(playbook_python: str | None, sources: Iterable[str], isfile: Callable[[str], bool]) -> list[str] | None:
    """The ansible-inventory command that exports the play's inventory (None without inventory sources): the
    ansible-inventory beside the Python that runs ansible-playbook (a venv's), else the one on PATH."""
    sources = list(sources or ())
    if not sources:
        return None
    beside = os.path.join(os.path.dirname(playbook_python), "ansible-inventory") if playbook_python else ""
    binary = beside if beside and isfile(beside) else "ansible-inventory"
    return [binary, "--list", "--export", *(arg for source in sources for arg in ("-i", source))]


def export_outcome(rc: int, out: str, err: str) -> tuple[str, str]:
    """(the export's text, why there is none) from ansible-inventory's exit code and output."""
    if rc == 0:
        return out, ""
    last = (err or "").strip().split("\n")[-1]
    return "", f"ansible-inventory failed (rc={rc}): {last}".strip()


def parse_export(text: str | Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """({group: {"hosts": [...], "children": [...], "vars": {...}}}, {host: its own variables}) from
    ansible-inventory's JSON (--export: a host's own variables apart from its groups'), as text or
    already decoded."""
    data = json.loads(text) if isinstance(text, str) else text
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    host_vars = {h: dict(v or {}) for h, v in ((data.get("_meta") or {}).get("hostvars") or {}).items()}
    groups = {}
    for name, group in data.items():
        if name == "_meta" or not isinstance(group, dict):
            continue
        groups[name] = {
            "hosts": list(group.get("hosts") or []),
            "children": list(group.get("children") or []),
            "vars": dict(group.get("vars") or {}),
        }
    groups.setdefault("all", {"hosts": [], "children": [], "vars": {}})
    return groups, host_vars


def depths(groups: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Each group's depth as Ansible computes it: all is 0, a child is one deeper than its deepest parent."""
    depth = {"all": 0}
    changed = True
    rounds = 0
    while changed and rounds <= len(groups):
        changed, rounds = False, rounds + 1
        for name, group in groups.items():
            if name not in depth:
                continue
            for child in group["children"]:
                if depth.get(child, -1) < depth[name] + 1:
                    depth[child] = depth[name] + 1
                    changed = True
    return depth


def memberships(groups: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """host -> every group it belongs to, directly or through child groups."""
    parents: dict[str, set[str]] = {}
    for name, group in groups.items():
        for child in group["children"]:
            parents.setdefault(child, set()).add(name)
    result: dict[str, set[str]] = {}
    for name, group in groups.items():
        for host in group["hosts"]:
            todo, seen = [name], set()
            while todo:
                g = todo.pop()
                if g in seen:
                    continue
                seen.add(g)
                todo.extend(parents.get(g, ()))
            result.setdefault(host, set()).update(seen)
    return result


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def conflicts(
    groups: Mapping[str, Mapping[str, Any]],
    hosts: Iterable[str],
    host_vars: Mapping[str, Mapping[str, Any]],
    ours: Callable[[str], bool],
) -> list[str]:
    """One message per host and variable of ours that two groups of the same depth and priority set to
    different values, unless the host sets it itself (its own value wins, on purpose)."""
    depth = depths(groups)
    member = memberships(groups)
    problems = []
    for host in sorted(hosts):
        own = host_vars.get(host) or {}
        by_var: dict[str, list[tuple[int, int, str, Any]]] = {}
        for g in member.get(host, ()):
            gvars = groups[g]["vars"]
            priority = gvars.get("ansible_group_priority", DEFAULT_PRIORITY)
            try:
                priority = int(priority)
            except (TypeError, ValueError):
                priority = DEFAULT_PRIORITY
            for var, value in gvars.items():
                if ours(var) and var not in own:
                    by_var.setdefault(var, []).append((depth.get(g, 0), priority, g, value))
        for var, sources in sorted(by_var.items()):
            sources.sort(key=lambda s: (s[0], s[1], s[2]))
            top_depth, top_priority = sources[-1][0], sources[-1][1]
            rank = [s for s in sources if (s[0], s[1]) == (top_depth, top_priority)]
            values = {json.dumps(s[3], sort_keys=True, default=str) for s in rank}
            if len(values) < 2:
                continue
            said = ", ".join(f"{s[2]} ({_show(s[3])})" for s in rank)
            problems.append(
                f"{host}: {var} is set to different values by groups of the same depth and priority: {said}; "
                f"Ansible would silently take {rank[-1][2]}'s (the name that sorts last). Set it once for {host}: "
                f"in host_vars/{host}, in one of these groups only, or rank the groups with ansible_group_priority"
            )
    return problems
