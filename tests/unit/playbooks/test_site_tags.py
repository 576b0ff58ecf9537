# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`--tags <role>` on site.yml (issue 19, item 5): each role's tag runs that role, the preflight, and what
every role reads (the node's key and the mesh plan; FRR's probe for the exporter), and nothing of the
other roles. Read from `ansible-playbook --list-tasks`; the lab proves that such a run changes nothing
else on a converged mesh."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ROLES = ("wireguard_mesh", "gre_overlay", "frr_bgp", "exporter", "source_routing")
PREFLIGHT = (
    "Group mesh must have at least one host",
    "Read the inventory's group variables",
    "Validate every meshover variable of every mesh host",
    "Check kernel modules, systemd, Python, free disk",
)
SHARED = ("wireguard_mesh : Ensure the node's WireGuard key pair", "wireguard_mesh : Compute the mesh plan once")


def listed(*args: str) -> list[str]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    res = subprocess.run(
        [
            "ansible-playbook",
            str(REPO / "playbooks/site.yml"),
            "-i",
            str(REPO / "inventory.example"),
            "--list-tasks",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return [m.group(1).strip() for m in re.finditer(r"^ {6}(\S.*?)\tTAGS:", res.stdout, re.M)]


@pytest.fixture(scope="module")
def everything() -> list[str]:
    return listed()


@pytest.mark.parametrize("role", ROLES)
def test_a_role_tag_runs_that_role_and_what_it_reads(role, everything):
    tasks = listed("--tags", role)
    for name in PREFLIGHT + SHARED:
        assert any(t.startswith(name) or name in t for t in tasks), (name, tasks)
    own = [t for t in everything if t.startswith(f"meshover.mesh.{role} : ")]
    assert own and all(t in tasks for t in own), (role, tasks)
    shared_names = (*SHARED, "frr_bgp : Find the container runtime and the FRR version")
    others = [
        t
        for t in tasks
        if t.startswith("meshover.mesh.")
        and not t.startswith(f"meshover.mesh.{role} : ")
        and not any(s in t for s in shared_names)
    ]
    assert others == [], (role, others)
    assert ("meshover.mesh.frr_bgp : Find the container runtime and the FRR version that will run" in tasks) == (
        role in ("frr_bgp", "exporter")
    )


def test_tunnels_of_leaving_peers_go_after_frr_reload_in_a_partial_run():
    tasks = listed("--tags", "gre_overlay,frr_bgp")
    assert tasks.index("Apply FRR's new configuration now") < tasks.index("Delete the tunnels to peers that left")


def test_skip_tags_node_preflight_still_skips_the_node_checks():
    tasks = listed("--skip-tags", "node_preflight")
    assert not any(t.startswith("Check kernel modules") for t in tasks)
    assert any(t.startswith("Validate every meshover variable") for t in tasks)
