# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' one command runner: every command under timeout(1), a timeout said in words."""

from __future__ import annotations

import shutil
import subprocess

from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import (
    C_ENV,
    TIMEOUT_RC,
    describe,
    run,
    run_systemctl,
    systemd_busy,
    with_timeout,
)


class FakeModule:
    """run_command through a real subprocess (what AnsibleModule does, without its arguments)."""

    def __init__(self, timeout_bin="/usr/bin/timeout"):
        self.timeout_bin = timeout_bin
        self.calls = []

    def get_bin_path(self, name):
        return self.timeout_bin if name == "timeout" else shutil.which(name)

    def run_command(self, argv, data=None, environ_update=None):
        self.calls.append((list(argv), data, dict(environ_update or {})))
        proc = subprocess.run(argv, input=data, capture_output=True, text=True, env=environ_update, check=False)
        return proc.returncode, proc.stdout, proc.stderr


def test_with_timeout():
    assert with_timeout("/usr/bin/timeout", 60, ["dpkg-query", "-W"]) == [
        "/usr/bin/timeout",
        "--kill-after=30",
        "60",
        "dpkg-query",
        "-W",
    ]
    assert with_timeout(None, 60, ["x"]) == ["x"]
    assert with_timeout("timeout", 0, ["x"])[2] == "1"


def test_run_bounds_the_command_and_sets_the_locale():
    module = FakeModule(shutil.which("timeout"))
    rc, out, _err = run(module, [shutil.which("cat")], seconds=5, data="hello\n")
    assert (rc, out) == (0, "hello\n")
    argv, data, env = module.calls[0]
    assert argv[:3] == [shutil.which("timeout"), "--kill-after=30", "5"]
    assert data == "hello\n"
    assert env == C_ENV


def test_a_command_that_runs_out_of_time_says_so():
    module = FakeModule(shutil.which("timeout"))
    rc, _out, err = run(module, [shutil.which("sleep"), "30"], seconds=1)
    assert rc == TIMEOUT_RC
    assert err.startswith("sleep 30 did not finish within 1 s (killed).")


def test_without_timeout_bin_the_command_runs_as_is():
    module = FakeModule(timeout_bin=None)
    rc, _out, err = run(module, [shutil.which("false")])
    assert rc == 1
    assert module.calls[0][0] == [shutil.which("false")]
    assert "did not finish" not in err


def test_describe():
    assert describe(["/usr/bin/wg", "show", "meshover0", "dump"]) == "wg show meshover0 dump"
    assert describe(["/sbin/ip", "addr", "a b"]) == "ip addr 'a b'"
    assert describe([]) == ""


class _Busy:
    """A module whose run_command answers from a list of (rc, out, err), recording each argv."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.argvs = []

    def get_bin_path(self, name):
        return None  # no timeout(1): the argv is run as is

    def run_command(self, argv, data=None, environ_update=None):
        self.argvs.append(list(argv))
        return self.answers.pop(0)


BUSY = (1, "", "Failed to get properties: Connection timed out\n")


def test_systemd_busy_tells_dbus_from_the_unit():
    assert systemd_busy(*BUSY[::2])
    assert systemd_busy(1, "Failed to connect to bus: Transport endpoint is not connected")
    assert not systemd_busy(0, "")
    assert not systemd_busy(3, "")  # is-active: inactive
    assert not systemd_busy(1, "Unit nope.service not found.")
    assert not systemd_busy(TIMEOUT_RC, "systemctl show did not finish within 600 s (killed). Connection timed out")


def test_a_read_is_asked_again_while_systemd_is_busy():
    pauses = []
    module = _Busy([BUSY, BUSY, (0, "ActiveState=active\n", "")])
    rc, out, _err = run_systemctl(module, "/bin/systemctl", ["show", "x.service"], pauses=(5, 15), sleep=pauses.append)
    assert (rc, out) == (0, "ActiveState=active\n")
    assert pauses == [5, 15]
    assert module.argvs == [["/bin/systemctl", "show", "x.service"]] * 3


def test_the_last_try_answers_when_systemd_stays_busy():
    pauses = []
    module = _Busy([BUSY, BUSY, BUSY])
    rc, _out, err = run_systemctl(module, "/bin/systemctl", ["start", "x.service"], pauses=(5, 15), sleep=pauses.append)
    assert rc == 1 and "Connection timed out" in err
    assert pauses == [5, 15] and len(module.argvs) == 3


def test_restart_and_reload_are_never_asked_twice():
    for verb in ("restart", "reload"):
        pauses = []
        module = _Busy([BUSY])
        rc, _out, _err = run_systemctl(
            module, "/bin/systemctl", [verb, "x.service"], pauses=(5, 15), sleep=pauses.append
        )
        assert rc == 1 and pauses == [] and len(module.argvs) == 1


def test_a_unit_failure_is_not_retried():
    module = _Busy([(5, "", "Failed to start x.service: Unit x.service not found.\n")])
    rc, _out, _err = run_systemctl(module, "/bin/systemctl", ["start", "x.service"], sleep=lambda s: None)
    assert rc == 5 and len(module.argvs) == 1
