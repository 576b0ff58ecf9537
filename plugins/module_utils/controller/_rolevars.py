# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""Preflight of the roles' own variables (wireguard_mesh_*, gre_overlay_*, ...) set in the inventory.

Each role checks its variables against its meta/argument_specs.yml when it starts, but on a node
the earlier roles have already changed. The preflight play checks the ones the inventory sets,
on the controller, before any node is touched: type and choices (the same rules as the roles'
argument specs, through Ansible's ArgumentSpecValidator), likely misspellings, and values whose
type is right but whose content a role would only reject on the node (addresses, ports), or would
write as is into a unit file, an nftables file, a sysctl.d file, sudoers or a shell script (paths and
names: a newline, a space, a quote or a `$(...)` there breaks the file or runs as a command).

The rules of type and choices are the roles' own argument specs, read from their meta/argument_specs.yml
by the action meshover.mesh.mesh_preflight (role_specs_from): there is no second copy of them here.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import GRE_NAME_PREFIX, hosts_label
from ansible_collections.meshover.mesh.plugins.module_utils.node._bundle import PACKAGE_RE

ROLES = ("wireguard_mesh", "gre_overlay", "frr_bgp", "exporter", "source_routing")
# Variables a role registers for the later ones (not options, never set in an inventory).
REGISTERED = ("wireguard_mesh_plan", "frr_bgp_runtime")


def role_specs_from(argument_specs: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """The options of the roles' entry point ``main``: variable -> (role, {type, elements, choices}).

    argument_specs: role -> its meta/argument_specs.yml as loaded (the action meshover.mesh.mesh_preflight
    reads the collection's own files): the roles' specs are the only table of their variables."""
    specs: dict[str, tuple[str, dict[str, Any]]] = {}
    for role, doc in argument_specs.items():
        for name, opt in doc["argument_specs"]["main"]["options"].items():
            entry = {"type": opt.get("type", "str")}
            entry.update({k: opt[k] for k in ("elements", "choices") if k in opt})
            specs[name] = (role, entry)
    return specs


PORTS = ("gre_overlay_wg_port", "gre_overlay_firewall_exporter_port", "exporter_port")
# Numbers with a range: (lowest, highest or None, why).
RANGES = {
    "source_routing_rule_priority": (
        1,
        32765,
        "a policy rule here must come after the local table's rule (0) and before main's (32766)",
    ),
    "exporter_port": (
        1024,
        65535,
        "the exporter runs as its own unprivileged user, which cannot bind a port below 1024",
    ),
    "exporter_handshake_stale": (
        135,
        None,
        "seconds; WireGuard renews a session's keys 120 s after its handshake while traffic flows, and the new "
        "handshake can take a few seconds more: a lower value marks healthy peers down every two minutes",
    ),
}
POSITIVE = (
    "exporter_command_timeout",
    "exporter_collect_interval",
    "frr_bgp_watchfrr_restart_timeout",
)
# Lists of addresses or prefixes (IPv4 or IPv6, host bits allowed, as nft accepts them).
NETWORK_LISTS = ("gre_overlay_firewall_exporter_sources",)
# Lists of prefixes without host bits (meshover.mesh.source_routes refuses 10.96.0.1/12 on the node).
STRICT_NETWORK_LISTS = ("source_routing_exempt", "source_routing_extra_exempt")
# Paths on the node (every `type: path` option but the runtime): written as is into units, scripts and sudoers.
NODE_PATHS = (
    "wireguard_mesh_private_key_path",
    "gre_overlay_batch_path",
    "gre_overlay_firewall_path",
    "frr_bgp_config_dir",
    "exporter_install_dir",
    "exporter_config_path",
    "source_routing_batch4_path",
    "source_routing_batch6_path",
)
# A directory on the controller (relative to the working directory, or empty: no cache).
CONTROLLER_DIRS = ("wireguard_mesh_key_cache_dir",)
# Linux interface names (a string, or a list of them): in nftables, sysctl.d and unit files.
INTERFACES = ("gre_overlay_wg_interface", "gre_overlay_accept_ra_interfaces", "frr_bgp_coil_vrf")
# Lists of Debian packages, installed by meshover.mesh.bundle (which takes plain names only).
PACKAGE_LISTS = ("wireguard_mesh_packages", "frr_bgp_packages", "exporter_packages")
SERVICE_UNITS = ("frr_bgp_container_unit", "frr_bgp_package_unit")
CONTAINER_NAMES = ("frr_bgp_container_name", "exporter_frr_container_name")
CAPABILITY_LISTS = ("frr_bgp_container_capabilities",)
# What FRR's container cannot do without: zebra programs routes and links, bgpd/bfdd use raw sockets, the
# Coil VRF and network namespaces need SYS_ADMIN (FRR's own docker documentation lists these three).
FRR_CAPABILITIES = ("NET_ADMIN", "NET_RAW", "SYS_ADMIN")
USERS = ("exporter_user",)
ANSIBLE_GROUPS = ("wireguard_mesh_group", "exporter_group")
LISTEN_ADDRESSES = ("exporter_listen_address",)

# capabilities(7), Linux 5.9 and later, without the CAP_ prefix (podman's and docker's --cap-add take them so).
CAPABILITIES = frozenset(
    """CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
    NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT
    SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
    AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ
    PERFMON BPF CHECKPOINT_RESTORE""".split()
)
# The runtimes frr_bgp and the exporter know (both pick podman's or docker's ways by the file name).
RUNTIME_NAMES = ("podman", "docker")

_NOT_PATH_CHAR = re.compile(r"[^A-Za-z0-9._+@/-]")
_CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f]")
_NOT_IFNAME_CHAR = re.compile(r"[^A-Za-z0-9._@-]")
_NOT_UNIT_CHAR = re.compile(r"[^A-Za-z0-9:_.@-]")


def _show(value: Any) -> str:
    """repr, cut to about 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _node_path(value: str) -> str | None:
    bad = _NOT_PATH_CHAR.search(value)
    if bad:
        return f"it contains {bad.group()!r}: use an absolute path of letters, digits and ._+@/-"
    if not value.startswith("/"):
        return "not an absolute path: write the whole path, from /"
    norm = posixpath.normpath(value)
    if value != norm or value.startswith("//"):
        fix = ": write it without '..'" if ".." in value.split("/") else f": write {norm!r}"
        return f"not a normalised path (no '.' or '..' component, no '//', no trailing '/'){fix}"
    return None


def _controller_dir(value: str) -> str | None:
    bad = _CONTROL_CHAR.search(value)
    return f"it contains {bad.group()!r}: remove the control character (newline, tab, ...)" if bad else None


def _interface(value: str) -> str | None:
    bad = _NOT_IFNAME_CHAR.search(value)
    if bad:
        return f"it contains {bad.group()!r}: a Linux interface name here is letters, digits and ._@- only"
    if not 1 <= len(value) <= 15:
        return f"{len(value)} characters: a Linux interface name has 1 to 15"
    return "the kernel refuses '.' and '..' as interface names" if value in (".", "..") else None


def _package(value: str) -> str | None:
    if PACKAGE_RE.match(value):
        return None
    name = re.split(r"[:=]", value, maxsplit=1)[0]
    if name != value and PACKAGE_RE.match(name):
        return f"meshover.mesh.bundle installs plain package names (no :arch, no =version): write {name!r}"
    return "not a Debian package name: 2 or more of a-z 0-9 + . - (lower case), starting with a letter or digit"


def _unit(value: str) -> str | None:
    bad = _NOT_UNIT_CHAR.search(value)
    if bad:
        return f"it contains {bad.group()!r}: a systemd unit name is letters, digits and :_.-@"
    if not value.endswith(".service") or len(value) > 255:
        return "not a service unit name: it must end with .service and have at most 255 characters (e.g. x.service)"
    name, at, instance = value[: -len(".service")].partition("@")
    if not name or (at and not instance):
        return "a unit name is NAME.service or NAME@INSTANCE.service, both parts non-empty"
    return None


def _runtime(value: str) -> str | None:
    """frr_bgp_container_runtime: empty (podman if installed, else docker), a name looked up in PATH, or a path."""
    if value in ("", *RUNTIME_NAMES):
        return None
    bad = _NOT_PATH_CHAR.search(value)
    if bad:
        return f"it contains {bad.group()!r}: write podman, docker, or an absolute path of letters, digits and ._+@/-"
    if posixpath.basename(value) not in RUNTIME_NAMES:
        return "the roles know podman and docker only: write podman, docker, or a path ending in /podman or /docker"
    return _node_path(value)


def _runtime_set(value: str) -> str | None:
    """exporter_container_runtime: the same, but never empty."""
    if value == "":
        return "empty: leave it unset (the runtime frr_bgp uses), or write podman, docker or an absolute path"
    return _runtime(value)


def _capability(value: str) -> str | None:
    if value in CAPABILITIES:
        return None
    name = value.upper()
    name = name[len("CAP_") :] if name.startswith("CAP_") else name
    if name in CAPABILITIES:
        return f"write {name!r}: the list takes capabilities(7) names in upper case, without the CAP_ prefix"
    return "not a Linux capability: use a name from capabilities(7) without CAP_, e.g. NET_ADMIN"


def _listen_address(value: str) -> str | None:
    if not value:  # empty: the exporter listens on every address, as with "::"
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return "not an IPv4 or IPv6 address (no host name): '::' for every address, or unset for the loopback"
    if address.is_unspecified and address.version == 4:
        return (
            "every IPv4 address but no IPv6 one, while the other exporters (/mesh.html) and meshover's Prometheus "
            "reach this one on its IPv6 loopback: write '::' for every address (IPv4 too), or leave it unset"
        )
    if address.is_link_local or address.is_multicast:
        return "a link-local or multicast address, which a server cannot listen on for the mesh: '::' or unset"
    return None


# Directories an operator may name by mistake: the exporter's decommission removes exporter_install_dir whole.
SYSTEM_DIRS = frozenset(
    "/ /bin /boot /dev /etc /home /lib /lib64 /media /mnt /opt /proc /root /run /sbin /srv /sys /tmp /usr /var "
    "/usr/bin /usr/sbin /usr/lib /usr/lib64 /usr/libexec /usr/share /usr/local /usr/local/bin /usr/local/sbin "
    "/usr/local/lib /usr/local/share /usr/local/libexec /var/lib /var/log /var/cache /var/tmp /etc/systemd "
    "/etc/systemd/system /etc/frr".split()
)


def _install_dir(value: str) -> str | None:
    """exporter_install_dir, besides _node_path()."""
    if value in SYSTEM_DIRS:
        return (
            "a system directory: the exporter's files go there and decommission.yml removes the directory whole; "
            "use a directory of its own, like /usr/local/lib/meshover"
        )
    return None


def _coil_vrf(value: str) -> str | None:
    """frr_bgp_coil_vrf, besides _interface()."""
    if value == "lo" or value.startswith(GRE_NAME_PREFIX):
        return (
            "the loopback or a name of meshover's tunnels (mo*): the role deletes this VRF device when no Coil "
            "hand-off needs it, so it must be a name of its own, like meshover-coil"
        )
    return None


def _matching(pattern: str, problem: str):
    """A rule: the whole value matches pattern, else problem."""
    regex = re.compile(pattern)
    return lambda value: None if regex.fullmatch(value) else problem


# Rules for strings (of a list variable: for each item): the variables they apply to, and the check,
# which returns what is wrong and how to fix it, or None.
STRING_RULES = (
    (NODE_PATHS, _node_path),
    (("exporter_install_dir",), _install_dir),
    (("frr_bgp_coil_vrf",), _coil_vrf),
    (CONTROLLER_DIRS, _controller_dir),
    (INTERFACES, _interface),
    (PACKAGE_LISTS, _package),
    (SERVICE_UNITS, _unit),
    (("frr_bgp_container_runtime",), _runtime),
    (("exporter_container_runtime",), _runtime_set),
    (CAPABILITY_LISTS, _capability),
    (LISTEN_ADDRESSES, _listen_address),
    (
        CONTAINER_NAMES,
        _matching(
            r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", "not a container name: letters, digits and _.-, starting with a-z A-Z 0-9"
        ),
    ),
    (USERS, _matching(r"[a-z_][a-z0-9_-]{0,31}", "not a system user name: a-z or _, then up to 31 of a-z 0-9 _ -")),
    (
        ANSIBLE_GROUPS,
        _matching(r"[A-Za-z_][A-Za-z0-9_]*", "not an Ansible group name: letters, digits and _, no digit first"),
    ),
)


def is_role_var(name: Any) -> bool:
    """A variable named like a meshover role's: '<role>_x' without '__' (a role's internal name)."""
    return isinstance(name, str) and "__" not in name and name.startswith(tuple(r + "_" for r in ROLES))


def _coil_nat_problem(value: Any) -> str | None:
    """gre_overlay_coil_nat as the plan gives it (normally left to the plan): {sources, exempt}, each
    {ipv4: [prefixes], ipv6: [prefixes]} of that family; a family with sources needs its exempt list."""
    var = "gre_overlay_coil_nat"
    fix = "leave it to the plan (set meshover_coil_nat_sources instead)"
    for part in ("sources", "exempt"):
        lists = value.get(part)
        if not isinstance(lists, dict) or set(lists) != {"ipv4", "ipv6"}:
            return f"{var}.{part} is {_show(lists)}: it must map ipv4 and ipv6 to lists of prefixes; {fix}"
        for family, version in (("ipv4", 4), ("ipv6", 6)):
            for i, item in enumerate(lists[family] if isinstance(lists[family], list) else [lists[family]]):
                try:
                    ok = ipaddress.ip_network(item, strict=True).version == version
                except (TypeError, ValueError):
                    ok = False
                if not ok:
                    name = "IPv4" if version == 4 else "IPv6"
                    return f"{var}.{part}.{family}[{i}] is {_show(item)}: not an {name} prefix; {fix}"
    for family in ("ipv4", "ipv6"):
        if value["sources"][family] and not value["exempt"][family]:
            return f"{var}.exempt.{family} is empty while {family} sources are masqueraded; {fix}"
    return None


def _semantic(var: str, value: Any) -> str | None:
    """What a role would reject on the node, or write into a file unsafely, although the type is right; None if fine."""
    if var in PORTS and not 1 <= value <= 65535:
        return f"{var} is {value}: a port is 1..65535"
    if var in POSITIVE and not value > 0:
        return f"{var} is {value}: it must be greater than 0"
    if var in RANGES:
        low, high, why = RANGES[var]
        if not low <= value <= (value if high is None else high):
            return f"{var} is {value}: it must be {f'{low}..{high}' if high is not None else f'at least {low}'} ({why})"
    if var in NETWORK_LISTS:
        for i, item in enumerate(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                return f"{var}[{i}] is {item!r}: not an IPv4/IPv6 address or prefix"
    if var in STRICT_NETWORK_LISTS:
        for i, item in enumerate(value):
            try:
                ipaddress.ip_network(item, strict=True)
            except ValueError:
                try:
                    fix = f": write {ipaddress.ip_network(item, strict=False)}"
                except ValueError:
                    return f"{var}[{i}] is {item!r}: not an IPv4/IPv6 prefix"
                return f"{var}[{i}] is {item!r}: a prefix has no host bits set{fix}"
    if var == "gre_overlay_coil_nat":
        return _coil_nat_problem(value)
    for names, rule in STRING_RULES:
        if var not in names:
            continue
        items = [(f"{var}[{i}]", v) for i, v in enumerate(value or [])] if isinstance(value, list) else [(var, value)]
        for label, item in items:
            problem = rule("" if item is None else str(item))
            if problem:
                return f"{label} is {_show(item)}: {problem}"
    if var in CAPABILITY_LISTS and isinstance(value, list):
        missing = [c for c in FRR_CAPABILITIES if c not in value]
        if missing:
            return (
                f"{var} lacks {', '.join(missing)}: FRR's container needs {', '.join(FRR_CAPABILITIES)} (routes, raw "
                "sockets, VRFs); the list replaces the role's default, so list those and what you add"
            )
    if var in PACKAGE_LISTS:
        twice = next((p for i, p in enumerate(value or []) if p in value[:i]), None)
        if twice is not None:
            return f"{var} lists {twice!r} twice: meshover.mesh.bundle refuses that, remove one"
    return None


def check_role_vars(
    role_vars: Mapping[str, Mapping[str, Any]], role_specs: Mapping[str, tuple[str, Mapping[str, Any]]]
) -> list[str]:
    """One message per problem: host(s), variable, what is wrong. role_vars: host -> {role variable: value};
    role_specs: role_specs_from() of the roles' argument specs."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    where: dict[str, list[str]] = {}
    seen: dict[tuple[str, str], list] = {}
    for host, host_vars in role_vars.items():
        known = {k: v for k, v in (host_vars or {}).items() if k in role_specs}
        for var in sorted(set(host_vars or {}) - set(known) - set(REGISTERED)):
            if not is_role_var(var):
                continue
            close = difflib.get_close_matches(var, list(role_specs), n=1, cutoff=0.85)
            if close:  # a name far from every option may belong to something else: left alone
                where.setdefault(f"{var} is not a variable of any meshover role: did you mean {close[0]}?", []).append(
                    host
                )
        for var in sorted(known):
            key = (var, json.dumps(known[var], sort_keys=True, default=str))
            if key not in seen:  # group variables: the same value on many hosts, checked once
                result = ArgumentSpecValidator({var: dict(role_specs[var][1])}).validate({var: known[var]})
                value = result.validated_parameters.get(var)
                if role_specs[var][1]["type"] == "path" and isinstance(known[var], str):
                    value = known[var]  # as the role writes it: `type: path` expands ~ and $VAR on the controller
                # ansible-core 2.18 says "of type <class 'str'>", 2.19 "of type str": one message on both
                errors = [re.sub(r"<class '(\w+)'>", r"\1", e) for e in result.error_messages]
                seen[key] = errors or [_semantic(var, value)]
            for msg in filter(None, seen[key]):
                where.setdefault(f"{msg} (role {role_specs[var][0]})", []).append(host)
    return [f"{hosts_label(hosts)}: {msg}" for msg, hosts in where.items()]
