#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run docs/quickstart.md as written, against the lab's VMs.

    python3 quickstart.py DOC WORKDIR --connection CONN.yml [--dry-run] [--timeout SECONDS]

DOC is parsed into steps. An HTML comment on the line right before a fenced block says what to do
with the block:

    <!-- quickstart: file PATH -->      write the block to WORKDIR/PATH (a relative path)
    <!-- quickstart: run -->            run each command line of the block (a sh or bash block)
    <!-- quickstart: run recap changed=0 -->
                                        the same, and every host line of each command's last
                                        PLAY RECAP must show these counts (KEY=N, several allowed)
    <!-- quickstart: skip (reason) -->  shown to the reader, not run (the reason is required)

In a run block, blank lines and lines starting with ``#`` are skipped; a line ending with ``\\``
continues on the next one; a trailing `` # comment`` is left to the shell. Every other fenced block
is an excerpt and is ignored, except that a sh/bash/shell block must carry a marker: a command the
reader is told to type is either run here or skipped with a reason.

CONN.yml is an extra YAML inventory with the lab's side of the same hosts (the doc names them n1,
n2, n3): per host ``ansible_host``, ``ansible_port``, ``ansible_user``,
``ansible_ssh_private_key_file`` and SSH options, and also the lab's underlay address as
``meshover_endpoint`` (the doc's endpoints are documentation addresses, 2001:db8::/32 and
192.0.2.0/24, which the lab cannot reach) and lab-only settings such as ``meshover_frr_image`` (the
lab's registry). The inventory the lab writes for itself, ``.lab/molecule-<scenario>/inventory.yml``
(molecule/lab/meshlab.py), is such a file. It is copied to ``WORKDIR/inventory/zz-lab-connection.yml``
before the first step.
``-i inventory`` (the directory) reads its files in alphabetical order and a later file's host
variables override an earlier one's, so the doc's ``inventory/hosts.yml`` is used as written and
only how to reach the hosts comes from the lab. Host variables beat group variables whatever the
file order: what the doc sets per host (``ansible_host``, ``meshover_endpoint``) must be overridden
per host in CONN.yml; what the doc leaves unset may come from CONN.yml's group vars. The checks
below make sure every Ansible command of the doc uses ``-i inventory``.

WORKDIR must not exist yet, or be empty: the doc starts from a new project directory (no key
cache, no other inventory file). The script never deletes anything; remove it before a rerun.

Each command runs with ``bash -c`` in WORKDIR, in order, after a ``$ command`` line; its output
(stdout and stderr) is echoed as it comes, then a ``# SECONDS s, exit status RC`` line. stdin is
/dev/null, so a prompt (a host key, a sudo password) fails the step instead of hanging it. The
environment is the caller's without its Ansible settings: every ``ANSIBLE_*`` variable is dropped
but those that say where the collection is (ANSIBLE_COLLECTIONS_PATH, ANSIBLE_COLLECTIONS_PATHS,
ANSIBLE_COLLECTIONS_SCAN_SYS_PATH) and ANSIBLE_NOCOLOR, so that a test runner's configuration
(molecule's ANSIBLE_CONFIG, pipelining, strategy plugins) does not stand in for the doc's: Ansible
reads the project directory's ansible.cfg when the doc writes one, and its defaults otherwise, as
for a reader. The caller must let Ansible find meshover.mesh (ANSIBLE_COLLECTIONS_PATH or an
installed collection), as the doc's commands name its playbooks by FQCN. Relative PATH entries are
made absolute first (relative to the caller's directory), so the commands find the programs the
checks found.

Before anything runs (and with --dry-run, which only prints the steps) the steps are checked: each
command's programs are on PATH or shell builtins; every playbook an ``ansible-playbook`` command
names is ``meshover.mesh.NAME`` with ``playbooks/NAME.yml`` in this repository (found from this
script's path) or a file an earlier step writes; every ansible command passes ``-i inventory``, the
directory that a file step writes into.

Exit status: 0 when every step passed; the exit status of the first command that failed (a message
names the step, its section and the line of the doc); 1 when a ``recap`` expectation failed; 2 when
the doc does not parse, a check fails or WORKDIR is not empty; 124 when a command ran longer than --timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[3]
COLLECTION = "meshover.mesh"
INVENTORY_DIR = "inventory"
CONNECTION_NAME = "zz-lab-connection.yml"
KILL_GRACE = 30  # seconds between SIGTERM and SIGKILL when a command times out
# the only Ansible settings of the caller's environment the doc's commands get (see the docstring)
KEEP_ANSIBLE = frozenset(
    ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS", "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "ANSIBLE_NOCOLOR")
)

MARKER = re.compile(r"^\s*<!--\s*quickstart:\s*(?P<kind>\S+?)(?:\s+(?P<args>.*?))?\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")
SHELL_INFOS = frozenset({"sh", "bash", "shell"})
RUN_INFOS = frozenset({"sh", "bash"})
RECAP_KEYS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
RECAP_PAIR = re.compile(r"(\w+)=(\d+)")
FATAL = re.compile(r"^(?:fatal|failed): \[(?P<host>[^\]]+)\].*? => (?P<rest>\{.*)$")
TASK_LINE = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.*)\]")
DETAIL_LINES = 15  # the last lines of a failed task's stderr and stdout shown in the summary

# Shell words that are not programs on PATH.
BUILTINS = frozenset(
    {".", ":", "[", "cd", "echo", "exit", "export", "false", "printf", "pwd", "set", "source", "test", "true"}
)
SHELL_OPERATORS = frozenset({";", "&", "&&", "|", "||", "(", ")", ";;", "|&"})
ANSIBLE_PROGRAMS = frozenset({"ansible", "ansible-playbook", "ansible-inventory", "ansible-console"})
INVENTORY_OPTIONS = ("-i", "--inventory", "--inventory-file")
# ansible-playbook options that take a value (the rest are flags); what is left are playbooks.
PLAYBOOK_VALUE_OPTIONS = frozenset(
    {
        *INVENTORY_OPTIONS,
        "-e",
        "--extra-vars",
        "-l",
        "--limit",
        "-t",
        "--tags",
        "--skip-tags",
        "-u",
        "--user",
        "-f",
        "--forks",
        "-c",
        "--connection",
        "-M",
        "--module-path",
        "-T",
        "--timeout",
        "--private-key",
        "--key-file",
        "--vault-id",
        "--vault-password-file",
        "--vault-pass-file",
        "--become-method",
        "--become-user",
        "--become-password-file",
        "--connection-password-file",
        "--ssh-common-args",
        "--ssh-extra-args",
        "--sftp-extra-args",
        "--scp-extra-args",
        "--start-at-task",
    }
)


class DocError(Exception):
    """The doc does not parse, or its steps fail a check: one message per problem."""

    def __init__(self, messages):
        super().__init__("\n".join(messages))
        self.messages = list(messages)


@dataclass
class Command:
    line: int  # line of the doc where the command starts (1-based)
    text: str


@dataclass
class Step:
    kind: str  # file, run or skip
    line: int  # line of the marker (1-based)
    section: str  # the heading the step is under ("" before the first one)
    info: str  # the fence's info string (sh, yaml, ...)
    body: str  # the block's content, ending with a newline unless empty
    path: str = ""  # file: where to write it, relative to WORKDIR
    reason: str = ""  # skip: why the test does not run it
    recap: dict = field(default_factory=dict)  # run: {count: value} every PLAY RECAP host line must show
    commands: list = field(default_factory=list)  # run and skip: the block's command lines

    def where(self, doc):
        section = f", section {self.section!r}" if self.section else ""
        return f"{self.kind} at {doc}:{self.line}{section}"


def split_commands(body, first_line):
    """[Command] of a shell block: blank and ``#`` lines dropped, ``\\`` continuations joined."""
    commands, pending, start = [], [], 0
    for offset, raw in enumerate(body.splitlines()):
        line = first_line + offset
        if not pending:
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            start = line
        pending.append(raw)
        if not raw.rstrip().endswith("\\"):
            commands.append(Command(start, "\n".join(pending).strip()))
            pending = []
    if pending:
        commands.append(Command(start, "\n".join(pending).strip()))
    return commands


def parse_file_args(args):
    """The relative path of a file step, or raise ValueError."""
    path = (args or "").strip()
    if not path or len(path.split()) != 1:
        raise ValueError("file needs exactly one relative path: <!-- quickstart: file inventory/hosts.yml -->")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or path.startswith("~"):
        raise ValueError(f"file path {path!r} must be relative to the project directory, without '..'")
    return str(pure)


def parse_run_args(args):
    """{count: value} of ``recap changed=0 failed=0``, {} for a plain run, or raise ValueError."""
    words = (args or "").split()
    if not words:
        return {}
    if words[0] != "recap" or len(words) == 1:
        raise ValueError(f"run takes no argument but 'recap KEY=N ...', got {args!r}")
    recap = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or key not in RECAP_KEYS or not value.isdigit():
            raise ValueError(f"recap expects KEY=N with KEY one of {', '.join(RECAP_KEYS)}, got {word!r}")
        recap[key] = int(value)
    return recap


def parse_skip_args(args):
    m = re.fullmatch(r"\((.*\S.*)\)", (args or "").strip())
    if not m:
        raise ValueError("skip needs a reason in parentheses: <!-- quickstart: skip (why the test does not run it) -->")
    return m.group(1).strip()


def parse(text, doc="DOC"):
    """The doc's steps, in order. Raises DocError naming every problem with its line."""
    lines = text.splitlines()
    steps, errors = [], []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line)
        if marker and not (i + 1 < len(lines) and FENCE.match(lines[i + 1])):
            errors.append(f"{doc}:{i + 1}: a quickstart marker must be on the line right before a fenced block")
            i += 1
            continue
        fence = FENCE.match(line)
        if not fence:
            heading = HEADING.match(line)
            if heading:
                section = heading.group("title")
            i += 1
            continue
        indent, ticks, info = len(fence.group("indent")), fence.group("fence"), fence.group("info").lower()
        closing = re.compile(rf"^[ ]{{0,3}}{re.escape(ticks[0])}{{{len(ticks)},}}\s*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if end == len(lines):
            errors.append(f"{doc}:{i + 1}: the fenced block opened here is never closed")
            break
        body_lines = [raw[indent:] if raw[:indent].strip() == "" else raw.lstrip() for raw in lines[i + 1 : end]]
        body = "\n".join(body_lines) + ("\n" if body_lines else "")
        marker = MARKER.match(lines[i - 1]) if i > 0 else None
        if marker:
            step = make_step(marker, i, section, info, body, doc, errors)
            if step is not None:
                steps.append(step)
        elif info in SHELL_INFOS:
            errors.append(
                f"{doc}:{i + 1}: a {info} block without a quickstart marker: put <!-- quickstart: run --> or "
                "<!-- quickstart: skip (reason) --> on the line before it"
            )
        i = end + 1
    if errors:
        raise DocError(errors)
    return steps


def make_step(marker, fence_index, section, info, body, doc, errors):
    """The Step for a marker whose block starts at lines[fence_index]; None (and an error) if bad."""
    kind, args, line = marker.group("kind"), marker.group("args"), fence_index  # marker line, 1-based
    step = Step(kind=kind, line=line, section=section, info=info, body=body)
    try:
        if kind == "file":
            step.path = parse_file_args(args)
        elif kind == "run":
            step.recap = parse_run_args(args)
            if info not in RUN_INFOS:
                raise ValueError(f"a run block must be ```sh or ```bash, not {info or 'plain'!r}")
            step.commands = split_commands(body, fence_index + 2)
            if not step.commands:
                raise ValueError("a run block without a command")
        elif kind == "skip":
            step.reason = parse_skip_args(args)
            if info in SHELL_INFOS:
                step.commands = split_commands(body, fence_index + 2)
        else:
            raise ValueError(f"unknown quickstart marker {kind!r}: file PATH, run or skip (reason)")
    except ValueError as exc:
        errors.append(f"{doc}:{line}: {exc}")
        return None
    return step


def simple_commands(text):
    """The simple commands of a shell command line: lists of words, split at ;, &&, ||, |, ( )."""
    lexer = shlex.shlex(text.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = list(lexer)
    out, current = [], []
    for word in words:
        if word in SHELL_OPERATORS:
            if current:
                out.append(current)
            current = []
        else:
            current.append(word)
    if current:
        out.append(current)
    return out


def program_and_args(words):
    """(program, args) of a simple command, skipping leading VAR=value assignments."""
    i = 0
    while i < len(words) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[i]):
        i += 1
    if i == len(words):
        return None, []
    return words[i], words[i + 1 :]


def inventories(args):
    """Every value given to -i / --inventory in an ansible command's arguments."""
    out, i = [], 0
    while i < len(args):
        word = args[i]
        if word in INVENTORY_OPTIONS:
            out.append(args[i + 1] if i + 1 < len(args) else "")
            i += 2
            continue
        if word.startswith(("--inventory=", "--inventory-file=")):
            out.append(word.split("=", 1)[1])
        elif word.startswith("-i") and not word.startswith("--") and len(word) > 2:
            out.append(word[2:])
        i += 1
    return out


def playbooks(args):
    """The positional arguments of ansible-playbook: its playbooks."""
    out, i = [], 0
    while i < len(args):
        word = args[i]
        if word in PLAYBOOK_VALUE_OPTIONS:
            i += 2
            continue
        if not word.startswith("-"):
            out.append(word)
        i += 1
    return out


def playbook_problem(name, written, repo):
    """Why an ansible-playbook argument does not name an existing playbook, or None."""
    parts = name.split(".")
    if len(parts) == 3 and all(re.fullmatch(r"[a-z0-9_]+", p) for p in parts):
        collection = ".".join(parts[:2])
        if collection != COLLECTION:
            return f"playbook {name} is not from {COLLECTION}: the test can only check the collection's own"
        found = [repo / "playbooks" / f"{parts[2]}{ext}" for ext in (".yml", ".yaml")]
        if not any(p.is_file() for p in found):
            return f"playbook {name} does not exist: no playbooks/{parts[2]}.yml in {repo}"
        return None
    if str(PurePosixPath(name)) in written:
        return None
    return f"playbook {name} is neither {COLLECTION}.NAME nor a file an earlier step of the doc writes"


def check(steps, repo=REPO, which=shutil.which):
    """Problems of the steps as a list of messages (empty when all is well); doc lines included."""
    problems, written = [], set()
    runs = [s for s in steps if s.kind == "run"]
    if not runs:
        problems.append("the doc has no run step")
    inventory_files = [s for s in steps if s.kind == "file" and s.path.startswith(INVENTORY_DIR + "/")]
    for step in steps:
        if step.kind == "file":
            if step.path == f"{INVENTORY_DIR}/{CONNECTION_NAME}":
                problems.append(f"line {step.line}: {step.path} is the lab's connection file: choose another name")
            written.add(step.path)
            continue
        if step.kind != "run":
            continue
        for command in step.commands:
            try:
                simple = simple_commands(command.text)
            except ValueError as exc:
                problems.append(f"line {command.line}: cannot split {command.text!r}: {exc}")
                continue
            for words in simple:
                program, args = program_and_args(words)
                if program is None or program in BUILTINS:
                    continue
                if "/" in program:
                    if not (Path(program).is_absolute() and os.access(program, os.X_OK)):
                        problems.append(f"line {command.line}: {program} is not an executable absolute path")
                elif which(program) is None:
                    problems.append(f"line {command.line}: program {program} is not on PATH")
                base = os.path.basename(program)
                if base in ANSIBLE_PROGRAMS:
                    given = inventories(args)
                    if [i.rstrip("/") for i in given] != [INVENTORY_DIR]:
                        problems.append(
                            f"line {command.line}: {base} must get exactly -i {INVENTORY_DIR} (the directory, so "
                            f"that {INVENTORY_DIR}/{CONNECTION_NAME} is read after the doc's files), got "
                            f"{' '.join(given) or 'none'}"
                        )
                    elif not inventory_files:
                        problems.append(f"line {command.line}: no file step writes into {INVENTORY_DIR}/")
                if base == "ansible-playbook":
                    names = playbooks(args)
                    if not names:
                        problems.append(f"line {command.line}: ansible-playbook without a playbook")
                    for name in names:
                        problem = playbook_problem(name, written, repo)
                        if problem:
                            problems.append(f"line {command.line}: {problem}")
    return problems


def describe(steps, doc):
    """Human-readable list of the steps (the dry run's output)."""
    out = [f"{doc}: {len(steps)} steps"]
    for n, step in enumerate(steps, 1):
        head = f"{n:2}. {step.kind:4} {doc}:{step.line}" + (f"  [{step.section}]" if step.section else "")
        if step.kind == "file":
            out.append(f"{head}\n      write {step.path} ({len(step.body.splitlines())} lines)")
        elif step.kind == "skip":
            out.append(f"{head}\n      not run ({step.reason})")
            out.extend(f"      # {c.text}" for c in step.commands)
        else:
            out.append(head)
            out.extend(f"      $ {c.text}" for c in step.commands)
            if step.recap:
                expected = " ".join(f"{k}={v}" for k, v in step.recap.items())
                out.append(f"      expect on every PLAY RECAP host line: {expected}")
    return "\n".join(out)


def parse_recap(output):
    """{host: {count: value}} of the last PLAY RECAP in an ansible-playbook output (colours removed)."""
    lines = ANSI.sub("", output).splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("PLAY RECAP")]
    if not starts:
        return {}
    recap = {}
    for line in lines[starts[-1] + 1 :]:
        host, sep, counts = line.partition(" : ")
        pairs = dict(RECAP_PAIR.findall(counts))
        if not sep or "ok" not in pairs:
            if line.strip():
                break
            continue
        recap[host.strip()] = {k: int(v) for k, v in pairs.items()}
    return recap


def recap_problems(output, expected):
    """Messages for every PLAY RECAP host line that does not show the expected counts."""
    recap = parse_recap(output)
    if not recap:
        return ["the output has no PLAY RECAP"]
    return [
        f"{host}: {key}={counts.get(key)}, expected {key}={value}"
        for host, counts in recap.items()
        for key, value in expected.items()
        if counts.get(key) != value
    ]


def failures(output):
    """[{host, task, rc, msg, stderr, stdout}] of the failed tasks in an ansible-playbook output: the
    JSON after ``fatal: [host]: FAILED! =>`` (one line, or pretty-printed over several), so that the
    reason of a failure reaches the end of the log and is not lost in the middle of a long result."""
    lines = ANSI.sub("", output).splitlines()
    found, task, i = [], "", 0
    while i < len(lines):
        line = lines[i]
        heading = TASK_LINE.match(line)
        if heading:
            task = heading.group("name")
        match = FATAL.match(line)
        i += 1
        if not match:
            continue
        text, result = match.group("rest"), None
        while result is None:
            try:
                result = json.loads(text)
            except ValueError:
                if i >= len(lines) or text.count("\n") > 5000:
                    break
                text += "\n" + lines[i]
                i += 1
        result = result if isinstance(result, dict) else {}
        found.append(
            {
                "host": match.group("host"),
                "task": task,
                "rc": result.get("rc"),
                "msg": str(result.get("msg", "")),
                "stderr": str(result.get("stderr", "")).splitlines()[-DETAIL_LINES:],
                "stdout": str(result.get("stdout", "")).splitlines()[-DETAIL_LINES:],
            }
        )
    return found


def failure_summary(output):
    """The failed tasks of an output as text a person reads: host, task, rc, msg, stderr and stdout."""
    parts = []
    for f in failures(output):
        parts.append(f"  {f['host']}: task [{f['task']}] rc={f['rc']}: {f['msg'][:500]}")
        for key in ("stderr", "stdout"):
            if f[key]:
                parts.append(f"    {key} (last {DETAIL_LINES} lines):")
                parts.extend(f"      {line}" for line in f[key])
    return "\n".join(parts)


def reader_environment(environ):
    """environ without the caller's Ansible settings, but where the collection is and no colour."""
    return {k: v for k, v in environ.items() if not k.startswith("ANSIBLE_") or k in KEEP_ANSIBLE}


def execute(command, cwd, timeout, out, env=None):
    """Run one command with bash -c in cwd, echoing its output; (exit status, output, timed out)."""
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    timed_out = threading.Event()

    def signal_group(sig):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill():
        timed_out.set()
        signal_group(signal.SIGTERM)
        hard = threading.Timer(KILL_GRACE, signal_group, [signal.SIGKILL])
        hard.daemon = True
        hard.start()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    captured = []
    try:
        for raw in proc.stdout:
            text = raw.decode("utf-8", errors="replace")
            captured.append(text)
            out.write(text)
            out.flush()
        rc = proc.wait()
    finally:
        if timer:
            timer.cancel()
        proc.stdout.close()
    if rc < 0:
        rc = 128 - rc
    return rc, "".join(captured), timed_out.is_set()


def fail(message, code, err):
    err.write(f"quickstart: {message}\n")
    err.flush()
    return code


def run(steps, doc, workdir, connection, timeout=0, out=sys.stdout, err=sys.stderr):
    """Write the files and run the commands of the steps in order. Returns the exit status."""
    workdir = Path(workdir)
    inventory = workdir / INVENTORY_DIR
    inventory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(connection, inventory / CONNECTION_NAME)
    out.write(f"# {connection} -> {inventory / CONNECTION_NAME}\n")
    commands = skipped = 0
    env = reader_environment(os.environ)
    for n, step in enumerate(steps, 1):
        if step.kind == "file":
            target = workdir / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.body, encoding="utf-8")
            out.write(f"# step {n} ({step.where(doc)}): wrote {step.path}\n")
            continue
        if step.kind == "skip":
            skipped += 1
            out.write(f"# step {n} ({step.where(doc)}): not run ({step.reason})\n")
            continue
        for command in step.commands:
            out.write(f"$ {command.text}\n")
            out.flush()
            commands += 1
            started = time.monotonic()
            rc, output, timed_out = execute(command.text, workdir, timeout, out, env)
            out.write(f"# {time.monotonic() - started:.1f} s, exit status {rc}\n")
            where = f"step {n} ({step.where(doc)}), command at {doc}:{command.line}"
            if timed_out:
                return fail(f"{where} ran longer than {timeout} s and was stopped: {command.text}", 124, err)
            if rc != 0:
                summary = failure_summary(output)
                details = f"\nwhat failed:\n{summary}" if summary else ""
                return fail(f"{where} exited with {rc}: {command.text}{details}", rc, err)
            if step.recap:
                problems = recap_problems(output, step.recap)
                if problems:
                    return fail(f"{where}: PLAY RECAP not as the doc says: {'; '.join(problems)}", 1, err)
    out.write(f"# quickstart: {len(steps)} steps passed ({commands} commands run, {skipped} skipped)\n")
    return 0


def absolute_path(path):
    """PATH with its relative entries (an empty one is the current directory) made absolute."""
    return os.pathsep.join(os.path.abspath(entry or os.curdir) for entry in path.split(os.pathsep))


def main(argv=None, out=sys.stdout, err=sys.stderr):
    parser = argparse.ArgumentParser(description="Run a quickstart document's steps, as written.")
    parser.add_argument("doc", type=Path, help="the markdown document (docs/quickstart.md)")
    parser.add_argument("workdir", type=Path, help="the project directory the steps run in (created if missing)")
    parser.add_argument("--connection", type=Path, help="extra inventory with the lab's connection variables")
    parser.add_argument("--dry-run", action="store_true", help="print and check the steps, run nothing")
    parser.add_argument("--timeout", type=float, default=0, help="seconds one command may run (0: no limit)")
    args = parser.parse_args(argv)
    if not args.dry_run and args.connection is None:
        parser.error("--connection is required unless --dry-run")
    if args.connection is not None and not args.connection.is_file():
        parser.error(f"--connection {args.connection}: no such file")
    # The commands run in WORKDIR: a relative PATH entry must mean there what it means here.
    os.environ["PATH"] = absolute_path(os.environ.get("PATH", os.defpath))
    doc = str(args.doc)
    try:
        steps = parse(args.doc.read_text(encoding="utf-8"), doc)
    except (OSError, UnicodeDecodeError) as exc:
        return fail(f"cannot read {doc}: {exc}", 2, err)
    except DocError as exc:
        return fail(f"{doc} does not parse:\n  " + "\n  ".join(exc.messages), 2, err)
    problems = check(steps)
    if args.dry_run:
        out.write(describe(steps, doc) + "\n")
    if problems:
        return fail(f"{doc} fails its checks:\n  " + "\n  ".join(f"{doc}: {p}" for p in problems), 2, err)
    if args.dry_run:
        out.write("# checks passed (dry run: nothing was run)\n")
        return 0
    if args.workdir.exists() and (not args.workdir.is_dir() or any(args.workdir.iterdir())):
        # the doc starts from an empty project directory (no key cache, no other inventory file)
        return fail(f"{args.workdir} exists and is not an empty directory: remove it or choose a new one", 2, err)
    return run(steps, doc, args.workdir, args.connection, args.timeout, out, err)


if __name__ == "__main__":
    sys.exit(main())
