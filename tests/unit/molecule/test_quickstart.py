# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""molecule/default/files/quickstart.py: docs/quickstart.md parsed into steps, checked, and run as written."""

from __future__ import annotations

import importlib.util
import io
import ipaddress
import os
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs/quickstart.md"
SPEC = importlib.util.spec_from_file_location("quickstart", REPO / "molecule/default/files/quickstart.py")
quickstart = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = quickstart  # dataclasses look their module up there
SPEC.loader.exec_module(quickstart)

FENCE = "```"


@pytest.fixture(autouse=True)
def _restore_path(monkeypatch):
    """main() makes PATH's entries absolute in os.environ: give every test its PATH back."""
    monkeypatch.setenv("PATH", os.environ.get("PATH", os.defpath))


def doc(*parts):
    return "\n".join(parts) + "\n"


def block(info, *lines):
    return "\n".join([FENCE + info, *lines, FENCE])


def which_all(_name):
    return "/usr/bin/found"


# ---- parser


def test_parse_file_run_skip_with_lines_and_sections():
    text = doc(
        "# Title",
        "## Setup",
        "<!-- quickstart: skip (the controller has it) -->",
        block("sh", "pip install ansible-core"),
        "<!-- quickstart: file inventory/hosts.yml -->",
        block("yaml", "mesh:", "  hosts:", "    n1: {}"),
        "## Run",
        "<!-- quickstart: run -->",
        block("sh", "# a comment line", "", "echo one   # a trailing comment", "echo two \\", "  three"),
        "```text",
        "an excerpt: no marker needed",
        FENCE,
    )
    steps = quickstart.parse(text, "q.md")
    assert [s.kind for s in steps] == ["skip", "file", "run"]
    skip, file, run = steps
    assert (skip.line, skip.section, skip.reason) == (3, "Setup", "the controller has it")
    assert [c.text for c in skip.commands] == ["pip install ansible-core"]
    assert (file.line, file.path, file.body) == (7, "inventory/hosts.yml", "mesh:\n  hosts:\n    n1: {}\n")
    assert (run.line, run.section) == (14, "Run")
    assert [(c.line, c.text) for c in run.commands] == [
        (18, "echo one   # a trailing comment"),
        (19, "echo two \\\n  three"),
    ]
    assert run.recap == {}


def test_parse_recap_expectation():
    (step,) = quickstart.parse(doc("<!-- quickstart: run recap changed=0 failed=0 -->", block("sh", "true")))
    assert step.recap == {"changed": 0, "failed": 0}


def test_headings_inside_blocks_are_not_sections():
    text = doc("## Real", "<!-- quickstart: file a.sh -->", block("sh", "# not a heading"), "<!-- quickstart: run -->")
    text += block("sh", "true")
    steps = quickstart.parse(text)
    assert [s.section for s in steps] == ["Real", "Real"]


@pytest.mark.parametrize(
    "text, message",
    [
        (doc("<!-- quickstart: run -->", "", block("sh", "true")), "right before a fenced block"),
        (doc("<!-- quickstart: execute -->", block("sh", "true")), "unknown quickstart marker 'execute'"),
        (doc("<!-- quickstart: skip -->", block("sh", "true")), "skip needs a reason"),
        (doc("<!-- quickstart: skip () -->", block("sh", "true")), "skip needs a reason"),
        (doc("<!-- quickstart: run -->", block("yaml", "a: 1")), "must be ```sh or ```bash"),
        (doc("<!-- quickstart: run -->", block("sh", "# only a comment")), "without a command"),
        (doc("<!-- quickstart: run recap changed -->", block("sh", "true")), "recap expects KEY=N"),
        (doc("<!-- quickstart: run recap changd=0 -->", block("sh", "true")), "recap expects KEY=N"),
        (doc("<!-- quickstart: run now -->", block("sh", "true")), "run takes no argument"),
        (doc("<!-- quickstart: file -->", block("yaml", "a: 1")), "exactly one relative path"),
        (doc("<!-- quickstart: file /etc/hosts -->", block("yaml", "a: 1")), "must be relative"),
        (doc("<!-- quickstart: file ../x.yml -->", block("yaml", "a: 1")), "must be relative"),
        (block("sh", "rm -rf /"), "a sh block without a quickstart marker"),
        (doc("<!-- quickstart: run -->", FENCE + "sh", "true"), "never closed"),
    ],
)
def test_parse_errors_name_the_line(text, message):
    with pytest.raises(quickstart.DocError) as exc:
        quickstart.parse(text, "q.md")
    assert any(message in m and m.startswith("q.md:") for m in exc.value.messages), exc.value.messages


def test_parse_reports_every_problem_at_once():
    text = doc("<!-- quickstart: skip -->", block("sh", "a"), block("bash", "b"))
    with pytest.raises(quickstart.DocError) as exc:
        quickstart.parse(text, "q.md")
    assert [m.split(":")[1] for m in exc.value.messages] == ["1", "5"]


# ---- checks


def steps_of(*parts):
    return quickstart.parse(doc(*parts))


INVENTORY = ("<!-- quickstart: file inventory/hosts.yml -->", block("yaml", "mesh: {hosts: {n1: {}}}"))


def fake_repo(tmp_path, *playbooks):
    (tmp_path / "playbooks").mkdir()
    for name in playbooks:
        (tmp_path / "playbooks" / f"{name}.yml").write_text("---\n")
    return tmp_path


def test_check_accepts_collection_playbooks_and_files_written_before(tmp_path):
    repo = fake_repo(tmp_path, "site", "status")
    steps = steps_of(
        *INVENTORY,
        "<!-- quickstart: file site.yml -->",
        block("yaml", "- ansible.builtin.import_playbook: meshover.mesh.site"),
        "<!-- quickstart: run -->",
        block(
            "sh",
            "ansible-playbook meshover.mesh.site -i inventory --check --diff -e x=1 -l n1",
            "ansible-playbook -i inventory/ site.yml",
            "ANSIBLE_FORCE_COLOR=0 ansible-playbook --inventory=inventory meshover.mesh.status  # a comment",
            "ansible mesh -i inventory -b -m ansible.builtin.ping && echo done",
            "cd sub; pwd",
        ),
    )
    assert quickstart.check(steps, repo, which_all) == []


def test_check_names_a_playbook_missing_from_the_collection(tmp_path):
    repo = fake_repo(tmp_path, "site")
    steps = steps_of(
        *INVENTORY, "<!-- quickstart: run -->", block("sh", "ansible-playbook meshover.mesh.stat -i inventory")
    )
    (problem,) = quickstart.check(steps, repo, which_all)
    assert "line 7" in problem and "meshover.mesh.stat does not exist" in problem and "playbooks/stat.yml" in problem


@pytest.mark.parametrize(
    "command, message",
    [
        ("ansible-playbook other.coll.site -i inventory", "not from meshover.mesh"),
        ("ansible-playbook site.yml -i inventory", "nor a file an earlier step of the doc writes"),
        ("ansible-playbook -i inventory", "without a playbook"),
        ("ansible-playbook meshover.mesh.site -i inventory/hosts.yml", "must get exactly -i inventory"),
        ("ansible-playbook meshover.mesh.site", "got none"),
        ("ansible-playbook meshover.mesh.site -i inventory -i more", "must get exactly -i inventory"),
        ("ansible mesh -i hosts.yml -m ping", "must get exactly -i inventory"),
    ],
)
def test_check_problems(tmp_path, command, message):
    repo = fake_repo(tmp_path, "site")
    steps = steps_of(*INVENTORY, "<!-- quickstart: run -->", block("sh", command))
    problems = quickstart.check(steps, repo, which_all)
    assert any(message in p for p in problems), problems


def test_check_a_playbook_file_must_be_written_before_it_is_run(tmp_path):
    repo = fake_repo(tmp_path)
    steps = steps_of(
        *INVENTORY,
        "<!-- quickstart: run -->",
        block("sh", "ansible-playbook site.yml -i inventory"),
        "<!-- quickstart: file site.yml -->",
        block("yaml", "- ansible.builtin.import_playbook: meshover.mesh.site"),
    )
    assert len(quickstart.check(steps, repo, which_all)) == 1


def test_check_programs_on_path():
    steps = steps_of(*INVENTORY, "<!-- quickstart: run -->", block("sh", "frobnicate --all | grep x", "echo ok"))
    problems = quickstart.check(steps, REPO, lambda name: None if name == "frobnicate" else "/bin/x")
    assert problems == ["line 7: program frobnicate is not on PATH"]


def test_check_needs_an_inventory_file_step_and_a_run_step():
    steps = steps_of("<!-- quickstart: run -->", block("sh", "ansible mesh -i inventory -m ping"))
    assert ["no file step writes into inventory/" in p for p in quickstart.check(steps, REPO, which_all)] == [True]
    assert quickstart.check(steps_of(*INVENTORY), REPO, which_all) == ["the doc has no run step"]


def test_check_refuses_to_overwrite_the_connection_file():
    steps = steps_of(
        "<!-- quickstart: file inventory/zz-lab-connection.yml -->",
        block("yaml", "{}"),
        "<!-- quickstart: run -->",
        block("sh", "true"),
    )
    assert any("connection file" in p for p in quickstart.check(steps, REPO, which_all))


# ---- PLAY RECAP

GREEN, YELLOW, RESET = "\x1b[0;32m", "\x1b[0;33m", "\x1b[0m"
TAIL = "unreachable=0    failed=0    skipped=1    rescued=0    ignored=0"
RECAP = (
    "TASK [x] ***\nok: [n1]\n\n"
    "PLAY RECAP *********************************************************************\n"
    f"{GREEN}n1{RESET}                         : {GREEN}ok=18  {RESET} changed=0    {TAIL}\n"
    f"{YELLOW}n2{RESET}                         : {YELLOW}ok=16  {RESET} {YELLOW}changed=2   {RESET} {TAIL}\n"
    "\n"
)


def test_parse_recap_strips_colours():
    recap = quickstart.parse_recap(RECAP)
    assert recap["n1"]["ok"] == 18 and recap["n1"]["changed"] == 0 and recap["n2"]["changed"] == 2


def test_recap_problems():
    assert quickstart.recap_problems(RECAP, {"changed": 0}) == ["n2: changed=2, expected changed=0"]
    assert quickstart.recap_problems(RECAP, {"failed": 0}) == []
    assert quickstart.recap_problems("no recap here", {"changed": 0}) == ["the output has no PLAY RECAP"]


# ---- running


@pytest.fixture
def conn(tmp_path):
    path = tmp_path / "conn.yml"
    path.write_text("mesh: {hosts: {n1: {ansible_host: 127.0.0.1}}}\n")
    return path


def run_doc(text, tmp_path, conn, timeout=0):
    docfile = tmp_path / "q.md"
    docfile.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    rc = quickstart.run(quickstart.parse(text, str(docfile)), str(docfile), tmp_path / "work", conn, timeout, out, err)
    return rc, out.getvalue(), err.getvalue()


def test_run_writes_files_copies_the_connection_and_runs_in_order(tmp_path, conn):
    text = doc(
        "## Go",
        *INVENTORY,
        "<!-- quickstart: skip (not here) -->",
        block("sh", "exit 9"),
        "<!-- quickstart: run -->",
        block("sh", "ls inventory   # trailing comment", "echo second >&2"),
    )
    rc, out, err = run_doc(text, tmp_path, conn)
    assert rc == 0, err
    work = tmp_path / "work"
    assert (work / "inventory/hosts.yml").read_text() == "mesh: {hosts: {n1: {}}}\n"
    assert (work / "inventory/zz-lab-connection.yml").read_text() == conn.read_text()
    assert re.search(
        r"^[$] ls inventory   # trailing comment\nhosts.yml\nzz-lab-connection.yml\n# \d+[.]\d s, exit status 0\n"
        r"[$] echo second >&2\nsecond\n# \d+[.]\d s, exit status 0\n",
        out,
        re.M,
    ), out
    assert "not run (not here)" in out and "1 skipped" in out


def test_the_commands_get_no_ansible_setting_of_the_caller_but_where_the_collection_is(tmp_path, conn, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CONFIG", "/elsewhere/molecule-ansible.cfg")
    monkeypatch.setenv("ANSIBLE_PIPELINING", "true")
    monkeypatch.setenv("ANSIBLE_STRATEGY_PLUGINS", "/mitogen/plugins/strategy")
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", "/acroot")
    monkeypatch.setenv("ANSIBLE_NOCOLOR", "1")
    monkeypatch.setenv("MESHOVER_SOMETHING", "kept")
    names = "|".join(
        [
            *("ANSIBLE_CONFIG", "ANSIBLE_PIPELINING", "ANSIBLE_STRATEGY_PLUGINS", "ANSIBLE_COLLECTIONS_PATH"),
            *("ANSIBLE_NOCOLOR", "MESHOVER_SOMETHING"),
        ]
    )
    text = doc("<!-- quickstart: run -->", block("sh", f"env | grep -E '^({names})=' | sort"))
    rc, out, err = run_doc(text, tmp_path, conn)
    assert rc == 0, err
    shown = [line for line in out.splitlines() if re.match(f"({names})=", line)]
    assert shown == ["ANSIBLE_COLLECTIONS_PATH=/acroot", "ANSIBLE_NOCOLOR=1", "MESHOVER_SOMETHING=kept"]


def test_run_stops_at_the_first_failure_with_its_exit_status(tmp_path, conn):
    text = doc("## Break", "<!-- quickstart: run -->", block("sh", "true", "", "exit 7", "touch never"))
    rc, out, err = run_doc(text, tmp_path, conn)
    assert rc == 7
    assert "$ exit 7" in out and "$ touch never" not in out
    assert not (tmp_path / "work/never").exists()
    assert f"step 1 (run at {tmp_path / 'q.md'}:2, section 'Break'), command at {tmp_path / 'q.md'}:6" in err
    assert "exited with 7: exit 7" in err


def test_run_checks_the_recap_expectation(tmp_path, conn):
    script = tmp_path / "recap.txt"
    script.write_text(RECAP)
    text = doc("<!-- quickstart: run recap changed=0 -->", block("sh", f"cat {shlex.quote(str(script))}"))
    rc, _out, err = run_doc(text, tmp_path, conn)
    assert rc == 1 and "n2: changed=2, expected changed=0" in err


def test_run_stops_a_command_that_runs_too_long(tmp_path, conn):
    rc, _out, err = run_doc(doc("<!-- quickstart: run -->", block("sh", "sleep 30")), tmp_path, conn, timeout=0.5)
    assert rc == 124 and "ran longer than 0.5 s" in err


def test_main_needs_a_connection_file_unless_dry_run(tmp_path):
    with pytest.raises(SystemExit) as exc:
        quickstart.main([str(DOC), str(tmp_path)], io.StringIO(), io.StringIO())
    assert exc.value.code == 2


def test_main_refuses_a_workdir_that_is_not_empty(tmp_path, conn, ansible_on_path):
    work = tmp_path / "work"
    (work / "inventory/host_vars").mkdir(parents=True)
    err = io.StringIO()
    rc = quickstart.main([str(DOC), str(work), "--connection", str(conn)], io.StringIO(), err)
    assert rc == 2 and "is not an empty directory" in err.getvalue()


def test_main_runs_the_steps(tmp_path, conn, ansible_on_path):
    docfile = tmp_path / "q.md"
    docfile.write_text(doc(*INVENTORY, "<!-- quickstart: run -->", block("sh", "ansible mesh -i inventory -m ping")))
    out, err = io.StringIO(), io.StringIO()
    rc = quickstart.main([str(docfile), str(tmp_path / "work"), "--connection", str(conn)], out, err)
    assert rc == 0, err.getvalue()
    assert "$ ansible mesh -i inventory -m ping" in out.getvalue()
    assert (tmp_path / "work/inventory/zz-lab-connection.yml").is_file()


def test_relative_path_entries_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert quickstart.absolute_path(os.pathsep.join(["bin", "/usr/bin", ""])) == os.pathsep.join(
        [str(tmp_path / "bin"), "/usr/bin", str(tmp_path)]
    )


def test_main_reports_a_doc_that_does_not_parse(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text(block("sh", "echo unmarked"))
    err = io.StringIO()
    assert quickstart.main([str(bad), str(tmp_path), "--dry-run"], io.StringIO(), err) == 2
    assert f"{bad}:1: a sh block without a quickstart marker" in err.getvalue()


# ---- the real docs/quickstart.md


@pytest.fixture
def ansible_on_path(tmp_path, monkeypatch):
    """Stand-ins for the ansible programs, so the dry run does not depend on the caller's PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("ansible", "ansible-playbook"):
        (bindir / name).write_text("#!/bin/sh\nexit 0\n")
        (bindir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")


def test_dry_run_of_the_real_doc(tmp_path, ansible_on_path):
    out, err = io.StringIO(), io.StringIO()
    rc = quickstart.main([str(DOC), str(tmp_path / "work"), "--dry-run"], out, err)
    assert rc == 0, err.getvalue()
    assert "checks passed" in out.getvalue()
    assert not (tmp_path / "work").exists()  # a dry run writes nothing


def real_steps():
    return quickstart.parse(DOC.read_text(encoding="utf-8"), "docs/quickstart.md")


def playbook_runs():
    """(playbook, args) of every ansible-playbook command the real doc runs, in order."""
    out = []
    for step in real_steps():
        if step.kind != "run":
            continue
        for command in step.commands:
            for words in quickstart.simple_commands(command.text):
                program, args = quickstart.program_and_args(words)
                if program == "ansible-playbook":
                    (name,) = quickstart.playbooks(args)
                    out.append((name, args, step))
    return out


def test_every_playbook_the_doc_runs_exists_in_the_collection():
    runs = playbook_runs()
    assert runs
    for name, _args, _step in runs:
        assert name.startswith("meshover.mesh.")
        assert (REPO / "playbooks" / f"{name.split('.')[-1]}.yml").is_file(), name
    assert quickstart.check(real_steps(), REPO, which_all) == []


def test_the_doc_runs_preflight_check_converge_again_and_status_in_that_order():
    kinds = []
    for name, args, step in playbook_runs():
        short = name.split(".")[-1]
        if short == "site":
            kinds.append("check" if "--check" in args else "converge-again" if step.recap else "converge")
        else:
            kinds.append(short)
    assert kinds == ["preflight", "check", "converge", "converge-again", "status"]
    again = [step for name, _a, step in playbook_runs() if step.recap]
    assert [s.recap for s in again] == [{"changed": 0}]


def test_the_doc_writes_an_inventory_with_n1_n2_n3():
    files = [s for s in real_steps() if s.kind == "file"]
    (hosts_file,) = [s for s in files if s.path == "inventory/hosts.yml"]
    inventory = yaml.safe_load(hosts_file.body)
    hosts = inventory["mesh"]["hosts"]
    # the lab's connection file names the same hosts
    assert sorted(hosts) == ["n1", "n2", "n3"]
    for name, host_vars in hosts.items():
        assert {"ansible_host", "meshover_endpoint"} <= set(host_vars), name
        # documentation addresses only (2001:db8::/32, 192.0.2.0/24)
        for key in ("ansible_host", "meshover_endpoint"):
            address = ipaddress.ip_address(host_vars[key])
            assert any(address in ipaddress.ip_network(n) for n in ("2001:db8::/32", "192.0.2.0/24")), (name, key)
        # per host it would beat the lab's image, which comes from the connection file's group vars
        assert "meshover_frr_image" not in host_vars, name
    # the lab: n3 runs Debian 12 with FRR from the package; Ansible logs in as admin
    assert hosts["n3"]["meshover_frr_mode"] == "package"
    assert inventory["mesh"]["vars"]["ansible_user"] == "admin"


def test_the_doc_keeps_its_skips_few_and_explained():
    skips = [s for s in real_steps() if s.kind == "skip"]
    assert 0 < len(skips) <= 4
    assert all(s.reason for s in skips)


# ---- the reason of a failure, at the end of the log

FAILED_OUTPUT = """
TASK [Apply FRR's new configuration now] ***
changed: [n1]
RUNNING HANDLER [meshover.mesh.frr_bgp : Reload FRR configuration] ***
fatal: [n2]: FAILED! => {"changed": true, "cmd": ["docker", "exec"], "msg": "non-zero return code", "rc": 1, \
"stderr": "line 1\\nfrr-reload.py failed with rc=1 (try 3 of 3)", "stdout": "a\\nb"}
failed: [n3] (item=x) => {
    "msg": "pretty",
    "rc": 2
}
"""


def test_failures_read_one_line_and_pretty_results():
    found = quickstart.failures(FAILED_OUTPUT)
    assert [(f["host"], f["task"], f["rc"], f["msg"]) for f in found] == [
        ("n2", "meshover.mesh.frr_bgp : Reload FRR configuration", 1, "non-zero return code"),
        ("n3", "meshover.mesh.frr_bgp : Reload FRR configuration", 2, "pretty"),
    ]
    assert found[0]["stderr"] == ["line 1", "frr-reload.py failed with rc=1 (try 3 of 3)"]
    assert found[0]["stdout"] == ["a", "b"]
    assert quickstart.failures("ok: [n1]\n") == []


def test_a_failed_command_ends_with_what_failed(tmp_path, conn):
    script = tmp_path / "failed.txt"
    script.write_text(FAILED_OUTPUT)
    text = doc("<!-- quickstart: run -->", block("sh", f"cat {shlex.quote(str(script))}; exit 2"))
    rc, _out, err = run_doc(text, tmp_path, conn)
    assert rc == 2
    assert "what failed:\n  n2: task [meshover.mesh.frr_bgp : Reload FRR configuration] rc=1" in err
    assert "      frr-reload.py failed with rc=1 (try 3 of 3)" in err
