#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: source_routes
short_description: Reconcile meshover's source-routing policy rules and tables, and write their boot replay files
version_added: 0.1.0
description:
  - Makes the policy rules and routes owned by meshover exactly those needed so that packets whose source is in
    another host's C(meshover_gathering) leave through the GRE tunnel to that host (IPv4 and IPv6).
  - Per gateway, one rule C(from <prefix> lookup <table>) per prefix at priority O(priority), and in the gateway's
    table a default route C(dev <tunnel>) per address family of its prefixes plus a C(throw) route for every
    O(exempt) prefix of that family. A throw route ends the lookup in that table and the kernel goes on with the
    next rules (main), so destinations inside the mesh keep their normal routing.
  - Ownership is the rtnetlink protocol O(protocol) of rules and routes. Rules and routes with another protocol are
    never changed or deleted; a wanted route whose table and destination are taken by a route with another
    protocol is a conflict and the module fails before changing anything.
  - Order of changes, so that no packet falls through to the main table half way, is stale rules, stale routes,
    new routes, new rules.
  - Writes two C(ip -batch) files (one per address family, C(ip -batch) has no per-line family) that a boot unit
    replays with C(ip -4 -force -batch) and C(ip -6 -force -batch) after the GRE tunnels are up.
author:
  - meshover contributors (@meshover)
options:
  gateways:
    description:
      - The complete list of gathering hosts this node routes for. Owned rules and routes not needed by them are
        deleted, so an empty list removes everything this module installed.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: Name of the gathering host (for messages).
        type: str
        required: true
      table:
        description: Routing table id of this gateway (not 0 or 253..255).
        type: int
        required: true
      dev:
        description: This node's GRE tunnel to the gathering host.
        type: str
        required: true
      prefixes:
        description: The gathered prefixes (IPv4 and/or IPv6 CIDR, no default route).
        type: list
        elements: str
        required: true
  exempt:
    description: Destinations that keep normal routing even from a gathered source (the mesh's own prefixes).
    type: list
    elements: str
    default: []
  priority:
    description: Priority of the rules.
    type: int
    default: 10100
  protocol:
    description: rtnetlink protocol (1..255) that marks rules and routes as owned by meshover.
    type: int
    default: 77
  batch4_path:
    description: Path of the IPv4 C(ip -batch) replay file.
    type: path
    default: /etc/meshover/source-routing4.batch
  batch6_path:
    description: Path of the IPv6 C(ip -batch) replay file.
    type: path
    default: /etc/meshover/source-routing6.batch
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.PLATFORM_LINUX
  - meshover.mesh._pyroute2_dep
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Three diffs, the owned rules and routes (as C(ip) commands) and the two batch files.
seealso:
  - module: meshover.mesh.gre_tunnels
"""

EXAMPLES = r"""
- name: Send traffic sourced from n1's gathered blocks through the tunnel to n1
  meshover.mesh.source_routes:
    gateways:
      - host: n1
        table: 23168
        dev: mo-n1
        prefixes: [198.51.100.0/24, "2001:db8:100::/64"]
    exempt: [10.99.0.0/24, "fd46:76a3:fa9b::/48"]

- name: Remove every rule and route meshover installed for source routing
  meshover.mesh.source_routes:
    gateways: []
"""

RETURN = r"""
rules_added:
  description: Rules added, as C(ip) commands.
  returned: always
  type: list
  elements: str
  sample: ["ip -4 rule add priority 10100 from 198.51.100.0/24 lookup 23168 protocol 77"]
rules_deleted:
  description: Owned rules deleted.
  returned: always
  type: list
  elements: str
  sample: ["ip -4 rule del priority 10100 from 203.0.113.0/24 lookup 25017 protocol 77"]
routes_added:
  description: Routes added or replaced, as C(ip) commands.
  returned: always
  type: list
  elements: str
  sample: ["ip -4 route replace 0.0.0.0/0 dev mo-n1 table 23168 proto 77"]
routes_deleted:
  description: Owned routes deleted.
  returned: always
  type: list
  elements: str
  sample: []
batch_changed:
  description: Whether a batch file was (or would be) rewritten.
  returned: always
  type: bool
"""

import ipaddress
import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshover.mesh.plugins.module_utils.node import _pyroute2_dep
from ansible_collections.meshover.mesh.plugins.module_utils.node._files import read_text, write_atomic
from ansible_collections.meshover.mesh.plugins.module_utils.node._pyroute2_dep import NetlinkApplier, ensure_pyroute2
from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import run as run_bounded
from ansible_collections.meshover.mesh.plugins.module_utils.node._source_routing import (
    SourceRoutingError,
    change_steps,
    command,
    expand,
    plan_diff,
    render_batch,
    routes_from_ip_json,
    rules_from_ip_json,
    split_routes,
    state_lines,
)

AF_INET = 2
AF_INET6 = 10
FAMILIES = {4: AF_INET, 6: AF_INET6}
FR_ACT_TO_TBL = 1
RTN_UNICAST = 1
RTN_THROW = 9
RT_TYPES = {RTN_UNICAST: "unicast", RTN_THROW: "throw"}
NO_SUPPRESS = 0xFFFFFFFF
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
BATCH_MODE = 0o644


def open_iproute():
    """IPRoute with strict dump checking (the kernel filters route dumps by protocol and table), else plain."""
    try:
        return _pyroute2_dep.IPRoute(strict_check=True)
    except (_pyroute2_dep.NetlinkError, OSError, TypeError):
        return _pyroute2_dep.IPRoute()


def _cidr(addr, length, family):
    if addr is None:
        addr = "0.0.0.0" if family == 4 else "::"
    return str(ipaddress.ip_network(f"{addr}/{length}", strict=False))


def read_with_ip(module, protocol, tables):
    """(link index, owned rules, owned routes, foreign routes in the wanted tables) through iproute2's
    JSON output; None when this ip cannot give it (the caller then reads through netlink)."""
    ip = module.get_bin_path("ip")
    if not ip:
        return None

    def ip_json(*args):
        rc, out, err = run_bounded(module, [ip, "-N", "-j", *args])
        if rc != 0 and "table does not exist" in err:  # a table nobody has put a route in yet
            return []
        if rc != 0:
            raise ValueError(f"ip {' '.join(args)}: rc {rc}: {err.strip()}")
        return json.loads(out) if out.strip() else []

    try:
        index = {link["ifname"]: link["ifindex"] for link in ip_json("link", "show")}
        rules = {fam: ip_json(f"-{fam}", "rule", "show") for fam in (4, 6)}
        owned = {fam: ip_json(f"-{fam}", "route", "show", "table", "all", "proto", str(protocol)) for fam in (4, 6)}
        by_table = {
            fam: {t: ip_json(f"-{fam}", "route", "show", "table", str(t)) for t in sorted(tables.get(fam, ()))}
            for fam in (4, 6)
        }
        have_routes, foreign = routes_from_ip_json(owned, by_table, protocol)
        return index, rules_from_ip_json(rules, protocol), have_routes, foreign
    except (ValueError, KeyError, TypeError):
        return None


def read_with_netlink(module, protocol, tables):
    """The same as read_with_ip(), through pyroute2."""
    ensure_pyroute2(module)
    ipr = open_iproute()
    try:
        index = {link.get_attr("IFLA_IFNAME"): link["index"] for link in ipr.get_links()}
        names = {i: n for n, i in index.items()}
        have_routes, foreign = read_routes(ipr, names, protocol, tables)
        return index, read_rules(ipr, protocol), have_routes, foreign
    finally:
        ipr.close()


def read_rules(ipr, protocol):
    """Owned rules (protocol == ``protocol``) of both families, normalised."""
    out = []
    for fam, af in FAMILIES.items():
        for msg in ipr.get_rules(family=af):
            if msg.get_attr("FRA_PROTOCOL") != protocol:
                continue
            src = msg.get_attr("FRA_SRC")
            dst = msg.get_attr("FRA_DST")
            suppress = msg.get_attr("FRA_SUPPRESS_PREFIXLEN")
            other = (
                msg["action"] != FR_ACT_TO_TBL
                or any(msg.get_attr(a) is not None for a in ("FRA_IIFNAME", "FRA_OIFNAME", "FRA_FWMARK"))
                or suppress not in (None, NO_SUPPRESS)
            )
            out.append(
                {
                    "family": fam,
                    "priority": msg.get_attr("FRA_PRIORITY") or 0,
                    "src": _cidr(src, msg["src_len"], fam) if msg["src_len"] or src else None,
                    "dst": _cidr(dst, msg["dst_len"], fam) if msg["dst_len"] or dst else None,
                    "table": msg.get_attr("FRA_TABLE") or msg["table"],
                    "other": other,
                }
            )
    return out


def read_routes(ipr, names, protocol, tables):
    """Owned routes (both families) and the routes of other protocols in ``tables`` (per family)."""
    routes = []
    for fam, af in FAMILIES.items():
        routes.extend(_route(msg, fam, names) for msg in ipr.get_routes(family=af, proto=protocol))
        for table in sorted(tables.get(fam, ())):
            routes.extend(_route(msg, fam, names) for msg in ipr.get_routes(family=af, table=table))
    return split_routes(routes, protocol, tables)


def _route(msg, fam, names):
    rtype = RT_TYPES.get(msg["type"], str(msg["type"]))
    oif = msg.get_attr("RTA_OIF")
    return {
        "family": fam,
        "table": msg.get_attr("RTA_TABLE") or msg["table"],
        "type": rtype,
        "dst": _cidr(msg.get_attr("RTA_DST"), msg["dst_len"], fam),
        "dev": names.get(oif, str(oif)) if rtype == "unicast" and oif is not None else None,
        "protocol": msg["proto"],
        "other": bool(msg["src_len"] or msg.get_attr("RTA_GATEWAY") or msg.get_attr("RTA_MULTIPATH")),
    }


class Applier(NetlinkApplier):
    """Applies the steps of _source_routing.change_steps() through pyroute2; every step is one netlink call
    (the boot files hold the same kind of steps: _source_routing.ip_line())."""

    @staticmethod
    def _rule_args(step):
        rule = step.obj
        args = {"family": FAMILIES[rule["family"]], "priority": rule["priority"], "table": rule["table"]}
        args["protocol"] = step.proto
        for what in ("src", "dst"):
            if rule.get(what):
                net = ipaddress.ip_network(rule[what])
                args[what] = str(net.network_address)
                args[f"{what}_len"] = net.prefixlen
        return args

    @staticmethod
    def _route_args(step):
        route = step.obj
        net = ipaddress.ip_network(route["dst"])
        args = {
            "family": FAMILIES[route["family"]],
            "dst": str(net.network_address),
            "dst_len": net.prefixlen,
            "table": route["table"],
            "proto": step.proto,
            "type": route["type"] if route["type"] in ("unicast", "throw") else None,
        }
        return {k: v for k, v in args.items() if v is not None}

    def apply(self, step):
        text = command(step)
        if step.kind == "rule" and step.verb == "del":
            self._nl(text, self.ipr.rule, "del", **self._rule_args(step))
        elif step.kind == "rule" and step.verb == "add":
            self._nl(text, self.ipr.rule, "add", action="FR_ACT_TO_TBL", **self._rule_args(step))
        elif step.kind == "route" and step.verb == "del":
            # any scope, as ip route del does (a dev route without gateway has scope link)
            self._nl(text, self.ipr.route, "del", scope=RT_SCOPE_NOWHERE, **self._route_args(step))
        elif step.kind == "route" and step.verb == "replace":
            args = self._route_args(step)
            if step.obj["type"] == "unicast":
                args["oif"] = self.index[step.obj["dev"]]
                args["scope"] = RT_SCOPE_LINK
            self._nl(text, self.ipr.route, "replace", **args)
        else:
            self.module.fail_json(msg=f"unknown step {step.kind} {step.verb}")


def _commands(steps, kind, verb):
    return [command(step) for step in steps if (step.kind, step.verb) == (kind, verb)]


def main():
    gateway_spec = dict(
        host=dict(type="str", required=True),
        table=dict(type="int", required=True),
        dev=dict(type="str", required=True),
        prefixes=dict(type="list", elements="str", required=True),
    )
    module = AnsibleModule(
        argument_spec=dict(
            gateways=dict(type="list", elements="dict", required=True, options=gateway_spec),
            exempt=dict(type="list", elements="str", default=[]),
            priority=dict(type="int", default=10100),
            protocol=dict(type="int", default=77),
            batch4_path=dict(type="path", default="/etc/meshover/source-routing4.batch"),
            batch6_path=dict(type="path", default="/etc/meshover/source-routing6.batch"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    proto = p["protocol"]
    if not 1 <= proto <= 255 or proto in (2, 3):  # 2 kernel, 3 boot: never ours
        module.fail_json(msg=f"protocol {proto} is not usable: pick 4..255 (default 77)")
    if not 1 <= p["priority"] <= 32765:
        module.fail_json(msg=f"priority {p['priority']} is not usable: pick 1..32765 (before the main table)")
    try:
        rules, routes = expand(p["gateways"], p["exempt"], p["priority"])
    except SourceRoutingError as e:
        module.fail_json(msg=str(e))
    want = {"rules": rules, "routes": routes}
    batches = {fam: render_batch(rules, routes, fam, proto) for fam in (4, 6)}
    paths = {4: p["batch4_path"], 6: p["batch6_path"]}
    tables = {}
    for r in routes:
        tables.setdefault(r["family"], set()).add(r["table"])
    index, have_rules, have_routes, foreign = read_with_ip(module, proto, tables) or read_with_netlink(
        module, proto, tables
    )
    diff = plan_diff(want, {"rules": have_rules, "routes": have_routes, "foreign_routes": foreign})
    if diff["conflicts"]:
        module.fail_json(msg="; ".join(diff["conflicts"]))
    steps = change_steps(diff, proto)
    devs = {s.obj["dev"] for s in steps if (s.kind, s.verb) == ("route", "replace") and s.obj["type"] == "unicast"}
    missing = sorted(devs - set(index))
    if missing and not module.check_mode:
        module.fail_json(
            msg=f"interface(s) {', '.join(missing)} do not exist: converge meshover.mesh.gre_overlay first"
        )
    if missing:
        module.warn(f"interface(s) {', '.join(missing)} do not exist yet (check mode)")

    old = {fam: read_text(paths[fam]) for fam in (4, 6)}
    batch_changed = any(old[fam] != batches[fam] for fam in (4, 6))
    live_changes = bool(steps)
    result = dict(
        changed=live_changes or batch_changed,
        rules_added=_commands(steps, "rule", "add"),
        rules_deleted=_commands(steps, "rule", "del"),
        routes_added=_commands(steps, "route", "replace"),
        routes_deleted=_commands(steps, "route", "del"),
        batch_changed=batch_changed,
    )

    if live_changes and not module.check_mode:
        ensure_pyroute2(module)  # only now: importing it costs seconds on small nodes
        ipr = open_iproute()
        try:
            Applier(module, ipr, index).apply_steps(steps)
        finally:
            ipr.close()
    if not module.check_mode:
        for fam in (4, 6):
            if old[fam] != batches[fam]:
                write_atomic(paths[fam], batches[fam], BATCH_MODE, dir_mode=0o755)

    if module._diff:
        result["diff"] = [
            {
                "before_header": "owned rules and routes",
                "after_header": "owned rules and routes",
                "before": state_lines(have_rules, have_routes, proto),
                "after": state_lines(rules, routes, proto),
            }
        ] + [
            {
                "before_header": paths[fam],
                "after_header": paths[fam],
                "before": old[fam] or "",
                "after": batches[fam],
            }
            for fam in (4, 6)
        ]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
