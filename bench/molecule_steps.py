#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run `molecule <args>`, or a scenario's test_sequence one step at a time, and time each step.

    molecule_steps.py [--json FILE] test -s default                       # one `molecule test`
    molecule_steps.py [--json FILE] --scenario default --mitogen check,idempotence

With --scenario, each step of molecule/SCENARIO/molecule.yml's test_sequence is its own molecule
command, so that the steps named by --mitogen run with Mitogen's strategy (the converge stays on the
plain one), and destroy runs at the end whatever happened, as in `molecule test`.
Streams molecule's output unchanged, then prints a table of step durations and exits with
molecule's exit code. With --json FILE, also writes the durations there (bench/ and docs use them).
When molecule fails, the failed tasks (task header and failure lines) are printed again at the very
end, so a CI log that keeps only its tail still says what failed, and so is any crash of a lab VM's
kernel found on its serial console (.lab/molecule-<scenario>/<vm>.console): a guest kernel that
panics under qemu-TCG makes its node UNREACHABLE, which is the lab's fault, not the collection's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STEP = re.compile(r"(\w+)\s*➜\s*(\w+): .*?(Executing|Executed)")
FAILURE = re.compile(r"^(fatal: |failed: |ERROR!|\[ERROR\])")
TASK = re.compile(r"^(TASK|PLAY|RUNNING HANDLER) \[")
RECAP = re.compile(r"^PLAY RECAP ")
RESULT = re.compile(r"^(ok|changed|skipping|included|fatal|failed|ERROR!|\[ERROR\])[:!]?")
TELLING = re.compile(r'^\s*"(msg|assertion|rc|stderr|module_stderr)": ')
BOX = re.compile(r"^\s*│ ?")  # molecule frames the output of ansible-playbook
# A guest kernel's crash on its console: the first line says what, "Comm:" says in which process.
CRASH = re.compile(r"^\[\s*([0-9.]+)\] (Kernel panic - .*|Oops: .*|BUG: .*|general protection fault.*)$")
COMM = re.compile(r"Comm: (\S+)")


def guest_crashes(lab_dir: Path) -> list[str]:
    """One line per VM of the lab whose console shows a kernel crash: the VM, the guest's uptime, what crashed
    and in which process, and the console file."""
    out = []
    for console in sorted(lab_dir.glob("*.console")):
        lines = ANSI.sub("", console.read_text(errors="replace")).splitlines()
        for i, line in enumerate(lines):
            m = CRASH.match(line.strip())
            if m:
                comm = next((c.group(1) for c in map(COMM.search, lines[i : i + 5]) if c), "?")
                out.append(
                    f"{console.stem}: the guest kernel crashed at its uptime {float(m.group(1)):.0f} s "
                    f"({m.group(2)[:80]}, in {comm}): {console}"
                )
                break
    return out


def failure_summary(lines: list[tuple[float, str]], width: int = 600) -> list[str]:
    """The failures of an ansible log of (seconds since start, line), short enough for the tail of a
    CI log: the header of each failed task (prefixed with the time it started), its failure line and
    the telling keys of the result that follows (msg, assertion, rc, stderr)."""
    out: list[str] = []
    task = ""
    inside = False
    for t, raw in lines:
        line = BOX.sub("", raw)
        if TASK.match(line):
            task, inside = f"[{t:7.1f} s] {line.rstrip(' *')}", False
        elif FAILURE.match(line):
            if task and task not in out:
                out.append(task)
            out.append(line[:width])
            inside = True
        elif inside and RESULT.match(line):
            inside = False
        elif inside and TELLING.match(line):
            out.append(line.strip()[:width])
    return out


def slowest_tasks(lines: list[tuple[float, str]], count: int = 12) -> list[tuple[float, float, str]]:
    """The `count` longest tasks of an ansible log of (seconds since start, line), longest first, as
    (seconds, start, header): a task lasts from its header to the next task's or play's header, its
    playbook's recap or a molecule step's end, whichever comes first (a command task that runs a whole
    ansible-playbook counts as one task)."""
    marks = []
    for t, raw in lines:
        line = BOX.sub("", raw)
        if TASK.match(line):
            marks.append((t, line.rstrip(" *")))
        elif RECAP.match(line) or STEP.search(line):
            marks.append((t, ""))
    spans = [(round(nxt - t, 1), t, head) for (t, head), (nxt, _) in zip(marks, marks[1:]) if head.startswith("TASK")]
    return sorted(spans, key=lambda s: -s[0])[:count]


def stream(argv: list[str], env: dict, t0: float, lines: list, started: dict, steps: list) -> int:
    """Run one molecule command, its output passed through and kept (seconds since t0, line); the
    steps it reports (Executing ... Executed) are timed into `steps`. Returns its exit code."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert proc.stdout is not None
    for raw in proc.stdout:
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        text = ANSI.sub("", raw.decode(errors="replace")).rstrip("\n")
        now = time.monotonic()
        lines.append((now - t0, text))
        m = STEP.search(text)
        if not m:
            continue
        key = (m.group(1), m.group(2))
        if m.group(3) == "Executing":
            started[key] = now
        elif key in started:
            steps.append({"scenario": key[0], "step": key[1], "seconds": round(now - started.pop(key), 1)})
    return proc.wait()


def test_sequence(molecule_yml: Path) -> list[str]:
    """The scenario's scenario.test_sequence."""
    return list(yaml.safe_load(molecule_yml.read_text())["scenario"]["test_sequence"])


def step_commands(steps: list[str], scenario: str, mitogen: set[str]) -> list[tuple[str, list[str], dict]]:
    """One molecule command per step, as `molecule test` would run them in one: (step, argv, env
    additions). The steps in `mitogen` run with Mitogen's strategy as every play's default
    (MESHOVER_ANSIBLE_STRATEGY, molecule.yml), the others with the plain one."""
    out = []
    for step in steps:
        extra = {"MESHOVER_ANSIBLE_STRATEGY": "mitogen_linear"} if step in mitogen else {}
        out.append((step, ["molecule", step, "-s", scenario], extra))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="write step durations to this file")
    ap.add_argument(
        "--scenario",
        help="run the scenario's test_sequence (molecule/SCENARIO/molecule.yml) one molecule command per step, "
        "then destroy whatever happened, as `molecule test` does; without it, molecule_args go to one molecule command",
    )
    ap.add_argument(
        "--mitogen", default="", help="with --scenario: the steps run with Mitogen's strategy (comma-separated)"
    )
    ap.add_argument("molecule_args", nargs=argparse.REMAINDER)
    ns = ap.parse_args()
    t0 = time.monotonic()
    started: dict[tuple[str, str], float] = {}
    steps: list[dict] = []
    lines: list[tuple[float, str]] = []
    # Wide enough that molecule does not wrap a failure message over many lines (the summary below
    # keeps one line per key).
    env = {**os.environ, "COLUMNS": os.environ.get("COLUMNS", "400")}
    if ns.scenario:
        scenario = ns.scenario
        sequence = test_sequence(Path("molecule") / scenario / "molecule.yml")
        rc = 0
        for _step, argv, extra in step_commands(sequence, scenario, set(filter(None, ns.mitogen.split(",")))):
            rc = stream(argv, {**env, **extra}, t0, lines, started, steps)
            if rc != 0:
                break
        if rc != 0 or sequence[-1:] != ["destroy"]:  # molecule test's --destroy=always
            stream(["molecule", "destroy", "-s", scenario], env, t0, lines, started, steps)
    else:
        scenario = ns.molecule_args[ns.molecule_args.index("-s") + 1] if "-s" in ns.molecule_args[:-1] else "default"
        rc = stream(["molecule", *ns.molecule_args], env, t0, lines, started, steps)
    total = round(time.monotonic() - t0, 1)
    print(f"\n{'scenario':<12} {'step':<12} {'seconds':>8}")
    for s in steps:
        print(f"{s['scenario']:<12} {s['step']:<12} {s['seconds']:>8}")
    print(f"{'total':<25} {total:>8}   (molecule exit code {rc})")
    print("\nslowest tasks (seconds, started at):")
    for seconds, start, head in slowest_tasks(lines):
        print(f"  {seconds:7.1f}  [{start:7.1f} s] {head[:150]}")
    if rc != 0:
        summary = failure_summary(lines)
        print("\nwhat failed:" if summary else "\nwhat failed: no task failure in the output (see above)")
        for line in summary[-30:]:
            print(f"  {line}")
        crashes = guest_crashes(Path(".lab") / f"molecule-{scenario}")
        if crashes:
            print("\nthe lab failed, not (only) the collection: a VM's kernel crashed under qemu-TCG, which makes")
            print("its node UNREACHABLE; the run proves nothing about the collection after that point:")
            for line in crashes:
                print(f"  {line}")
    if ns.json:
        tasks = [
            {"at": round(t, 1), "task": BOX.sub("", line).rstrip(" *")}
            for t, line in lines
            if TASK.match(BOX.sub("", line))
        ]
        with open(ns.json, "w", encoding="utf-8") as fh:
            json.dump({"steps": steps, "total": total, "rc": rc, "tasks": tasks}, fh, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
