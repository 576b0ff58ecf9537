# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way the node-side modules run a command: under coreutils timeout(1), in the C locale.

A wedged command (``wg`` waiting on a netlink lock, ``systemctl`` on a stuck job, ``ip`` on a busy
kernel) must fail its task with a message that says so, not hang the converge until Ansible's own
timeout or for ever. Every ``run_command`` of the modules goes through :func:`run`.
"""

from __future__ import annotations

import os
import shlex

C_ENV = {"LC_ALL": "C", "LANG": "C"}
TIMEOUT_KILL_AFTER = 30  # seconds between timeout(1)'s TERM and its KILL
TIMEOUT_RC = 124  # coreutils timeout(1): the command ran out of time
DEFAULT_SECONDS = 60  # a read or a kernel change; long jobs (apt, systemctl) pass their own
# systemctl start/enable --now/restart waits for its job, which waits for the units before it: on a
# loaded host that is minutes (measured: 32 nodes sharing 2 CPUs, `enable --now wg-quick@` > 60 s on
# every one). The unit's own start timeout (systemd's, 90 s by default) ends a job that hangs.
SYSTEMCTL_SECONDS = 600


def with_timeout(timeout_bin, seconds, argv):
    """argv run under coreutils timeout(1) (TERM after `seconds`, KILL 30 s later); argv itself when
    timeout(1) is not there."""
    if not timeout_bin:
        return list(argv)
    return [timeout_bin, f"--kill-after={TIMEOUT_KILL_AFTER}", str(int(max(1, seconds))), *argv]


def describe(argv):
    """The command as a person reads it: the program's base name and its arguments."""
    return shlex.join([os.path.basename(str(argv[0])), *map(str, argv[1:])]) if argv else ""


def run(module, argv, seconds=DEFAULT_SECONDS, data=None, env=None):
    """(rc, stdout, stderr) of argv run under timeout(1) with ``module.run_command``.

    Never check_rc: a failure must not echo stdout (``wg show dump`` prints the private key). When the
    command ran out of time, rc is TIMEOUT_RC and stderr says so in words the caller can pass on.
    """
    timeout_bin = module.get_bin_path("timeout")
    rc, out, err = module.run_command(
        with_timeout(timeout_bin, seconds, argv), data=data, environ_update=dict(C_ENV if env is None else env)
    )
    if timeout_bin and rc == TIMEOUT_RC:
        err = f"{describe(argv)} did not finish within {int(max(1, seconds))} s (killed). {err}".strip()
    return rc, out, err
