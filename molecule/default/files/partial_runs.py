#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partial runs an operator makes, against a converged lab (issue 19, items 4 and 5).

    python3 partial_runs.py --inventory INV --workdir DIR [--tags T1,T2] [--awx] [--hosts n1,n2,n3]

--tags: for each role tag, ``ansible-playbook playbooks/site.yml -i INV --tags TAG`` on every node.
Each run must end with rc 0 and every node ``changed=0 failed=0 unreachable=0``; the tasks it ran
must include the tagged role's own tasks and no task of another role except those site.yml runs under
every role tag (the node's key and the mesh plan of wireguard_mesh; FRR's probe for the exporter).

--awx: an AWX job's view: a scratch copy of the inventory without the public-key cache, the cache in a
directory outside it (``wireguard_mesh_key_cache_dir``, docs/awx.md), the copy thrown away after each job:
  0. control: no cache at all, ``--limit FIRST --check``: FIRST would lose its peers (changed on FIRST,
     the warning ``no WireGuard public key known``), so the next two jobs prove something;
  1. a fresh copy, the empty cache directory, ``--tags wireguard_mesh`` on every node: one change, the
     plan task writing the cache (on the controller), none on a node; the cache now holds every node's
     key (equal to the inventory's own cache), nothing written into the copy;
  2. another fresh copy, the same cache, ``--limit FIRST`` (a whole converge of FIRST alone): 0 changed,
     no peer left out.

The caller records what must not change on the nodes (PIDs, BGP connection counters, WireGuard
peers, tunnels) before and compares after (tasks/partial_runs.yml). Exit status 0 when every run was as
described, 1 otherwise (every problem printed); each run's output goes to DIR/<name>.log.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quickstart import ANSI, parse_recap  # one reader of a PLAY RECAP in the lab

REPO = Path(__file__).resolve().parents[3]
ROLES = ("wireguard_mesh", "gre_overlay", "frr_bgp", "source_routing", "exporter")
# What site.yml runs of another role under a role's tag (playbooks/site.yml): the node's key and the
# plan (wireguard_mesh) always; FRR's probe for the exporter, which reads how to reach FRR.
ALSO_RUN = {role: {"wireguard_mesh"} for role in ROLES}
ALSO_RUN["exporter"] = {"wireguard_mesh", "frr_bgp"}
TASK = re.compile(r"^TASK \[meshover\.mesh\.(\w+) : ", re.M)
TASK_OR_CHANGE = re.compile(r"^TASK \[(?P<task>.*?)\] \**$|^changed: \[(?P<host>[^\]]+)\]", re.M)
# The controller's own line in site.yml's recap (the play that plans the mesh).
CONTROLLER = "localhost"
# What job 1 (an empty cache) changes: the plan task writes the cache, on the controller, and nothing else.
PLAN_TASK = "meshover.mesh.wireguard_mesh : Compute the mesh plan once, on the controller"
KEY_FILE = "meshover_wg_public_key.yml"
CACHE_VAR = "wireguard_mesh_key_cache_dir"
NO_KEY_WARNING = "no WireGuard public key known"


def playbook(inventory, *args, log, timeout):
    """Run site.yml; (rc, output, seconds). The output (colours removed) is also written to `log`."""
    argv = ["ansible-playbook", str(REPO / "playbooks" / "site.yml"), "-i", str(inventory), *args]
    print("$ " + " ".join(argv), flush=True)
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        rc, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, output = 124, f"{exc.stdout or ''}{exc.stderr or ''}\n(timed out after {timeout} s)"
    seconds = time.monotonic() - start
    output = ANSI.sub("", output if isinstance(output, str) else output.decode(errors="replace"))
    Path(log).write_text(output)
    print(f"  rc {rc} in {seconds:.1f} s (output: {log})", flush=True)
    return rc, output, seconds


def recap_problems(output, hosts, expect_changed=0):
    """Problems with the last PLAY RECAP: every host present, unreachable=0, failed=0, changed as expected
    (an int: exactly; None: any)."""
    recap = parse_recap(output)
    problems = [f"{h}: not in the PLAY RECAP" for h in hosts if h not in recap]
    problems += [f"{h}: not asked for, but in the PLAY RECAP" for h in recap if h not in [*hosts, CONTROLLER]]
    for host, counts in recap.items():
        for key in ("unreachable", "failed"):
            if counts.get(key, 0):
                problems.append(f"{host}: {key}={counts[key]}")
        if expect_changed is not None and counts.get("changed") != expect_changed:
            problems.append(f"{host}: changed={counts.get('changed')}, expected {expect_changed}")
    return problems


def changed_tasks(output):
    """[(task, host as the output names it, e.g. 'n1 -> localhost')] of every `changed:` line."""
    task, found = None, []
    for match in TASK_OR_CHANGE.finditer(output):
        if match.group("task") is not None:
            task = match.group("task")
        else:
            found.append((task, match.group("host")))
    return found


def roles_run(output):
    """{role: number of its tasks in the output}."""
    counts = {}
    for role in TASK.findall(output):
        counts[role] = counts.get(role, 0) + 1
    return counts


def tag_problems(tag, output):
    ran = roles_run(output)
    problems = [] if ran.get(tag) else [f"--tags {tag} ran no task of the role {tag} (ran: {ran})"]
    foreign = sorted(set(ran) - {tag} - ALSO_RUN[tag])
    if foreign:
        problems.append(f"--tags {tag} also ran tasks of {', '.join(foreign)} ({ran})")
    return problems


def scratch_copy(inventory, dest):
    """A copy of the inventory (a file with its host_vars/ and group_vars/ beside it, or a directory;
    links followed) without the public-key cache files, as an AWX job checks a project out. Returns the
    path to pass to -i."""
    inventory = Path(inventory)
    dest.mkdir(parents=True)
    if inventory.is_dir():
        shutil.copytree(inventory, dest, dirs_exist_ok=True, symlinks=False)
        target = dest
    else:
        shutil.copy2(inventory, dest / inventory.name)
        for sub in ("host_vars", "group_vars"):
            if (inventory.parent / sub).is_dir():
                shutil.copytree(inventory.parent / sub, dest / sub, symlinks=False)
        target = dest / inventory.name
    for key in dest.rglob(KEY_FILE):
        key.unlink()
    return target


def with_cache_dir(scratch_root, cache):
    """The inventory variable AWX users set (docs/awx.md), in a group_vars file of the copy."""
    group_all = scratch_root / "group_vars" / "all"
    if group_all.exists() and not group_all.is_dir():
        raise SystemExit(f"{group_all} is a file: cannot add the cache variable beside it")
    group_all.mkdir(parents=True, exist_ok=True)
    (group_all / "zz-awx-key-cache.yml").write_text(f"---\n{CACHE_VAR}: {cache}\n")


def cached_keys(directory):
    """{host: public key} of a key cache directory (<dir>/<host>/meshover_wg_public_key.yml)."""
    keys = {}
    for path in Path(directory).glob(f"*/{KEY_FILE}"):
        found = re.search(r"^meshover_wg_public_key:\s*['\"]?([A-Za-z0-9+/=]{44})", path.read_text(), re.M)
        keys[path.parent.name] = found.group(1) if found else None
    return keys


def inventory_cache(inventory):
    inventory = Path(inventory)
    return (inventory if inventory.is_dir() else inventory.parent) / "host_vars"


def awx_jobs(inventory, workdir, hosts, timeout):
    problems = []
    first = hosts[0]
    cache = workdir / "awx-key-cache"
    expected = {h: k for h, k in cached_keys(inventory_cache(inventory)).items() if h in hosts}
    if sorted(expected) != sorted(hosts) or None in expected.values():
        return [f"the inventory's own key cache does not hold every node's key: {expected}"]

    # 0. control: no cache anywhere, a --limit job would drop FIRST's peers (check mode: nothing changes)
    inv = scratch_copy(inventory, workdir / "awx-job0")
    log = workdir / "awx-job0.log"
    rc, out, _ = playbook(inv, "--limit", first, "--check", "--tags", "wireguard_mesh", log=log, timeout=timeout)
    changed = parse_recap(out).get(first, {}).get("changed", 0)
    if rc != 0 or not changed or NO_KEY_WARNING not in out:
        problems.append(
            f"control job (no key cache, --limit {first} --check): expected rc 0, changes on {first} and the warning "
            f"'{NO_KEY_WARNING}'; got rc {rc}, changed={changed}, warning "
            f"{'present' if NO_KEY_WARNING in out else 'absent'}"
        )
    shutil.rmtree(workdir / "awx-job0")

    # 1. a job on every node with the cache outside the checkout: learns the keys, changes nothing
    inv = scratch_copy(inventory, workdir / "awx-job1")
    with_cache_dir(workdir / "awx-job1", cache)
    rc, out, _ = playbook(inv, "--tags", "wireguard_mesh", log=workdir / "awx-job1.log", timeout=timeout)
    problems += [f"job 1 (--tags wireguard_mesh, empty cache): {p}" for p in recap_problems(out, hosts, None)]
    writes = changed_tasks(out)
    if len(writes) != 1 or writes[0][0] != PLAN_TASK or not writes[0][1].endswith(f"-> {CONTROLLER}"):
        problems.append(f"job 1: expected one change, the plan task writing the cache on the controller; got {writes}")
    if rc != 0:
        problems.append(f"job 1: rc {rc}")
    got = cached_keys(cache)
    if got != expected:
        problems.append(f"job 1: the cache {cache} holds {got}, expected the nodes' keys {expected}")
    written = sorted(str(p) for p in (workdir / "awx-job1").rglob(KEY_FILE))
    if written:
        problems.append(f"job 1 wrote the key cache into the checkout: {written}")
    shutil.rmtree(workdir / "awx-job1")

    # 2. a fresh checkout again, the same cache, one node only: it keeps every peer
    inv = scratch_copy(inventory, workdir / "awx-job2")
    with_cache_dir(workdir / "awx-job2", cache)
    rc, out, _ = playbook(inv, "--limit", first, log=workdir / "awx-job2.log", timeout=timeout)
    problems += [f"job 2 (--limit {first}, keys from the cache): {p}" for p in recap_problems(out, [first])]
    if rc != 0:
        problems.append(f"job 2: rc {rc}")
    if NO_KEY_WARNING in out:
        problems.append(f"job 2: a peer was left out ('{NO_KEY_WARNING}')")
    if cached_keys(cache) != expected:
        problems.append(f"job 2 changed the cache: {cached_keys(cache)}")
    shutil.rmtree(workdir / "awx-job2")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--tags", default=",".join(ROLES))
    parser.add_argument("--awx", action="store_true")
    parser.add_argument("--hosts", default="n1,n2,n3")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per ansible-playbook run")
    args = parser.parse_args(argv)
    hosts = args.hosts.split(",")
    args.workdir.mkdir(parents=True, exist_ok=True)
    problems = []
    tags = [t for t in args.tags.split(",") if t]
    for tag in tags:
        if tag not in ROLES:
            parser.error(f"--tags: {tag} is not a role of site.yml ({', '.join(ROLES)})")
        log = args.workdir / f"tags-{tag}.log"
        rc, out, seconds = playbook(args.inventory, "--tags", tag, log=log, timeout=args.timeout)
        found = ([f"rc {rc}"] if rc else []) + recap_problems(out, hosts) + tag_problems(tag, out)
        print(f"  --tags {tag}: {seconds:.1f} s, roles' tasks run {roles_run(out)}, {'ok' if not found else 'FAILED'}")
        problems += [f"--tags {tag}: {p}" for p in found]
    if args.awx:
        problems += awx_jobs(args.inventory, args.workdir, hosts, args.timeout)
    for problem in problems:
        print("PROBLEM: " + problem, file=sys.stderr)
    print(f"partial runs: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    os.environ.setdefault("ANSIBLE_NOCOLOR", "1")
    sys.exit(main())
