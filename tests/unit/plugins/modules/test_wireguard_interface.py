# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import contextlib
import json
import stat

import pytest
from ansible.module_utils import basic
from module_args import bounded, patch_module_args

from ansible_collections.meshover.mesh.plugins.module_utils.node._wireguard import render_config
from ansible_collections.meshover.mesh.plugins.modules import wireguard_interface

PRIV = "YE4MH5lLaRbTdHMp9mJsn9n0lSbxLQ6Hg4qAFyuBR2w="
PUB = "AV9+a8Wur0g3JAieklLME7UJUaa2lBJSJ2XP9NeAMG4="
K0 = "0aWsmgFfrC73s0FnNjVRKhUR9B/jfREbJn8DnuxdT1g="
K1 = "arnx6499M4j0+dWG9m6Z/VQIDfLERvDlhmiwnAihbdA="
K3 = "L1BSyf0VsZoYxYTQE2NWgZhhPww06EQJ73k4cJoVnsI="
K4 = "lAkd1koh/+lCFLxtF97rQ4c6XPLwpxtLXKqaXIG2ln0="
ADDR = "fd4b:1c2a:77e0:1:1111:2222:3333:4444/64"
N2 = "fd4b:1c2a:77e0:1:9a3b:11f2:d0c4:8e21/128"
NAT = "fd4b:1c2a:77e0:1:5c1d:e3aa:4410:2f09/128"
N3 = "fd4b:1c2a:77e0:1:7777:8888:9999:aaaa/128"

PEERS = [
    {"name": "n2", "public_key": K0, "endpoint": "[fd00:10::2]:51820", "allowed_ips": [N2], "persistent_keepalive": 0},
    {"name": "laptop", "public_key": K1, "endpoint": None, "allowed_ips": [NAT], "persistent_keepalive": 25},
    {"name": "n3", "public_key": K3, "endpoint": "[fd00:10::3]:51820", "allowed_ips": [N3], "persistent_keepalive": 0},
]


def dump_line(key, endpoint, allowed, keepalive):
    return "\t".join(
        [key, "(none)", endpoint or "(none)", allowed or "(none)", "1764102000", "100", "200", str(keepalive or "off")]
    )


# Live state matching PEERS exactly; the NAT peer has a learned endpoint.
CONVERGED_DUMP = (
    "\n".join(
        [
            "\t".join([PRIV, PUB, "51820", "off"]),
            dump_line(K0, "[fd00:10::2]:51820", N2, 0),
            dump_line(K1, "192.0.2.77:40211", NAT, 25),
            dump_line(K3, "[fd00:10::3]:51820", N3, 0),
        ]
    )
    + "\n"
)

LINK_JSON = [
    {
        "ifname": "meshover0",
        "flags": ["POINTOPOINT", "NOARP", "UP", "LOWER_UP"],
        "mtu": 1420,
        "linkinfo": {"info_kind": "wireguard"},
        "addr_info": [{"family": "inet6", "local": ADDR.split("/", maxsplit=1)[0], "prefixlen": 64, "scope": "global"}],
    }
]

READ_ONLY = {"pubkey", "is-active", "is-enabled", "dump", "show"}


@contextlib.contextmanager
def set_module_args(args):
    with patch_module_args(args):
        yield


class FakeSystem:
    def __init__(self, link=True, dump=CONVERGED_DUMP, enabled="enabled", active="active"):
        self.link = LINK_JSON if link else None
        self.dump = dump
        self.enabled = enabled
        self.active = active
        self.calls = []

    def mutating(self):
        out = []
        for c in self.calls:
            a = c["args"]
            if a[0].endswith("/wg") and a[1] == "pubkey":
                continue
            if a[0].endswith("/wg") and a[1] == "show":
                continue
            if a[0].endswith("/ip") and "show" in a:
                continue
            if a[0].endswith("/systemctl") and a[1] in ("is-active", "is-enabled"):
                continue
            out.append([a[0].rsplit("/", 1)[1], *a[1:]])
        return out

    def __call__(self, args, data=None, **kwargs):
        args = list(args)
        self.calls.append({"args": args, "data": data})
        tool, rest = args[0].rsplit("/", 1)[1], args[1:]
        if tool == "wg" and rest == ["pubkey"]:
            return (0, PUB + "\n", "") if (data or "").strip() == PRIV else (1, "", "bad key")
        if tool == "wg" and rest[0] == "show":
            return 0, self.dump, ""
        if tool == "ip" and "show" in rest:
            if self.link is None:
                return 1, "", 'Device "meshover0" does not exist.\n'
            return 0, json.dumps(self.link), ""
        if tool == "systemctl" and rest[0] == "is-active":
            return (0 if self.active == "active" else 3), self.active + "\n", ""
        if tool == "systemctl" and rest[0] == "is-enabled":
            return (0 if self.enabled == "enabled" else 1), self.enabled + "\n", ""
        return 0, "", ""


@pytest.fixture
def system(monkeypatch):
    fake = FakeSystem()
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kw: fake(bounded(args), **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/bin/{name}")
    return fake


@pytest.fixture
def paths(tmp_path):
    key = tmp_path / "meshover0.key"
    key.write_text(PRIV + "\n")
    key.chmod(0o600)
    return {"key": key, "conf": tmp_path / "meshover0.conf", "tmp": tmp_path / "remote_tmp"}


def args_for(paths, peers=None, **kw):
    a = {
        "name": "meshover0",
        "private_key_path": str(paths["key"]),
        "config_path": str(paths["conf"]),
        "listen_port": 51820,
        "address": ADDR,
        "mtu": 1420,
        "peers": PEERS if peers is None else peers,
        "_ansible_remote_tmp": str(paths["tmp"]),
        "_ansible_keep_remote_files": False,
    }
    a.update(kw)
    return a


def converged_config(paths, peers=None):
    return render_config(ADDR, 1420, 51820, str(paths["key"]), PEERS if peers is None else peers)


def run(args, capsys, check=False, diff=True):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with set_module_args(args), pytest.raises(SystemExit) as exc:
        wireguard_interface.main()
    out = capsys.readouterr().out
    assert PRIV not in out, "private key leaked into the module result"
    return json.loads(out), exc.value.code


def write_conf(paths, text):
    paths["conf"].write_text(text)
    paths["conf"].chmod(0o600)


def test_creates_interface_via_wg_quick(paths, system, capsys):
    system.link = None
    system.active = "inactive"
    system.enabled = "disabled"
    result, rc = run(args_for(paths), capsys)
    assert rc == 0, result
    assert result["changed"] and result["created"] and result["config_changed"]
    assert sorted(result["peers_added"]) == ["laptop", "n2", "n3"]
    assert system.mutating() == [["systemctl", "enable", "--now", "wg-quick@meshover0"]]
    text = paths["conf"].read_text()
    assert text == converged_config(paths)
    assert f"PostUp = wg set %i private-key {paths['key']}" in text and "Table = off" in text
    assert stat.S_IMODE(paths["conf"].stat().st_mode) == 0o600


def test_stale_active_unit_is_restarted_when_interface_missing(paths, system, capsys):
    system.link = None
    write_conf(paths, converged_config(paths))
    result, _rc = run(args_for(paths), capsys)
    assert system.mutating() == [["systemctl", "restart", "wg-quick@meshover0"]]
    assert result["config_changed"] is False


def test_converged_is_idempotent(paths, system, capsys):
    write_conf(paths, converged_config(paths))
    result, rc = run(args_for(paths), capsys)
    assert rc == 0
    assert result["changed"] is False, result
    assert system.mutating() == []
    assert (result["peers_added"], result["peers_removed"], result["peers_changed"]) == ([], [], [])


def test_live_diff_only_touches_affected_peers(paths, system, capsys):
    write_conf(paths, converged_config(paths))
    new_peers = [
        dict(PEERS[0], endpoint="[fd00:10::22]:51820"),  # changed
        PEERS[1],  # NAT peer untouched despite its learned endpoint
        {"name": "n4", "public_key": K4, "endpoint": "192.0.2.4:51820", "allowed_ips": ["fd00::4/128"]},  # added
    ]  # n3 removed
    result, rc = run(args_for(paths, peers=new_peers), capsys)
    assert rc == 0, result
    assert result["changed"] is True
    assert (result["peers_added"], result["peers_removed"], result["peers_changed"]) == (["n4"], ["n3"], ["n2"])
    assert system.mutating() == [
        ["wg", "set", "meshover0", "peer", K3, "remove"],
        [
            "wg",
            "set",
            "meshover0",
            "peer",
            K4,
            "endpoint",
            "192.0.2.4:51820",
            "persistent-keepalive",
            "off",
            "allowed-ips",
            "fd00::4/128",
        ],
        [
            "wg",
            "set",
            "meshover0",
            "peer",
            K0,
            "endpoint",
            "[fd00:10::22]:51820",
            "persistent-keepalive",
            "off",
            "allowed-ips",
            N2,
        ],
    ]
    assert not any(c[0] == "systemctl" for c in system.mutating()), "never restart"
    assert paths["conf"].read_text() == converged_config(paths, new_peers)
    diff_peers = result["diff"][1]
    assert set(diff_peers["before"]) == {"n2", "laptop", "n3"}
    assert set(diff_peers["after"]) == {"n2", "laptop", "n4"}


def test_check_mode_issues_no_changes(paths, system, capsys):
    write_conf(paths, "# old\n")
    result, rc = run(args_for(paths, peers=PEERS[:1], mtu=1400), capsys, check=True)
    assert rc == 0
    assert result["changed"] is True
    # the old config carries no "# name" comments, so removed peers are reported by public key
    assert result["peers_removed"] == sorted([K1, K3])
    assert system.mutating() == []
    assert paths["conf"].read_text() == "# old\n"
    assert "ip link set dev meshover0 mtu 1400" in result["commands"]


def test_interface_settings_key_port_mtu_address_enable(paths, system, capsys):
    write_conf(paths, converged_config(paths))
    other = "\t".join([PRIV, K4, "51821", "off"])  # live public key differs, wrong port
    system.dump = CONVERGED_DUMP.replace("\t".join([PRIV, PUB, "51820", "off"]), other)
    system.link = [
        dict(
            LINK_JSON[0],
            mtu=1380,
            flags=["POINTOPOINT", "NOARP"],
            addr_info=[{"family": "inet6", "local": "fd00:9::1", "prefixlen": 64}],
        )
    ]
    system.enabled = "disabled"
    result, rc = run(args_for(paths), capsys)
    assert rc == 0, result
    assert system.mutating() == [
        ["wg", "set", "meshover0", "listen-port", "51820"],
        ["wg", "set", "meshover0", "private-key", str(paths["key"])],
        ["ip", "link", "set", "dev", "meshover0", "mtu", "1420"],
        ["ip", "addr", "del", "fd00:9::1/64", "dev", "meshover0"],
        ["ip", "addr", "replace", ADDR, "dev", "meshover0"],
        ["ip", "link", "set", "dev", "meshover0", "up"],
        ["systemctl", "enable", "wg-quick@meshover0"],
    ]


def test_diff_redacts_inline_private_key_of_old_config(paths, system, capsys):
    write_conf(paths, f"[Interface]\nPrivateKey = {PRIV}\n")
    result, _rc = run(args_for(paths), capsys, check=True)
    assert "<redacted>" in result["diff"][0]["before"]
    # run() already asserted that PRIV appears nowhere in the output


def test_config_mode_drift_fixed(paths, system, capsys):
    paths["conf"].write_text(converged_config(paths))
    paths["conf"].chmod(0o644)
    result, _rc = run(args_for(paths), capsys)
    assert result["changed"] and result["config_changed"]
    assert stat.S_IMODE(paths["conf"].stat().st_mode) == 0o600
    assert system.mutating() == []


@pytest.mark.parametrize(
    "override, match",
    [
        ({"peers": [dict(PEERS[0], public_key=PUB)]}, "own public key"),
        ({"peers": [dict(PEERS[0], public_key="nope")]}, "base64"),
        ({"address": "fd00::1"}, "prefix"),
        ({"name": "way-too-long-name0"}, "invalid"),
    ],
)
def test_rejects_bad_input(paths, system, capsys, override, match):
    result, rc = run(args_for(paths, **override), capsys)
    assert rc == 1 and match in result["msg"]
    assert system.mutating() == []


def test_missing_key_fails_but_check_mode_warns(paths, system, capsys):
    paths["key"].unlink()
    result, rc = run(args_for(paths), capsys)
    assert rc == 1 and "wireguard_keypair" in result["msg"]
    result, rc = run(args_for(paths), capsys, check=True)
    assert rc == 0 and result["public_key"] is None
    assert "does not exist yet" in json.dumps(result.get("warnings")), result


def test_foreign_interface_kind_fails(paths, system, capsys):
    system.link = [dict(LINK_JSON[0], linkinfo={"info_kind": "dummy"})]
    result, rc = run(args_for(paths), capsys)
    assert rc == 1 and "dummy" in result["msg"]
    assert system.mutating() == []


def test_check_mode_on_a_fresh_node_without_wg(paths, system, capsys, monkeypatch):
    """--check --diff before wireguard-tools is installed and before the key exists."""
    monkeypatch.setattr(
        basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None if name == "wg" else f"/usr/bin/{name}"
    )
    paths["key"].unlink()
    system.link = None
    result, rc = run(args_for(paths), capsys, check=True)
    assert rc == 0 and result["changed"] and result["created"] and result["public_key"] is None
    assert not paths["conf"].exists()
    assert not [c for c in system.calls if c["args"][0].endswith("wg")]


def test_systemctl_gets_the_long_bound_and_wg_the_short_one(paths, system, capsys, monkeypatch):
    """`systemctl enable --now` waits for its job: on a loaded host more than the 60 s a kernel change
    gets (scale lab, 32 nodes on 2 CPUs: every node's `enable --now wg-quick@` was killed at 60 s)."""
    seen = []

    def record(self, args, **kw):
        seen.append(list(args))
        return system(bounded(args), **kw)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", record)
    system.link = None
    system.active = "inactive"
    system.enabled = "disabled"
    run(args_for(paths), capsys)
    seconds = {" ".join(a[3:5]).rsplit("/", 1)[-1]: a[2] for a in seen}
    assert seconds["systemctl enable"] == "600"
    assert all(v == "60" for k, v in seconds.items() if not k.startswith("systemctl")), seconds
