# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import contextlib
import json
import os
import stat

import pytest
from ansible.module_utils import basic
from module_args import bounded, patch_module_args

from ansible_collections.meshover.mesh.plugins.modules import wireguard_keypair

PRIV = "YE4MH5lLaRbTdHMp9mJsn9n0lSbxLQ6Hg4qAFyuBR2w="
PUB = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="


@contextlib.contextmanager
def set_module_args(args):
    with patch_module_args(args):
        yield


class FakeWg:
    """Stands in for AnsibleModule.run_command: `wg genkey` and `wg pubkey` (key on stdin)."""

    def __init__(self):
        self.calls = []

    def __call__(self, args, data=None, **kwargs):
        self.calls.append({"args": list(args), "data": data})
        if args[1:] == ["genkey"]:
            return 0, PRIV + "\n", ""
        if args[1:] == ["pubkey"]:
            return (
                (0, PUB + "\n", "")
                if (data or "").strip() == PRIV
                else (1, "", "Key is not the correct length or format")
            )
        raise AssertionError(f"unexpected command {args}")


@pytest.fixture
def wg(monkeypatch):
    fake = FakeWg()
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kw: fake(bounded(args), **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/bin/{name}")
    return fake


def run(args, capsys, check=False, diff=True):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with set_module_args(args), pytest.raises(SystemExit) as exc:
        wireguard_keypair.main()
    out = capsys.readouterr().out
    assert PRIV not in out, "private key leaked into the module result"
    return json.loads(out), exc.value.code


def test_generates_key_with_strict_modes(tmp_path, wg, capsys):
    path = tmp_path / "wg" / "meshover0.key"
    result, rc = run({"path": str(path)}, capsys)
    assert rc == 0
    assert result["changed"] is True
    assert result["public_key"] == PUB
    assert path.read_text() == PRIV + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [c["args"] for c in wg.calls] == [["/usr/bin/wg", "genkey"], ["/usr/bin/wg", "pubkey"]]
    # private key only ever on stdin, never in argv
    assert all(PRIV not in " ".join(c["args"]) for c in wg.calls)
    assert wg.calls[1]["data"] == PRIV
    assert result["diff"]["before"]["state"] == "absent"
    assert not [f for f in os.listdir(path.parent) if f.endswith(".tmp")]


def test_idempotent(tmp_path, wg, capsys):
    path = tmp_path / "k"
    path.write_text(PRIV + "\n")
    path.chmod(0o600)
    result, rc = run({"path": str(path)}, capsys)
    assert (rc, result["changed"], result["public_key"]) == (0, False, PUB)
    assert [c["args"][1] for c in wg.calls] == ["pubkey"]


def test_fixes_mode_drift(tmp_path, wg, capsys):
    path = tmp_path / "k"
    path.write_text(PRIV + "\n")
    path.chmod(0o644)
    result, _rc = run({"path": str(path)}, capsys)
    assert result["changed"] is True
    assert result["diff"]["before"]["mode"] == "0644"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == PRIV + "\n"


def test_check_mode_generates_nothing(tmp_path, wg, capsys):
    path = tmp_path / "k"
    result, rc = run({"path": str(path)}, capsys, check=True)
    assert (rc, result["changed"], result["public_key"]) == (0, True, None)
    assert not path.exists()
    assert wg.calls == []


def test_check_mode_mode_drift_not_fixed(tmp_path, wg, capsys):
    path = tmp_path / "k"
    path.write_text(PRIV + "\n")
    path.chmod(0o640)
    result, _rc = run({"path": str(path)}, capsys, check=True)
    assert result["changed"] is True and result["public_key"] == PUB
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_refuses_to_replace_garbage(tmp_path, wg, capsys):
    path = tmp_path / "k"
    path.write_text("not a key\n")
    result, rc = run({"path": str(path)}, capsys)
    assert rc == 1 and result["failed"] is True
    assert "refusing" in result["msg"]
    assert path.read_text() == "not a key\n"


PRIV2 = "kPXwhoqFoeLXwhzr+Hv6XBFHHSx9wSmmrA+K2dLzx0Q="
PUB2 = "sWBdTYD3yG0U9ymRAobG1u9V8XfJfhP4EMvQkVeJh2U="


class RotatingWg(FakeWg):
    """`wg genkey` returns PRIV2 (the new key); `wg pubkey` knows both keys."""

    def __call__(self, args, data=None, **kwargs):
        self.calls.append({"args": list(args), "data": data})
        if args[1:] == ["genkey"]:
            return 0, PRIV2 + "\n", ""
        if args[1:] == ["pubkey"]:
            pub = {PRIV: PUB, PRIV2: PUB2}.get((data or "").strip())
            return (0, pub + "\n", "") if pub else (1, "", "Key is not the correct length or format")
        raise AssertionError(f"unexpected command {args}")


@pytest.fixture
def rwg(monkeypatch):
    fake = RotatingWg()
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kw: fake(bounded(args), **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/bin/{name}")
    return fake


def run_rotate(args, capsys, check=False):
    result, rc = run(args, capsys, check=check)
    # neither the old nor the new private key may appear in the result
    assert PRIV2 not in json.dumps(result)
    return result, rc


def test_rotate_replaces_key_atomically(tmp_path, rwg, capsys, monkeypatch):
    path = tmp_path / "k"
    path.write_text(PRIV + "\n")
    path.chmod(0o600)
    inode_before = path.stat().st_ino
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(
        wireguard_keypair.os, "replace", lambda src, dst: (replaced.append((src, dst)), real_replace(src, dst))[1]
    )
    result, rc = run_rotate({"path": str(path), "rotate": True}, capsys)
    assert rc == 0
    assert (result["changed"], result["rotated"]) == (True, True)
    assert result["public_key"] == PUB2
    assert result["previous_public_key"] == PUB
    assert path.read_text() == PRIV2 + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != inode_before  # a new file renamed over the old one, not rewritten in place
    assert len(replaced) == 1 and replaced[0][1] == str(path)
    assert os.path.dirname(replaced[0][0]) == str(tmp_path)  # same directory: rename is atomic
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert [c["args"][1] for c in rwg.calls] == ["pubkey", "genkey", "pubkey"]
    assert all(PRIV2 not in " ".join(c["args"]) and PRIV not in " ".join(c["args"]) for c in rwg.calls)
    assert result["diff"]["before"]["public_key"] == PUB
    assert result["diff"]["after"]["public_key"] == PUB2


def test_rotate_twice_gives_changed_each_time(tmp_path, rwg, capsys):
    path = tmp_path / "k"
    path.write_text(PRIV + "\n")
    path.chmod(0o600)
    run_rotate({"path": str(path), "rotate": True}, capsys)
    result, _rc = run_rotate({"path": str(path), "rotate": True}, capsys)
    assert result["changed"] is True and result["previous_public_key"] == PUB2


def test_rotate_check_mode_writes_nothing(tmp_path, rwg, capsys):
    path = tmp_path / "k"
    path.write_text(PRIV + "\n")
    path.chmod(0o600)
    result, rc = run_rotate({"path": str(path), "rotate": True}, capsys, check=True)
    assert (rc, result["changed"], result["rotated"]) == (0, True, True)
    assert result["public_key"] is None
    assert result["previous_public_key"] == PUB
    assert path.read_text() == PRIV + "\n"
    assert [c["args"][1] for c in rwg.calls] == ["pubkey"]  # no genkey in check mode


def test_rotate_fixes_mode_of_a_loose_key(tmp_path, rwg, capsys):
    path = tmp_path / "k"
    path.write_text(PRIV + "\n")
    path.chmod(0o644)
    result, _rc = run_rotate({"path": str(path), "rotate": True}, capsys)
    assert result["public_key"] == PUB2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rotate_replaces_garbage(tmp_path, rwg, capsys):
    path = tmp_path / "k"
    path.write_text("not a key\n")
    result, rc = run_rotate({"path": str(path), "rotate": True}, capsys)
    assert rc == 0
    assert result["previous_public_key"] is None
    assert path.read_text() == PRIV2 + "\n"


def test_rotate_missing_key_generates_it(tmp_path, rwg, capsys):
    path = tmp_path / "d" / "k"
    result, rc = run_rotate({"path": str(path), "rotate": True}, capsys)
    assert (rc, result["changed"], result["rotated"], result["public_key"]) == (0, True, False, PUB2)
    assert result["previous_public_key"] is None
    assert path.read_text() == PRIV2 + "\n"


def test_rotate_refuses_non_regular_file(tmp_path, rwg, capsys):
    path = tmp_path / "k"
    path.mkdir()
    result, rc = run_rotate({"path": str(path), "rotate": True}, capsys)
    assert rc == 1 and "not a regular file" in result["msg"]
    assert rwg.calls == []


def test_rotate_failed_genkey_keeps_old_key(tmp_path, rwg, capsys, monkeypatch):
    path = tmp_path / "k"
    path.write_text(PRIV + "\n")
    path.chmod(0o600)
    monkeypatch.setattr(
        RotatingWg,
        "__call__",
        lambda self, args, data=None, **kw: (1, "", "boom") if args[1:] == ["genkey"] else (0, PUB + "\n", ""),
    )
    result, rc = run_rotate({"path": str(path), "rotate": True}, capsys)
    assert rc == 1 and "genkey failed" in result["msg"]
    assert path.read_text() == PRIV + "\n"
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_check_mode_without_wg_installed(tmp_path, wg, capsys, monkeypatch):
    """A fresh node under --check --diff: wireguard-tools is not installed yet."""
    monkeypatch.setattr(
        basic.AnsibleModule, "get_bin_path", lambda self, name, required=False, *a, **k: None if name == "wg" else name
    )
    path = tmp_path / "k"
    result, rc = run({"path": str(path)}, capsys, check=True)
    assert (rc, result["changed"], result["public_key"]) == (0, True, None) and not path.exists()
    path.write_text(PRIV + "\n")
    path.chmod(0o600)
    result, rc = run({"path": str(path)}, capsys, check=True)
    assert (rc, result["changed"], result["public_key"]) == (0, False, None)
    result, rc = run({"path": str(path), "rotate": True}, capsys, check=True)
    assert (rc, result["changed"], result["previous_public_key"]) == (0, True, None)
    assert wg.calls == []


def test_lost_race_keeps_the_other_writers_key(tmp_path, rwg, capsys, monkeypatch):
    """A key that appears between the check and the write is never clobbered: it is used instead."""
    path = tmp_path / "k"
    real_generate = wireguard_keypair.generate_key

    def generate_while_another_writes(module, wg):
        path.write_text(PRIV + "\n")  # the other writer wins
        return real_generate(module, wg)  # PRIV2

    monkeypatch.setattr(wireguard_keypair, "generate_key", generate_while_another_writes)
    result, rc = run_rotate({"path": str(path)}, capsys)
    assert (rc, result["changed"], result["public_key"]) == (0, False, PUB)
    assert path.read_text() == PRIV + "\n"
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
