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
import time

C_ENV = {"LC_ALL": "C", "LANG": "C"}
TIMEOUT_KILL_AFTER = 30  # seconds between timeout(1)'s TERM and its KILL
TIMEOUT_RC = 124  # coreutils timeout(1): the command ran out of time
DEFAULT_SECONDS = 60  # a read or a kernel change; long jobs (apt, systemctl) pass their own
# systemctl start/enable --now/restart waits for its job, which waits for the units before it: on a
# loaded host that is minutes (measured: 32 nodes sharing 2 CPUs, `enable --now wg-quick@` > 60 s on
# every one). The unit's own start timeout (systemd's, 90 s by default) ends a job that hangs.
SYSTEMCTL_SECONDS = 600
# systemctl asks systemd over D-Bus and gives up after its own 25 s. On a machine too loaded to answer
# in time (a fresh server's first boot; measured in the 16-node scale lab, guest load about 70: "Failed to
# get properties: Connection timed out", which failed a first converge) it says one of these. A systemctl
# verb that can be asked twice without doing anything twice (IDEMPOTENT_SYSTEMCTL) is asked again, after
# each of SYSTEMD_BUSY_PAUSES; restart and reload are not (a second one would restart the unit again).
SYSTEMD_BUSY = ("connection timed out", "transport endpoint is not connected", "failed to connect to bus")
SYSTEMD_BUSY_PAUSES = (5, 15)
IDEMPOTENT_SYSTEMCTL = frozenset(
    {"show", "is-active", "is-enabled", "daemon-reload", "enable", "disable", "start", "stop"}
)


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


def systemd_busy(rc, err):
    """Whether a failed systemctl failed because systemd did not answer D-Bus (not because of the unit)."""
    return rc not in (0, TIMEOUT_RC) and any(p in (err or "").lower() for p in SYSTEMD_BUSY)


def run_systemctl(module, systemctl, args, seconds=SYSTEMCTL_SECONDS, pauses=SYSTEMD_BUSY_PAUSES, sleep=None):
    """run() of ``systemctl args``; an idempotent verb (IDEMPOTENT_SYSTEMCTL) is asked again while systemd was too
    busy to answer (systemd_busy), after each of pauses. Returns the last try's (rc, stdout, stderr)."""
    retry = bool(args) and args[0] in IDEMPOTENT_SYSTEMCTL
    for pause in (*(pauses if retry else ()), None):
        rc, out, err = run(module, [systemctl, *args], seconds)
        if pause is None or not systemd_busy(rc, err):
            return rc, out, err
        (sleep or time.sleep)(pause)
    return rc, out, err  # not reached: the last pause is None
