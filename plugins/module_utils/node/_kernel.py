# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node's readers of what the kernel and FRR print: one reader per output.

PRIVATE to meshover.mesh: not a public API, may change without notice.

Standard library only, no Ansible import: the node modules import it as module_utils, and the role
meshover.mesh.exporter installs this very file next to the exporter script as ``meshover_kernel.py``
(plugins/module_utils/node/_exporter.py imports it from there when it runs on a node).

- ``wg show <if> dump`` and ``wg show all dump``: parse_wg_dump(), parse_wg_dump_all(). The interface's
  private key (the first field of its line) is never kept, and no error message quotes a field that
  could be a key.
- ``ip -j [-d] link show`` and ``ip -j [-d] addr show`` (and the same links read through netlink with
  pyroute2): parse_links(), links_from_netlink(). Both give the same record; link_up() is the one
  definition of a link that is up.
- The vtysh runs of VTYSH_RUNS (``show bgp summary json``, ``show bfd peers json``, ``show version``), one
  script of them (vtysh_script()): parse_frr_output() splits their output, bgp_sessions() and bfd_peers()
  read its two JSON documents. tunnel_link_locals() and bfd_owner() tie a BFD session to its peer when bfdd
  reports it without its interface.

Pure functions (links_from_netlink() only calls the IPRoute object it is given), unit-tested in
tests/unit/plugins/module_utils/test__kernel.py.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex

# ---------------------------------------------------------------- WireGuard: wg show ... dump


def _none(value: str) -> str | None:
    return None if value in ("(none)", "") else value


def _int(value: str, what: str) -> int:
    try:
        return int(value, 0) if value.startswith("0x") else int(value)
    except ValueError:
        raise ValueError(f"unexpected {what} {value!r} in wg dump") from None


def _wg_rows(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines() if line.strip()]


def _wg_device(rows: list[list[str]], what: str) -> dict:
    """One interface's rows (without the interface column of ``wg show all dump``): its own line first
    (private key, public key, listen port, fwmark), then one line per peer."""
    device: dict = {"interface": None, "peers": {}}
    for i, f in enumerate(rows):
        if i == 0 and len(f) == 4:  # f[0] is the private key: dropped here
            device["interface"] = {
                "public_key": _none(f[1]),
                "listen_port": _int(f[2], "listen port"),
                "fwmark": 0 if f[3] == "off" else _int(f[3], "fwmark"),
            }
        elif len(f) == 8:
            allowed = _none(f[3])
            device["peers"][f[0]] = {
                "public_key": f[0],
                "has_preshared_key": _none(f[1]) is not None,
                "endpoint": _none(f[2]),
                "allowed_ips": allowed.split(",") if allowed else [],
                "latest_handshake": _int(f[4], "handshake time"),
                "rx": _int(f[5], "rx bytes"),
                "tx": _int(f[6], "tx bytes"),
                "persistent_keepalive": 0 if f[7] == "off" else _int(f[7], "keepalive"),
            }
        else:
            raise ValueError(f"unexpected {'interface' if i == 0 else 'peer'} line in {what} ({len(f)} fields)")
    return device


def parse_wg_dump(text: str) -> dict:
    """Parse ``wg show <if> dump``.

    Returns ``{'interface': {public_key, listen_port, fwmark}, 'peers': {public_key: peer}}``; a peer is
    ``{public_key, has_preshared_key, endpoint, allowed_ips (list), latest_handshake (unix s, 0 = never),
    rx, tx (bytes), persistent_keepalive (0 = off)}``, in the dump's order. Raises ValueError on empty or
    malformed output.
    """
    rows = _wg_rows(text)
    if not rows:
        raise ValueError("empty wg dump")
    if len(rows[0]) != 4:
        raise ValueError(f"unexpected interface line in wg dump ({len(rows[0])} fields)")
    return _wg_device(rows, "wg dump")


def parse_wg_dump_all(text: str) -> dict[str, dict]:
    """Parse ``wg show all dump``: interface name -> what parse_wg_dump() returns for it.

    Each line starts with the interface's name; an interface whose own line is missing has
    ``interface`` None. Empty output (no WireGuard interface) is ``{}``. Raises ValueError on a
    malformed line.
    """
    groups: dict[str, list[list[str]]] = {}
    for f in _wg_rows(text):
        groups.setdefault(f[0], []).append(f[1:])
    return {name: _wg_device(rows, "wg show all dump") for name, rows in groups.items()}


# ---------------------------------------------------------------- links: ip -j link / addr, netlink

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
# IFLA_OPERSTATE values (RFC 2863), as ip prints them.
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
# `ip -d link show` prints the IPv6 address generation mode by name; netlink carries the number.
ADDR_GEN_MODES = {"eui64": 0, "none": 1, "stable_secret": 2, "random": 3}
AF_INET6 = 10
IP6GRE = "ip6gre"
IP6_TNL_F_IGN_ENCAP_LIMIT = 0x1


def link_up(admin_up: bool, lower_up: bool, operstate: str | None) -> bool:
    """Whether a link carries traffic: administratively up (``UP``), with carrier (``LOWER_UP``), and an
    operational state of UP or UNKNOWN. Tunnels (ip6gre, WireGuard) have no carrier detection and report
    UNKNOWN while they work; no operational state at all counts as UNKNOWN.

    The one definition of "up" for every reader of links: the exporter's GRE metric, mesh_info's
    ``gre.state``. A module that brings a link up compares ``admin_up`` (what ``ip link set up`` sets).
    """
    return admin_up and lower_up and (operstate or "UNKNOWN") in ("UP", "UNKNOWN")


def _link(*, name, index, kind, alias, mtu, admin_up, lower_up, operstate, addrgenmode, addresses, tunnel) -> dict:
    """The one link record; ``tunnel``: (local, remote, ttl, ign_encap_limit) of an ip6gre link, else None."""
    local, remote, ttl, ign = tunnel or (None, None, None, None)
    return {
        "name": name,
        "index": index,
        "kind": kind,
        "alias": alias,
        "mtu": mtu,
        "operstate": operstate or "UNKNOWN",
        "admin_up": admin_up,
        "up": link_up(admin_up, lower_up, operstate),
        "addrgenmode": addrgenmode,
        "addresses": addresses,
        "local": local,
        "remote": remote,
        "ttl": ttl,
        "ign_encap_limit": ign,
    }


def _ip_json(data, what: str) -> list:
    if isinstance(data, str):
        data = json.loads(data or "[]")
    if not isinstance(data, list):
        raise ValueError(f"{what}: expected a JSON list")
    return data


def _ip_addresses(entry: dict) -> list[str]:
    # ``local`` is the interface's own address (IFA_LOCAL, else IFA_ADDRESS); ``address`` would be the peer
    # of a point-to-point address.
    return [f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info") or [] if "local" in a and "prefixlen" in a]


def parse_links(links, addrs=None) -> list[dict]:
    """The links of ``ip -j [-d] link show`` or ``ip -j [-d] addr show`` (its output, or that output decoded).

    ``addrs``: optionally ``ip -j addr show`` as well, whose addresses are added to the links by index.
    An entry without ``ifname`` is skipped: iproute2 6.1 prints ``{}`` for each link a ``type`` filter
    leaves out when the kernel cannot filter (the kind's module is not loaded). Returns one record per
    link, in ip's order::

        {name, index, kind, alias, mtu, operstate, admin_up, up, addrgenmode, addresses,
         local, remote, ttl, ign_encap_limit}

    ``admin_up``: the UP flag; ``up``: link_up(); ``operstate``: the kernel's word (UP, DOWN, UNKNOWN, ...);
    ``addresses``: ``"address/prefixlen"`` strings, the link's own addresses (``local``) of the families
    ip printed; ``addrgenmode``: 0 eui64, 1 none, 2 stable_secret, 3 random (None when not printed: no
    ``-d``); local, remote, ttl (0 = inherit) and ign_encap_limit for ip6gre links only, else None.
    Raises ValueError when the output is not a JSON list (KeyError or TypeError on a list of another shape).
    """
    by_index: dict = {}
    for entry in _ip_json(addrs, "ip -j addr show") if addrs is not None else []:
        by_index.setdefault(entry.get("ifindex"), []).extend(_ip_addresses(entry))
    out = []
    for link in _ip_json(links, "ip -j link show"):
        if "ifname" not in link:
            continue
        flags = link.get("flags") or []
        info = link.get("linkinfo") or {}
        kind = info.get("info_kind")
        tunnel = None
        if kind == IP6GRE:
            data = info.get("info_data") or {}
            ttl = data.get("ttl")
            tunnel = (
                data.get("local"),
                data.get("remote"),
                0 if ttl == "inherit" else ttl,
                bool(data.get("ip6_tnl_f_ign_encap_limit")),
            )
        index = link.get("ifindex")
        out.append(
            _link(
                name=link["ifname"],
                index=index,
                kind=kind,
                alias=link.get("ifalias"),
                mtu=link.get("mtu"),
                admin_up="UP" in flags,
                lower_up="LOWER_UP" in flags,
                operstate=link.get("operstate"),
                addrgenmode=ADDR_GEN_MODES.get(link.get("inet6_addr_gen_mode")),
                addresses=_ip_addresses(link) + by_index.get(index, []),
                tunnel=tunnel,
            )
        )
    return out


def netlink_attr(msg, *path):
    """Walk nested netlink attributes; None when any level is missing."""
    for name in path:
        if msg is None:
            return None
        msg = msg.get_attr(name)
    return msg


def links_from_netlink(ipr, address_family: int | None = AF_INET6) -> list[dict]:
    """The links as parse_links() gives them, read through netlink: ``ipr`` is a pyroute2 IPRoute.

    ``addresses`` holds the addresses of ``address_family`` (IPv6 by default; None: every family).
    """
    addrs: dict = {}
    for a in ipr.get_addr(family=address_family) if address_family is not None else ipr.get_addr():
        local = a.get_attr("IFA_LOCAL") or a.get_attr("IFA_ADDRESS")
        addrs.setdefault(a["index"], []).append(f"{local}/{a['prefixlen']}")
    out = []
    for msg in ipr.get_links():
        kind = netlink_attr(msg, "IFLA_LINKINFO", "IFLA_INFO_KIND")
        tunnel = None
        if kind == IP6GRE:
            data = netlink_attr(msg, "IFLA_LINKINFO", "IFLA_INFO_DATA")
            tunnel = (
                netlink_attr(data, "IFLA_IP6GRE_LOCAL"),
                netlink_attr(data, "IFLA_IP6GRE_REMOTE"),
                netlink_attr(data, "IFLA_IP6GRE_TTL"),
                bool((netlink_attr(data, "IFLA_IP6GRE_FLAGS") or 0) & IP6_TNL_F_IGN_ENCAP_LIMIT),
            )
        state = msg.get_attr("IFLA_OPERSTATE")  # pyroute2 decodes it to ip's word; a number is mapped here
        out.append(
            _link(
                name=msg.get_attr("IFLA_IFNAME"),
                index=msg["index"],
                kind=kind,
                alias=msg.get_attr("IFLA_IFALIAS"),
                mtu=msg.get_attr("IFLA_MTU"),
                admin_up=bool(msg["flags"] & IFF_UP),
                lower_up=bool(msg["flags"] & IFF_LOWER_UP),
                operstate=OPERSTATES[state] if state in range(len(OPERSTATES)) else state,
                addrgenmode=netlink_attr(msg, "IFLA_AF_SPEC", "AF_INET6", "IFLA_INET6_ADDR_GEN_MODE"),
                addresses=addrs.get(msg["index"], []),
                tunnel=tunnel,
            )
        )
    return out


# ---------------------------------------------------------------- FRR: one vtysh run, JSON and text

# The three answers, each vtysh asking one daemon (-d). A vtysh that connects to every daemon also opens a
# session of FRR's mgmtd (FRR >= 9), and in FRR 10.3 the end of any mgmtd session copies the running
# configuration over the shared candidate: what a concurrent frr-reload.py has sent to mgmtd and not yet
# committed is lost (FRR commit b12b4c28b4, "mgmtd: remove bogus 'hedge' code which corrupted active candidate
# DS", first in 10.4.0; docs/routing.md). bgpd and bfdd are not behind mgmtd, and zebra's own vty is not
# mgmtd's, so these runs open no mgmtd session. zebra always runs, so the version comes even when bgpd or
# bfdd does not. The exporter's helper runs the same (the filter meshover.mesh.vtysh_script in its template).
VTYSH_RUNS = (
    ("-d", "bgpd", "-c", "show bgp summary json"),
    ("-d", "bfdd", "-c", "show bfd peers json"),
    ("-d", "zebra", "-c", "show version"),
)


def vtysh_script(vtysh: str = "vtysh", bfd: bool = True) -> str:
    """One ``sh -c`` script of the VTYSH_RUNS (a ``podman exec`` or ``docker exec`` costs seconds on a small
    node: one for the three). Without BFD bfdd does not run and its run is left out."""
    return "; ".join(" ".join(shlex.quote(a) for a in (vtysh, *run)) for run in VTYSH_RUNS if bfd or run[1] != "bfdd")


# meshover_bgp_peer_state: 1 Established; 2 shut down on purpose ("Idle (Admin)", shutdown); 3 stopped by
# maximum-prefix ("Idle (PfxCt)": the neighbour sent too many prefixes, a leak); 0 any other state.
BGP_STATE = {"Established": 1}
AFI = {"ipv4Unicast": ("ipv4", "unicast"), "ipv6Unicast": ("ipv6", "unicast")}


def parse_frr_output(text: str) -> dict:
    """Split the output of the vtysh runs of VTYSH_RUNS: ``{bgp, bfd, version}``.

    The JSON documents are read in order (a dict = BGP summary, a list = BFD peers), the rest is text
    searched for ``FRRouting <version>``. Missing parts (a daemon not running) are None.
    """
    decoder = json.JSONDecoder()
    result: dict = {"bgp": None, "bfd": None, "version": None}
    rest = []
    pos, size = 0, len(text)
    while pos < size:
        start = min((i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0), default=-1)
        if start < 0:
            rest.append(text[pos:])
            break
        rest.append(text[pos:start])
        try:
            doc, end = decoder.raw_decode(text, start)
        except ValueError:
            rest.append(text[start])
            pos = start + 1
            continue
        if isinstance(doc, dict) and result["bgp"] is None:
            result["bgp"] = doc
        elif isinstance(doc, list) and result["bfd"] is None:
            result["bfd"] = doc
        pos = end
    match = re.search(r"FRRouting (\S+)", "".join(rest))
    if match:
        result["version"] = match.group(1)
    return result


def _shape(value, kind: type, what: str):
    """value if it is a kind (dict or list), else ValueError naming what was expected."""
    if not isinstance(value, kind):
        raise ValueError(f"{what}: expected a JSON {'object' if kind is dict else 'list'}, got {type(value).__name__}")
    return value


def bgp_sessions(summary: dict | None) -> list[dict]:
    """BGP neighbours per address family from ``show bgp summary json``.

    A document of another shape (an address family, its ``peers`` or a neighbour that is not a JSON
    object, a counter that is not a number) raises ValueError or TypeError: never a partial list.
    """
    sessions = []
    summary = _shape(summary, dict, "show bgp summary json") if summary is not None else {}
    for af_key, (afi, safi) in AFI.items():
        af = summary.get(af_key)
        af = _shape(af, dict, f"show bgp summary json: {af_key}") if af is not None else {}
        peers = af.get("peers")
        peers = _shape(peers, dict, f"show bgp summary json: {af_key}.peers") if peers is not None else {}
        for name, peer in sorted(peers.items()):
            _shape(peer, dict, f"show bgp summary json: {af_key}.peers.{name}")
            state = str(peer.get("state", "Unknown"))
            code = BGP_STATE.get(state, 3 if "PfxCt" in state else 2 if "Admin" in state else 0)
            sessions.append(
                {
                    "afi": afi,
                    "safi": safi,
                    "neighbor": name,
                    "peer_host": peer.get("desc") or peer.get("hostname") or "",
                    "remote_as": str(peer.get("remoteAs", "")),
                    "state": state,
                    "state_code": code,
                    "uptime_seconds": (int(peer.get("peerUptimeMsec") or 0) / 1000.0) if code == 1 else 0.0,
                    "prefixes_received": int(peer.get("pfxRcd") or 0),
                    "prefixes_advertised": int(peer.get("pfxSnt") or 0),
                }
            )
    return sessions


def bfd_peers(peers: list | None) -> list[dict]:
    """BFD sessions from ``show bfd peers json`` (ValueError if it is not a list of JSON objects)."""
    result = []
    for peer in _shape(peers, list, "show bfd peers json") if peers is not None else []:
        _shape(peer, dict, "show bfd peers json: a peer")
        result.append(
            {
                "peer": str(peer.get("peer", "")),
                "interface": str(peer.get("interface", "")),
                "status": str(peer.get("status", "unknown")),
                "up": 1 if peer.get("status") == "up" else 0,
            }
        )
    return result


def tunnel_link_locals(links: list[dict], peer_of_tunnel: dict[str, str]) -> dict[str, str]:
    """{the peer's link-local address: peer} for the tunnels of ``peer_of_tunnel`` ({tunnel: peer}) among
    ``links`` (parse_links() records), from each tunnel's remote address.

    A node's transport address and the link-local address it uses on every tunnel end in the same
    interface id (docs/address-plan.md: ``<prefix>:1:<iid>`` and ``fe80::<iid>``), so the remote end of
    a tunnel names the peer's link-local, over which BGP unnumbered and BFD run.
    """
    out = {}
    for link in links:
        peer = peer_of_tunnel.get(link["name"])
        try:
            remote = ipaddress.IPv6Address(link.get("remote") or "")
        except ValueError:
            continue
        if peer:
            out[str(ipaddress.IPv6Address((0xFE80 << 112) | (int(remote) & (2**64 - 1))))] = peer
    return out


def bfd_owner(session: dict, peer_of_tunnel: dict[str, str], peer_of_link_local: dict[str, str]) -> str:
    """The peer of a bfd_peers() session: by its interface (the tunnel's name) or else by its address.

    bfdd may report a session without its interface: FRR 10.3's bfdd, restarted by watchfrr on a loaded
    node, brought a configured ``peer <link-local> interface <tunnel>`` session back up with no
    interface and no local address in ``show bfd peers json`` (the running configuration unchanged). The
    peer's link-local address (tunnel_link_locals()) still names it. "" when neither does.
    """
    by_tunnel = peer_of_tunnel.get(session["interface"])
    if by_tunnel:
        return by_tunnel
    try:
        address = str(ipaddress.IPv6Address(session["peer"].split("%")[0]))
    except ValueError:
        return ""
    return peer_of_link_local.get(address, "")
