# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""The routing part of the plan: what each host's FRR must configure (pure, stdlib only).

plan_bgp() turns identities + the routing variables the preflight parsed into one `bgp` dict per host:
its ASN and router id, what it originates, one unnumbered neighbour per GRE tunnel, and the
origin-validation tables (which ASN may originate which prefix) every host applies inbound.
The frr_bgp role renders this dict. The one decision the controller cannot take is how FRR reads
the Coil table: it depends on the FRR version that runs on the node, which the role reads there
(parse_probe) and turns into a method with coil_method() (filter meshover.mesh.frr_coil_method).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (
    Identity,
    MeshSettings,
    parse_bool,
    parse_ifname,
    parse_int,
)

FRR_MODES = ("container", "package")
DEFAULT_FRR_MODE = "container"
DEFAULT_FRR_IMAGE = "quay.io/frrouting/frr:10.4.1"
DEFAULT_TIMERS = {"keepalive": 3, "hold": 9}
DEFAULT_BFD = {"enabled": True, "interval": 300, "multiplier": 3}
# The table Coil's coild exports its address blocks to by default (`--export-table-id`); the hand-off is
# off unless a host sets meshover_coil_table (opt-in, issue 16).
COIL_DEFAULT_EXPORT_TABLE = 119
DEFAULT_PURELB_INTERFACE = "kube-lb0"
# Maximum number of prefixes one session may bring in one address family (`neighbor MESH maximum-prefix`),
# counted after the inbound policy. Above it FRR ends the session; it comes back after
# MAXIMUM_PREFIX_RESTART minutes (FRR's `restart`, 1..65535). See docs/design.md "BGP policy".
DEFAULT_MAXIMUM_PREFIX = 1000
MAXIMUM_PREFIX_RESTART = 5
# Kernel tables a Coil export table must not be: unspec, default, main, local.
RESERVED_TABLES = (0, 253, 254, 255)


# ---------------------------------------------------------------- parsers (raise ValueError "<what>: <fix>")


def parse_frr_mode(value: Any) -> str:
    if value not in FRR_MODES:
        raise ValueError(f"must be one of {', '.join(FRR_MODES)}: container runs FRR's image, package the distro's frr")
    return value


# A container image reference as podman and docker read it ([registry/]path[:tag][@digest]; the grammar of
# github.com/distribution/reference): the registry is the first component when it has a '.' or a ':' or is
# localhost; path components are lower case.
_IMAGE_REGISTRY_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")
_IMAGE_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_IMAGE_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_IMAGE_DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")


def parse_image(value: Any) -> str:
    example = "like quay.io/frrouting/frr:10.4.1"
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"must be a container image reference without spaces, {example}")
    name, at, digest = value.partition("@")
    if at and not _IMAGE_DIGEST_RE.fullmatch(digest):
        raise ValueError(f"has the digest {digest!r}, which is not ALGORITHM:HEX (e.g. sha256: and 64 hex digits)")
    slash = name.rfind("/")
    if ":" in name[slash + 1 :]:
        name, tag = name.rsplit(":", 1)
        if not _IMAGE_TAG_RE.fullmatch(tag):
            raise ValueError(
                f"has the tag {tag!r}: a tag is 1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -; {example}"
            )
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _IMAGE_REGISTRY_RE.fullmatch(parts[0]):
            raise ValueError(
                f"has the registry {parts[0]!r}, which is not a host name or address with an optional :port"
            )
        parts = parts[1:]
    bad = next((p for p in parts if not _IMAGE_COMPONENT_RE.fullmatch(p)), None)
    if bad is not None or len(name) > 255:
        raise ValueError(
            f"has the repository part {bad!r}: repository names are lower case letters and digits, "
            f"separated by one '.', '_', '__' or dashes; {example}"
            if bad is not None
            else f"has a name longer than 255 characters; {example}"
        )
    return value


def parse_timers(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping) or set(value) - {"keepalive", "hold"}:
        raise ValueError("must be a dict with keys keepalive and hold (seconds), like {keepalive: 3, hold: 9}")
    keepalive = parse_int(value.get("keepalive", DEFAULT_TIMERS["keepalive"]), 1, 21845)
    hold = parse_int(value.get("hold", DEFAULT_TIMERS["hold"]), 3, 65535)
    if hold < 3 * keepalive:
        raise ValueError(f"has hold {hold} < 3 x keepalive {keepalive}: make hold at least three keepalives")
    return {"keepalive": keepalive, "hold": hold}


def parse_bfd(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {**DEFAULT_BFD, "enabled": value}
    if not isinstance(value, Mapping) or set(value) - set(DEFAULT_BFD):
        raise ValueError("must be a dict with keys enabled, interval (ms) and multiplier, or a boolean")
    return {
        "enabled": parse_bool(value.get("enabled", True)),
        "interval": parse_int(value.get("interval", DEFAULT_BFD["interval"]), 10, 60000, " milliseconds"),
        "multiplier": parse_int(value.get("multiplier", DEFAULT_BFD["multiplier"]), 2, 255),
    }


def parse_table(value: Any) -> int:
    """A Coil export table: any kernel table id that one of the Coil methods can read (see coil_method()).

    The VRF method (FRR < 10) binds a VRF device to the table, which the kernel allows for any id but 0; the
    main, local and default tables would put the node's own routes into the VRF. table-direct (FRR >= 10)
    takes 1..65535 but main and local; the role refuses a larger id on such a node (coil_table_refusal()).
    """
    table = parse_int(value, 1, 4294967295, " (a kernel routing table id)")
    if table in RESERVED_TABLES:
        raise ValueError(
            f"is the kernel's reserved table {table}: use the table Coil exports to (coild's default is "
            f"{COIL_DEFAULT_EXPORT_TABLE})"
        )
    return table


def parse_optional(parser: Any) -> Any:
    """A parser that also accepts an explicit false / empty string as 'disabled' (None)."""

    def parse(value: Any) -> Any:
        if value is False or value == "":
            return None
        return parser(value)

    return parse


def parse_host_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(h, str) for h in value):
        raise ValueError("must be a list of inventory hostnames")
    return tuple(value)


def parse_maximum_prefix(value: Any) -> int:
    return parse_int(value, 1, 4294967295, " (prefixes per session and address family, FRR's range)")


# Placeholders of meshover_frr_extra_config, replaced per node by the plan (the snippet is one text for a
# group of hosts; each node's ASN and addresses are derived from its name).
SNIPPET_TOKENS = ("@ASN@", "@ROUTER_ID@", "@LOOPBACK4@", "@LOOPBACK6@", "@HOSTNAME@")
_TOKEN = re.compile(r"@[A-Z][A-Z0-9_]*@")


def parse_extra_config(value: Any) -> str:
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        value = "\n".join(v.rstrip("\n") for v in value)
    if not isinstance(value, str):
        raise ValueError("must be FRR configuration text (a string, or a list of strings joined with newlines)")
    unknown = sorted(set(_TOKEN.findall(value)) - set(SNIPPET_TOKENS))
    if unknown:
        raise ValueError(
            f"uses the placeholder(s) {', '.join(unknown)}, which meshover does not know: the placeholders are "
            f"{', '.join(SNIPPET_TOKENS)}"
        )
    return value.rstrip("\n")


def resolve_template(path: str, inventory_dir: str | None) -> str:
    """meshover_frr_template as a path on the controller: absolute as given; a relative one is relative to
    the directory of the host's inventory file (Ansible's inventory_dir), where the project keeps it."""
    if path.startswith("/") or not inventory_dir:
        return path
    return inventory_dir.rstrip("/") + "/" + path


def template_problems(
    inventory: Mapping[str, Mapping[str, Any]], inventory_dirs: Mapping[str, Any], isfile
) -> list[str]:
    """A meshover_frr_template that is not a file on the controller, per host (isfile: os.path.isfile)."""
    problems = []
    for host, host_vars in inventory.items():
        path = host_vars.get("meshover_frr_template")
        if not isinstance(path, str) or not path.strip():
            continue  # unset, or reported by parse_template
        where = resolve_template(path, inventory_dirs.get(host))
        if not isfile(where):
            base = (
                ""
                if path.startswith("/")
                else f" (relative to the host's inventory directory {inventory_dirs.get(host)})"
            )
            problems.append(
                f"{host}: meshover_frr_template {path!r} is not a file on the controller: {where}{base}; give an "
                "absolute path, or one relative to the directory of the inventory file that defines the host"
            )
    return problems


def loopback4_problem(text: str, has_loopback4: bool) -> str | None:
    """Why a snippet cannot be filled in on a host without an IPv4 loopback, or None."""
    if "@LOOPBACK4@" in text and not has_loopback4:
        return (
            "meshover_frr_extra_config uses @LOOPBACK4@ but the host has no IPv4 loopback: set meshover_pool4 "
            "(mesh-wide) or meshover_loopback4, or remove the placeholder"
        )
    return None


def fill_snippet(text: str, ident: Any) -> str:
    """meshover_frr_extra_config with this node's values in place of its placeholders. @LOOPBACK4@ needs an
    IPv4 loopback (meshover_pool4 or meshover_loopback4): ValueError without one."""
    problem = loopback4_problem(text, ident.loopback4 is not None)
    if problem:
        raise ValueError(problem)
    values = {
        "@ASN@": str(ident.asn),
        "@ROUTER_ID@": str(ident.router_id),
        "@LOOPBACK4@": str(ident.loopback4),
        "@LOOPBACK6@": str(ident.loopback6),
        "@HOSTNAME@": ident.hostname,
    }
    return _TOKEN.sub(lambda m: values.get(m.group(), m.group()), text)


def parse_template(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            "must be the path of a Jinja2 template on the controller (absolute, or relative to the directory of "
            "the host's inventory file)"
        )
    return value


# Mesh-wide routing variables -> (parser, default). Checked by _preflight like the core mesh variables.
BGP_MESH_PARSERS: dict[str, tuple[Any, Any]] = {
    "meshover_bgp_timers": (parse_timers, DEFAULT_TIMERS),
    "meshover_bfd": (parse_bfd, DEFAULT_BFD),
    "meshover_default_route_from": (parse_host_list, ()),
    "meshover_bgp_maximum_prefix": (parse_maximum_prefix, DEFAULT_MAXIMUM_PREFIX),
}
# Per-host routing variables -> (parser, default).
BGP_HOST_PARSERS: dict[str, tuple[Any, Any]] = {
    "meshover_frr_mode": (parse_frr_mode, DEFAULT_FRR_MODE),
    "meshover_frr_image": (parse_image, DEFAULT_FRR_IMAGE),
    "meshover_coil_table": (parse_optional(parse_table), None),
    "meshover_purelb_interface": (parse_optional(parse_ifname), DEFAULT_PURELB_INTERFACE),
    "meshover_frr_extra_config": (parse_extra_config, ""),
    "meshover_frr_template": (parse_template, None),
    "meshover_bgp_graceful_shutdown": (parse_bool, False),
    "meshover_announce_more_specifics": (parse_bool, False),
}
# Per-host routing variables whose explicit null means "off" rather than "the default".
NULLABLE_HOST_OPTIONS = ("meshover_coil_table", "meshover_purelb_interface")


@dataclass(frozen=True)
class BgpSettings:
    """Mesh-wide routing settings."""

    timers: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_TIMERS))
    bfd: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_BFD))
    default_route_from: tuple[str, ...] = ()
    maximum_prefix: int = DEFAULT_MAXIMUM_PREFIX


# ---------------------------------------------------------------- origin tables (shared by every host's plan)


def _split(nets: Iterable[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
    for net in nets:
        out["ipv4" if net.version == 4 else "ipv6"].append(str(net))
    return out


def host_prefixes(ident: Identity, announce: Iterable[Any]) -> dict[str, dict[str, list[str]]]:
    """{'loopbacks': {ipv4, ipv6}, 'announce': {ipv4, ipv6}} of one host (CIDR strings); announce: its parsed
    meshover_announce."""
    loops = [ipaddress.ip_network(f"{ident.loopback6}/128")]
    if ident.loopback4 is not None:
        loops.insert(0, ipaddress.ip_network(f"{ident.loopback4}/32"))
    return {"loopbacks": _split(loops), "announce": _split(announce)}


def owned_entries(prefixes: Mapping[str, Mapping[str, list[str]]], more_specifics: bool) -> dict[str, list[dict]]:
    """The prefix-list entries of one host's own prefixes (host_prefixes()), per address family.

    Loopbacks are host routes. meshover_announce prefixes are exact (`permit P`), so no other AS can get a
    more-specific of them accepted; with meshover_announce_more_specifics the host's announced prefixes
    also cover their more-specifics (`le 32`/`le 128`), for a host that announces sub-blocks of them.
    """
    return {
        af: unique_entries(
            [prefix_entry(p) for p in prefixes["loopbacks"][af]]
            + [prefix_entry(p, more_specifics) for p in prefixes["announce"][af]]
        )
        for af in ("ipv4", "ipv6")
    }


def unique_entries(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The prefix-list entries in order, each once: FRR refuses a second entry with the same prefix and `le`
    ("duplicated prefix list value"), e.g. a host that announces exactly a shared prefix with its more-specifics."""
    seen: set[tuple[str, Any]] = set()
    out = []
    for e in entries:
        key = (str(ipaddress.ip_network(e["prefix"])), e["le"])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def origin_table(
    identities: Mapping[str, Identity],
    announce: Mapping[str, Iterable[Any]],
    more_specifics: Mapping[str, bool],
    default_route_from: Iterable[str],
) -> list[dict[str, Any]]:
    """One entry per mesh host (sorted by ASN): the prefix-list entries only that host's ASN may originate.
    announce, more_specifics: host -> its parsed meshover_announce, meshover_announce_more_specifics."""
    allowed_default = set(default_route_from)
    slots = route_map_slots(ident.asn for ident in identities.values())
    table = []
    for host in sorted(identities, key=lambda h: identities[h].asn):
        ident = identities[host]
        owned = owned_entries(host_prefixes(ident, announce.get(host, ())), more_specifics.get(host, False))
        table.append(
            {
                "host": host,
                "asn": ident.asn,
                "route_map_seq": slots[ident.asn],
                "ipv4": owned["ipv4"],
                "ipv6": owned["ipv6"],
                "default": host in allowed_default,
            }
        )
    return table


# The per-origin entries of MO-IN-* are numbered 10..59990 (60000 and up are the shared prefixes', the default
# route's and the final deny's).
ROUTE_MAP_SLOTS = 5999


def route_map_slots(asns: Iterable[int]) -> dict[int, int]:
    """ASN -> the sequence number of its entry in the route-maps MO-IN-*: the same whatever else is in the mesh.

    Numbered by position in the sorted list, adding a node renumbered every origin after it on every node:
    frr-reload.py then rewrote those entries' match lines, one vtysh per deleted line, and until it re-added
    them each such entry matched any route (origin validation off for those routes). Here each
    ASN has its home slot (1 + ASN mod 5999, so consecutive ASNs get consecutive slots) and the entry is
    10 x the slot. Two ASNs with the same home slot (about N^2/12,000 for N hash-derived ASNs) take the
    next free ones in ASN order: only then can a new node move another origin's entry. Entries of different
    origins match disjoint paths (the origin ASN), so their order does not matter.
    """
    taken: dict[int, int] = {}
    result: dict[int, int] = {}
    for asn in sorted(set(asns)):
        if len(taken) >= ROUTE_MAP_SLOTS:
            raise ValueError(f"more than {ROUTE_MAP_SLOTS} origins do not fit the route-maps MO-IN-*")
        slot = asn % ROUTE_MAP_SLOTS
        while slot in taken:
            slot = (slot + 1) % ROUTE_MAP_SLOTS
        taken[slot] = asn
        result[asn] = (slot + 1) * 10
    return result


def prefix_entry(prefix: str, more_specifics: bool = True) -> dict[str, Any]:
    """A prefix-list entry: the prefix, and with more_specifics anything more specific inside it (`le`)."""
    net = ipaddress.ip_network(prefix)
    le = net.max_prefixlen if more_specifics and net.prefixlen < net.max_prefixlen else None
    return {"prefix": prefix, "le": le}


def owned_prefix_counts(identities: Mapping[str, Identity], announce: Mapping[str, Iterable[Any]]) -> dict:
    """How many of the mesh's own prefixes (every host's loopbacks and meshover_announce, parsed) each address
    family has: a session may legitimately carry them all, so a maximum-prefix limit must be above them."""
    counts = {"ipv4": 0, "ipv6": 0}
    for host, ident in identities.items():
        prefixes = host_prefixes(ident, announce.get(host, ()))
        for af in counts:
            counts[af] += len(prefixes["loopbacks"][af]) + len(prefixes["announce"][af])
    return counts


# ---------------------------------------------------------------- the per-host plan


def neighbour_entry(peer: Identity) -> dict[str, Any]:
    """The `neighbours` entry of a session with peer: the same for every host that has one, so plan_mesh()
    builds it once per peer (its link-local as text is most of the plan's time when built N-1 times)."""
    return {
        "interface": peer.gre_name,
        "peer": peer.hostname,
        "peer_asn": peer.asn,
        "peer_link_local": str(peer.link_local),
    }


def plan_bgp(
    ident: Identity,
    options: Mapping[str, Any],
    announce: Iterable[Any],
    neighbours: Iterable[Identity],
    settings: MeshSettings,
    bgp_settings: BgpSettings,
    origins: list[dict[str, Any]],
    neighbour_entries: dict[str, dict[str, Any]] | None = None,
    relay_depth: int = 1,
) -> dict[str, Any]:
    """The `bgp` part of one host's plan.

    options: the host's routing variables (BGP_HOST_PARSERS, parsed, defaults filled in); announce: its parsed
    meshover_announce. neighbours: the identities of the peers this host has a GRE tunnel to (one BGP session
    each). origins: origin_table() of the whole mesh (shared, read-only). neighbour_entries: hostname ->
    neighbour_entry(), built once by plan_mesh() and shared by every host's plan (read-only). relay_depth:
    the most ASNs a path this host passes on may carry (Topology.relay_depth(), the same on every host).
    """
    entries = neighbour_entries or {}
    own = host_prefixes(ident, announce)
    shared = _split(ipaddress.ip_network(p) for p in settings.shared_prefixes)
    is_default_origin = ident.hostname in bgp_settings.default_route_from
    originate = {af: own["loopbacks"][af] + own["announce"][af] for af in ("ipv4", "ipv6")}
    # What this host may send as its own routes: its prefixes, shared ones (Coil/PureLB), and the default
    # route when it is an allowed default origin. Never the WireGuard transport subnet (not in any of these).
    owned = owned_entries(own, options["meshover_announce_more_specifics"])
    self_allowed = {af: unique_entries(owned[af] + [prefix_entry(p) for p in shared[af]]) for af in ("ipv4", "ipv6")}
    return {
        # FRR's own host name (frr.conf's `hostname`): the inventory name. Without it FRR shows the kernel's
        # name and every frr-reload.py run first deletes it with a vtysh session of its own, whose end FRR
        # 10.3's mgmtd can process after the next session (the reload's file) has begun, and so discard it
        # (docs/routing.md, "Origin validation").
        "hostname": ident.hostname,
        "asn": ident.asn,
        "router_id": str(ident.router_id),
        "loopbacks": own["loopbacks"],
        "announce": own["announce"],
        "originate": originate,
        "self_allowed": self_allowed,
        "default_originate_allowed": is_default_origin,
        # Link-locals: BFD sessions are configured statically on both ends (see frr.conf.j2).
        "link_local": str(ident.link_local),
        # One session per tunnel. Each neighbour accepts only paths that start with its peer's ASN (an inbound
        # as-path filter per neighbour, see frr.conf.j2): a member speaking with another member's ASN is refused.
        "neighbours": [entries[p.hostname] if p.hostname in entries else neighbour_entry(p) for p in neighbours],
        # FRR's `neighbor MESH maximum-prefix <limit> restart <minutes>` in each address family.
        "maximum_prefix": {"limit": bgp_settings.maximum_prefix, "restart": MAXIMUM_PREFIX_RESTART},
        "origins": origins,
        # A learned path goes out again only with at most this many ASNs (MO-LONG-PATH in frr.conf.j2): enough
        # for rerouting through a third node and for transit, and it ends path hunting when a node dies.
        "relay_depth": relay_depth,
        "shared": {af: [prefix_entry(x) for x in shared[af]] for af in ("ipv4", "ipv6")},
        "timers": dict(bgp_settings.timers),
        "bfd": dict(bgp_settings.bfd),
        "graceful_restart": False,
        # RFC 8326 drain: this node tags every route it sends with GRACEFUL_SHUTDOWN; every node's
        # inbound policy turns that community into local-preference 0, so the others prefer any other path.
        "graceful_shutdown": options["meshover_bgp_graceful_shutdown"],
        # How FRR reads the table (coil_method) depends on the FRR version on the node: the role decides it.
        # `refused`: per method, why it cannot read this table ('' when it can); the role fails with it.
        "coil": (
            None
            if options["meshover_coil_table"] is None
            else {
                "table": options["meshover_coil_table"],
                "refused": {m: coil_table_refusal(m, options["meshover_coil_table"]) for m in COIL_METHODS},
            }
        ),
        "purelb": (
            None
            if options["meshover_purelb_interface"] is None
            else {"interface": options["meshover_purelb_interface"]}
        ),
        "frr": {
            "mode": options["meshover_frr_mode"],
            "image": options["meshover_frr_image"],
            "template": options["meshover_frr_template"],
            "extra_config": fill_snippet(options["meshover_frr_extra_config"], ident),
        },
    }


def bgp_settings_from(values: Mapping[str, Any]) -> BgpSettings:
    """BgpSettings from already-parsed mesh-wide values (var -> value; missing -> default)."""
    return BgpSettings(
        timers=values.get("meshover_bgp_timers") or dict(DEFAULT_TIMERS),
        bfd=values.get("meshover_bfd") or dict(DEFAULT_BFD),
        default_route_from=tuple(values.get("meshover_default_route_from") or ()),
        maximum_prefix=values.get("meshover_bgp_maximum_prefix") or DEFAULT_MAXIMUM_PREFIX,
    )


# ---------------------------------------------------------------- the FRR version on the node (read by the role)

# FRR's own version (`zebra --version`: 10.3.1, 10.4-dev) or a Debian package version (8.4.4-1.1~deb12u2,
# 1:10.0-1): an optional epoch, major.minor, an optional patch and more numeric parts, then an optional
# suffix that does not start with a digit or a dot (-1, ~deb12u2, -dev, rc1, +git...).
_FRR_VERSION = re.compile(r"(?:\d+:)?v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.\d+)*(?:[-~+_a-zA-Z].*)?")
# `redistribute table-direct` exists from FRR 10.0 on; it takes table ids 1..65535 (bgpd/bgp_vty.c, FRR 10.3).
TABLE_DIRECT_SINCE = (10, 0, 0)
TABLE_DIRECT_MAX = 65535
COIL_METHODS = ("table-direct", "vrf")
# The lines the frr_bgp role's probe prints (templates/frr_probe.sh.j2), one `key=value` each. `container` and
# `state` only through the role's entry point `probe` (playbooks/tasks/frr_vtysh.yml), not in a converge.
PROBE_KEYS = (
    "mode",
    "runtime",
    "image_id",
    "frr_version",
    "source",
    "pulled",
    "coil_vrf",
    "container",
    "state",
    "note",
    "os",
)

# What the frr_bgp role installs when a node in container mode has no container runtime: the runtime's
# packages, and whether APT also installs what they only recommend. FRR runs rootful, with the host's network
# and no --init, so neither runtime needs its packages for rootless containers, image builds, checkpoints or
# an init (podman: buildah, criu, passt, slirp4netns, uidmap, catatonit, fuse-overlayfs; Docker: git, perl,
# needrestart, criu, docker-buildx). `apt-get -s install` on a fresh Debian 13 lab node: podman 62 packages,
# 27 without them; docker.io 42, 10 with only the two recommended ones Docker needs here, named: apparmor (on a
# kernel with AppArmor, Debian's default, dockerd loads its default profile with apparmor_parser) and, on
# Debian 13 and later, docker-cli (Debian 12's docker.io has the docker command inside). ca-certificates
# (pulls from an HTTPS registry) is named for both. On another system Docker keeps APT's default.
RUNTIME_PACKAGES = {"podman": ["podman", "ca-certificates"], "docker": ["docker.io", "ca-certificates"]}


def runtime_install(runtime: str, os_release: str) -> dict[str, Any]:
    """The packages that install `runtime` (podman or docker) and whether APT installs their recommendations.

    os_release: the probe's `os` value, `ID VERSION_ID` of /etc/os-release (`debian 13`; '' when unknown).
    Returns {"packages": [...], "install_recommends": bool}; no package for another runtime (a path: the
    role installs none, it fails when that runtime is missing).
    """
    if runtime not in RUNTIME_PACKAGES:
        return {"packages": [], "install_recommends": True}
    packages = list(RUNTIME_PACKAGES[runtime])
    if runtime == "podman":
        return {"packages": packages, "install_recommends": False}
    os_id, _sep, version = (os_release or "").strip().partition(" ")
    major = version.split(".")[0]
    if os_id != "debian" or not major.isdigit() or int(major) < 12:
        return {"packages": packages, "install_recommends": True}
    packages.append("apparmor")
    if int(major) >= 13:
        packages.append("docker-cli")
    return {"packages": packages, "install_recommends": False}


def parse_frr_version(value: Any) -> tuple[int, int, int]:
    """(major, minor, patch) of an FRR version ('10.3.1', '10.4-dev') or a Debian one ('1:10.0-1').

    Raises ValueError when the text is not one (an image tag like 'lab' or 'latest', a bare '10').
    """
    match = _FRR_VERSION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"{value!r} is not an FRR version: expected major.minor[.patch] like 10.3.1, or a Debian package "
            "version like 8.4.4-1.1~deb12u2 or 1:10.0-1"
        )
    return int(match[1]), int(match[2]), int(match[3] or 0)


def coil_method(frr_version: str) -> str:
    """How the FRR of this version reads the Coil table, in both address families.

    table-direct (FRR >= 10.0): BGP redistributes the kernel table without zebra importing it, so
    nothing is installed back into the main table.
    vrf (older FRR, e.g. 8.4 in Debian bookworm): a VRF device bound to the table makes its routes the
    kernel routes of that VRF; a BGP instance in the VRF redistributes them, the default instance imports
    them (`import vrf`) and announces them, and its `table-map` denies routes whose source VRF is that VRF,
    so they are not installed into the main table. (`ip import-table` read IPv4 only, and zebra installed the
    table into the main table: it is no longer used.)
    Raises ValueError when frr_version cannot be read (parse_frr_version).
    """
    return "table-direct" if parse_frr_version(frr_version) >= TABLE_DIRECT_SINCE else "vrf"


def coil_table_refusal(method: str, table: int) -> str:
    """Why this method cannot read this table ('' when it can). Preflight has refused the ids no method reads."""
    if method == "table-direct" and table > TABLE_DIRECT_MAX:
        return (
            f"FRR 10's `redistribute table-direct` reads tables 1..{TABLE_DIRECT_MAX} only, and meshover_coil_table "
            f"is {table}: export Coil's blocks to a table in that range (coild --export-table-id)"
        )
    return ""


def parse_probe(text: str) -> dict[str, str]:
    """The frr_bgp role's probe output as a dict with every key of PROBE_KEYS ('' when not printed).

    Lines are `key=value`, split at the first `=`; other lines and unknown keys are ignored (a runtime's
    stray warning cannot pass for a value). A key printed twice keeps its last value, except `note`,
    whose values are joined with '; '.
    """
    out = dict.fromkeys(PROBE_KEYS, "")
    notes = []
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key not in PROBE_KEYS:
            continue
        if key == "note":
            if value.strip():
                notes.append(value.strip())
        else:
            out[key] = value.strip()
    out["note"] = "; ".join(notes)
    return out


# ---------------------------------------------------------------- FRR's own diff (frr-reload.py --test)

# `frr-reload.py --test FILE` (FRR 8.4 to 10.x) prints nothing when the running configuration is the file;
# else a "Lines To Delete" and/or a "Lines To Add" section: the header, a line of '=', then the commands,
# a command in a context written with its context lines (`router bgp 65001` then ` neighbor ...`). With
# --stdout its log lines go to stderr (`2026-12-05 09:49:21,515  INFO: Called via ...`); a caller that
# merges the two streams gets them too, and they are left out.
RELOAD_TEST_SECTIONS = {"Lines To Delete": "delete", "Lines To Add": "add"}
_RELOAD_TEST_LOG = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+[A-Z]+: ")
# Lines that are not drift, because FRR's running configuration shows there what the kernel says, not
# what was configured (measured on FRR 10.3, and 8.4 for the host name):
# - the kernel's host name (`hostname n1`, read at start) when frr.conf sets none: the diff always asks to
#   delete it. frr.conf does not set it: FRR's `hostname` takes only a name that starts with a letter, and
#   an inventory host may be called 1.example.net;
# - `no ipv6 forwarding` (or `no ip forwarding`) while the kernel does not forward yet: on a node's first
#   converge FRR starts before the gre_overlay role's handler applies its sysctl file, and the diff asks
#   for `ipv6 forwarding`. Forwarding is the sysctl file's (gre_overlay), not FRR's.
RELOAD_TEST_NOT_DRIFT = re.compile(r"(no hostname \S+|(no )?ip(v6)? forwarding)$")


def parse_reload_test(text: str) -> dict[str, list[str]]:
    """What FRR's `frr-reload.py --test` output says is to change: `delete` and `add` (the printed lines of
    each section, context lines included, blank, `!` and log lines left out) and `ignored` (top-level lines
    that are not drift, RELOAD_TEST_NOT_DRIFT, moved out of either). Nothing in `delete` and `add`: FRR
    runs what the file says."""
    out: dict[str, list[str]] = {"delete": [], "add": [], "ignored": []}
    section = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in RELOAD_TEST_SECTIONS:
            section = RELOAD_TEST_SECTIONS[stripped]
            continue
        if section is None or not stripped or stripped == "!" or set(stripped) == {"="}:
            continue
        if _RELOAD_TEST_LOG.match(line):
            continue
        if RELOAD_TEST_NOT_DRIFT.match(line):
            out["ignored"].append(line.rstrip())
            continue
        out[section].append(line.rstrip())
    return out


# ---------------------------------------------------------------- drain check (decommission)


def _as_path(path: Mapping[str, Any]) -> list[str]:
    """The AS numbers of one FRR JSON path entry (`path` in FRR 8.x tables, `aspath.string` in detail views)."""
    value = path.get("path")
    if value is None and isinstance(path.get("aspath"), Mapping):
        value = path["aspath"].get("string")
    return str(value or "").replace("{", " ").replace("}", " ").replace(",", " ").split()


def undrained_prefixes(tables: Mapping[str, Any], asn: int) -> list[str]:
    """Prefixes whose traffic still goes through the AS `asn` although a path avoiding it exists.

    tables: address family -> FRR's `show bgp <af> unicast json` (a dict with `routes`: prefix -> paths).
    A path goes through `asn` when that AS is in its AS path. A prefix is undrained when a path in use
    (best or multipath) goes through `asn` while another valid path does not. Prefixes only reachable
    through `asn` (its own loopbacks, or a VIP nobody else announces) are not listed: no drain can move them.
    Returns "<af> <prefix>" strings, sorted.
    """
    target = str(asn)
    out = []
    for af, table in sorted((tables or {}).items()):
        routes = (table or {}).get("routes") or {}
        for prefix, paths in routes.items():
            paths = [p for p in (paths if isinstance(paths, list) else [paths]) if isinstance(p, Mapping)]
            valid = [p for p in paths if p.get("valid", True)]
            via = [target in _as_path(p) for p in valid]
            in_use = [v for p, v in zip(valid, via) if p.get("bestpath") or p.get("multipath")]
            if any(in_use) and not all(via):
                out.append(f"{af} {prefix}")
    return sorted(out)
