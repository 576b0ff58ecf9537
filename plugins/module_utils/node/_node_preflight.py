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
# What the postrouting chain of gre_overlay's table needs when the node masquerades Coil's pods
# (meshover_coil_nat_sources): the nat chain type, the NAT core and nft's masquerade expression.
NAT_KERNEL_MODULES = ("nf_nat", "nft_chain_nat", "nft_masq")
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
    # `ufw status` when ufw is active, `firewall-cmd --list-all` when firewalld runs (None: not read)
    ufw_status: str | None = None
    firewalld_active: bool = False
    firewalld_zone: str | None = None
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
    found = []
    for item in _nft_items(ruleset):
        chain = item.get("chain")
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


# ---------------------------------------------------------------- what a table already accepts
#
# A drop policy is no problem when the rules of the same table already let the mesh through. This is a
# heuristic search of the rules' text (iptables -S) or JSON (nft -j), not an evaluation of the ruleset: an
# accept rule counts in any chain of the table, reached or not, and whatever else it matches (an address, an
# interface). Only rules with an accept verdict count, and never a negated match. An accept it does not
# recognise (by interface or address only, a verdict map, an xt match) leaves the drop a problem.
#
# What a table accepts: wireguard (udp to the WireGuard port), gre (protocol 47), gre_in / gre_out (in from or
# out to any of meshover's GRE tunnels, all named mo*: iptables `mo+`, nft "mo*"); and what it is:
# docker_user (Docker's DOCKER-USER chain is there), ufw (ufw's ufw-* chains are there).

GRE_NAMES = ("gre", 47, "47")
GRE_IFACES_IPT = "mo+"
GRE_IFACES_NFT = "mo*"
_UFW_LINE = re.compile(r"^(?P<to>.+?)\s+(?P<action>ALLOW|DENY|REJECT|LIMIT)(?:\s+(?P<dir>IN|OUT|FWD))?(?:\s|$)")


def _accepts() -> dict[str, bool]:
    return {"wireguard": False, "gre": False, "gre_in": False, "gre_out": False, "docker_user": False, "ufw": False}


def _port_spec_has(spec: str, port: int) -> bool:
    """`51820`, `51820,51821`, `51000:52000` (iptables, ufw) or `51000-52000` (firewalld) contains port."""
    for part in spec.split(","):
        low, sep, high = part.replace("-", ":").partition(":")
        try:
            if int(low or 0) <= port <= (int(high or 65535) if sep else int(low)):
                return True
        except ValueError:
            continue
    return False


def _iptables_values(words: list[str], names: Sequence[str]) -> list[str]:
    """Values of these options in one rule, leaving out negated ones (`! --dport 1`)."""
    return [words[i + 1] for i in range(len(words) - 1) if words[i] in names and (i == 0 or words[i - 1] != "!")]


def iptables_accepts(text: str, port: int) -> dict[str, bool]:
    """What the ACCEPT rules of one `iptables -S` table let through (see above).

    wireguard: `-p udp` with `--dport` / `--dports` naming the port (a list or range counts); gre: `-p gre` or
    `-p 47`; gre_in / gre_out: `-i mo+` / `-o mo+`."""
    found = _accepts()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "-N":
            found["docker_user"] |= words[1] == "DOCKER-USER"
            found["ufw"] |= words[1].startswith("ufw-")
        if len(words) < 2 or words[0] != "-A" or "ACCEPT" not in _iptables_values(words, ("-j", "--jump")):
            continue
        protocols = _iptables_values(words, ("-p", "--protocol"))
        ports = _iptables_values(words, ("--dport", "--dports", "--destination-port", "--destination-ports"))
        found["wireguard"] |= bool({"udp", "17"} & set(protocols)) and any(_port_spec_has(p, port) for p in ports)
        found["gre"] |= any(p in GRE_NAMES for p in protocols)
        found["gre_in"] |= GRE_IFACES_IPT in _iptables_values(words, ("-i", "--in-interface"))
        found["gre_out"] |= GRE_IFACES_IPT in _iptables_values(words, ("-o", "--out-interface"))
    return found


def _nft_items(ruleset: str) -> list[dict[str, Any]]:
    data = json.loads(ruleset)
    if not isinstance(data, dict) or not isinstance(data.get("nftables"), list):
        raise ValueError("no nftables list")
    return [item for item in data["nftables"] if isinstance(item, dict)]


def _nft_values(right: Any) -> list[Any]:
    """A match's right-hand side as a list: a value, the elements of a set; a range becomes a tuple."""
    if isinstance(right, dict) and isinstance(right.get("set"), list):
        return [v for item in right["set"] for v in _nft_values(item)]
    if isinstance(right, dict) and isinstance(right.get("range"), list) and len(right["range"]) == 2:
        return [tuple(right["range"])]
    return [right]


def _nft_has_port(right: Any, port: int) -> bool:
    for value in _nft_values(right):
        if isinstance(value, tuple):
            if all(isinstance(v, int) for v in value) and value[0] <= port <= value[1]:
                return True
        elif value == port:
            return True
    return False


def _nft_rule(expr: Any, port: int, found: dict[str, bool]) -> None:
    """Add what one rule (its "expr" list) accepts to found."""
    if not isinstance(expr, list) or not any(isinstance(e, dict) and "accept" in e for e in expr):
        return
    for e in expr:
        match = e.get("match") if isinstance(e, dict) else None
        if not isinstance(match, dict) or match.get("op", "==") not in ("==", "in"):
            continue
        left, right = match.get("left"), match.get("right")
        payload = left.get("payload") if isinstance(left, dict) else None
        meta = left.get("meta") if isinstance(left, dict) else None
        names = [v for v in _nft_values(right) if not isinstance(v, tuple)]
        if isinstance(payload, dict):
            where = (payload.get("protocol"), payload.get("field"))
            found["wireguard"] |= where in (("udp", "dport"), ("th", "dport")) and _nft_has_port(right, port)
            found["gre"] |= where in (("ip", "protocol"), ("ip6", "nexthdr")) and any(v in GRE_NAMES for v in names)
        elif isinstance(meta, dict):
            key = meta.get("key")
            found["gre"] |= key == "l4proto" and any(v in GRE_NAMES for v in names)
            found["gre_in"] |= key == "iifname" and GRE_IFACES_NFT in names
            found["gre_out"] |= key == "oifname" and GRE_IFACES_NFT in names


def nft_accepts(ruleset: str, port: int) -> dict[tuple[str, str], dict[str, bool]]:
    """(family, table) -> what the accept rules of that table let through (see above).

    wireguard: `udp dport` / `th dport` with the port (a set or range counts); gre: `meta l4proto`,
    `ip protocol` or `ip6 nexthdr` gre (or 47); gre_in / gre_out: `iifname` / `oifname` "mo*".
    Raises ValueError when the text is not `nft -j list ruleset` output."""
    tables: dict[tuple[str, str], dict[str, bool]] = {}
    for item in _nft_items(ruleset):
        for kind in ("chain", "rule"):
            obj = item.get(kind)
            if not isinstance(obj, dict):
                continue
            found = tables.setdefault((str(obj.get("family", "")), str(obj.get("table", ""))), _accepts())
            if kind == "chain":
                name = str(obj.get("name", ""))
                found["docker_user"] |= name == "DOCKER-USER"
                found["ufw"] |= name.startswith("ufw-")
            else:
                _nft_rule(obj.get("expr"), port, found)
    return tables


def ufw_allows(status: str | None, port: int) -> dict[str, bool]:
    """Whether `ufw status` shows an incoming ALLOW for `<port>/udp` (or the port alone) and one for GRE.

    ufw prints `51820/udp   ALLOW   Anywhere` and, for `ufw allow proto gre from any`, `Anywhere/gre   ALLOW
    Anywhere/gre`: an ALLOW whose destination names gre counts for GRE."""
    found = {"wireguard": False, "gre": False}
    for line in (status or "").splitlines():
        m = _UFW_LINE.match(line.strip())
        if not m or m.group("action") != "ALLOW" or m.group("dir") in ("OUT", "FWD"):
            continue
        for word in m.group("to").split():
            spec, _sep, proto = word.partition("/")
            found["wireguard"] |= proto in ("", "udp") and _port_spec_has(spec, port)
            found["gre"] |= proto == "gre" or word == "gre"
    return found


def firewalld_allows(listing: str | None, port: int) -> dict[str, bool]:
    """Whether `firewall-cmd --list-all` (the default zone) has `<port>/udp` in ports and gre in protocols."""
    found = {"wireguard": False, "gre": False}
    for line in (listing or "").splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key == "ports":
            for word in value.split():
                spec, _sep, proto = word.partition("/")
                found["wireguard"] |= proto == "udp" and _port_spec_has(spec, port)
        elif sep and key == "protocols":
            found["gre"] |= "gre" in value.split()
    return found


# ---------------------------------------------------------------- evaluation


def _check_kernel(facts: NodeFacts, report: NodeReport, nat: bool = False) -> None:
    """The modules the mesh needs, and with nat those of the egress NAT of Coil's pods."""
    wanted = KERNEL_MODULES + (NAT_KERNEL_MODULES if nat else ())
    states = {name: kernel_module_state(name, facts) for name in wanted}
    report.checks["kernel"] = {"release": facts.kernel_release, "modules": states}
    for name, state in states.items():
        if state == "missing":
            nat_module = name in NAT_KERNEL_MODULES
            why = " (the masquerade of meshover_coil_nat_sources needs it)" if nat_module else ""
            other_fix = ", or drop meshover_coil_nat_sources" if nat_module else ""
            report.problems.append(
                f"kernel {facts.kernel_release or '(unknown)'} has no {name} module{why} (not built in, not loaded, "
                f"not in modules.dep); install the kernel's modules package (linux-image-{facts.kernel_release}) "
                f"or boot a kernel that has it{other_fix}"
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


def _what_accepts(missing: list[str], port: int) -> str:
    return " and ".join(f"WireGuard (udp/{port})" if m == "wireguard" else "GRE" for m in missing)


def _them(missing: list[str]) -> str:
    return "it" if len(missing) == 1 else "them"


# What to type to accept what is missing, by the tool that owns the table.
_ACCEPT = {
    "ufw": {
        "wireguard": "ufw allow {port}/udp",
        "gre": "ufw allow proto gre from any",
        "gre_in": "ufw route allow in on mo+",
        "gre_out": "ufw route allow out on mo+",
    },
    "iptables": {
        "wireguard": "{binary} -I {chain} -p udp --dport {port} -j ACCEPT",
        "gre": "{binary} -I {chain} -p gre -j ACCEPT",
        "gre_in": "{binary} -I {chain} -i mo+ -j ACCEPT",
        "gre_out": "{binary} -I {chain} -o mo+ -j ACCEPT",
    },
    "nft": {
        "wireguard": "nft 'insert rule {family} {table} {chain} udp dport {port} accept'",
        "gre": "nft 'insert rule {family} {table} {chain} meta l4proto gre accept'",
        "gre_in": "nft 'insert rule {family} {table} {chain} iifname \"mo*\" accept'",
        "gre_out": "nft 'insert rule {family} {table} {chain} oifname \"mo*\" accept'",
    },
}
_TODO = {
    "ufw": "allow {them} with ufw ({commands})",
    "iptables": "accept {them} ({commands}, kept across reboots) "
    "or set the policy to ACCEPT ({binary} -P {chain} ACCEPT)",
    "nft": "accept {them} ({commands}, and in the file that loads the table, e.g. /etc/nftables.conf) "
    "or set its policy to accept",
}


def _docker_problem(name: str, binary: str, container: bool) -> str:
    runtime = "frr_bgp_container_runtime: docker" + ("" if container else " and meshover_frr_mode: container")
    other = "iptables" if binary == "ip6tables" else "ip6tables"
    return (
        f"{name} has Docker's policy drop (its table has Docker's DOCKER-USER chain) and would drop what the mesh "
        "forwards through its GRE tunnels (mo*), and FRR will not run under Docker here, so meshover's "
        f"DOCKER-USER unit is not installed; set {runtime} for this host, or add {binary} -I DOCKER-USER -i mo+ -j "
        f"ACCEPT and {binary} -I DOCKER-USER -o mo+ -j ACCEPT (and the same with {other} where Docker made the "
        "chain), kept across reboots and Docker restarts (a unit run after docker.service)"
    )


def _drop_problem(
    where: dict[str, str], found: dict[str, bool], port: int, *, container: bool, frr_docker: bool, ufw_active: bool
) -> tuple[str, str | None]:
    """(verdict, problem) for one chain with a drop policy, from what its table accepts (found).

    where: hook (input or forward), chain, and either binary (iptables, ip6tables) or family and table (nft).
    verdict: accepted (the table lets the mesh through), docker_unit (Docker's FORWARD drop, which meshover's
    DOCKER-USER unit opens as FRR will run under Docker here), ufw (left to the ufw check) or dropped."""
    hook, chain = where["hook"], where["chain"]
    binary = where.get("binary")
    if binary:
        name = f"{binary} chain {chain}"
    else:
        name = f"nftables chain {where['family']} {where['table']} {chain} (hook {hook})"
        # iptables-nft's own tables are changed with iptables, not nft
        if where["table"] == "filter" and chain in ("INPUT", "FORWARD"):
            binary = {"ip": "iptables", "ip6": "ip6tables"}.get(where["family"])
    wanted = ("wireguard", "gre") if hook == "input" else ("gre_in", "gre_out")
    missing = [k for k in wanted if not found[k]]
    if not missing:
        return "accepted", None
    if hook == "input" and found["ufw"] and ufw_active:
        return "ufw", None
    if hook == "forward" and found["docker_user"]:
        if frr_docker:
            return "docker_unit", None
        return "dropped", _docker_problem(name, binary or "iptables", container)

    if hook == "input":
        wrong = f"{name} has policy drop and no accept rule of its table lets {_what_accepts(missing, port)} in"
    else:
        sides = " or ".join("from" if m == "gre_in" else "to" for m in missing)
        wrong = (
            f"{name} has policy drop and no accept rule of its table forwards traffic {sides} the mesh's GRE tunnels"
        )
        wrong += " (mo*)"
    tool = "ufw" if found["ufw"] else "iptables" if binary else "nft"
    values = dict(where, port=port, binary=binary or "")
    commands = " and ".join(_ACCEPT[tool][m].format(**values) for m in missing)
    return "dropped", f"{wrong}; " + _TODO[tool].format(them=_them(missing), commands=commands, **values)


def _check_firewall(facts: NodeFacts, port: int, container: bool, frr_docker: bool, report: NodeReport) -> None:
    ufw_active = facts.ufw_active and ufw_enabled(facts.ufw_conf)
    fw: dict[str, Any] = {"ufw": "inactive", "firewalld": "inactive"}
    if ufw_active:
        allows = ufw_allows(facts.ufw_status, port)
        missing = [k for k, v in allows.items() if not v]
        fw["ufw"] = "dropped" if missing else "accepted"
        if missing:
            adds = {"wireguard": f"ufw allow {port}/udp", "gre": "ufw allow proto gre from any"}
            report.problems.append(
                f"ufw is active and ufw status shows no ALLOW for {_what_accepts(missing, port)}; "
                f"allow {_them(missing)} ({' and '.join(adds[m] for m in missing)}) or disable ufw (ufw disable)"
            )
    if facts.firewalld_active:
        allows = firewalld_allows(facts.firewalld_zone, port)
        missing = [k for k, v in allows.items() if not v]
        fw["firewalld"] = "dropped" if missing else "accepted"
        if missing:
            adds = {"wireguard": f" --add-port={port}/udp", "gre": " --add-protocol=gre"}
            report.problems.append(
                "firewalld is running and its default zone (firewall-cmd --list-all) does not open "
                f"{_what_accepts(missing, port)}; allow {_them(missing)} (firewall-cmd --permanent"
                f"{''.join(adds[m] for m in missing)} && firewall-cmd --reload) or stop and disable firewalld"
            )
    if facts.nft_ruleset is not None:
        try:
            chains = nft_drop_chains(facts.nft_ruleset)
            tables = nft_accepts(facts.nft_ruleset, port)
        except (ValueError, AttributeError, TypeError):
            fw["nftables"] = "unreadable"
        else:
            fw["nftables"] = []
            for c in chains:
                found = tables.get((c["family"], c["table"]), _accepts())
                verdict, problem = _drop_problem(
                    c, found, port, container=container, frr_docker=frr_docker, ufw_active=ufw_active
                )
                fw["nftables"].append(dict(c, mesh=verdict))
                if problem:
                    report.problems.append(problem)
    for binary, text in facts.iptables.items():
        if text is None:
            continue
        found = iptables_accepts(text, port)
        fw[binary] = []
        for chain in iptables_drop_policies(text):
            where = {"binary": binary, "chain": chain, "hook": chain.lower()}
            verdict, problem = _drop_problem(
                where, found, port, container=container, frr_docker=frr_docker, ufw_active=ufw_active
            )
            fw[binary].append({"chain": chain, "mesh": verdict})
            if problem:
                report.problems.append(problem)
    report.checks["firewall"] = fw


def frr_runtime(facts: NodeFacts, container_runtime: str = "") -> str | None:
    """The runtime frr_bgp will run FRR under: container_runtime when set, else podman, else docker, as found."""
    present = [name for name in RUNTIMES if facts.runtimes.get(name)]
    return container_runtime or (present[0] if present else None)


def evaluate(
    facts: NodeFacts,
    wireguard_port: int,
    container: bool,
    min_free_mb: int | None = None,
    container_runtime: str = "",
    nat: bool = False,
) -> NodeReport:
    """Checks found and problems, one "<what is wrong>; <what to do>" message each.

    container_runtime: frr_bgp_container_runtime ('' = podman if found, else docker if found, else podman).
    nat: the node masquerades Coil's pods (meshover_coil_nat_sources): NAT_KERNEL_MODULES are checked too."""
    report = NodeReport()
    if min_free_mb is None:
        min_free_mb = MIN_FREE_MB_CONTAINER if container else MIN_FREE_MB_PACKAGE
    _check_kernel(facts, report, nat)

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
        "runtime": frr_runtime(facts, container_runtime),
    }
    # With Docker as FRR's runtime, frr_bgp installs meshover-docker-forward.service (DOCKER-USER accepts mo+).
    frr_docker = container and os.path.basename(frr_runtime(facts, container_runtime) or "") == "docker"

    _check_firewall(facts, wireguard_port, container, frr_docker, report)
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
    # Loaded: /sys/module/NAME, or a line of /proc/modules. A container (systemd-nspawn, LXC) sees the
    # host's /proc/modules but an empty /sys/module; it cannot load modules, so loaded is what counts.
    proc_modules = {line.split(" ", 1)[0] for line in (_read(_under(root, "/proc/modules")) or "").splitlines()}
    facts.sys_module = {
        name: os.path.isdir(_under(root, f"/sys/module/{name}")) or name in proc_modules
        for name in KERNEL_MODULES + NAT_KERNEL_MODULES
    }
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
    ufw = which("ufw") if facts.ufw_active else None
    if ufw:
        rc, out, _err = run([ufw, "status"])
        facts.ufw_status = out if rc == 0 else None
    facts.firewalld_active = _active(run, which, "firewalld")
    firewall_cmd = which("firewall-cmd") if facts.firewalld_active else None
    if firewall_cmd:
        rc, out, _err = run([firewall_cmd, "--list-all"])
        facts.firewalld_zone = out if rc == 0 else None

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
