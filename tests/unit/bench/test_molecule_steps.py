# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/molecule_steps.py: the failure summary printed at the end of a failed `make molecule`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

_PATH = Path(__file__).resolve().parents[3] / "bench" / "molecule_steps.py"
_SPEC = importlib.util.spec_from_file_location("molecule_steps", _PATH)
steps = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(steps)

# What molecule prints for ansible-playbook: framed lines, as they look once colours are stripped.
LOG = """\
  │ TASK [Start a 10/s ping n1 -> n2 over GRE (add n3)] ******
  │ ok: [n1]
  │ TASK [Assert zero loss during the converge (add n3)] ****
  │ fatal: [n1]: FAILED! => {
  │     "assertion": "verify__up_after | int > verify__up_before | int",
  │     "changed": false,
  │     "evaluated_to": false,
  │     "msg": "add n3: 900 packets transmitted, 900 received"
  │ }
  │ NO MORE HOSTS LEFT ****
  │ PLAY RECAP ****
  │ n1 : ok=3 changed=0 failed=1
"""


def _lines(text, step=2.0):
    return [(i * step, line) for i, line in enumerate(text.splitlines())]


def test_summary_names_the_task_its_start_time_and_the_telling_keys():
    out = steps.failure_summary(_lines(LOG))
    assert out == [
        "[    4.0 s] TASK [Assert zero loss during the converge (add n3)]",
        "fatal: [n1]: FAILED! => {",
        '"assertion": "verify__up_after | int > verify__up_before | int",',
        '"msg": "add n3: 900 packets transmitted, 900 received"',
    ]


def test_no_failure_no_summary():
    assert steps.failure_summary(_lines(LOG.replace("fatal: [n1]: FAILED!", "ok: [n1]"))) == []


def test_long_lines_are_cut():
    log = '  │ TASK [x] **\n  │ fatal: [n2]: FAILED! => {\n  │     "msg": "' + "y" * 2000 + '"\n'
    out = steps.failure_summary(_lines(log))
    assert len(out) == 3 and len(out[2]) == 600


def test_a_guest_kernel_crash_on_a_console_is_named(tmp_path):
    """Seen in a CI run: n1's kernel died in a double fault while watchfrr wrote to a socket; its node was then
    UNREACHABLE ("Timeout waiting for privilege escalation prompt"). The summary names the lab's fault."""
    (tmp_path / "n1.console").write_text(
        "n1 login: [  975.441991] systemd-ssh-generator[1089]: Failed to query local AF_VSOCK CID\n"
        "[ 2483.229694] traps: PANIC: double fault, error_code: 0x0\n"
        "[ 2483.231688] Oops: double fault: 0000 [#1] PREEMPT SMP NOPTI\n"
        "[ 2483.232276] CPU: 0 UID: 0 PID: 3667 Comm: watchfrr Not tainted 6.12.118+deb13-cloud-amd64 #1\n"
        "[ 2483.232810] Kernel panic - not syncing: Fatal exception in interrupt\n"
    )
    (tmp_path / "n2.console").write_text("[   40.8] systemd-ssh-generator[219]: Failed to query\nn2 login:\n")
    (tmp_path / "rt.console").write_text("")
    (crash,) = steps.guest_crashes(tmp_path)
    assert crash.startswith("n1: the guest kernel crashed at its uptime 2483 s (Oops: double fault: 0000")
    assert "in watchfrr" in crash and crash.endswith("n1.console")
    assert steps.guest_crashes(tmp_path / "no-such-lab") == []


def test_make_molecule_runs_the_default_scenario_step_by_step_with_check_and_idempotence_on_mitogen():
    """The Makefile's `--scenario default --mitogen check,idempotence`: every step of the scenario's
    test_sequence, in its order, the converge on the plain strategy, destroy last."""
    sequence = steps.test_sequence(_PATH.parents[1] / "molecule" / "default" / "molecule.yml")
    assert sequence[0] == "destroy" and sequence[-1] == "destroy"
    assert (
        sequence.index("check") < sequence.index("converge") < sequence.index("idempotence") < sequence.index("verify")
    )
    cmds = steps.step_commands(sequence, "default", {"check", "idempotence"})
    assert [argv for step, argv, extra in cmds] == [["molecule", step, "-s", "default"] for step in sequence]
    strategy = {step: extra.get("MESHOVER_ANSIBLE_STRATEGY", "linear") for step, argv, extra in cmds}
    assert strategy["converge"] == "linear"
    assert strategy["check"] == strategy["idempotence"] == "mitogen_linear"


def test_a_step_run_alone_runs_that_step_only():
    """`molecule check` alone would otherwise run molecule's default check_sequence, which destroys the lab."""
    scenario = yaml.safe_load((_PATH.parents[1] / "molecule" / "default" / "molecule.yml").read_text())["scenario"]
    assert scenario["check_sequence"] == ["check"]
    assert scenario["create_sequence"] == ["create"]
    assert scenario["verify_sequence"] == ["verify"]
    assert scenario["converge_sequence"] == ["create", "converge"]


def test_slowest_tasks_last_until_the_next_header_and_stop_at_a_recap():
    log = [
        (0.0, "  │ PLAY [Verify] ****"),
        (1.0, "  │ TASK [quick] ****"),
        (2.0, "  │ ok: [n1]"),
        (3.0, "  │ TASK [converge inside verify] ****"),
        (50.0, "  │ changed: [n1]"),
        (53.0, "  │ TASK [last task] ****"),
        (60.0, "  │ PLAY RECAP ****"),
        (400.0, "  │ PLAY [Another playbook] ****"),
    ]
    assert steps.slowest_tasks(log, count=2) == [
        (50.0, 3.0, "TASK [converge inside verify]"),
        (7.0, 53.0, "TASK [last task]"),
    ]
    assert [s[2] for s in steps.slowest_tasks(log)] == [
        "TASK [converge inside verify]",
        "TASK [last task]",
        "TASK [quick]",
    ]
