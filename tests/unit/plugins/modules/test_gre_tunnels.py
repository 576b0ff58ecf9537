# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import contextlib
import copy
import json

import pytest
from ansible.module_utils import basic
from module_args import bounded, patch_module_args

from ansible_collections.meshover.mesh.plugins.module_utils.node import _pyroute2_dep
from ansible_collections.meshover.mesh.plugins.module_utils.node._gre import render_batch
from ansible_collections.meshover.mesh.plugins.modules import gre_tunnels

LOCAL = "fd4b:1c2a:77e0:1:1111:2222:3333:4444"
R2 = "fd4b:1c2a:77e0:1:9a3b:11f2:d0c4:8e21"
R3 = "fd4b:1c2a:77e0:1:5c1d:e3aa:4410:2f09"
LL = "fe80::1111:2222:3333:4444/64"
WANT = [
    {"name": "mo-n2", "peer": "n2", "local": LOCAL, "remote": R2, "link_local": LL, "mtu": 1376},
    {"name": "mo-n3", "peer": "n3", "local": LOCAL, "remote": R3, "link_local": LL, "mtu": 1376},
]


@contextlib.contextmanager
def set_module_args(args):
    with patch_module_args(args):
        yield


class Msg:
    """Minimal stand-in for a pyroute2 netlink message / NLA: get_attr() and [field]."""

    def __init__(self, fields=None, attrs=None):
        self.fields = fields or {}
        self.attrs = attrs or {}

    def get_attr(self, name):
        return self.attrs.get(name)

    def __getitem__(self, key):
        return self.fields[key]


class FakeKernel:
    """A tiny model of the links and addresses; FakeIPRoute() instances operate on it."""

    def __init__(self, af_spec_works=True):
        self.links = {}
        self.next_index = 1
        self.calls = []
        self.af_spec_works = af_spec_works
        self.closed = 0
        self.reads = 0
        self.ip_works = True
        self.add_link("lo", None, mtu=65536, up=True, addresses=["::1/128"])
        self.add_link("eth1", None, alias="uplink", mtu=1500, up=True, addresses=["fd00:10::1/64"])

    def add_link(self, name, kind, **kw):
        link = {
            "name": name,
            "kind": kind,
            "alias": None,
            "mtu": 1500,
            "up": False,
            "addresses": [],
            "addrgenmode": 0,
            "data": {},
        }
        link.update(kw)
        link["index"] = self.next_index
        self.next_index += 1
        self.links[name] = link
        return link

    def add_tunnel(self, name, peer, remote, **kw):
        data = {"IFLA_IP6GRE_LOCAL": LOCAL, "IFLA_IP6GRE_REMOTE": remote, "IFLA_IP6GRE_TTL": 64, "IFLA_IP6GRE_FLAGS": 1}
        data.update(kw.pop("data", {}))
        params = dict(alias=f"meshover:{peer}", mtu=1376, up=True, addresses=[LL], addrgenmode=1, data=data)
        params.update(kw)
        return self.add_link(name, "ip6gre", **params)

    def ip_json(self, args):
        """What `ip -j -d link show` / `ip -j -6 addr show` print for this model (iproute2 6.1)."""
        modes = {0: "eui64", 1: "none", 2: "stable_secret", 3: "random"}
        if "link" in args:
            out = []
            for link in self.links.values():
                j = {"ifindex": link["index"], "ifname": link["name"], "flags": ["UP"] if link["up"] else []}
                j.update(mtu=link["mtu"], inet6_addr_gen_mode=modes[link["addrgenmode"]])
                if link["alias"] is not None:
                    j["ifalias"] = link["alias"]
                if link["kind"]:
                    d = link["data"]
                    data = {"remote": d.get("IFLA_IP6GRE_REMOTE"), "local": d.get("IFLA_IP6GRE_LOCAL")}
                    data["ttl"] = d.get("IFLA_IP6GRE_TTL") or "inherit"
                    if d.get("IFLA_IP6GRE_FLAGS", 0) & 1:
                        data["ip6_tnl_f_ign_encap_limit"] = True
                    else:
                        data["encap_limit"] = 4
                    j["linkinfo"] = {"info_kind": link["kind"], "info_data": data}
                out.append(j)
            return json.dumps(out)
        out = []
        for link in self.links.values():
            pairs = [a.split("/") for a in link["addresses"]]
            info = [{"family": "inet6", "local": addr, "prefixlen": int(plen)} for addr, plen in pairs]
            out.append({"ifindex": link["index"], "ifname": link["name"], "addr_info": info})
        return json.dumps(out)

    def by_index(self, idx):
        return next(link for link in self.links.values() if link["index"] == idx)

    def msg(self, link):
        linkinfo = None
        if link["kind"]:
            linkinfo = Msg(attrs={"IFLA_INFO_KIND": link["kind"], "IFLA_INFO_DATA": Msg(attrs=link["data"])})
        af_spec = Msg(attrs={"AF_INET6": Msg(attrs={"IFLA_INET6_ADDR_GEN_MODE": link["addrgenmode"]})})
        return Msg(
            fields={"index": link["index"], "flags": 1 if link["up"] else 0},
            attrs={
                "IFLA_IFNAME": link["name"],
                "IFLA_IFALIAS": link["alias"],
                "IFLA_MTU": link["mtu"],
                "IFLA_LINKINFO": linkinfo,
                "IFLA_AF_SPEC": af_spec,
            },
        )


class FakeIPRoute:
    kernel = None

    def __init__(self):
        self.k = FakeIPRoute.kernel

    def close(self):
        self.k.closed += 1

    def get_links(self, *indexes):
        links = [self.k.by_index(i) for i in indexes] if indexes else list(self.k.links.values())
        return [self.k.msg(link) for link in links]

    def get_addr(self, family=None):
        out = []
        for link in self.k.links.values():
            for a in link["addresses"]:
                addr, plen = a.split("/")
                out.append(Msg(fields={"index": link["index"], "prefixlen": int(plen)}, attrs={"IFA_ADDRESS": addr}))
        return out

    def link_lookup(self, ifname):
        return [self.k.links[ifname]["index"]] if ifname in self.k.links else []

    def link(self, cmd, **kw):
        self.k.calls.append(("link", cmd, kw))
        if cmd == "add":
            data = {
                "IFLA_IP6GRE_LOCAL": kw["ip6gre_local"],
                "IFLA_IP6GRE_REMOTE": kw["ip6gre_remote"],
                "IFLA_IP6GRE_TTL": kw["ip6gre_ttl"],
                "IFLA_IP6GRE_FLAGS": kw["ip6gre_flags"],
            }
            self.k.add_link(kw["ifname"], kw["kind"], data=data)
        elif cmd == "del":
            link = self.k.by_index(kw["index"])
            assert link["alias"] and link["alias"].startswith("meshover:"), f"deleted a foreign link {link['name']}"
            del self.k.links[link["name"]]
        elif cmd == "set":
            link = self.k.by_index(kw["index"])
            if "IFLA_AF_SPEC" in kw and self.k.af_spec_works:
                link["addrgenmode"] = kw["IFLA_AF_SPEC"]["attrs"][0][1]["attrs"][0][1]
            if "mtu" in kw:
                link["mtu"] = kw["mtu"]
            if "ifalias" in kw:
                link["alias"] = kw["ifalias"]
            if kw.get("state") == "up":
                assert link["addrgenmode"] == 1 or link["kind"] != "ip6gre", "link set up before addrgenmode none"
                link["up"] = True

    def addr(self, cmd, index, address, prefixlen):
        self.k.calls.append(("addr", cmd, {"index": index, "address": f"{address}/{prefixlen}"}))
        link = self.k.by_index(index)
        cidr = f"{address}/{prefixlen}"
        if cmd == "add":
            link["addresses"].append(cidr)
        elif cmd == "del":
            link["addresses"].remove(cidr)


@pytest.fixture
def kernel(monkeypatch):
    k = FakeKernel()
    FakeIPRoute.kernel = k
    monkeypatch.setattr(_pyroute2_dep, "IPRoute", FakeIPRoute)
    monkeypatch.setattr(_pyroute2_dep, "HAS_PYROUTE2", True)
    k.commands = []

    def run_command(self, args, **kw):
        args = bounded(args)
        if args[1] == "-j":
            k.reads += 1
            return (0, k.ip_json(args), "") if k.ip_works else (255, "", "Option -j is unknown")
        k.commands.append(list(args))
        if args[-1] == "addrgenmode" or args[-2:] == ["addrgenmode", "none"]:
            k.links[args[4]]["addrgenmode"] = 1
        return 0, "", ""

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: f"/usr/sbin/{name}")
    return k


def run(tmp_path, capsys, tunnels=None, check=False, diff=True, **kw):
    args = {
        "tunnels": WANT if tunnels is None else tunnels,
        "batch_path": str(tmp_path / "etc" / "gre.batch"),
        "_ansible_check_mode": check,
        "_ansible_diff": diff,
        "_ansible_remote_tmp": str(tmp_path / "tmp"),
    }
    args.update(kw)
    with set_module_args(args), pytest.raises(SystemExit) as exc:
        gre_tunnels.main()
    return json.loads(capsys.readouterr().out), exc.value.code


def mutations(kernel):
    return [(c[0], c[1], c[2].get("ifname") or c[2].get("index")) for c in kernel.calls]


def test_creates_from_scratch_then_idempotent(tmp_path, kernel, capsys):
    result, rc = run(tmp_path, capsys)
    assert rc == 0, result
    assert result["created"] == ["mo-n2", "mo-n3"] and result["changed"] and result["batch_changed"]
    n2 = kernel.links["mo-n2"]
    assert n2["alias"] == "meshover:n2" and n2["mtu"] == 1376 and n2["up"] and n2["addrgenmode"] == 1
    assert n2["addresses"] == [LL]
    assert n2["data"] == {
        "IFLA_IP6GRE_LOCAL": LOCAL,
        "IFLA_IP6GRE_REMOTE": R2,
        "IFLA_IP6GRE_TTL": 64,
        "IFLA_IP6GRE_FLAGS": 1,
    }
    add = next(c for c in kernel.calls if c[1] == "add")
    assert add[2]["kind"] == "ip6gre" and add[2]["ip6gre_encap_limit"] == 4
    assert (tmp_path / "etc" / "gre.batch").read_text() == render_batch(WANT)
    assert kernel.commands == [], "pyroute2 af_spec worked, no ip fallback expected"
    assert kernel.closed == 1

    kernel.calls.clear()
    result, rc = run(tmp_path, capsys)
    assert rc == 0 and result["changed"] is False, result
    assert kernel.calls == []
    assert (result["created"], result["deleted"], result["modified"], result["recreated"]) == ([], [], [], [])
    assert kernel.closed == 1, "an unchanged run reads with ip -j and never opens netlink"


def test_unchanged_run_does_not_import_pyroute2(tmp_path, kernel, capsys, monkeypatch):
    run(tmp_path, capsys)
    monkeypatch.setattr(_pyroute2_dep, "HAS_PYROUTE2", None)

    def load():
        raise AssertionError("pyroute2 imported by an unchanged run")

    monkeypatch.setattr(_pyroute2_dep, "load", load)
    result, rc = run(tmp_path, capsys)
    assert rc == 0 and result["changed"] is False, result
    result, rc = run(tmp_path, capsys, check=True, tunnels=WANT[:1])
    assert rc == 0 and result["deleted"] == ["mo-n3"] and "mo-n3" in kernel.links


def test_reads_through_netlink_when_ip_has_no_json(tmp_path, kernel, capsys):
    kernel.ip_works = False
    result, rc = run(tmp_path, capsys)
    assert rc == 0 and result["created"] == ["mo-n2", "mo-n3"]
    result, rc = run(tmp_path, capsys)
    assert rc == 0 and result["changed"] is False and kernel.closed == 3  # read, apply, read


def test_addrgenmode_falls_back_to_ip(tmp_path, kernel, capsys):
    kernel.af_spec_works = False
    result, rc = run(tmp_path, capsys, tunnels=WANT[:1])
    assert rc == 0, result
    assert kernel.commands == [["/usr/sbin/ip", "link", "set", "dev", "mo-n2", "addrgenmode", "none"]]
    assert kernel.links["mo-n2"]["up"]


def test_reconcile_mixed(tmp_path, kernel, capsys):
    kernel.add_tunnel("mo-n2", "n2", R2, mtu=1448, addresses=[LL, "fe80::5054:ff:fe00:1/64"], addrgenmode=0)
    kernel.add_tunnel("mo-n3", "n3", "fd00::dead")  # remote moved
    kernel.add_tunnel("mo-n9", "n9", "fd00::99")  # owned, unwanted
    kernel.add_link("gre-x", "ip6gre", alias="not ours", data={"IFLA_IP6GRE_REMOTE": "fd00::77"})
    result, rc = run(tmp_path, capsys)
    assert rc == 0, result
    assert result["deleted"] == ["mo-n9"]
    assert result["recreated"] == ["mo-n3"]
    assert result["modified"] == ["mo-n2"]
    assert result["created"] == []
    assert "mo-n9" not in kernel.links and "gre-x" in kernel.links
    assert kernel.links["mo-n3"]["data"]["IFLA_IP6GRE_REMOTE"] == R3
    assert kernel.links["mo-n2"]["mtu"] == 1376 and kernel.links["mo-n2"]["addresses"] == [LL]
    assert kernel.links["mo-n2"]["addrgenmode"] == 1
    # deletes happen before creates (a re-created tunnel may reuse local/remote)
    ops = [(c[0], c[1]) for c in kernel.calls]
    assert ops.index(("link", "del")) < ops.index(("link", "add"))
    before = result["diff"][0]["before"]
    assert set(before) == {"mo-n2", "mo-n3", "mo-n9"}, "foreign links must not appear in the diff"


def test_check_mode_changes_nothing(tmp_path, kernel, capsys):
    kernel.add_tunnel("mo-n9", "n9", "fd00::99")
    result, rc = run(tmp_path, capsys, check=True)
    assert rc == 0
    assert result["changed"] and result["created"] == ["mo-n2", "mo-n3"] and result["deleted"] == ["mo-n9"]
    assert kernel.calls == [] and kernel.commands == []
    assert not (tmp_path / "etc" / "gre.batch").exists()
    assert "link add mo-n2 type ip6gre" in result["diff"][1]["after"]


def test_foreign_name_conflict_fails_before_any_change(tmp_path, kernel, capsys):
    kernel.add_link("mo-n3", "ip6gre", alias=None)
    kernel.add_tunnel("mo-n9", "n9", "fd00::99")
    result, rc = run(tmp_path, capsys)
    assert rc == 1 and "mo-n3" in result["msg"] and "not owned" in result["msg"]
    assert kernel.calls == []
    assert "mo-n9" in kernel.links


def test_empty_list_removes_only_owned(tmp_path, kernel, capsys):
    kernel.add_tunnel("mo-n2", "n2", R2)
    kernel.add_link("ip6gre0", "ip6gre")
    result, rc = run(tmp_path, capsys, tunnels=[])
    assert rc == 0 and result["deleted"] == ["mo-n2"]
    assert set(kernel.links) == {"lo", "eth1", "ip6gre0"}


def test_owner_prefix(tmp_path, kernel, capsys):
    kernel.add_tunnel("mo-n2", "n2", R2)  # alias meshover:n2 -> foreign for prefix lab:
    result, rc = run(tmp_path, capsys, tunnels=[], owner_prefix="lab:")
    assert rc == 0 and result["deleted"] == [] and "mo-n2" in kernel.links


def test_invalid_input(tmp_path, kernel, capsys):
    bad = [dict(WANT[0], remote="10.0.0.1")]
    result, rc = run(tmp_path, capsys, tunnels=bad)
    assert rc == 1 and "IPv6" in result["msg"]
    assert kernel.calls == []


def test_missing_pyroute2_fails_cleanly(tmp_path, kernel, capsys, monkeypatch):
    monkeypatch.setattr(_pyroute2_dep, "HAS_PYROUTE2", False)
    monkeypatch.setattr(_pyroute2_dep, "PYROUTE2_IMP_ERR", "Traceback: No module named 'pyroute2'")
    monkeypatch.setattr(_pyroute2_dep, "has_respawned", lambda: False)
    probed = []
    monkeypatch.setattr(_pyroute2_dep, "probe_interpreters_for_module", lambda paths, mod: probed.append((paths, mod)))
    result, rc = run(tmp_path, capsys)
    assert rc == 1 and "pyroute2" in result["msg"]
    assert probed == [(["/usr/bin/python3"], "pyroute2")]
    assert kernel.calls == []


def test_respawns_under_system_python(tmp_path, kernel, capsys, monkeypatch):
    monkeypatch.setattr(_pyroute2_dep, "HAS_PYROUTE2", False)
    monkeypatch.setattr(_pyroute2_dep, "has_respawned", lambda: False)
    monkeypatch.setattr(_pyroute2_dep, "probe_interpreters_for_module", lambda paths, mod: "/usr/bin/python3")

    def respawn(interpreter):
        raise SystemExit(f"respawned:{interpreter}")

    monkeypatch.setattr(_pyroute2_dep, "respawn_module", respawn)
    args = {"tunnels": WANT, "batch_path": str(tmp_path / "b"), "_ansible_remote_tmp": str(tmp_path / "tmp")}
    with set_module_args(args), pytest.raises(SystemExit) as exc:
        gre_tunnels.main()
    assert exc.value.code == "respawned:/usr/bin/python3"


def test_copy_of_want_is_not_mutated(tmp_path, kernel, capsys):
    want = copy.deepcopy(WANT)
    run(tmp_path, capsys, tunnels=want, check=True)
    assert want == WANT


def test_remove_unlisted_false_keeps_them_until_a_second_call(tmp_path, kernel, capsys):
    """site.yml: tunnels to a peer that left stay up until FRR forgot their interfaces, then go."""
    run(tmp_path, capsys)
    kernel.add_tunnel("mo-n9", "n9", "fd00::99")
    kernel.calls.clear()
    result, rc = run(tmp_path, capsys, remove_unlisted=False)
    assert rc == 0 and result["changed"] is False, result
    assert result["unlisted"] == ["mo-n9"] and result["deleted"] == []
    assert "mo-n9" in kernel.links and kernel.calls == []
    assert "mo-n9" in result["diff"][0]["after"], "the diff shows the kept tunnel as staying"
    assert "mo-n9" not in (tmp_path / "etc" / "gre.batch").read_text(), "a kept tunnel is not replayed at boot"
    result, rc = run(tmp_path, capsys, check=True)
    assert rc == 0 and result["changed"] and result["deleted"] == ["mo-n9"] and "mo-n9" in kernel.links
    result, rc = run(tmp_path, capsys)
    assert rc == 0 and result["deleted"] == ["mo-n9"] and result["unlisted"] == ["mo-n9"]
    assert "mo-n9" not in kernel.links
    result, rc = run(tmp_path, capsys, remove_unlisted=False)
    assert rc == 0 and result["changed"] is False and result["unlisted"] == []
