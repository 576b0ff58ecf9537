# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""Mesh settings and the v1 identity derivation (pure, stdlib only).

Every value a node needs (interface id, addresses, ASN, router id, GRE name) is derived from its
hostname alone, so adding or removing hosts never changes an existing host's identity.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

DERIVATION_VERSION = 1
DEFAULT_MESH_NAME = "meshover"
DEFAULT_ASN_RANGE = (4200000000, 4294967294)
PRIVATE_ASN16 = (64512, 65534)
ASN_LIMITS = (1, 4294967294)
DEFAULT_WG_INTERFACE = "meshover0"
DEFAULT_WG_PORT = 51820
DEFAULT_UNDERLAY_MTU = 1500
DEFAULT_KEEPALIVE = 25
WG_OVERHEAD = 80
GRE_OVERHEAD = 44
MIN_INNER_MTU = 1280
MIN_UNDERLAY_MTU = MIN_INNER_MTU + WG_OVERHEAD + GRE_OVERHEAD
MAX_UNDERLAY_MTU = 9000
GRE_TTL = 64

_SALT = b"meshover:v1:"
_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_SHORT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,11}\Z")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}\Z")
_HEX16_RE = re.compile(r"^[0-9a-fA-F]{16}\Z")
_ROUTER_ID_BASE = 0x01000000
_ROUTER_ID_SPAN = 0xDF000000
_TRUE = frozenset(("true", "yes", "on", "1"))
_FALSE = frozenset(("false", "no", "off", "0"))

# Override variable -> identity field it sets.
OVERRIDE_VARS = {
    "meshover_asn": "asn",
    "meshover_loopback4": "loopback4",
    "meshover_router_id": "router_id",
    "meshover_interface_id": "interface_id",
    "meshover_gre_name": "gre_name",
}


class MeshError(Exception):
    """A mesh configuration problem; carries one human-readable message per problem."""

    def __init__(self, messages: Iterable[str]) -> None:
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


# ---------------------------------------------------------------- value parsers
# Each parser takes a raw inventory value and returns the normalised value or raises
# ValueError("<what is wrong>: <how to fix>"); callers prefix "<host>: <variable> = <value>".


def canonical_hostname(hostname: Any) -> str:
    """Return the canonical form used for hashing: lowercase, no trailing dot, a valid DNS name."""
    if not isinstance(hostname, str):
        raise ValueError(f"is a {type(hostname).__name__}, not a string: use the DNS name of the host")
    c = hostname.lower().rstrip(".")
    if not c or len(c) > 253:
        raise ValueError("must be 1..253 characters: rename the inventory host to a valid DNS name")
    bad = [label for label in c.split(".") if not _LABEL_RE.match(label)]
    if bad:
        raise ValueError(
            f"has invalid DNS label {bad[0]!r} (labels are 1..63 of a-z, 0-9, '-', not starting or ending "
            "with '-'): rename the inventory host to a valid DNS name"
        )
    return c


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ValueError("is not a boolean: use true or false")


def parse_int(value: Any, low: int, high: int, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"is a {type(value).__name__}, not an integer: write a plain number{hint}")
    if not low <= value <= high:
        raise ValueError(f"is out of range {low}..{high}: pick a value between {low} and {high}{hint}")
    return value


def parse_ifname(value: Any) -> str:
    if not isinstance(value, str) or not _IFNAME_RE.match(value) or value in (".", ".."):
        raise ValueError("is not a valid Linux interface name: use 1..15 characters of a-z, A-Z, 0-9, '_', '-', '.'")
    return value


# Every GRE tunnel's name starts with this: the firewall (iifname "mo*"), sysctl.d (net.ipv4.conf.mo*) and
# Docker's forward rules (-i/-o mo+) know the tunnels by it.
GRE_NAME_PREFIX = "mo"


def parse_gre_name(value: Any) -> str:
    name = parse_ifname(value)
    if not name.startswith(GRE_NAME_PREFIX):
        raise ValueError(
            f"does not start with {GRE_NAME_PREFIX!r}: meshover's firewall, reverse-path and Docker rules know the "
            f"tunnels by that prefix (e.g. {GRE_NAME_PREFIX}-{name[:12]})"
        )
    return name


def parse_mesh_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string: name the mesh, e.g. meshover")
    return value


def _network(value: Any, version: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    family = "IPv4" if version == 4 else "IPv6"
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"is not an {family} prefix in CIDR notation: write it like " + _example(version))
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"is not an {family} prefix: write it like {_example(version)}") from None
    if net.version != version:
        raise ValueError(f"is not an {family} prefix: write it like {_example(version)}")
    if net.network_address != ipaddress.ip_interface(value).ip:
        raise ValueError(f"has host bits set: use {net}")
    return net


def _example(version: int) -> str:
    return "10.99.0.0/24" if version == 4 else "fd12:3456:789a::/48"


def parse_prefix6(value: Any) -> ipaddress.IPv6Network:
    net = _network(value, 6)
    if not isinstance(net, ipaddress.IPv6Network):  # pragma: no cover - _network checked the version
        raise ValueError("is not an IPv6 prefix")
    if not 32 <= net.prefixlen <= 56:
        raise ValueError(f"is a /{net.prefixlen}: use a prefix between /32 and /56 (a /48 is typical)")
    if net.subnet_of(ipaddress.IPv6Network("fe80::/10")) or net.is_multicast:
        raise ValueError("is link-local or multicast: use a ULA (fd00::/8) or global unicast prefix")
    ula = net.subnet_of(ipaddress.IPv6Network("fc00::/7"))
    gua = net.subnet_of(ipaddress.IPv6Network("2000::/3"))
    if not (ula or gua):
        raise ValueError(
            "is neither ULA (fc00::/7) nor global unicast (2000::/3): use a ULA such as fd12:3456:789a::/48"
        )
    return net


def parse_pool4(value: Any) -> ipaddress.IPv4Network | None:
    if value is None or value == "":
        return None
    net = _network(value, 4)
    if not isinstance(net, ipaddress.IPv4Network):  # pragma: no cover - _network checked the version
        raise ValueError("is not an IPv4 prefix")
    if net.prefixlen > 30:
        raise ValueError(f"is a /{net.prefixlen}: the pool needs at least a /30 (a /24 or larger is typical)")
    reason = unroutable(net)
    if reason:
        raise ValueError(
            reason.replace("a unicast prefix of a network behind a host", "a unicast range, e.g. 10.128.0.0/12")
        )
    return net


def parse_range(value: Any, limits: tuple[int, int], example: tuple[int, int]) -> tuple[int, int]:
    """[min, max], two integers inside limits, min <= max (example: shown in the message)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"must be a list of two integers [min, max]: e.g. [{example[0]}, {example[1]}]")
    low, high = (parse_int(v, *limits) for v in value)
    if low > high:
        raise ValueError("has min greater than max: write it as [min, max]")
    return low, high


def parse_asn_range(value: Any) -> tuple[int, int]:
    return parse_range(value, ASN_LIMITS, (4200000000, 4294967294))


def parse_asn(value: Any, asn_range: tuple[int, int]) -> int:
    asn = parse_int(value, *ASN_LIMITS)
    if not (asn_range[0] <= asn <= asn_range[1] or PRIVATE_ASN16[0] <= asn <= PRIVATE_ASN16[1]):
        raise ValueError(
            f"is outside meshover_asn_range {asn_range[0]}..{asn_range[1]} and the private range "
            f"{PRIVATE_ASN16[0]}..{PRIVATE_ASN16[1]}: pick an ASN inside one of them"
        )
    return asn


def parse_ipv4(value: Any) -> ipaddress.IPv4Address:
    try:
        addr = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("is not an IPv4 address: write it like 10.99.0.7") from None
    if addr.is_unspecified or addr.is_multicast or addr == ipaddress.IPv4Address("255.255.255.255"):
        raise ValueError("is unspecified, multicast or broadcast: use a unicast IPv4 address")
    return addr


def parse_loopback4(value: Any, pool: ipaddress.IPv4Network | None) -> ipaddress.IPv4Address:
    addr = parse_ipv4(value)
    if pool is None:
        raise ValueError("is set but meshover_pool4 is not: set meshover_pool4 for the mesh or remove this override")
    if addr not in pool or addr in (pool.network_address, pool.broadcast_address):
        raise ValueError(f"is not a usable address of meshover_pool4 {pool}: pick a host address inside the pool")
    return addr


def parse_interface_id(value: Any) -> int:
    if not isinstance(value, str) or not _HEX16_RE.match(value):
        raise ValueError("is not 16 hex digits: write it as a quoted string like '0123456789abcdef'")
    iid = int(value, 16)
    if iid == 0:
        raise ValueError("is zero: use a non-zero interface id")
    return iid


def parse_endpoint(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A WireGuard underlay address: IPv6 or IPv4, no port, unicast and reachable from another host (not
    unspecified, loopback, link-local, multicast, broadcast, nor IPv4 written as IPv6). Private addresses
    (10/8, 192.168/16, fd00::/8...) are fine: the hosts may share a LAN."""
    if not isinstance(value, str):
        raise ValueError(f"is a {type(value).__name__}, not an address: write the underlay IP address as a string")
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        if value.startswith("[") or value.count(":") == 1:
            raise ValueError("looks like address:port: give the address alone and set meshover_wg_port") from None
        raise ValueError(
            "is not an IP address: give the host's underlay IPv6 or IPv4 address (no name, no port)"
        ) from None
    if addr.is_link_local or addr.is_multicast or addr.is_loopback or addr.is_unspecified:
        raise ValueError("is link-local, multicast, loopback or unspecified: use an address the other hosts can reach")
    if addr == _BROADCAST4:
        raise ValueError("is the IPv4 broadcast address: use the host's own address, which the other hosts can reach")
    if addr.version == 6 and int(addr) >> 32 in (0, 0xFFFF):  # inside ::/96 or ::ffff:0:0/96 (_IPV4_IN_IPV6)
        ipv4 = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        raise ValueError(f"is an IPv4 address written as IPv6: write the IPv4 address itself, {ipv4}")
    if addr.version == 6 and addr.scope_id:
        raise ValueError("has a zone index: use a global or ULA address without %zone")
    return addr


_BROADCAST4 = ipaddress.IPv4Address("255.255.255.255")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
# IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible (::a.b.c.d) addresses.
_IPV4_IN_IPV6 = (_MAPPED, ipaddress.IPv6Network("::/96"))
_NEVER_ROUTED: dict[int, tuple[tuple[Any, str], ...]] = {
    4: (
        (ipaddress.IPv4Network("127.0.0.0/8"), "loopback (127.0.0.0/8), which never leaves a host"),
        (ipaddress.IPv4Network("169.254.0.0/16"), "link-local (169.254.0.0/16), which never leaves a link"),
        (ipaddress.IPv4Network("224.0.0.0/4"), "multicast (224.0.0.0/4), which BGP unicast does not route"),
        (ipaddress.IPv4Network("255.255.255.255/32"), "the IPv4 broadcast address, which never leaves a link"),
    ),
    6: (
        (ipaddress.IPv6Network("::1/128"), "loopback (::1), which never leaves a host"),
        (ipaddress.IPv6Network("fe80::/10"), "link-local (fe80::/10), which never leaves a link"),
        (ipaddress.IPv6Network("ff00::/8"), "multicast (ff00::/8), which BGP unicast does not route"),
    ),
}


def unroutable(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
    """Why a prefix cannot be routed between hosts, with the fix ("is multicast (...): use ..."), or None.

    Refused: a prefix inside loopback, link-local, multicast or the IPv4 broadcast address; IPv4 written as
    IPv6 (::ffff:0:0/96, ::/96); a prefix that starts at the unspecified address (0.0.0.0/8 and ::/N address no
    host, 0.0.0.0/1 is half a default route). Default routes (/0) are the caller's business; private
    ranges (10/8, 192.168/16, fd00::/8...) are fine."""
    fix = "use a unicast prefix of a network behind a host (private ranges are fine)"
    if net.prefixlen == 0:
        return None
    if net.network_address.is_unspecified:
        return f"starts at the unspecified address {net.network_address}, which is no host's address: {fix}"
    for special, what in _NEVER_ROUTED[net.version]:
        if net.subnet_of(special):  # type: ignore[arg-type]
            return f"is {what}: {fix}"
    for ipv4_in_ipv6 in _IPV4_IN_IPV6 if isinstance(net, ipaddress.IPv6Network) else ():
        if net.subnet_of(ipv4_in_ipv6):
            ipv4 = ipaddress.IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96))
            return f"is an IPv4 prefix written as IPv6 ({ipv4_in_ipv6}): write the IPv4 prefix itself, {ipv4}"
    return None


def parse_wg_public_key(value: Any) -> str:
    """A WireGuard public key: base64 of 32 bytes."""
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32 or len(value) != 44:
        raise ValueError(
            "is not a WireGuard public key (base64 of 32 bytes): delete the host's meshover_wg_public_key.yml "
            "and run the play against it to learn the key again"
        )
    return value


# ---------------------------------------------------------------- settings


def default_prefix6(mesh_name: str) -> ipaddress.IPv6Network:
    """fd00::/8 + the first 40 bits of sha256("meshover:v1:prefix\\0" + mesh_name) -> a /48."""
    digest = hashlib.sha256(_SALT + b"prefix\0" + mesh_name.encode()).digest()
    global_id = int.from_bytes(digest[:5], "big")
    return ipaddress.IPv6Network(((0xFD << 120) | (global_id << 80), 48))


@dataclass(frozen=True)
class MeshSettings:
    """Mesh-wide settings (the same for every host)."""

    mesh_name: str = DEFAULT_MESH_NAME
    prefix6: ipaddress.IPv6Network | None = None
    pool4: ipaddress.IPv4Network | None = None
    asn_range: tuple[int, int] = DEFAULT_ASN_RANGE
    wg_interface: str = DEFAULT_WG_INTERFACE
    underlay_mtu: int = DEFAULT_UNDERLAY_MTU
    persistent_keepalive: int = DEFAULT_KEEPALIVE
    shared_prefixes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.prefix6 is None:
            object.__setattr__(self, "prefix6", default_prefix6(self.mesh_name))

    @property
    def net6(self) -> ipaddress.IPv6Network:
        if self.prefix6 is None:  # pragma: no cover - __post_init__ always sets it
            raise ValueError("mesh prefix not set")
        return self.prefix6

    @property
    def wg_mtu(self) -> int:
        return self.underlay_mtu - WG_OVERHEAD

    @property
    def gre_mtu(self) -> int:
        return self.underlay_mtu - WG_OVERHEAD - GRE_OVERHEAD


def parse_underlay_mtu(value: Any) -> int:
    return parse_int(value, MIN_UNDERLAY_MTU, MAX_UNDERLAY_MTU, " (GRE inner MTU = underlay - 124 must stay >= 1280)")


def parse_prefix(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IPv4 or IPv6 prefix in CIDR notation without host bits."""
    version = 6 if isinstance(value, str) and ":" in value else 4
    if not isinstance(value, str) or "/" not in value:
        raise ValueError("is not a prefix in CIDR notation: write it like 10.50.0.0/24 or 2001:db8:1::/48")
    return _network(value, version)


def parse_prefix_list(
    value: Any, default_route: str, *, unique: bool = False, example: str = "10.50.0.0/24"
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """A YAML list of CIDR prefixes (parse_prefix() each): none a default route (``default_route`` ends the
    message: why not, and what to list instead), none unroutable(); with ``unique``, none listed twice,
    compared parsed (2001:DB8::/32 is 2001:db8::/32). Raises ValueError "<what is wrong>: <fix>"."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(
            f"is a {type(value).__name__}, not a list of CIDR prefixes: write it as a YAML list, like [{example}]"
        )
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    written: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, Any] = {}
    for item in value:
        try:
            net = parse_prefix(item)
        except ValueError as exc:
            raise ValueError(f"has entry {item!r} that {exc}") from None
        if net.prefixlen == 0:
            raise ValueError(f"has the default route {net}, {default_route}")
        reason = unroutable(net)
        if reason:
            raise ValueError(f"has entry {item!r} that {reason}")
        if unique and net in written:
            spelt = "" if written[net] == item else f" (as {written[net]!r} and {item!r})"
            raise ValueError(f"lists {net} twice{spelt}: remove the duplicate")
        written.setdefault(net, item)
        out.append(net)
    return tuple(out)


def parse_shared_prefixes(value: Any) -> tuple[str, ...]:
    default_route = (
        "which would let any host announce any route: list the blocks that several hosts announce (a default "
        "route comes from the hosts in meshover_default_route_from)"
    )
    return tuple(str(net) for net in parse_prefix_list(value, default_route, unique=True))


# Mesh-wide variable -> (settings attribute, parser).
MESH_PARSERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "meshover_mesh_name": ("mesh_name", parse_mesh_name),
    "meshover_prefix6": ("prefix6", parse_prefix6),
    "meshover_pool4": ("pool4", parse_pool4),
    "meshover_asn_range": ("asn_range", parse_asn_range),
    "meshover_wg_interface": ("wg_interface", parse_ifname),
    "meshover_underlay_mtu": ("underlay_mtu", parse_underlay_mtu),
    "meshover_persistent_keepalive": ("persistent_keepalive", lambda v: parse_int(v, 0, 65535)),
    "meshover_shared_prefixes": ("shared_prefixes", parse_shared_prefixes),
}


def settings_from_vars(mesh_vars: Mapping[str, Any] | None = None, where: str = "mesh") -> MeshSettings:
    """Build MeshSettings from meshover_* variables (missing or null -> default). Raises MeshError."""
    parsed, errors = _parse_vars(mesh_vars or {}, {var: parser for var, (_attr, parser) in MESH_PARSERS.items()}, where)
    if errors:
        raise MeshError(errors)
    return MeshSettings(**{MESH_PARSERS[var][0]: value for var, value in parsed.items()})


def _parse_vars(
    source: Mapping[str, Any], parsers: Mapping[str, Callable[[Any], Any]], where: str
) -> tuple[dict[str, Any], list[str]]:
    """Parse the variables of `source` that have a parser (missing or null are skipped).
    Returns the parsed values and one message per value a parser refused."""
    values: dict[str, Any] = {}
    errors = []
    for var, parser in parsers.items():
        raw = source.get(var)
        if raw is None:
            continue
        try:
            values[var] = parser(raw)
        except ValueError as exc:
            errors.append(f"{where}: {var} = {raw!r} {exc}")
    return values, errors


# ---------------------------------------------------------------- identity


@dataclass(frozen=True)
class Identity:
    """The derived (or overridden) identity of one host."""

    hostname: str
    canonical: str
    interface_id: int
    loopback6: ipaddress.IPv6Address
    transport6: ipaddress.IPv6Address
    link_local: ipaddress.IPv6Address
    asn: int
    loopback4: ipaddress.IPv4Address | None
    router_id: ipaddress.IPv4Address
    gre_name: str
    # identity field -> the variable that set it (only for overridden fields)
    sources: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "interface_id": f"{self.interface_id:016x}",
            "loopback6": str(self.loopback6),
            "transport6": str(self.transport6),
            "link_local": str(self.link_local),
            "asn": self.asn,
            "loopback4": None if self.loopback4 is None else str(self.loopback4),
            "router_id": str(self.router_id),
            "gre_name": self.gre_name,
        }


def _h(label: str, canonical: str) -> bytes:
    return hashlib.sha256(_SALT + label.encode() + b"\0" + canonical.encode()).digest()


def derived_gre_name(canonical: str) -> str:
    if _SHORT_NAME_RE.match(canonical):
        return "mo-" + canonical
    return "mo" + base64.b32encode(_h("ifname", canonical)).decode().lower().rstrip("=")[:13]


def _parse_overrides(
    hostname: str, settings: MeshSettings, overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    parsers: dict[str, Callable[[Any], Any]] = {
        "meshover_asn": lambda v: parse_asn(v, settings.asn_range),
        "meshover_loopback4": lambda v: parse_loopback4(v, settings.pool4),
        "meshover_router_id": parse_ipv4,
        "meshover_interface_id": parse_interface_id,
        "meshover_gre_name": parse_gre_name,
    }
    return _parse_vars(overrides, parsers, hostname)


def derive_identity(
    hostname: str, settings: MeshSettings | None = None, overrides: Mapping[str, Any] | None = None
) -> Identity:
    """Derive one host's identity (v1). overrides: the host's meshover_* vars. Raises MeshError."""
    settings = settings or MeshSettings()
    try:
        c = canonical_hostname(hostname)
    except ValueError as exc:
        raise MeshError([f"{hostname}: inventory hostname {hostname!r} {exc}"]) from None
    values, errors = _parse_overrides(hostname, settings, overrides or {})
    if errors:
        raise MeshError(errors)
    sources = {OVERRIDE_VARS[var]: var for var in values}

    iid = values.get("meshover_interface_id") or int.from_bytes(_h("iid", c)[:8], "big") or 1
    base6 = int(settings.net6.network_address)
    low, high = settings.asn_range
    asn = values.get("meshover_asn") or low + int.from_bytes(_h("asn", c), "big") % (high - low + 1)

    loopback4 = values.get("meshover_loopback4")
    pool = settings.pool4
    if loopback4 is None and pool is not None:
        offset = 1 + int.from_bytes(_h("ipv4", c), "big") % (pool.num_addresses - 2)
        loopback4 = pool.network_address + offset
    router_id = values.get("meshover_router_id")
    if router_id is None and loopback4 is not None:
        router_id = loopback4
        if "loopback4" in sources:
            sources["router_id"] = sources["loopback4"]
    if router_id is None:
        router_id = ipaddress.IPv4Address(
            _ROUTER_ID_BASE + int.from_bytes(_h("router-id", c)[:4], "big") % _ROUTER_ID_SPAN
        )

    return Identity(
        hostname=hostname,
        canonical=c,
        interface_id=iid,
        loopback6=ipaddress.IPv6Address(base6 + iid),
        transport6=ipaddress.IPv6Address(base6 + (1 << 64) + iid),
        link_local=ipaddress.IPv6Address((0xFE80 << 112) + iid),
        asn=asn,
        loopback4=loopback4,
        router_id=router_id,
        gre_name=values.get("meshover_gre_name") or derived_gre_name(c),
        sources=sources,
    )


# ---------------------------------------------------------------- collisions

# identity field -> (label used in messages, override variable to set)
COLLISION_KINDS = {
    "asn": ("ASN", "meshover_asn"),
    "interface_id": ("interface id", "meshover_interface_id"),
    "loopback4": ("IPv4 loopback", "meshover_loopback4"),
    "router_id": ("router id", "meshover_router_id"),
    "gre_name": ("GRE interface name", "meshover_gre_name"),
}


def join_names(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def hosts_label(hosts: list[str], limit: int = 3) -> str:
    """'n1', 'n1 and n2', 'n1, n2, n3 and 7 more'."""
    if len(hosts) <= limit:
        return join_names(list(hosts))
    return f"{', '.join(hosts[:limit])} and {len(hosts) - limit} more"


def _value_label(field_name: str, ident: Identity) -> str:
    value = getattr(ident, field_name)
    if field_name == "interface_id":
        return f"{value:016x} (loopback6 {ident.loopback6})"
    return str(value)


def _collision_message(field_name: str, group: list[Identity]) -> str:
    label, var = COLLISION_KINDS[field_name]
    value = _value_label(field_name, group[0])
    names = [i.hostname for i in group]
    overridden = [i for i in group if field_name in i.sources]
    if not overridden:
        return f"{join_names(names)} derive the same {label} {value}: set {var} on one of them"
    described = [
        f"{i.hostname} ({i.sources[field_name]})" if i in overridden else f"{i.hostname} (derived)" for i in group
    ]
    setters = sorted({i.sources[field_name] for i in overridden})
    fix = " or ".join(
        f"change {s} on {join_names([i.hostname for i in overridden if i.sources[field_name] == s])}" for s in setters
    )
    return f"{join_names(described)} have the same {label} {value}: {fix}"


def find_collisions(identities: Iterable[Identity]) -> list[str]:
    """Return one message per group of hosts sharing a name, ASN, interface id, loopback4, router id or GRE name."""
    idents = list(identities)
    messages = []
    by_canonical: dict[str, list[Identity]] = {}
    for ident in idents:
        by_canonical.setdefault(ident.canonical, []).append(ident)
    for canonical, group in by_canonical.items():
        if len(group) > 1:
            names = join_names([i.hostname for i in group])
            messages.append(f"{names} are the same host name {canonical!r} after lowercasing: keep only one of them")
    loopback_groups: set[frozenset[str]] = set()
    for field_name in COLLISION_KINDS:
        groups: dict[Any, list[Identity]] = {}
        for ident in idents:
            value = getattr(ident, field_name)
            if value is not None:
                groups.setdefault(value, []).append(ident)
        for group in groups.values():
            if len(group) < 2 or len({i.canonical for i in group}) == 1:
                continue
            members = frozenset(i.hostname for i in group)
            if field_name == "loopback4":
                loopback_groups.add(members)
            if (
                field_name == "router_id"
                and members in loopback_groups
                and all(i.router_id == i.loopback4 for i in group)
            ):
                continue  # already reported as an IPv4 loopback collision
            messages.append(_collision_message(field_name, group))
    return messages


def derive_identities(
    host_vars_by_host: Mapping[str, Mapping[str, Any] | None] | Iterable[str], settings: MeshSettings | None = None
) -> dict[str, Identity]:
    """Derive every host's identity and check collisions. Raises MeshError with all problems."""
    if isinstance(host_vars_by_host, Mapping):
        items = [(host, host_vars_by_host[host] or {}) for host in host_vars_by_host]
    else:
        items = [(host, {}) for host in host_vars_by_host]
    identities: dict[str, Identity] = {}
    errors: list[str] = []
    for host, host_vars in items:
        try:
            identities[host] = derive_identity(host, settings, host_vars)
        except MeshError as exc:
            errors.extend(exc.messages)
    errors.extend(find_collisions(identities.values()))
    if errors:
        raise MeshError(errors)
    return identities
