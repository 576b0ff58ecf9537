# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Guarded import of pyroute2.

PRIVATE to meshover.mesh: not a public API, may change without notice.
pyroute2 is normally the distribution package (Debian: python3-pyroute2), installed for the
system interpreter only. When the module runs under another interpreter, respawn it under the
system Python (the ansible.posix pattern) before failing with missing_required_lib.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

# Imported on demand by load(): `import pyroute2` loads every part of the library through its entry
# points, ~2.5 s under qemu-TCG. The modules read the kernel through `ip -j` and import pyroute2 only
# to apply a change, so an unchanged run never pays for it.
HAS_PYROUTE2 = None  # None: not tried yet
PYROUTE2_IMP_ERR = None
IPRoute = None


class NetlinkError(Exception):  # type: ignore[no-redef]
    """Placeholder until load() binds pyroute2's own class (``except NetlinkError`` stays valid)."""

    code = 0


def load() -> bool:
    """Import pyroute2 once; bind IPRoute and NetlinkError. Returns whether it is available."""
    global HAS_PYROUTE2, PYROUTE2_IMP_ERR, IPRoute, NetlinkError
    if HAS_PYROUTE2 is not None:
        return HAS_PYROUTE2
    try:
        from pyroute2 import IPRoute as ipr_class
        from pyroute2.netlink.exceptions import NetlinkError as nl_error
    except ImportError:
        HAS_PYROUTE2 = False
        PYROUTE2_IMP_ERR = traceback.format_exc()
    else:
        HAS_PYROUTE2 = True
        IPRoute, NetlinkError = ipr_class, nl_error
    return HAS_PYROUTE2


try:
    from ansible.module_utils.common.respawn import has_respawned, probe_interpreters_for_module, respawn_module
except ImportError:  # pragma: no cover - ansible-core always ships it since 2.11
    HAS_RESPAWN_UTIL = False
else:
    HAS_RESPAWN_UTIL = True

__all__ = ["HAS_PYROUTE2", "PYROUTE2_IMP_ERR", "IPRoute", "NetlinkApplier", "NetlinkError", "ensure_pyroute2", "load"]

SYSTEM_PYTHONS = ["/usr/bin/python3"]


def ensure_pyroute2(module) -> None:
    """Import pyroute2 and return; else respawn under the system Python or fail."""
    if load():
        return
    if HAS_RESPAWN_UTIL and not has_respawned():
        interpreter = probe_interpreters_for_module(SYSTEM_PYTHONS, "pyroute2")
        if interpreter:
            respawn_module(interpreter)  # does not return
    module.fail_json(msg=missing_required_lib("pyroute2 (Debian: python3-pyroute2)"), exception=PYROUTE2_IMP_ERR)


class NetlinkApplier:
    """Base of the modules' appliers: runs one netlink call per step and turns a kernel refusal into a
    clear module failure naming the step."""

    def __init__(self, module, ipr, index) -> None:
        self.module = module
        self.ipr = ipr
        self.index = index

    def _nl(self, what, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except NetlinkError as e:  # the global: pyroute2's class once load() ran
            self.module.fail_json(msg=f"{what} failed: {e}")

    def apply(self, step) -> None:
        """One step, one netlink call: each module's applier defines it for its own steps."""
        raise NotImplementedError

    def apply_steps(self, steps) -> None:
        """Apply the steps in order (their boot replay file holds the same steps: _ipbatch.render_batch())."""
        for step in steps:
            self.apply(step)
