# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""This node's view of the mesh (meshover.mesh.mesh_info): per peer its WireGuard, GRE, BGP and BFD state.

Node side: imported by the module mesh_info only, never by controller code. Pure functions, unit-tested
without AnsibleModule; the module runs the commands and hands their output here.

No external format is read here: each goes through the node's one reader of it, in _kernel (which
meshover.mesh.wireguard_interface, meshover.mesh.gre_tunnels and the exporter use too).
- ``wg show <if> dump``: _kernel.parse_wg_dump(); peers are named from the plan's public keys, else from
  the ``# <name>`` comments of the wg-quick file (_wireguard.config_peer_names()).
- ``ip -j -d link show``: _kernel.parse_links(); a tunnel belongs to peer ``<p>`` when its alias is
  ``<owner_prefix><p>`` (_gre.is_owned()), and it is up by _kernel.link_up().
- the vtysh runs of _kernel.VTYSH_RUNS (``show bgp summary json``, ``show bfd peers json``, ``show
  version``), one ``sh -c`` script of them: _kernel.parse_frr_output(), bgp_sessions() and bfd_peers().
  A BGP neighbour or BFD session belongs to the peer whose tunnel it runs on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.meshover.mesh.plugins.module_utils.node._gre import is_owned
from ansible_collections.meshover.mesh.plugins.module_utils.node._kernel import (
    bfd_owner,
    bfd_peers,
    bgp_sessions,
    parse_frr_output,
    parse_links,
    parse_wg_dump,
    tunnel_link_locals,
)

SOURCES = ("wireguard", "gre", "bgp", "bfd")
ACCESS = ("podman", "docker", "package", "none")
_NOT_RUNNING = re.compile(r"^\s*(\S+ is not running)\s*$", re.MULTILINE)


def frr_access(vtysh: Iterable[str] | None) -> str:
    """How FRR is reached through this vtysh argv prefix (playbooks/tasks/frr_vtysh.yml's ``frr_vtysh``).

    ``podman`` or ``docker`` (``<runtime> exec <container> vtysh``), ``package`` (vtysh on the host, also
    behind sudo or nsenter) or ``none`` (an empty prefix: no FRR to talk to). The first word that names a
    runtime or vtysh decides.
    """
    for word in vtysh or ():
        name = os.path.basename(str(word))
        if name in ("podman", "docker"):
            return name
        if name == "vtysh":
            return "package"
    return "package" if vtysh else "none"


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_sources(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Parse the commands' output, each source on its own: one that cannot be read is named in ``errors``.

    outputs: ``wg`` (``wg show <if> dump``), ``ip`` (``ip -j -d link show``, a JSON list) and ``frr``
    (the vtysh runs of _kernel.VTYSH_RUNS); a value of None means the command failed, and ``<key>_error`` says why.
    Returns ``{wireguard, links, bgp, bfd, frr_version, errors}``: the parsed dump, the links, the BGP
    sessions and BFD peers (lists), FRR's version (or None) and ``errors`` (source -> message) for every
    source of SOURCES that could not be read (its value is then None).
    """
    result: dict[str, Any] = {
        "wireguard": None,
        "links": None,
        "bgp": None,
        "bfd": None,
        "frr_version": None,
        "errors": {},
    }
    errors = result["errors"]

    def failed(key: str) -> str:
        return _short(outputs.get(f"{key}_error") or "the command failed")

    if outputs.get("wg") is None:
        errors["wireguard"] = failed("wg")
    else:
        try:
            result["wireguard"] = parse_wg_dump(outputs["wg"])
        except ValueError as exc:  # WireGuardError; its messages never quote a key
            errors["wireguard"] = _short(f"cannot read wg show dump: {exc}")

    if outputs.get("ip") is None:
        errors["gre"] = failed("ip")
    else:
        try:
            result["links"] = parse_links(outputs["ip"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            errors["gre"] = _short(f"cannot read ip -j link show: {type(exc).__name__}: {exc}")

    text = outputs.get("frr")
    if text is None:
        errors["bgp"] = errors["bfd"] = failed("frr")
        return result
    frr = parse_frr_output(text)
    result["frr_version"] = frr["version"]
    not_running = _NOT_RUNNING.findall(text)
    for source, reader, what in (("bgp", bgp_sessions, "BGP summary"), ("bfd", bfd_peers, "BFD peers")):
        doc = frr[source]
        if doc is None:
            daemon = [line for line in not_running if line.startswith(f"{source}d ")]
            errors[source] = _short(f"no {what} in vtysh's output" + (f" ({daemon[0]})" if daemon else ""))
            continue
        try:
            result[source] = reader(doc)
        except (ValueError, TypeError) as exc:  # FRR JSON of an unexpected shape
            errors[source] = _short(f"cannot read FRR's {what}: {exc}")
    return result


def _expected(peers: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    if peers is None:
        return None
    return [{"name": p["name"], "public_key": p.get("public_key"), "tunnel": p.get("tunnel")} for p in peers]


def expected_from_plan(host_plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The peers one host's entry of the mesh plan (``_peers.plan_host``) names: WireGuard peer and GRE tunnel."""
    try:
        tunnels = {t["peer"]: t["name"] for t in host_plan.get("tunnels") or []}
        return [
            {"name": p["name"], "public_key": p.get("public_key"), "tunnel": tunnels.get(p["name"])}
            for p in (host_plan.get("wireguard") or {}).get("peers") or []
        ]
    except (AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"not a host's entry of the mesh plan (wireguard.peers, tunnels): {exc!r}") from None


def _wg_view(peer: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    if peer is None:
        return {
            "present": False,
            "public_key": None,
            "endpoint": None,
            "latest_handshake": None,
            "handshake_age": None,
            "rx_bytes": None,
            "tx_bytes": None,
        }
    stamp = peer["latest_handshake"] or None
    return {
        "present": True,
        "public_key": peer["public_key"],
        "endpoint": peer["endpoint"],
        "latest_handshake": stamp,
        "handshake_age": None if stamp is None else max(0, int(now - stamp)),
        "rx_bytes": peer["rx"],
        "tx_bytes": peer["tx"],
    }


def _gre_view(name: str | None, link: Mapping[str, Any] | None, owner_prefix: str) -> dict[str, Any]:
    if link is None:
        return {"present": False, "name": name, "state": None, "operstate": None, "admin_up": None, "owned": None}
    return {
        "present": True,
        "name": link["name"],
        "state": "up" if link["up"] else "down",
        "operstate": link["operstate"],
        "admin_up": link["admin_up"],
        "owned": is_owned(link, owner_prefix),
    }


def _bgp_view(sessions: list[Mapping[str, Any]] | None) -> dict[str, Any]:
    if not sessions:
        return {
            "present": False,
            "neighbor": None,
            "remote_as": None,
            "state": None,
            "established": None,
            "uptime": None,
            "prefixes_received": None,
            "prefixes_sent": None,
            "address_families": {},
        }
    families = {}
    for s in sorted(sessions, key=lambda s: (s["afi"], s["safi"])):
        up = s["state_code"] == 1
        families[s["afi"] if s["safi"] == "unicast" else f"{s['afi']}_{s['safi']}"] = {
            "state": s["state"],
            "uptime": int(s["uptime_seconds"]) if up else None,
            "prefixes_received": s["prefixes_received"],
            "prefixes_sent": s["prefixes_advertised"],
        }
    established = all(s["state_code"] == 1 for s in sessions)
    states = [f["state"] for f in families.values()]
    return {
        "present": True,
        "neighbor": sessions[0]["neighbor"],
        "remote_as": sessions[0]["remote_as"],
        "state": "Established" if established else next(s for s in states if s != "Established"),
        "established": established,
        "uptime": min(f["uptime"] for f in families.values()) if established else None,
        "prefixes_received": sum(f["prefixes_received"] for f in families.values()),
        "prefixes_sent": sum(f["prefixes_sent"] for f in families.values()),
        "address_families": families,
    }


def _bfd_view(sessions: list[Mapping[str, Any]] | None) -> dict[str, Any]:
    if not sessions:
        return {"present": False, "state": None, "peer": None, "interface": None}
    worst = min(sessions, key=lambda s: (s["up"], s["status"]))  # a session not up wins
    return {"present": True, "state": worst["status"], "peer": worst["peer"], "interface": worst["interface"]}


def node_view(
    sources: Mapping[str, Any],
    expected: Iterable[Mapping[str, Any]] | None = None,
    wg_names: Mapping[str, str] | None = None,
    owner_prefix: str = "meshover:",
    now: float = 0.0,
    wg_interface: str | None = None,
    vtysh: Iterable[str] | None = None,
) -> dict[str, Any]:
    """This node's view of the mesh (the module's whole result but ``changed``), from read_sources().

    expected: the peers the plan gives this node (``name``, optional ``public_key`` and ``tunnel``), or
    None when not known. wg_names: WireGuard public key -> peer name (the wg-quick file's comments), used
    for keys the plan does not name. now: the node's clock (unix seconds), for the handshake ages.
    wg_interface and vtysh are only reported (``wireguard.interface``, ``frr.vtysh`` and ``frr.access``).

    Returns ``{time, wireguard, frr, peers, expected, errors}``. ``peers`` maps each peer name to ``{name,
    expected, unexpected, missing, anonymous, wireguard, gre, bgp, bfd}``; a section is None when its
    source could not be read (see ``errors``), else a dict whose ``present`` says whether the peer is
    there. A WireGuard peer whose key has no name is listed under its public key with ``anonymous`` true.
    """
    want = _expected(expected)
    names: dict[str, str] = dict(wg_names or {})
    tunnels: dict[str, str] = {}  # peer -> tunnel name
    for p in want or []:
        if p["public_key"]:
            names[p["public_key"]] = p["name"]
        if p["tunnel"]:
            tunnels[p["name"]] = p["tunnel"]

    links = sources.get("links")
    link_by_name = {link["name"]: link for link in links or []}
    for link in links or []:
        if is_owned(link, owner_prefix) and link["kind"] == "ip6gre":
            tunnels.setdefault(link["alias"][len(owner_prefix) :], link["name"])
    peer_of_tunnel = {t: p for p, t in tunnels.items()}

    wg = sources.get("wireguard")
    wg_peers: dict[str, Mapping[str, Any]] = {}
    anonymous = set()
    for key, peer in sorted(((wg or {}).get("peers") or {}).items()):
        name = names.get(key)
        if name is None:
            name = key
            anonymous.add(key)
        wg_peers[name] = peer

    def owner(neighbour: str, host: str) -> str:
        # the tunnel names the peer; else FRR's description "<peer> AS<asn>" or the hostname it heard
        return peer_of_tunnel.get(neighbour) or (host.split() or [neighbour])[0]

    bgp_by_peer: dict[str, list] = {}
    for s in sources.get("bgp") or []:
        bgp_by_peer.setdefault(owner(s["neighbor"], s["peer_host"]), []).append(s)
    bfd_by_peer: dict[str, list] = {}
    peer_of_link_local = tunnel_link_locals(links or [], peer_of_tunnel)
    for b in sources.get("bfd") or []:
        owner_of_bfd = bfd_owner(b, peer_of_tunnel, peer_of_link_local) or b["interface"] or b["peer"]
        bfd_by_peer.setdefault(owner_of_bfd, []).append(b)

    want_names = {p["name"] for p in want or []}
    gre_peers = {p for p, t in tunnels.items() if t in link_by_name}
    all_names = want_names | set(wg_peers) | gre_peers | set(bgp_by_peer) | set(bfd_by_peer)
    peers = {}
    for name in sorted(all_names):
        view = {
            "name": name,
            "expected": name in want_names,
            "unexpected": want is not None and name not in want_names,
            "missing": False,
            "anonymous": name in anonymous,
            "wireguard": None if wg is None else _wg_view(wg_peers.get(name), now),
            "gre": None
            if links is None
            else _gre_view(tunnels.get(name), link_by_name.get(tunnels.get(name, "")), owner_prefix),
            "bgp": None if sources.get("bgp") is None else _bgp_view(bgp_by_peer.get(name)),
            "bfd": None if sources.get("bfd") is None else _bfd_view(bfd_by_peer.get(name)),
        }
        # BFD may be off: its absence is no evidence; missing needs WireGuard, GRE or BGP read and none has it.
        read = [view[s] for s in ("wireguard", "gre", "bgp") if view[s] is not None]
        present = any(view[s] is not None and view[s]["present"] for s in SOURCES)
        view["missing"] = view["expected"] and bool(read) and not present
        peers[name] = view
    own = (wg or {}).get("interface") or {}
    return {
        "time": int(now),
        "wireguard": {
            "interface": wg_interface,
            "public_key": own.get("public_key"),
            "listen_port": own.get("listen_port"),
        },
        "frr": {"access": frr_access(vtysh), "version": sources.get("frr_version"), "vtysh": list(vtysh or [])},
        "peers": peers,
        "expected": None if want is None else sorted(want_names),
        "errors": dict(sources.get("errors") or {}),
    }
