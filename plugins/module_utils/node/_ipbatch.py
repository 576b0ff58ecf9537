# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Steps: one sequence of kernel changes, two interpreters (netlink now, an ``ip -batch`` file at boot).

PRIVATE to meshover.mesh: not a public API, may change without notice. Standard library only.

A module that changes kernel objects (gre_tunnels: _gre.create_steps()/modify_steps(); source_routes:
_source_routing.change_steps()/build_steps()) writes that change once, as a list of steps. Its netlink
applier (a _pyroute2_dep.NetlinkApplier) runs each step with one netlink call (``apply_steps()``), and its
boot replay file is the steps that build the wanted state from nothing, each written as one ``ip -batch``
line by the module's ``ip_line()``: render_batch() below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def render_batch(header: str, steps: Iterable[Any], ip_line: Callable[[Any], str]) -> str:
    """An ``ip -batch`` file: ``header`` (comment lines, each ending in a newline), then one line a step."""
    return header + "".join(f"{ip_line(step)}\n" for step in steps)
