# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of meshover.mesh.converge_lock: what it writes as the owner's playbook, and how it
tells a running converge from a gone one."""

from __future__ import annotations

import os
import subprocess

from ansible_collections.meshover.mesh.plugins.action.converge_lock import _alive, _playbooks


def test_playbooks_of_a_command_line():
    assert _playbooks(["-i", "inventory.yml", "playbooks/site.yml", "-e", "@vars.yml", "--limit", "n1"]) == [
        "playbooks/site.yml"
    ]
    assert _playbooks(["meshover.mesh.site", "-i", "inventory", "--check"]) == ["meshover.mesh.site"]
    assert _playbooks(["-i", "inventory"]) == []


def test_alive():
    assert _alive(os.getpid())
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not _alive(proc.pid)
