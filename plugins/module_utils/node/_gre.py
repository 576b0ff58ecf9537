# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ip6gre tunnel planning and ``ip -batch`` rendering.

PRIVATE to meshover.mesh: not a public API, may change without notice.
Pure functions only (stdlib), unit-tested without AnsibleModule or pyroute2. The links come from the
node's one reader of links, _kernel.parse_links() (or links_from_netlink()).

A tunnel is *owned* when its IFLA_IFALIAS starts with the owner prefix (``meshover:``);
only owned tunnels are ever modified or deleted.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.meshover.mesh.plugins.module_utils.node import _ipbatch
from ansible_collections.meshover.mesh.plugins.module_utils.node._kernel import ADDR_GEN_MODES, IP6GRE

IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}\Z")
PEER_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,200}\Z")
PREFIX_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,40}\Z")
KIND = IP6GRE
ADDR_GEN_MODE_NONE = ADDR_GEN_MODES["none"]
BATCH_HEADER = (
    "# Managed by meshover.mesh.gre_tunnels; local changes are overwritten.\n"
    "# Replay with: ip -force -batch <this file>. On a re-run, 'link add' of an existing tunnel\n"
    "# fails (exit status 1); every other line is idempotent.\n"
)


class GreError(ValueError):
    """Invalid input for the GRE helpers."""


def _addr6(value, what, name):
    try:
        addr = ipaddress.IPv6Address(str(value).split("/", 1)[0])
    except ValueError:
        raise GreError(f"tunnel {name}: {what} {value!r} is not an IPv6 address") from None
    return str(addr)


def normalize_tunnel(t: dict) -> dict:
    """Validate and canonicalise one wanted tunnel."""
    name = t.get("name")
    if not isinstance(name, str) or not IFNAME_RE.match(name) or name in (".", ".."):
        raise GreError(f"tunnel name {name!r} is invalid (1-15 characters [A-Za-z0-9_.-])")
    peer = t.get("peer")
    if not isinstance(peer, str) or not PEER_RE.match(peer):
        raise GreError(f"tunnel {name}: peer {peer!r} is invalid")
    ll = t.get("link_local")
    if ll is None:
        link_local = None
    else:
        try:
            iface = ipaddress.IPv6Interface(ll)
        except ValueError:
            raise GreError(f"tunnel {name}: link_local {ll!r} is not an IPv6 address/prefix") from None
        if not iface.ip.is_link_local:
            raise GreError(f"tunnel {name}: link_local {ll!r} is not in fe80::/10")
        if "/" not in str(ll):
            iface = ipaddress.IPv6Interface(f"{iface.ip}/64")
        link_local = str(iface)
    mtu = t.get("mtu")
    if mtu is not None and not 1280 <= int(mtu) <= 65535:
        raise GreError(f"tunnel {name}: mtu {mtu} out of range 1280..65535 (IPv6 minimum is 1280)")
    ttl = 64 if t.get("ttl") is None else int(t["ttl"])
    if not 0 <= ttl <= 255:
        raise GreError(f"tunnel {name}: ttl must be 0..255")
    return {
        "name": name,
        "peer": peer,
        "local": _addr6(t.get("local"), "local", name),
        "remote": _addr6(t.get("remote"), "remote", name),
        "link_local": link_local,
        "mtu": None if mtu is None else int(mtu),
        "ttl": ttl,
    }


def normalize_tunnels(tunnels) -> list:
    """Validate the wanted list: unique names and unique (local, remote) pairs; sorted by name."""
    out = [normalize_tunnel(t) for t in tunnels or []]
    names, pairs = set(), {}
    for t in out:
        if t["name"] in names:
            raise GreError(f"tunnel name {t['name']} is listed twice")
        names.add(t["name"])
        pair = (t["local"], t["remote"])
        if pair in pairs:
            raise GreError(f"tunnels {pairs[pair]} and {t['name']} have the same local and remote addresses")
        pairs[pair] = t["name"]
    return sorted(out, key=lambda t: t["name"])


def is_owned(link: dict, owner_prefix: str) -> bool:
    alias = link.get("alias") or ""
    return alias.startswith(owner_prefix)


def alias_for(tunnel: dict, owner_prefix: str) -> str:
    return f"{owner_prefix}{tunnel['peer']}"


def _same_addr(a, b) -> bool:
    if a is None or b is None:
        return a == b
    try:
        return ipaddress.ip_address(str(a)) == ipaddress.ip_address(str(b))
    except ValueError:
        return False


def recreate_reasons(want: dict, have: dict) -> list:
    """Attributes that cannot be changed in place (delete + create)."""
    reasons = []
    if have.get("kind") != KIND:
        reasons.append("kind")
    if not _same_addr(want["local"], have.get("local")):
        reasons.append("local")
    if not _same_addr(want["remote"], have.get("remote")):
        reasons.append("remote")
    if have.get("ttl") is not None and int(have["ttl"]) != want["ttl"]:
        reasons.append("ttl")
    if have.get("ign_encap_limit") is not None and not have["ign_encap_limit"]:
        reasons.append("encaplimit")
    return reasons


def modifications(want: dict, have: dict, owner_prefix: str) -> dict:
    """In-place changes for an owned tunnel with the right kind/local/remote. Empty dict: none."""
    mods = {}
    if want["mtu"] is not None and have.get("mtu") != want["mtu"]:
        mods["mtu"] = want["mtu"]
    alias = alias_for(want, owner_prefix)
    if have.get("alias") != alias:
        mods["alias"] = alias
    if have.get("addrgenmode") is not None and have["addrgenmode"] != ADDR_GEN_MODE_NONE:
        mods["addrgenmode"] = "none"
    addrs = [str(ipaddress.IPv6Interface(a)) for a in have.get("addresses") or [] if ":" in str(a)]
    if want["link_local"] is not None:
        if want["link_local"] not in addrs:
            mods["add_addresses"] = [want["link_local"]]
        # Other link-local addresses (e.g. a random EUI-64 one) are removed; global ones are
        # left alone: other roles may put addresses on the tunnels.
        extra = sorted(a for a in addrs if a != want["link_local"] and ipaddress.IPv6Interface(a).ip.is_link_local)
        if extra:
            mods["del_addresses"] = extra
    if not have.get("admin_up"):
        mods["up"] = True
    return mods


def plan_tunnels(want, have, owner_prefix: str = "meshover:") -> dict:
    """Plan the reconciliation of ip6gre tunnels.

    ``want``: list of wanted tunnels; ``have``: the links as _kernel.parse_links() or links_from_netlink()
    read them (name, kind, alias, local, remote, ttl, mtu, ign_encap_limit, addrgenmode, addresses,
    admin_up: an owned tunnel that is not administratively up is brought up).
    Returns ``{'create': [tunnel], 'recreate': [{'tunnel', 'reasons'}], 'modify': [{'tunnel', 'changes'}],
    'delete': [name], 'conflicts': [message]}``; all lists are sorted by name.
    """
    if not isinstance(owner_prefix, str) or not PREFIX_RE.match(owner_prefix):
        raise GreError(f"owner_prefix {owner_prefix!r} is invalid")
    want = normalize_tunnels(want)
    have_by_name = {h["name"]: h for h in have or []}
    plan = {"create": [], "recreate": [], "modify": [], "delete": [], "conflicts": []}
    for t in want:
        h = have_by_name.get(t["name"])
        if h is None:
            plan["create"].append(t)
        elif not is_owned(h, owner_prefix):
            plan["conflicts"].append(
                f"interface {t['name']} exists and is not owned by meshover (kind {h.get('kind')!r}, "
                f"alias {h.get('alias')!r}); rename it or set another name for peer {t['peer']}"
            )
        else:
            reasons = recreate_reasons(t, h)
            if reasons:
                plan["recreate"].append({"tunnel": t, "reasons": reasons})
            else:
                changes = modifications(t, h, owner_prefix)
                if changes:
                    plan["modify"].append({"tunnel": t, "changes": changes})
    wanted = {t["name"] for t in want}
    plan["delete"] = sorted(n for n, h in have_by_name.items() if n not in wanted and is_owned(h, owner_prefix))
    return plan


def plan_is_empty(plan: dict) -> bool:
    return not any(plan[k] for k in ("create", "recreate", "modify", "delete"))


def owned_view(have, owner_prefix: str) -> dict:
    """Secret-free view of the owned tunnels for diffs (name -> attributes)."""
    view = {}
    for h in have or []:
        if is_owned(h, owner_prefix):
            view[h["name"]] = {
                "alias": h.get("alias"),
                "kind": h.get("kind"),
                "local": h.get("local"),
                "remote": h.get("remote"),
                "ttl": h.get("ttl"),
                "mtu": h.get("mtu"),
                "addresses": sorted(str(a) for a in h.get("addresses") or []),
                "up": bool(h.get("admin_up")),
            }
    return dict(sorted(view.items()))


def want_view(want, owner_prefix: str) -> dict:
    view = {}
    for t in normalize_tunnels(want):
        view[t["name"]] = {
            "alias": alias_for(t, owner_prefix),
            "kind": KIND,
            "local": t["local"],
            "remote": t["remote"],
            "ttl": t["ttl"],
            "mtu": t["mtu"],
            "addresses": [t["link_local"]] if t["link_local"] else [],
            "up": True,
        }
    return view


# ---------------------------------------------------------------- steps: one sequence, two interpreters
#
# A tunnel's kernel state is written in one place only: the steps below. The module applies them live through
# netlink (gre_tunnels' Applier, one call per step) and render_batch() writes the very same steps as ``ip -batch``
# lines for the boot replay (ip_line(), through the shared _ipbatch.render_batch()). Steps: ("add", name,
# {local, remote, ttl}) a new ip6gre link that ignores the encapsulation limit; ("addrgenmode_none", name) before
# it goes up, so no random link-local appears; ("set", name, {mtu?, alias?}); ("addr_del", name, cidr);
# ("addr", name, cidr) (``addr replace`` in the file: a replay is idempotent); ("up", name).


def create_steps(t: dict, owner_prefix: str) -> list:
    """The steps that make tunnel t (normalized) from nothing, in order."""
    n = t["name"]
    settings = {"alias": alias_for(t, owner_prefix)}
    if t["mtu"] is not None:
        settings = {"mtu": t["mtu"], **settings}
    steps = [
        ("add", n, {"local": t["local"], "remote": t["remote"], "ttl": t["ttl"]}),
        ("addrgenmode_none", n),
        ("set", n, settings),
    ]
    if t["link_local"]:
        steps.append(("addr", n, t["link_local"]))
    steps.append(("up", n))
    return steps


def modify_steps(t: dict, changes: dict) -> list:
    """The steps of the in-place changes modifications() found for tunnel t, in order."""
    n = t["name"]
    steps: list = [("addrgenmode_none", n)] if "addrgenmode" in changes else []
    settings = {k: changes[k] for k in ("mtu", "alias") if k in changes}
    if settings:
        steps.append(("set", n, settings))
    steps += [("addr_del", n, cidr) for cidr in changes.get("del_addresses", [])]
    steps += [("addr", n, cidr) for cidr in changes.get("add_addresses", [])]
    if changes.get("up"):
        steps.append(("up", n))
    return steps


def ip_line(step: tuple) -> str:
    """One step as a line of an ``ip -batch`` file."""
    op, n = step[0], step[1]
    if op == "add":
        a = step[2]
        return f"link add {n} type {KIND} local {a['local']} remote {a['remote']} ttl {a['ttl']} encaplimit none"
    if op == "addrgenmode_none":
        return f"link set dev {n} addrgenmode none"
    if op == "set":
        mtu = f" mtu {step[2]['mtu']}" if "mtu" in step[2] else ""
        alias = f' alias "{step[2]["alias"]}"' if "alias" in step[2] else ""
        return f"link set dev {n}{mtu}{alias}"
    if op == "addr":
        return f"addr replace {step[2]} dev {n}"
    if op == "addr_del":
        return f"addr del {step[2]} dev {n}"
    if op == "up":
        return f"link set dev {n} up"
    raise GreError(f"unknown step {op!r}")


def render_batch(want, owner_prefix: str = "meshover:") -> str:
    """Render the ``ip -batch`` file that recreates the tunnels at boot: create_steps() of each tunnel."""
    steps = [step for t in normalize_tunnels(want) for step in create_steps(t, owner_prefix)]
    return _ipbatch.render_batch(BATCH_HEADER, steps, ip_line)
