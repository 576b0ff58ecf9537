# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def list_tasks():
    """`ansible-playbook playbooks/PLAYBOOK -i inventory.example --list-tasks ARGS...`: its output; it must succeed."""

    def run(playbook: str, *args: str) -> str:
        res = subprocess.run(
            [
                "ansible-playbook",
                str(REPO / "playbooks" / playbook),
                "-i",
                str(REPO / "inventory.example"),
                "--list-tasks",
                *args,
            ],
            capture_output=True,
            text=True,
            env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
            check=False,
            timeout=120,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout

    return run
