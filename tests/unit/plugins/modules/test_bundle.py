# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import stat

import pytest
from ansible.module_utils import basic

from ansible_collections.meshover.mesh.plugins.modules import bundle

UID, GID = os.getuid(), os.getgid()


class FakeSystemctl:
    """Stands in for AnsibleModule.run_command: systemctl with a unit table, and a validator."""

    def __init__(self, units=None, validate_rc=0):
        self.units = units or {}
        self.validate_rc = validate_rc
        self.calls = []

    def __call__(self, args, **kwargs):
        self.calls.append(list(args))
        if os.path.basename(args[0]) == "systemctl":
            verb = args[1]
            if verb == "is-enabled":
                return (0, "enabled\n", "") if self.units.get(args[2], {}).get("enabled") else (1, "disabled\n", "")
            if verb == "is-active":
                return (0, "active\n", "") if self.units.get(args[2], {}).get("active") else (3, "inactive\n", "")
            return 0, "", ""
        # validator: it must see the candidate file, not the live one
        candidate = next(a for a in args if "/.meshover-" in a).split(":")[0]
        with open(candidate) as f:
            self.validated = f.read()
        return self.validate_rc, "", "bad line 3" if self.validate_rc else ""

    def systemctl_calls(self):
        return [c[1:] for c in self.calls if c[1] not in ("is-enabled", "is-active") and "systemctl" in c[0]]


@pytest.fixture
def fake(monkeypatch):
    f = FakeSystemctl()
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kw: f(args, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False: "/bin/" + name)
    return f


def owned(path, content, mode="0640", **extra):
    return {"path": str(path), "content": content, "mode": mode, "owner": str(UID), "group": str(GID), **extra}


def test_writes_files_then_starts_unit(tmp_path, fake, run_module):
    unit = tmp_path / "systemd/system/x.service"
    conf = tmp_path / "etc/x.conf"
    rc, res = run_module(
        bundle.main,
        {
            "files": [owned(unit, "[Service]\n", "0644"), owned(conf, "a=1\n")],
            "units": [{"name": "x.service", "enabled": True, "state": "started", "restart_on": [str(conf)]}],
            "_ansible_diff": True,
        },
    )
    assert rc == 0 and res["changed"]
    assert res["changed_paths"] == [str(unit), str(conf)]
    assert conf.read_text() == "a=1\n" and stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert res["started"] == ["x.service"] and res["restarted"] == []
    assert fake.systemctl_calls() == [["daemon-reload"], ["enable", "x.service"], ["start", "x.service"]]
    assert [d["after"] for d in res["diff"]] == ["[Service]\n", "a=1\n"]


def test_second_run_is_a_no_op(tmp_path, fake, run_module):
    conf = tmp_path / "x.conf"
    conf.write_text("a=1\n")
    conf.chmod(0o640)
    fake.units["x.service"] = {"enabled": True, "active": True}
    rc, res = run_module(
        bundle.main,
        {"files": [owned(conf, "a=1\n")], "units": [{"name": "x.service", "enabled": True, "state": "started"}]},
    )
    assert rc == 0 and res["changed"] is False and res["commands"] == []


def test_mode_only_change_does_not_rewrite(tmp_path, fake, run_module):
    conf = tmp_path / "x.conf"
    conf.write_text("a=1\n")
    conf.chmod(0o644)
    inode = conf.stat().st_ino
    _rc, res = run_module(bundle.main, {"files": [owned(conf, "a=1\n", "0600")]})
    assert res["changed_paths"] == [str(conf)]
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600 and conf.stat().st_ino == inode


def test_running_unit_restarts_only_for_its_files(tmp_path, fake, run_module):
    daemons, frrconf = tmp_path / "daemons", tmp_path / "frr.conf"
    fake.units["frr.service"] = {"enabled": True, "active": True}
    unit = {"name": "frr.service", "enabled": True, "state": "started", "restart_on": [str(daemons)]}
    _rc, res = run_module(bundle.main, {"files": [owned(frrconf, "router bgp 1\n")], "units": [unit]})
    assert res["changed_paths"] == [str(frrconf)] and res["restarted"] == [] and res["commands"] == []
    _rc, res = run_module(bundle.main, {"files": [owned(daemons, "bgpd=yes\n")], "units": [unit]})
    assert res["restarted"] == ["frr.service"] and res["commands"] == ["systemctl restart frr.service"]


def test_failed_validation_leaves_live_file(tmp_path, fake, run_module):
    fake.validate_rc = 1
    live = tmp_path / "sudoers"
    live.write_text("old\n")
    rc, res = run_module(bundle.main, {"files": [owned(live, "new\n", validate="/usr/sbin/visudo -cf %s")]})
    assert rc == 1 and "failed its check" in res["msg"] and res["stderr"] == "bad line 3"
    assert live.read_text() == "old\n" and fake.validated == "new\n"
    assert sorted(os.listdir(tmp_path)) == ["sudoers"]  # no candidate left behind


def test_validate_placeholder_inside_an_argument(tmp_path, fake, run_module):
    conf = tmp_path / "frr.conf"
    run_module(bundle.main, {"files": [owned(conf, "x\n", validate="podman run -v %s:/tmp/frr.conf:ro img")]})
    call = next(c for c in fake.calls if c[0] == "podman")
    assert call[3].endswith(":/tmp/frr.conf:ro") and call[3].startswith(str(tmp_path) + "/.meshover-")


def test_absent_removes_and_check_mode_changes_nothing(tmp_path, fake, run_module):
    gone, new = tmp_path / "gone", tmp_path / "new"
    gone.write_text("x")
    fake.units["old.service"] = {"enabled": True, "active": True}
    args = {
        "files": [{"path": str(gone), "state": "absent"}, owned(new, "n\n")],
        "units": [{"name": "old.service", "enabled": False, "state": "stopped"}],
        "_ansible_check_mode": True,
    }
    _rc, res = run_module(bundle.main, args)
    assert res["changed"] and res["changed_paths"] == [str(gone), str(new)]
    assert res["commands"] == ["systemctl disable old.service", "systemctl stop old.service"]
    assert gone.exists() and not new.exists() and fake.systemctl_calls() == []
    del args["_ansible_check_mode"]
    _rc, res = run_module(bundle.main, args)
    assert not gone.exists() and new.read_text() == "n\n"
    assert fake.systemctl_calls() == [["disable", "old.service"], ["stop", "old.service"]]


def test_bad_input_fails_before_touching_anything(tmp_path, fake, run_module):
    conf = tmp_path / "x"
    rc, res = run_module(bundle.main, {"files": [owned(conf, "a"), {"path": "relative", "content": "b"}]})
    assert rc == 1 and "files[1] (relative): path must be an absolute file path" in res["msg"]
    assert not conf.exists()


def test_unknown_owner_is_named(tmp_path, fake, run_module):
    rc, res = run_module(
        bundle.main, {"files": [{"path": str(tmp_path / "x"), "content": "a", "owner": "nosuchuser-mo"}]}
    )
    assert rc == 1 and res["msg"] == "owner 'nosuchuser-mo' does not exist on the node"
