# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""WireGuard helpers: plan peer changes, render wg-quick config (``wg show dump`` is read by _kernel).

PRIVATE to meshover.mesh: not a public API, may change without notice.
Pure functions only (stdlib), unit-tested without AnsibleModule.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re

KEY_LEN = 32
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}\Z")
# Paths end up in a PostUp line that wg-quick runs through bash: allow no shell metacharacters.
SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9._/@+-]+\Z")
PEER_NAME_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,253}\Z")
REDACT_RE = re.compile(r"^(\s*(?:PrivateKey|PresharedKey)\s*=\s*).*$", re.IGNORECASE | re.MULTILINE)
HEADER = "# Managed by meshover.mesh.wireguard_interface; local changes are overwritten.\n"


class WireGuardError(ValueError):
    """Invalid input for the WireGuard helpers."""


def is_valid_key(key) -> bool:
    """True if ``key`` is a base64 WireGuard key (44 characters, 32 bytes)."""
    if not isinstance(key, str) or len(key) != 44 or not key.endswith("="):
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == KEY_LEN
    except (binascii.Error, ValueError):
        return False


def normalize_endpoint(endpoint):
    """Normalise ``[v6]:port`` / ``v4:port`` / ``host:port``; None stays None.

    IP literals are canonicalised (compressed IPv6, IPv4-mapped IPv6 shown as IPv4 like wg does).
    Raises WireGuardError on a malformed value.
    """
    if endpoint is None:
        return None
    if not isinstance(endpoint, str):
        raise WireGuardError(f"endpoint must be a string, got {endpoint!r}")
    m = re.match(r"^\[([^\]]+)\]:(\d{1,5})$", endpoint) or re.match(r"^([^:\[\]]+):(\d{1,5})$", endpoint)
    if not m:
        raise WireGuardError(f"endpoint {endpoint!r} is not [v6]:port, v4:port or host:port")
    host, port = m.group(1), int(m.group(2))
    if not 0 < port < 65536:
        raise WireGuardError(f"endpoint {endpoint!r}: bad port")
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if not re.match(r"^[A-Za-z0-9.-]{1,253}$", host):
            raise WireGuardError(f"endpoint {endpoint!r}: bad host") from None
        return f"{host.lower()}:{port}"
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"


def _endpoint_is_literal(endpoint) -> bool:
    return endpoint is not None and (endpoint.startswith("[") or re.match(r"^[0-9.]+:\d+$", endpoint) is not None)


def normalize_allowed_ips(allowed_ips) -> list:
    """Canonical, sorted, de-duplicated list of networks (host bits masked, as the kernel does)."""
    nets = set()
    for item in allowed_ips or []:
        try:
            nets.add(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise WireGuardError(f"allowed_ips entry {item!r} is not a network") from None
    return [str(n) for n in sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen))]


def normalize_peer(peer: dict) -> dict:
    """Validate and canonicalise one wanted peer (as given to the module)."""
    name = peer.get("name")
    if not isinstance(name, str) or not PEER_NAME_RE.match(name):
        raise WireGuardError(f"peer name {name!r} is invalid")
    key = peer.get("public_key")
    if not is_valid_key(key):
        raise WireGuardError(f"peer {name}: public_key is not a base64 WireGuard key")
    keepalive = peer.get("persistent_keepalive") or 0
    if not isinstance(keepalive, int) or not 0 <= keepalive <= 65535:
        raise WireGuardError(f"peer {name}: persistent_keepalive must be 0..65535")
    try:
        endpoint = normalize_endpoint(peer.get("endpoint"))
        allowed = normalize_allowed_ips(peer.get("allowed_ips"))
    except WireGuardError as e:
        raise WireGuardError(f"peer {name}: {e}") from None
    return {
        "name": name,
        "public_key": key,
        "endpoint": endpoint,
        "allowed_ips": allowed,
        "persistent_keepalive": keepalive,
    }


def normalize_peers(peers) -> list:
    """Validate a wanted peer list; sorted by name; duplicate names or keys are errors."""
    out = [normalize_peer(p) for p in peers or []]
    for field in ("name", "public_key"):
        seen = {}
        for p in out:
            if p[field] in seen:
                raise WireGuardError(f"peers {seen[p[field]]} and {p['name']} have the same {field}")
            seen[p[field]] = p["name"]
    return sorted(out, key=lambda p: (p["name"], p["public_key"]))


def peer_differences(want: dict, have: dict) -> list:
    """Names of the fields that differ between a wanted peer and the live one (same public key).

    A wanted endpoint of None (NAT peer) is never compared: the kernel learns one from the
    peer's packets. A host-name endpoint cannot be compared with the resolved address the kernel
    shows, so only its port is compared.
    """
    diffs = []
    if want["endpoint"] is not None:
        live = have.get("endpoint")
        try:
            live = normalize_endpoint(live)
        except WireGuardError:
            pass
        if _endpoint_is_literal(want["endpoint"]):
            if live != want["endpoint"]:
                diffs.append("endpoint")
        elif live is None or live.rsplit(":", 1)[1] != want["endpoint"].rsplit(":", 1)[1]:
            diffs.append("endpoint")
    if normalize_allowed_ips(have.get("allowed_ips")) != want["allowed_ips"]:
        diffs.append("allowed_ips")
    if int(have.get("persistent_keepalive") or 0) != want["persistent_keepalive"]:
        diffs.append("persistent_keepalive")
    return diffs


def plan_peers(want, have) -> dict:
    """Plan live peer changes.

    ``want``: list of wanted peers (normalised or raw); ``have``: dict public_key -> live peer
    (``_kernel.parse_wg_dump(...)['peers']``) or a list of live peers.
    Returns ``{'add': [peer], 'change': [{'peer': peer, 'fields': [...]}], 'remove': [public_key]}``,
    each sorted deterministically. Identity is the public key.
    """
    want = normalize_peers(want)
    if isinstance(have, dict):
        have_by_key = dict(have)
    else:
        have_by_key = {p["public_key"]: p for p in have or []}
    wanted_keys = {p["public_key"] for p in want}
    remove = sorted(k for k in have_by_key if k not in wanted_keys)
    # A peer behind NAT whose key changed (rotate_keys): its old entry's learned endpoint, found by the same
    # allowed IPs, goes to the new one, so that this side can send at once instead of waiting for the peer.
    learned = {}
    for key in remove:
        old = have_by_key[key]
        try:
            endpoint = normalize_endpoint(old.get("endpoint"))
        except WireGuardError:
            continue
        if endpoint is not None:
            learned[tuple(normalize_allowed_ips(old.get("allowed_ips")))] = endpoint
    add, change = [], []
    for p in want:
        live = have_by_key.get(p["public_key"])
        if live is None:
            if p["endpoint"] is None and tuple(p["allowed_ips"]) in learned:
                p = {**p, "endpoint": learned[tuple(p["allowed_ips"])]}
            add.append(p)
            continue
        fields = peer_differences(p, live)
        if fields:
            change.append({"peer": p, "fields": fields})
    return {"add": add, "change": change, "remove": remove}


def plan_is_empty(plan: dict) -> bool:
    return not (plan["add"] or plan["change"] or plan["remove"])


def wg_set_peer_args(peer: dict) -> list:
    """Arguments after ``wg set <if>`` that add or update one peer (allowed-ips replaced wholesale)."""
    args = ["peer", peer["public_key"]]
    if peer["endpoint"] is not None:
        args += ["endpoint", peer["endpoint"]]
    args += [
        "persistent-keepalive",
        str(peer["persistent_keepalive"]) if peer["persistent_keepalive"] else "off",
        "allowed-ips",
        ",".join(peer["allowed_ips"]),
    ]
    return args


def validate_interface(name, address, mtu, listen_port, private_key_path) -> str:
    """Validate interface-level parameters; returns the canonical interface address (CIDR)."""
    if not isinstance(name, str) or not IFNAME_RE.match(name) or name in (".", ".."):
        raise WireGuardError(f"interface name {name!r} is invalid (max 15 characters)")
    if not isinstance(private_key_path, str) or not SAFE_PATH_RE.match(private_key_path):
        raise WireGuardError(
            f"private_key_path {private_key_path!r} must be absolute and contain no shell metacharacters"
        )
    if listen_port is not None and not 0 < listen_port < 65536:
        raise WireGuardError("listen_port must be 1..65535")
    if mtu is not None and not 576 <= mtu <= 65535:
        raise WireGuardError("mtu must be 576..65535")
    if address is None:
        return None
    try:
        iface = ipaddress.ip_interface(address)
    except ValueError:
        raise WireGuardError(f"address {address!r} is not an address/prefix") from None
    if "/" not in str(address):
        raise WireGuardError(f"address {address!r} needs a prefix length")
    return str(iface)


def render_config(address, mtu, listen_port, private_key_path, peers) -> str:
    """Render the wg-quick config. The private key is NOT inline: PostUp loads it from the file."""
    lines = [HEADER.rstrip("\n"), "[Interface]"]
    if address:
        lines.append(f"Address = {address}")
    if mtu:
        lines.append(f"MTU = {mtu}")
    if listen_port:
        lines.append(f"ListenPort = {listen_port}")
    lines.append("Table = off")
    lines.append(f"PostUp = wg set %i private-key {private_key_path}")
    for p in normalize_peers(peers):
        lines += ["", "[Peer]", f"# {p['name']}", f"PublicKey = {p['public_key']}"]
        if p["endpoint"] is not None:
            lines.append(f"Endpoint = {p['endpoint']}")
        if p["allowed_ips"]:
            lines.append(f"AllowedIPs = {', '.join(p['allowed_ips'])}")
        if p["persistent_keepalive"]:
            lines.append(f"PersistentKeepalive = {p['persistent_keepalive']}")
    return "\n".join(lines) + "\n"


def config_peer_names(text) -> dict:
    """Map public key -> name from the ``# name`` comments of a config written by render_config."""
    names = {}
    name = None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if line.lower() == "[peer]":
            name = None
        elif line.startswith("#") and name is None:
            name = line.lstrip("#").strip() or None
        elif line.lower().startswith("publickey") and "=" in line:
            key = line.split("=", 1)[1].strip()
            if name:
                names[key] = name
    return names


def redact_config(text):
    """Hide inline PrivateKey/PresharedKey values of a (hand-written) config before showing it."""
    if text is None:
        return None
    return REDACT_RE.sub(r"\1<redacted>", text)


def peer_view(peers, names=None) -> dict:
    """Secret-free peer set for diffs: name (or public key) -> public fields."""
    names = names or {}
    view = {}
    for p in peers:
        label = p.get("name") or names.get(p["public_key"]) or p["public_key"]
        view[label] = {
            "public_key": p["public_key"],
            "endpoint": p.get("endpoint"),
            "allowed_ips": normalize_allowed_ips(p.get("allowed_ips")),
            "persistent_keepalive": int(p.get("persistent_keepalive") or 0),
        }
    return dict(sorted(view.items()))


def plan_link(want_address, want_mtu, link) -> dict:
    """Plan interface-level changes on an existing wg link (a record of _kernel.parse_links()): mtu,
    address (replace/remove), up (when not administratively up)."""
    plan = {"mtu": None, "address": None, "remove_addresses": [], "up": False}
    if want_mtu and link["mtu"] != want_mtu:
        plan["mtu"] = want_mtu
    if want_address:
        want_if = ipaddress.ip_interface(want_address)
        present = False
        for a in link["addresses"]:
            iface = ipaddress.ip_interface(a)
            if iface == want_if:
                present = True
            elif not iface.ip.is_link_local:
                plan["remove_addresses"].append(str(iface))
        if not present:
            plan["address"] = str(want_if)
    if not link["admin_up"]:
        plan["up"] = True
    return plan


def link_plan_is_empty(plan: dict) -> bool:
    return not (plan["mtu"] or plan["address"] or plan["remove_addresses"] or plan["up"])
