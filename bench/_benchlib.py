# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers of the bench scripts: lab inventory, ssh, Ansible runs, and the figure record.

Every bench script prints, as its last lines, one JSON object per figure (`emit`):
{"figure", "title", "unit", "runs": [...], "median", "min", "max", "target", "ok", "note"}.
bench/run_all.py (make bench) collects them into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
MESHLAB = str(REPO / "molecule" / "lab" / "meshlab.py")  # the lab's command (python3 MESHLAB SUBCOMMAND ...)


# Node-side Python (the start of a script piped to `python3 -` over ssh): `url`, the node's own exporter's
# /metrics from /etc/meshover/exporter.json, and `opener`, urllib without proxies.
NODE_METRICS_URL = r"""
import json, urllib.request
cfg = json.load(open("/etc/meshover/exporter.json"))
addr = cfg.get("listen_address") or "::1"
addr = "::1" if addr == "::" else addr
url = ("http://[%s]:%s/metrics" if ":" in addr else "http://%s:%s/metrics") % (addr, cfg.get("port", 9474))
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""


def load_inventory(path: str, group: str = "mesh") -> dict[str, dict]:
    """Hosts of a YAML inventory (as meshlab.py writes it) with group vars merged in: the hosts of
    `group` (the mesh nodes, not the lab's router `rt` in group lab_router), or every host when the
    inventory has no such group."""
    import yaml  # the venv has PyYAML (ansible-core)

    data = yaml.safe_load(pathlib.Path(path).read_text(encoding="utf-8"))
    hosts: dict[str, dict] = {}
    members: set[str] = set()

    def walk(name: str, grp: dict, inherited: dict, inside: bool) -> None:
        merged = {**inherited, **(grp.get("vars") or {})}
        inside = inside or name == group
        for host, hvars in (grp.get("hosts") or {}).items():
            hosts[host] = {**hosts.get(host, {}), **merged, **(hvars or {})}
            if inside:
                members.add(host)
        for child_name, child in (grp.get("children") or {}).items():
            walk(child_name, child or {}, merged, inside)

    walk("all", data.get("all", data), {}, False)
    return {h: v for h, v in hosts.items() if h in members} if members else hosts


# FRR's vtysh on a lab node, by how the inventory runs FRR (the container is named frr, the role's default).
VTYSH = {"package": "vtysh", "podman": "podman exec frr vtysh", "docker": "docker exec frr vtysh"}


def vtysh_of(host: dict) -> str:
    """The shell command that runs vtysh on a lab node (its inventory variables)."""
    if host.get("meshover_frr_mode") == "package":
        return VTYSH["package"]
    return VTYSH[host.get("frr_bgp_container_runtime") or "podman"]


def ssh(h: dict, command: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run a shell command on a lab node as root (through sudo when Ansible logs in as an admin user)."""
    user = h.get("ansible_user", "root")
    if user != "root":
        command = "sudo -n sh -c " + shlex.quote(command)
    cmd = [
        "ssh",
        "-p",
        str(h.get("ansible_port", 22)),
        "-i",
        h["ansible_ssh_private_key_file"],
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        f"{user}@{h['ansible_host']}",
        command,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def collection_on_path() -> None:
    """Make `ansible_collections.meshover.mesh` this checkout, whatever PYTHONPATH says (a symlink root in a
    temporary directory), so that the scripts run as their docstrings print them from a fresh clone."""
    try:
        import ansible_collections.meshover.mesh as mesh

        if pathlib.Path(mesh.__path__[0]).resolve() == REPO:
            return
    except ImportError:
        pass
    import tempfile

    root = pathlib.Path(tempfile.mkdtemp(prefix="meshover-bench-"))
    (root / "ansible_collections" / "meshover").mkdir(parents=True)
    (root / "ansible_collections" / "meshover" / "mesh").symlink_to(REPO)
    sys.path.insert(0, str(root))
    for name in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
        del sys.modules[name]


def identity(inv: dict[str, dict], name: str):
    """The derived identity (loopbacks, transport6, gre_name, ...) of one lab host."""
    collection_on_path()
    from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (
        derive_identity,
        settings_from_vars,
    )

    h = inv[name]
    settings = settings_from_vars({k: v for k, v in h.items() if k.startswith("meshover_")})
    return derive_identity(name, settings, h)


def mitogen_env() -> dict[str, str]:
    """Environment that makes mitogen_linear the strategy (Mitogen is a bench/lab accelerator only)."""
    import ansible_mitogen  # in the venv (requirements.txt)

    plugins = os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy")
    return {"ANSIBLE_STRATEGY_PLUGINS": plugins, "ANSIBLE_STRATEGY": "mitogen_linear"}


def ansible_env(strategy: str = "linear", **extra: str) -> dict[str, str]:
    """What operators get by default plus pipelining; Mitogen only when asked."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_STRATEGY")}
    # ansible-playbook from the project's venv, also when the script is run as `.venv/bin/python bench/...`
    # without the venv on PATH (what the docstrings print)
    venv_bin = REPO / ".venv" / "bin"
    if (venv_bin / "ansible-playbook").exists():
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        ANSIBLE_HOST_KEY_CHECKING="false",
        ANSIBLE_PIPELINING="true",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_TIMEOUT="120",
    )
    if strategy == "mitogen":
        env.update(mitogen_env())
    env.update(extra)
    return env


def timed_run(cmd: list[str], env: dict[str, str], timeout: int = 1800) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    return time.monotonic() - t0, res


def emit(figure: str, title: str, unit: str, runs: list[float], target: str, ok: bool | None, note: str = "") -> dict:
    """Print (and return) one figure record as a JSON line."""
    rec = {
        "figure": figure,
        "title": title,
        "unit": unit,
        "runs": [round(r, 3) for r in runs],
        "median": round(statistics.median(runs), 3) if runs else None,
        "min": round(min(runs), 3) if runs else None,
        "max": round(max(runs), 3) if runs else None,
        "target": target,
        "ok": ok,
        "note": note,
    }
    print(json.dumps(rec), flush=True)
    return rec


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    raise SystemExit(1)
