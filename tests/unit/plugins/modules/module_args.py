# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""patch_module_args on every ansible-core the collection claims (meta/runtime.yml: >= 2.18).

ansible-core 2.19 ships ``ansible.module_utils.testing.patch_module_args``; 2.18 does not, and reads a
module's arguments from ``basic._ANSIBLE_ARGS`` (the JSON the controller would send)."""

from __future__ import annotations

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.18
    import contextlib
    import json

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args=None):
        args = dict(args or {})
        args.setdefault("_ansible_remote_tmp", "/tmp")
        args.setdefault("_ansible_keep_remote_files", False)
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


__all__ = ["patch_module_args"]


def bounded(args):
    """args without the timeout(1) prefix that the modules' command runner (module_utils/node/_runner.py)
    puts in front of every command; fails the test when a command came without it."""
    args = list(args)
    assert len(args) > 3 and args[0].rsplit("/", 1)[-1] == "timeout" and args[1].startswith("--kill-after="), (
        f"not bounded by timeout(1): {args}"
    )
    return args[3:]
