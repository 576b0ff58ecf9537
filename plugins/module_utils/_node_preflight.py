# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""Node-side preflight: what a node must offer before meshover changes anything on it.

gather() reads the node (files under a root, a few read-only commands) into NodeFacts;
evaluate() turns NodeFacts into checks (what was found) and problems, one message per problem,
"<what is wrong>; <what to do>". Both only read: nothing on the node changes.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

KERNEL_MODULES = ("wireguard", "ip6_gre")
RUNTIMES = ("podman", "docker")
MIN_PYTHON = (3, 9)
DISK_PATHS = ("/", "/var")
MIN_FREE_MB_CONTAINER = 1024
MIN_FREE_MB_PACKAGE = 200
# meshover's own nftables table (gre_overlay): its policy is meshover's business, never a finding.
OWN_NFT_TABLE = "meshover"
COMMAND_TIMEOUT = 10

# run(argv) -> (rc, stdout, stderr); which(name) -> path or None
Runner = Callable[[Sequence[str]], "tuple[int, str, str]"]
Which = Callable[[str], Optional[str]]

_KO_SUFFIX = re.compile(r"\.ko(\.(xz|zst|gz))?$")


@dataclass
class NodeFacts:
    """What gather() read from the node; None means "could not be read" (the check is skipped)."""

    kernel_release: str = ""
    sys_module: dict[str, bool] = field(default_factory=dict)
    modules_builtin: str | None = None
    modules_dep: str | None = None
    systemd: bool = False
    python: tuple[int, int, int] = (0, 0, 0)
    # path -> (free MiB, st_dev) or None when the path does not exist
    disk: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    runtimes: dict[str, str | None] = field(default_factory=dict)
    ufw_conf: str | None = None
    ufw_active: bool = False
    firewalld_active: bool = False
    nft_ruleset: str | None = None
    # "iptables" / "ip6tables" -> output of `-S`, None when the binary is missing (or nft covers it)
    iptables: dict[str, str | None] = field(default_factory=dict)


@dataclass
class NodeReport:
    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- pure parsers


def _module_name(path: str) -> str:
    return _KO_SUFFIX.sub("", os.path.basename(path.strip())).replace("-", "_")


def _listed(name: str, text: str | None, dep: bool) -> bool:
    for line in (text or "").splitlines():
        path = line.split(":", 1)[0] if dep else line
        if path.strip() and _module_name(path) == name:
            return True
    return False


def kernel_module_state(name: str, facts: NodeFacts) -> str:
    """builtin, loaded, loadable or missing."""
    if _listed(name, facts.modules_builtin, dep=False):
        return "builtin"
    if facts.sys_module.get(name):
        return "loaded"
    if _listed(name, facts.modules_dep, dep=True):
        return "loadable"
    return "missing"


def ufw_enabled(conf: str | None) -> bool:
    """ENABLED=yes in /etc/ufw/ufw.conf (quotes and spaces tolerated)."""
    for line in (conf or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "ENABLED":
            return value.strip().strip("'\"").lower() == "yes"
    return False


def nft_drop_chains(ruleset: str) -> list[dict[str, str]]:
    """Base chains on the input or forward hook with policy drop, outside meshover's own table.

    Raises ValueError when the text is not `nft -j list ruleset` output."""
    data = json.loads(ruleset)
    if not isinstance(data, dict) or not isinstance(data.get("nftables"), list):
        raise ValueError("no nftables list")
    found = []
    for item in data["nftables"]:
        chain = item.get("chain") if isinstance(item, dict) else None
        if not isinstance(chain, dict) or chain.get("table") == OWN_NFT_TABLE:
            continue
        if chain.get("hook") in ("input", "forward") and chain.get("policy") == "drop":
            found.append(
                {
                    "family": str(chain.get("family", "")),
                    "table": str(chain.get("table", "")),
                    "chain": str(chain.get("name", "")),
                    "hook": str(chain["hook"]),
                }
            )
    return found


def iptables_drop_policies(text: str) -> list[str]:
    """Built-in chains INPUT / FORWARD whose policy is DROP (`-P INPUT DROP` lines of `iptables -S`)."""
    drops = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "-P" and words[1] in ("INPUT", "FORWARD") and words[2] == "DROP":
            drops.append(words[1])
    return drops


# ---------------------------------------------------------------- evaluation


def _traffic(port: int) -> str:
    return f"WireGuard (udp/{port}) and GRE"


def _check_kernel(facts: NodeFacts, report: NodeReport) -> None:
    states = {name: kernel_module_state(name, facts) for name in KERNEL_MODULES}
    report.checks["kernel"] = {"release": facts.kernel_release, "modules": states}
    for name, state in states.items():
        if state == "missing":
            report.problems.append(
                f"kernel {facts.kernel_release or '(unknown)'} has no {name} module (not built in, not loaded, "
                f"not in modules.dep); install the kernel's modules package (linux-image-{facts.kernel_release}) "
                "or boot a kernel that has it"
            )


def _check_disk(facts: NodeFacts, min_free_mb: int, report: NodeReport) -> None:
    disk: dict[str, Any] = {}
    seen: set[int] = set()
    for path in DISK_PATHS:
        entry = facts.disk.get(path)
        if entry is None:
            continue
        free, dev = entry
        disk[path] = {"free_mb": free}
        if free < min_free_mb and dev not in seen:
            report.problems.append(
                f"{path} has {free} MiB free, less than the {min_free_mb} MiB needed; "
                f"free space on {path} (or lower min_free_mb)"
            )
        seen.add(dev)
    report.checks["disk"] = {"min_free_mb": min_free_mb, "paths": disk}


def _check_firewall(facts: NodeFacts, port: int, report: NodeReport) -> None:
    traffic = _traffic(port)
    fw: dict[str, Any] = {
        "ufw": facts.ufw_active and ufw_enabled(facts.ufw_conf),
        "firewalld": facts.firewalld_active,
    }
    if fw["ufw"]:
        report.problems.append(
            f"ufw is active and would drop {traffic}; allow them (ufw allow {port}/udp, and GRE: "
            "ufw allow proto gre from any) or disable ufw (ufw disable)"
        )
    if fw["firewalld"]:
        report.problems.append(
            f"firewalld is running and would drop {traffic}; allow them (firewall-cmd --permanent --add-port="
            f"{port}/udp --add-protocol=gre && firewall-cmd --reload) or stop and disable firewalld"
        )
    if facts.nft_ruleset is not None:
        try:
            chains = nft_drop_chains(facts.nft_ruleset)
        except (ValueError, AttributeError):
            fw["nftables"] = "unreadable"
        else:
            fw["nftables"] = chains
            for c in chains:
                report.problems.append(
                    f"nftables chain {c['family']} {c['table']} {c['chain']} (hook {c['hook']}) has policy drop and "
                    f"would drop {traffic}; accept them in that chain (udp dport {port}, meta l4proto gre) "
                    "or set its policy to accept"
                )
    for binary, text in facts.iptables.items():
        if text is None:
            continue
        drops = iptables_drop_policies(text)
        fw[binary] = drops
        for chain in drops:
            report.problems.append(
                f"{binary} policy of {chain} is DROP and would drop {traffic}; accept them "
                f"({binary} -I {chain} -p udp --dport {port} -j ACCEPT and -p gre -j ACCEPT) "
                f"or set the policy to ACCEPT ({binary} -P {chain} ACCEPT)"
            )
    report.checks["firewall"] = fw


def evaluate(facts: NodeFacts, wireguard_port: int, container: bool, min_free_mb: int | None = None) -> NodeReport:
    """Checks found and problems, one "<what is wrong>; <what to do>" message each."""
    report = NodeReport()
    if min_free_mb is None:
        min_free_mb = MIN_FREE_MB_CONTAINER if container else MIN_FREE_MB_PACKAGE
    _check_kernel(facts, report)

    report.checks["systemd"] = facts.systemd
    if not facts.systemd:
        report.problems.append(
            "PID 1 is not systemd (/run/systemd/system is missing); meshover's units need systemd: "
            "boot the node with systemd as init"
        )

    version = ".".join(str(v) for v in facts.python)
    report.checks["python"] = version
    if tuple(facts.python[:2]) < MIN_PYTHON:
        report.problems.append(
            f"Python {version} runs the modules, older than {MIN_PYTHON[0]}.{MIN_PYTHON[1]}; "
            "install python3 >= 3.9 or point ansible_python_interpreter at one"
        )

    _check_disk(facts, min_free_mb, report)

    present = [name for name in RUNTIMES if facts.runtimes.get(name)]
    report.checks["container"] = {
        "enabled": container,
        "runtimes": present,
        "runtime": present[0] if present else None,
    }

    _check_firewall(facts, wireguard_port, report)
    return report


# ---------------------------------------------------------------- reading the node


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _under(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _active(run: Runner, which: Which, unit: str) -> bool:
    systemctl = which("systemctl")
    if not systemctl:
        return False
    rc, out, _err = run([systemctl, "is-active", unit])
    return rc == 0 and out.strip() == "active"


def gather(run: Runner, which: Which, root: str = "/", kernel_release: str | None = None) -> NodeFacts:
    """Read what evaluate() needs. Missing files or binaries leave their part empty (that check is skipped)."""
    release = kernel_release if kernel_release is not None else os.uname().release
    facts = NodeFacts(kernel_release=release, python=tuple(sys.version_info[:3]))  # type: ignore[arg-type]
    facts.sys_module = {name: os.path.isdir(_under(root, f"/sys/module/{name}")) for name in KERNEL_MODULES}
    facts.modules_builtin = _read(_under(root, f"/lib/modules/{release}/modules.builtin"))
    facts.modules_dep = _read(_under(root, f"/lib/modules/{release}/modules.dep"))
    facts.systemd = os.path.isdir(_under(root, "/run/systemd/system"))

    for path in DISK_PATHS:
        real = _under(root, path)
        try:
            st = os.statvfs(real)
            dev = os.stat(real).st_dev
        except OSError:
            facts.disk[path] = None
            continue
        facts.disk[path] = (st.f_bavail * st.f_frsize // (1024 * 1024), dev)

    facts.runtimes = {name: which(name) for name in RUNTIMES}

    facts.ufw_conf = _read(_under(root, "/etc/ufw/ufw.conf"))
    if ufw_enabled(facts.ufw_conf):
        facts.ufw_active = _active(run, which, "ufw")
    facts.firewalld_active = _active(run, which, "firewalld")

    nft = which("nft")
    if nft:
        rc, out, _err = run([nft, "-j", "list", "ruleset"])
        facts.nft_ruleset = out if rc == 0 else None
    for binary in ("iptables", "ip6tables"):
        path = which(binary)
        if not path:
            facts.iptables[binary] = None
            continue
        # iptables-nft shows the same chains `nft list ruleset` already reported: skip it then.
        rc, out, _err = run([path, "-V"])
        if nft and facts.nft_ruleset is not None and "nf_tables" in out:
            facts.iptables[binary] = None
            continue
        rc, out, _err = run([path, "-S"])
        facts.iptables[binary] = out if rc == 0 else None
    return facts
