# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import contextlib
import ipaddress
import json

import pytest
from ansible.module_utils import basic
from module_args import bounded, patch_module_args

from ansible_collections.meshover.mesh.plugins.module_utils.node import _pyroute2_dep
from ansible_collections.meshover.mesh.plugins.modules import source_routes

GW = {"host": "n1", "table": 22742, "dev": "mo-n1", "prefixes": ["198.51.100.0/24", "2001:db8:100::/64"]}
EXEMPT = ["10.99.0.0/24", "fd46:76a3:fa9b::/48"]
AF = {2: 4, 10: 6}
TYPES = {"unicast": 1, "throw": 9}


@contextlib.contextmanager
def set_module_args(args):
    with patch_module_args(args):
        yield


class Msg:
    """Minimal stand-in for a pyroute2 netlink message: get_attr() and [field]."""

    def __init__(self, fields, attrs):
        self.fields = fields
        self.attrs = attrs

    def get_attr(self, name):
        return self.attrs.get(name)

    def __getitem__(self, key):
        return self.fields[key]


class FakeKernel:
    """Links, rules and routes; FakeIPRoute() instances operate on it like the kernel would."""

    def __init__(self):
        self.links = {"lo": 1, "eth0": 2, "mo-n1": 7, "mo-n3": 8}
        self.rules = []  # dicts: family, priority, src, dst, table, protocol, action
        self.routes = []  # dicts: family, table, type, dst, oif, protocol
        self.calls = []

    def rule_msgs(self, family):
        for r in self.rules:
            if r["family"] != AF[family]:
                continue
            src = ipaddress.ip_network(r["src"]) if r.get("src") else None
            attrs = {"FRA_TABLE": r["table"], "FRA_PRIORITY": r["priority"], "FRA_PROTOCOL": r["protocol"]}
            attrs["FRA_SUPPRESS_PREFIXLEN"] = 0xFFFFFFFF
            if src is not None:
                attrs["FRA_SRC"] = str(src.network_address)
            fields = {"family": family, "src_len": src.prefixlen if src else 0, "dst_len": 0, "table": 252}
            fields["action"] = r.get("action", 1)
            yield Msg(fields, attrs)

    def route_msgs(self, family, proto=None, table=None):
        for r in self.routes:
            if r["family"] != AF[family] or (proto is not None and r["protocol"] != proto):
                continue
            if table is not None and r["table"] != table:
                continue
            net = ipaddress.ip_network(r["dst"])
            attrs = {"RTA_TABLE": r["table"], "RTA_OIF": r.get("oif")}
            if net.prefixlen:
                attrs["RTA_DST"] = str(net.network_address)
            fields = {"family": family, "dst_len": net.prefixlen, "src_len": 0, "type": TYPES[r["type"]]}
            fields.update(proto=r["protocol"], table=252)
            yield Msg(fields, attrs)

    def ip_json(self, args):
        """What `ip -N -j ...` prints for this model (iproute2 6.1: numbers for tables, protocols and types;
        the table and protocol a query filters on are left out)."""
        names = {i: n for n, i in self.links.items()}
        if args[:2] == ["link", "show"]:
            return [{"ifindex": i, "ifname": n} for n, i in self.links.items()]
        fam = int(args[0][1])
        if args[1] == "rule":
            out = [{"priority": 0, "src": "all", "table": "255"}]
            for r in self.rules:
                if r["family"] != fam:
                    continue
                j = {"priority": r["priority"], "src": "all"}
                if r.get("src"):
                    net = ipaddress.ip_network(r["src"])
                    j.update(src=str(net.network_address), srclen=net.prefixlen)
                if r.get("action", 1) == 1:
                    j["table"] = str(r["table"])
                else:
                    j["action"] = "unreachable"
                j["protocol"] = str(r["protocol"])
                out.append(j)
            return out
        table = None if args[4] == "all" else int(args[4])
        if table is not None and not any(r["table"] == table and r["family"] == fam for r in self.routes):
            raise LookupError(f"Error: ipv{fam}: FIB table does not exist.\nDump terminated\n")
        proto = int(args[6]) if "proto" in args else None
        out = []
        for r in self.routes:
            if r["family"] != fam or (proto is not None and r["protocol"] != proto):
                continue
            if table is not None and r["table"] != table:
                continue
            net = ipaddress.ip_network(r["dst"])
            j = {"type": "9"} if r["type"] == "throw" else {}
            j["dst"] = "default" if net.prefixlen == 0 else str(net)
            if r["type"] == "unicast":
                j["dev"] = names[r["oif"]]
            if proto is None and r["protocol"] != 3:
                j["protocol"] = str(r["protocol"])
            if table is None and r["table"] != 254:
                j["table"] = str(r["table"])
            out.append(j)
        return out


class FakeIPRoute:
    kernel: FakeKernel

    def __init__(self, strict_check=False):
        self.strict_check = strict_check

    def close(self):
        pass

    def get_links(self):
        return [Msg({"index": i}, {"IFLA_IFNAME": n}) for n, i in self.kernel.links.items()]

    def get_rules(self, family):
        return list(self.kernel.rule_msgs(family))

    def get_routes(self, family, proto=None, table=None):
        return list(self.kernel.route_msgs(family, proto, table))

    def rule(self, command, **kw):
        self.kernel.calls.append(("rule", command, kw))
        src = f"{kw['src']}/{kw['src_len']}" if "src" in kw else None
        entry = {"family": AF[kw["family"]], "priority": kw["priority"], "src": src, "table": kw["table"]}
        entry["protocol"] = kw["protocol"]
        if command == "add":
            self.kernel.rules.append(entry)
        else:
            match = [r for r in self.kernel.rules if all(r.get(k) == v for k, v in entry.items())]
            if not match:
                raise _pyroute2_dep.NetlinkError(2, "No such file or directory")
            self.kernel.rules.remove(match[0])

    def route(self, command, **kw):
        self.kernel.calls.append(("route", command, kw))
        dst = str(ipaddress.ip_network(f"{kw['dst']}/{kw['dst_len']}"))
        key = (AF[kw["family"]], kw["table"], dst)
        current = [r for r in self.kernel.routes if (r["family"], r["table"], r["dst"]) == key]
        if command == "del":
            assert kw.get("scope") == 255  # any scope, or a link-scope dev route would not match
            if not current or current[0]["protocol"] != kw["proto"]:
                raise _pyroute2_dep.NetlinkError(3, "No such process")
            self.kernel.routes.remove(current[0])
        else:
            for r in current:
                self.kernel.routes.remove(r)
            self.kernel.routes.append(
                {"family": key[0], "table": key[1], "dst": dst, "type": kw.get("type", "unicast"), "oif": kw.get("oif")}
                | {"protocol": kw["proto"]}
            )


@pytest.fixture
def kernel(monkeypatch):
    k = FakeKernel()
    FakeIPRoute.kernel = k
    k.ip_works = True
    k.ip_calls = 0
    monkeypatch.setattr(_pyroute2_dep, "IPRoute", FakeIPRoute)
    monkeypatch.setattr(_pyroute2_dep, "HAS_PYROUTE2", True)

    def run_command(self, args, **kw):
        args = bounded(args)
        assert args[:3] == ["/usr/sbin/ip", "-N", "-j"], args
        k.ip_calls += 1
        if not k.ip_works:
            return 255, "", 'Option "-N" is unknown'
        try:
            return 0, json.dumps(k.ip_json(list(args[3:]))), ""
        except LookupError as e:  # what ip does for a table without routes: "[" on stdout, rc 2
            return 2, "[", str(e)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: f"/usr/sbin/{name}")
    return k


def run_module(capsys, tmp_path, check=False, diff=False, **params):
    args = {
        "gateways": [GW],
        "exempt": EXEMPT,
        "batch4_path": str(tmp_path / "sr4.batch"),
        "batch6_path": str(tmp_path / "sr6.batch"),
        "_ansible_check_mode": check,
        "_ansible_diff": diff,
    }
    args.update(params)
    with set_module_args(args), pytest.raises(SystemExit):
        source_routes.main()
    return json.loads(capsys.readouterr().out)


def test_create_then_idempotent(kernel, capsys, tmp_path):
    res = run_module(capsys, tmp_path)
    assert res["changed"] is True
    assert res["rules_added"] == [
        "ip -4 rule add priority 10100 from 198.51.100.0/24 lookup 22742 protocol 77",
        "ip -6 rule add priority 10100 from 2001:db8:100::/64 lookup 22742 protocol 77",
    ]
    assert len(res["routes_added"]) == 4
    assert sorted((r["family"], r["src"], r["table"]) for r in kernel.rules) == [
        (4, "198.51.100.0/24", 22742),
        (6, "2001:db8:100::/64", 22742),
    ]
    defaults = [r for r in kernel.routes if r["type"] == "unicast"]
    assert [(r["dst"], r["oif"]) for r in defaults] == [("0.0.0.0/0", 7), ("::/0", 7)]
    # routes before rules: no packet meets a rule whose table is still empty
    kinds = [c[0] for c in kernel.calls]
    assert kinds.index("rule") > max(i for i, k in enumerate(kinds) if k == "route")
    assert (tmp_path / "sr4.batch").read_text().splitlines()[-1] == (
        "rule add priority 10100 from 198.51.100.0/24 lookup 22742 protocol 77"
    )
    assert "route replace ::/0 dev mo-n1 table 22742 proto 77" in (tmp_path / "sr6.batch").read_text()
    kernel.calls.clear()
    res = run_module(capsys, tmp_path)
    assert res["changed"] is False and kernel.calls == []


def test_check_mode_changes_nothing_and_diffs(kernel, capsys, tmp_path):
    res = run_module(capsys, tmp_path, check=True, diff=True)
    assert res["changed"] is True and kernel.calls == [] and kernel.rules == []
    assert not (tmp_path / "sr4.batch").exists()
    state = res["diff"][0]
    assert state["before"] == ""
    assert "ip -4 route replace throw 10.99.0.0/24 table 22742 proto 77" in state["after"]
    assert res["diff"][1]["before_header"].endswith("sr4.batch")


def test_removal_deletes_only_owned(kernel, capsys, tmp_path):
    run_module(capsys, tmp_path)
    foreign_rule = {"family": 4, "priority": 100, "src": "192.0.2.0/24", "table": 100, "protocol": 4}
    foreign_route = {"family": 4, "table": 100, "dst": "0.0.0.0/0", "type": "unicast", "oif": 2, "protocol": 4}
    kernel.rules.append(foreign_rule)
    kernel.routes.append(foreign_route)
    res = run_module(capsys, tmp_path, gateways=[])
    assert res["changed"] is True
    assert res["rules_deleted"][0] == "ip -4 rule del priority 10100 from 198.51.100.0/24 lookup 22742 protocol 77"
    assert kernel.rules == [foreign_rule] and kernel.routes == [foreign_route]
    assert [line for line in (tmp_path / "sr4.batch").read_text().splitlines() if not line.startswith("#")] == []
    # rules go before routes
    kinds = [c[:2] for c in kernel.calls if c[1] == "del"]
    assert kinds[0] == ("rule", "del") and kinds[-1] == ("route", "del")


def test_tunnel_rename_replaces_the_default_route(kernel, capsys, tmp_path):
    run_module(capsys, tmp_path)
    res = run_module(capsys, tmp_path, gateways=[{**GW, "dev": "mo-n3"}])
    assert res["routes_deleted"] == [
        "ip -4 route del 0.0.0.0/0 dev mo-n1 table 22742 proto 77",
        "ip -6 route del ::/0 dev mo-n1 table 22742 proto 77",
    ]
    assert sorted(r["oif"] for r in kernel.routes if r["type"] == "unicast") == [8, 8]
    assert res["rules_added"] == [] and res["rules_deleted"] == []


def test_foreign_route_in_our_table_fails_before_any_change(kernel, capsys, tmp_path):
    kernel.routes.append({"family": 4, "table": 22742, "dst": "0.0.0.0/0", "type": "unicast", "oif": 2, "protocol": 4})
    res = run_module(capsys, tmp_path)
    assert res["failed"] is True and "meshover did not install (protocol 4)" in res["msg"]
    assert kernel.calls == []


def test_missing_tunnel_fails_but_check_mode_warns(kernel, capsys, tmp_path):
    del kernel.links["mo-n1"]
    res = run_module(capsys, tmp_path, check=True)
    assert res["changed"] is True and "mo-n1" in json.dumps(res["warnings"])
    res = run_module(capsys, tmp_path)
    assert res["failed"] is True and "gre_overlay" in res["msg"] and kernel.calls == []


@pytest.mark.parametrize(
    "params, message",
    [
        ({"protocol": 2}, "protocol 2 is not usable"),
        ({"priority": 32766}, "priority 32766 is not usable"),
        ({"gateways": [{**GW, "table": 255}]}, "not a usable table id"),
    ],
)
def test_bad_parameters(kernel, capsys, tmp_path, params, message):
    res = run_module(capsys, tmp_path, **params)
    assert res["failed"] is True and message in res["msg"]


def test_unchanged_run_reads_with_ip_only(kernel, capsys, tmp_path, monkeypatch):
    def load():
        raise AssertionError("pyroute2 imported by an unchanged run")

    with monkeypatch.context() as m:  # check mode on a fresh node: the tables do not exist yet
        m.setattr(_pyroute2_dep, "load", load)
        res = run_module(capsys, tmp_path, check=True)
        assert res["changed"] is True and len(res["routes_added"]) == 4 and kernel.calls == []
    run_module(capsys, tmp_path)
    monkeypatch.setattr(_pyroute2_dep, "HAS_PYROUTE2", None)
    monkeypatch.setattr(_pyroute2_dep, "load", load)
    kernel.calls.clear()
    res = run_module(capsys, tmp_path)
    assert res["changed"] is False and kernel.calls == [] and kernel.ip_calls > 0
    res = run_module(capsys, tmp_path, check=True, gateways=[])
    assert res["changed"] is True and len(res["rules_deleted"]) == 2 and len(kernel.rules) == 2


def test_netlink_read_gives_the_same_as_ip(kernel, capsys, tmp_path):
    run_module(capsys, tmp_path)
    kernel.routes.append(
        {"family": 4, "table": 22742, "dst": "192.0.2.0/24", "type": "unicast", "oif": 7, "protocol": 4}
    )
    kernel.ip_works = False
    res_nl = run_module(capsys, tmp_path, check=True, gateways=[])
    kernel.ip_works = True
    res_ip = run_module(capsys, tmp_path, check=True, gateways=[])
    assert res_nl == res_ip and len(res_ip["routes_deleted"]) == 4
    tables = {4: {22742}, 6: {22742}}
    module = type(
        "M", (), {"get_bin_path": lambda self, n: f"/usr/sbin/{n}", "run_command": basic.AnsibleModule.run_command}
    )
    via_ip = source_routes.read_with_ip(module(), 77, tables)
    kernel.ip_works = False
    via_nl = source_routes.read_with_netlink(module(), 77, tables)
    assert via_ip == via_nl and len(via_ip[3]) == 1 and via_ip[3][0]["protocol"] == 4


def call_of(cmd):
    """(kind, netlink command, family, table) of a returned ``ip -F <kind> <verb> ... table|lookup T ...``."""
    words = cmd.split()
    table = words[words.index("lookup" if words[2] == "rule" else "table") + 1]
    return words[2], words[3], {"-4": 2, "-6": 10}[words[1]], int(table)


def test_netlink_calls_and_boot_files_are_the_returned_steps(kernel, capsys, tmp_path):
    res = run_module(capsys, tmp_path)
    steps = res["routes_added"] + res["rules_added"]
    # one netlink call a step, in the steps' order
    assert [(c[0], c[1], c[2]["family"], c[2]["table"]) for c in kernel.calls] == [call_of(s) for s in steps]
    # from nothing, the live steps are the boot files' lines (with their family in front)
    boot = [
        f"ip -{fam} {line}"
        for fam in (4, 6)
        for line in (tmp_path / f"sr{fam}.batch").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert sorted(boot) == sorted(steps) and len(boot) == 6
    kernel.calls.clear()
    res = run_module(capsys, tmp_path, gateways=[{**GW, "table": 23000}])
    steps = res["rules_deleted"] + res["routes_deleted"] + res["routes_added"] + res["rules_added"]
    assert [(c[0], c[1], c[2]["family"], c[2]["table"]) for c in kernel.calls] == [call_of(s) for s in steps]
    assert len(steps) == 12 and {r["table"] for r in kernel.rules + kernel.routes} == {23000}
