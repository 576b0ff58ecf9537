#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the controller's two tasks of every converge cost in a real ansible-playbook run (not a test): the
preflight (meshover.mesh.mesh_preflight) and the plan (meshover.mesh.mesh_peers), run once per play on the
controller. No node is reached: the playbook is the two tasks of site.yml as they run there (run_once,
delegate_to localhost), against an inventory of --hosts fake hosts.

Run (with the collection whose cost you want on ANSIBLE_COLLECTIONS_PATH, e.g. inside `make` or a worktree):
    .venv/bin/python bench/controller_tasks.py [--hosts 3] [--runs 5]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import REPO, emit

PLAYBOOK = """
- name: The controller's tasks of a converge
  hosts: mesh
  gather_facts: false
  tasks:
    - name: Preflight
      meshover.mesh.mesh_preflight:
        inventory: "{{ groups['mesh'] | meshover.mesh.mesh_hostvars(hostvars) }}"
        role_vars: "{{ groups['mesh'] | meshover.mesh.mesh_rolevars(hostvars) }}"
      run_once: true
      delegate_to: localhost
    - name: Plan
      meshover.mesh.mesh_peers:
        inventory: "{{ groups['mesh'] | meshover.mesh.mesh_hostvars(hostvars) }}"
        hosts: "{{ ansible_play_batch }}"
      run_once: true
      delegate_to: localhost
"""


def inventory(count: int) -> str:
    hosts = {}
    for i in range(count):
        key = base64.b64encode(hashlib.sha256(f"k{i}".encode()).digest()).decode()
        hosts[f"n{i}"] = {"meshover_endpoint": f"2001:db8::{i + 1:x}", "meshover_wg_public_key": key}
    return json.dumps({"all": {"children": {"mesh": {"hosts": hosts}}}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = pathlib.Path(tmp)
        (tmpdir / "play.yml").write_text(PLAYBOOK)
        (tmpdir / "inventory.json").write_text(inventory(args.hosts))
        env = {
            **os.environ,
            "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "bench" / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "meshover_tally",
            "MESHOVER_TALLY_OUT": str(tmpdir / "tally.json"),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_LOCALHOST_WARNING": "false",
        }
        times: dict[str, list[float]] = {"Preflight": [], "Plan": []}
        for _ in range(args.runs):
            cmd = [str(pathlib.Path(sys.executable).with_name("ansible-playbook")), "-i", "inventory.json", "play.yml"]
            done = subprocess.run(cmd, cwd=tmpdir, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"ansible-playbook failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            durations = json.loads((tmpdir / "tally.json").read_text())["durations"]
            for name in times:
                times[name].append(durations[name])
    for name, figure in (("Preflight", "controller_preflight"), ("Plan", "controller_plan")):
        emit(figure, f"{name} task of a converge, {args.hosts} hosts", "s", times[name], "-", None)


if __name__ == "__main__":
    main()
