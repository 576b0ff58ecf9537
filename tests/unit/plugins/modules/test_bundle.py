# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import re
import stat
import types

import pytest
from ansible.module_utils import basic

from ansible_collections.meshover.mesh.plugins.modules import bundle

UID, GID = os.getuid(), os.getgid()
LOCK_ERR = (
    "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 812 (apt-get)\n"
    "E: Unable to lock directory /var/lib/apt/lists/\n"
)


class FakeSystemctl:
    """Stands in for AnsibleModule.run_command: systemctl with a unit table, dpkg-query and apt-get
    with a package table, systemd-sysusers, and a validator."""

    def __init__(self, units=None, validate_rc=0):
        self.units = units or {}
        self.installed = {}  # package -> version
        self.available = {}  # package -> newest version in the lists
        self.validate_rc = validate_rc
        self.calls = []
        self.timeouts = []  # seconds given to timeout(1), one per run
        self.updates = 0
        self.lock_held = 0  # apt-get update runs that find the lists lock held
        self.repo = {}  # package -> version that apt-get update brings into the lists
        self.drift_rc = 0  # what a unit's drift_check exits with
        self.drift_runs = 0
        self.busy = 0  # systemctl calls that find systemd too busy to answer D-Bus

    def __call__(self, args, **kwargs):
        args = list(args)
        if os.path.basename(args[0]) == "timeout":  # timeout --kill-after=30 SECONDS argv...
            self.timeouts.append(int(args[2]))
            args = args[3:]
        self.calls.append(args)
        tool = os.path.basename(args[0])
        if tool == "systemctl":
            if self.busy:
                self.busy -= 1
                return 1, "", "Failed to get properties: Connection timed out\n"
            if args[1] == "show":
                blocks = []
                for name in args[3:]:
                    u = self.units.get(name, {})
                    blocks.append(
                        f"ActiveState={'active' if u.get('active') else 'inactive'}\n"
                        f"UnitFileState={'enabled' if u.get('enabled') else ('disabled' if u else '')}\n"
                        f"NeedDaemonReload={'yes' if u.get('need_reload') else 'no'}\n"
                    )
                return 0, "\n".join(blocks), ""
            if args[1] == "daemon-reload":
                for u in self.units.values():
                    u["need_reload"] = False
            return 0, "", ""
        if tool == "dpkg-query":
            names = args[4:]
            out = "".join(f"{n} ii \n" for n in names if n in self.installed)
            return (0 if all(n in self.installed for n in names) else 1), out, ""
        if tool == "apt-get" and args[1] == "update":
            self.updates += 1
            if self.lock_held:
                self.lock_held -= 1
                return 100, "", LOCK_ERR
            self.available.update(self.repo)
            return 0, "", ""
        if tool == "apt-get":
            names = [a for a in args[1:] if not a.startswith("-") and a not in ("install",) and "::" not in a]
            if any(n not in self.installed and n not in self.available for n in names):
                return 100, "", "E: Unable to locate package"
            todo = [n for n in names if self.available.get(n, self.installed.get(n)) != self.installed.get(n)]
            if "-s" in args:
                return 0, "".join(f"Inst {n} ({self.available[n]} Debian:12/stable [amd64])\n" for n in todo), ""
            for n in todo:
                self.installed[n] = self.available[n]
            return 0, "", ""
        if tool == "systemd-sysusers":
            return 0, "", ""
        if tool == "drift-check":  # a unit's drift_check: 0 as its files say, 1 drifted, else broken
            self.drift_runs += 1
            return self.drift_rc, "", "nft: no such file" if self.drift_rc > 1 else ""
        # validator: it must see the candidate file (hidden, next to the live one), not the live one
        candidate = next(a for a in args if re.search(r"/\.[^/]+\.tmp(:|$)", a)).split(":")[0]
        with open(candidate) as f:
            self.validated = f.read()
        return self.validate_rc, "", "bad line 3" if self.validate_rc else ""

    def systemctl_calls(self):
        return [c[1:] for c in self.calls if "systemctl" in c[0] and c[1] != "show"]

    def tool_calls(self, tool):
        return [c[1:] for c in self.calls if os.path.basename(c[0]) == tool]


@pytest.fixture
def lists(tmp_path_factory, monkeypatch):
    """Fresh package lists in a temporary /var/lib/apt; returns the lists directory."""
    root = tmp_path_factory.mktemp("apt")
    (root / "lists").mkdir(parents=True)
    (root / "lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text("")
    monkeypatch.setattr(bundle, "APT_LISTS_DIR", str(root / "lists"))
    monkeypatch.setattr(bundle, "APT_UPDATE_STAMP", str(root / "periodic/update-success-stamp"))
    monkeypatch.setattr(bundle, "DPKG_FRONTEND_LOCK", str(root / "lock-frontend"))
    monkeypatch.setattr(bundle.time, "sleep", lambda s: None)
    monkeypatch.setattr(bundle, "PENDING_DIR", str(root / "pending"))
    return root / "lists"


@pytest.fixture
def fake(monkeypatch, lists):
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
    assert call[3].endswith(".tmp:/tmp/frr.conf:ro") and call[3].startswith(str(tmp_path) + "/.frr.conf.")


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


def test_missing_package_is_installed_then_left_alone(tmp_path, fake, run_module):
    fake.installed = {"iproute2": "6.1"}
    fake.available = {"wireguard-tools": "1.0", "iproute2": "6.1"}
    args = {"packages": ["iproute2", "wireguard-tools"]}
    _rc, res = run_module(bundle.main, dict(args, _ansible_check_mode=True))
    assert res["changed"] and res["installed"] == ["wireguard-tools"] and "wireguard-tools" not in fake.installed
    _rc, res = run_module(bundle.main, args)
    assert res["changed"] and res["installed"] == ["wireguard-tools"] and fake.installed["wireguard-tools"] == "1.0"
    # only the missing package was asked for: present never upgrades what is there
    assert next(c for c in fake.tool_calls("apt-get") if "-y" in c)[-1:] == ["wireguard-tools"]
    fake.calls.clear()
    _rc, res = run_module(bundle.main, args)
    assert res["changed"] is False and res["installed"] == []
    assert fake.tool_calls("apt-get") == [] and len(fake.tool_calls("dpkg-query")) == 1


def test_latest_upgrades_and_restarts_units_that_ask(tmp_path, fake, run_module):
    fake.installed = {"frr": "8.4"}
    fake.available = {"frr": "8.4"}
    fake.units = {"frr.service": {"enabled": True, "active": True}, "other.service": {"enabled": True, "active": True}}
    units = [
        {"name": "frr.service", "state": "started", "restart_on_packages": True},
        {"name": "other.service", "state": "started"},
    ]
    args = {"packages": ["frr"], "package_state": "latest", "units": units}
    _rc, res = run_module(bundle.main, args)
    assert res["changed"] is False and res["restarted"] == []
    fake.available["frr"] = "8.5"
    _rc, res = run_module(bundle.main, args)
    assert res["installed"] == ["frr"] and fake.installed["frr"] == "8.5"
    assert res["restarted"] == ["frr.service"] and fake.systemctl_calls() == [["restart", "frr.service"]]


def test_unknown_package_fails_naming_it(tmp_path, fake, run_module):
    conf = tmp_path / "x.conf"
    rc, res = run_module(bundle.main, {"packages": ["no-such-pkg"], "files": [owned(conf, "a\n")]})
    assert rc == 1 and "no-such-pkg" in res["msg"] and not conf.exists()
    rc, res = run_module(bundle.main, {"packages": ["Bad Name"]})
    assert rc == 1 and res["msg"] == "packages[0] ('Bad Name'): not a Debian package name"


def test_sysusers_file_is_applied_before_files_it_owns(tmp_path, fake, run_module, monkeypatch):
    sysusers = tmp_path / "sysusers.d/x.conf"
    conf = tmp_path / "x.json"
    created = set()
    real_getgrnam = bundle.grp.getgrnam

    def getgrnam(name):
        if name == "x-user" and "x-user" in created:
            return types.SimpleNamespace(gr_gid=GID)
        return real_getgrnam(name)

    monkeypatch.setattr(bundle.grp, "getgrnam", getgrnam)
    orig = fake.__call__

    def call(args, **kw):
        if "systemd-sysusers" in map(os.path.basename, args):
            created.add("x-user")
        return orig(args, **kw)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kw: call(args, **kw))
    files = [owned(conf, "{}\n", group="x-user"), owned(sysusers, "u x-user - - /\n", "0644")]
    _rc, res = run_module(bundle.main, {"files": files, "_ansible_check_mode": True})
    assert res["changed_paths"] == [str(sysusers), str(conf)] and res["commands"] == [f"systemd-sysusers {sysusers}"]
    assert not created and not conf.exists()
    rc, res = run_module(bundle.main, {"files": files})
    assert rc == 0 and created and conf.read_text() == "{}\n"
    assert fake.tool_calls("systemd-sysusers") == [[str(sysusers)]]
    _rc, res = run_module(bundle.main, {"files": files})
    assert res["changed"] is False and len(fake.tool_calls("systemd-sysusers")) == 1


def test_fresh_node_updates_missing_lists_then_installs(fake, lists, run_module):
    for f in lists.iterdir():
        f.unlink()
    fake.repo = {"wireguard-tools": "1.0"}
    args = {"packages": ["wireguard-tools"]}
    rc, res = run_module(bundle.main, dict(args, _ansible_check_mode=True))
    assert rc == 0 and res["changed"] and res["installed"] == ["wireguard-tools"]
    assert res["cache_updated"] is False and res["package_lists"] == "missing" and fake.updates == 0
    assert "package lists are missing" in str(res["warnings"])
    rc, res = run_module(bundle.main, args)
    assert rc == 0 and res["cache_updated"] is True and res["installed"] == ["wireguard-tools"]
    assert fake.updates == 1 and fake.installed == {"wireguard-tools": "1.0"}
    install = next(c for c in fake.tool_calls("apt-get") if "-y" in c)
    assert any(a.startswith("DPkg::Lock::Timeout=") for a in install)
    # every command ran under timeout(1); install got the longest
    assert len(fake.timeouts) == len(fake.calls) and max(fake.timeouts) >= 3600


def test_fast_path_is_one_dpkg_query_even_with_stale_lists(fake, lists, run_module):
    for f in lists.iterdir():
        os.utime(f, (0, 0))
    os.utime(lists, (0, 0))
    fake.installed = {"iproute2": "6.1"}
    rc, res = run_module(bundle.main, {"packages": ["iproute2"]})
    assert rc == 0 and res["changed"] is False and res["cache_updated"] is False and "package_lists" not in res
    assert [os.path.basename(c[0]) for c in fake.calls] == ["dpkg-query"]


def test_stale_lists_are_updated_fresh_ones_are_not(fake, lists, run_module):
    fake.available = {"frr": "8.4"}
    rc, res = run_module(bundle.main, {"packages": ["frr"]})
    assert rc == 0 and res["cache_updated"] is False and fake.updates == 0 and res["package_lists"] == "fresh"
    for f in [*lists.iterdir(), lists]:
        os.utime(f, (0, 0))
    fake.installed.clear()
    rc, res = run_module(bundle.main, {"packages": ["frr"], "cache_valid_time": 600})
    assert rc == 0 and res["cache_updated"] is True and fake.updates == 1


def test_unknown_package_with_fresh_lists_updates_once_and_retries(fake, run_module):
    fake.repo = {"frr-pythontools": "8.4"}  # a source added since the last update
    rc, res = run_module(bundle.main, {"packages": ["frr-pythontools"]})
    assert rc == 0 and res["cache_updated"] is True and res["installed"] == ["frr-pythontools"]
    assert fake.updates == 1 and len([c for c in fake.tool_calls("apt-get") if "-s" in c]) == 2


def test_update_waits_for_the_lists_lock(fake, lists, run_module):
    for f in lists.iterdir():
        f.unlink()
    fake.repo = {"wireguard-tools": "1.0"}
    fake.lock_held = 2
    rc, res = run_module(bundle.main, {"packages": ["wireguard-tools"]})
    assert rc == 0 and fake.updates == 3 and res["lock_wait_s"] > 0 and res["cache_updated"] is True


def test_lock_held_past_lock_timeout_fails_naming_the_holder(fake, lists, run_module):
    for f in lists.iterdir():
        f.unlink()
    fake.lock_held = 99
    rc, res = run_module(bundle.main, {"packages": ["wireguard-tools"], "lock_timeout": 0})
    assert rc == 1 and "812 (apt-get)" in res["msg"] and "lock_timeout=0s" in res["msg"]
    assert fake.updates == 1


# -- a rerun after an interrupted run finishes the job (issue 17, item 5) -----------------------------


def killed_before_its_units(run_module, monkeypatch, args):
    """One bundle run that dies after it wrote the files, before any systemctl verb."""
    real = bundle.unit_states

    class Killed(Exception):
        pass

    def killed(*_args, **_kwargs):
        raise Killed

    monkeypatch.setattr(bundle, "unit_states", killed)
    with pytest.raises(Killed):
        run_module(bundle.main, args)
    monkeypatch.setattr(bundle, "unit_states", real)


def test_restart_owed_by_an_interrupted_run_is_done_by_the_next(tmp_path, fake, run_module, monkeypatch):
    """The run that changed daemons was killed before its restart: the file is new, FRR is not. The
    next run finds the file unchanged, and restarts FRR anyway because of the marker."""
    daemons = tmp_path / "daemons"
    fake.units["frr.service"] = {"enabled": True, "active": True}
    unit = {"name": "frr.service", "enabled": True, "state": "started", "restart_on": [str(daemons)]}
    killed_before_its_units(run_module, monkeypatch, {"files": [owned(daemons, "bgpd=yes\n")], "units": [unit]})
    assert daemons.read_text() == "bgpd=yes\n" and fake.systemctl_calls() == []
    _rc, res = run_module(bundle.main, {"files": [owned(daemons, "bgpd=yes\n")], "units": [unit]})
    assert res["changed_paths"] == [] and res["changed"] is True
    assert res["restarted"] == ["frr.service"] and fake.systemctl_calls() == [["restart", "frr.service"]]
    _rc, res = run_module(bundle.main, {"files": [owned(daemons, "bgpd=yes\n")], "units": [unit]})
    assert res["changed"] is False and res["commands"] == []


def test_reload_on_file_reloads_a_running_unit_and_a_restart_wins(tmp_path, fake, run_module):
    conf, script = tmp_path / "exporter.json", tmp_path / "exporter.py"
    fake.units["meshover-exporter.service"] = {"enabled": True, "active": True}
    unit = {
        "name": "meshover-exporter.service",
        "enabled": True,
        "state": "started",
        "restart_on": [str(script)],
        "reload_on": [str(conf)],
    }
    _rc, res = run_module(bundle.main, {"files": [owned(conf, "{}\n"), owned(script, "x\n")], "units": [unit]})
    # both changed: the restart re-reads everything, no reload as well
    assert res["restarted"] == ["meshover-exporter.service"] and res["reloaded"] == []
    _rc, res = run_module(
        bundle.main, {"files": [owned(conf, '{"peers": []}\n'), owned(script, "x\n")], "units": [unit]}
    )
    assert res["reloaded"] == ["meshover-exporter.service"] and res["restarted"] == []
    assert res["commands"] == ["systemctl reload meshover-exporter.service"]
    _rc, res = run_module(
        bundle.main, {"files": [owned(conf, '{"peers": []}\n'), owned(script, "x\n")], "units": [unit]}
    )
    assert res["changed"] is False and res["commands"] == []
    # a stopped unit is started, not reloaded
    fake.units["meshover-exporter.service"]["active"] = False
    _rc, res = run_module(bundle.main, {"files": [owned(conf, "{}\n"), owned(script, "x\n")], "units": [unit]})
    assert res["started"] == ["meshover-exporter.service"] and res["reloaded"] == []


def test_reload_owed_by_an_interrupted_run_is_done_by_the_next(tmp_path, fake, run_module, monkeypatch):
    conf = tmp_path / "exporter.json"
    fake.units["meshover-exporter.service"] = {"enabled": True, "active": True}
    unit = {"name": "meshover-exporter.service", "enabled": True, "state": "started", "reload_on": [str(conf)]}
    killed_before_its_units(run_module, monkeypatch, {"files": [owned(conf, "{}\n")], "units": [unit]})
    assert conf.read_text() == "{}\n" and fake.systemctl_calls() == []
    _rc, res = run_module(bundle.main, {"files": [owned(conf, "{}\n")], "units": [unit]})
    assert res["changed_paths"] == [] and res["changed"] is True
    assert res["reloaded"] == ["meshover-exporter.service"] and fake.systemctl_calls() == [
        ["reload", "meshover-exporter.service"]
    ]
    _rc, res = run_module(bundle.main, {"files": [owned(conf, "{}\n")], "units": [unit]})
    assert res["changed"] is False and res["commands"] == []


def test_file_pending_until_its_step_removes_the_marker(tmp_path, fake, run_module, lists):
    sysctl = tmp_path / "90-meshover.conf"
    args = {"files": [owned(sysctl, "net.ipv6.conf.all.forwarding = 1\n", "0644", pending="gre_overlay-sysctl")]}
    _rc, res = run_module(bundle.main, dict(args))
    assert res["changed"] is True and res["pending"] == ["gre_overlay-sysctl"]
    # the role's apply step was not reached (run killed): the next run still reports the work
    _rc, res = run_module(bundle.main, dict(args))
    assert res["changed_paths"] == [] and res["changed"] is True and res["pending"] == ["gre_overlay-sysctl"]
    (lists.parent / "pending" / "gre_overlay-sysctl").unlink()  # what the apply step does once done
    _rc, res = run_module(bundle.main, dict(args))
    assert res["changed"] is False and res["pending"] == []


def test_a_start_clears_the_work_it_does(tmp_path, fake, run_module):
    conf = tmp_path / "frr.conf"
    fake.units["frr.service"] = {"enabled": True, "active": False}
    unit = {"name": "frr.service", "enabled": True, "state": "started", "clears_pending": ["frr_bgp-reload"]}
    _rc, res = run_module(bundle.main, {"files": [owned(conf, "x\n", pending="frr_bgp-reload")], "units": [unit]})
    assert res["started"] == ["frr.service"] and res["pending"] == []


def test_check_mode_reports_pending_and_leaves_no_marker(tmp_path, fake, run_module, lists):
    conf = tmp_path / "frr.conf"
    args = {"files": [owned(conf, "x\n", pending="frr_bgp-reload")], "_ansible_check_mode": True}
    _rc, res = run_module(bundle.main, args)
    assert res["pending"] == ["frr_bgp-reload"] and not conf.exists()
    assert not (lists.parent / "pending").exists()


def test_unit_file_changed_on_disk_gets_its_daemon_reload(tmp_path, fake, run_module):
    """systemd says NeedDaemonReload=yes (a run wrote the unit file and died before its daemon-reload)."""
    fake.units["x.service"] = {"enabled": True, "active": True, "need_reload": True}
    _rc, res = run_module(bundle.main, {"units": [{"name": "x.service", "enabled": True, "state": "started"}]})
    assert res["commands"] == ["systemctl daemon-reload"] and res["changed"] is True
    _rc, res = run_module(bundle.main, {"units": [{"name": "x.service", "enabled": True, "state": "started"}]})
    assert res["commands"] == [] and res["changed"] is False


def test_pending_names_must_be_plain(tmp_path, fake, run_module):
    rc, res = run_module(bundle.main, {"files": [owned(tmp_path / "f", "x\n", pending="../etc/passwd")]})
    assert rc == 1 and "is not a plain name" in res["msg"]


def test_drift_check_restarts_a_running_unit_whose_live_state_is_not_its_files(tmp_path, fake, run_module):
    table = tmp_path / "firewall.nft"
    fake.units["meshover-firewall.service"] = {"enabled": True, "active": True}
    unit = {
        "name": "meshover-firewall.service",
        "enabled": True,
        "state": "started",
        "restart_on": [str(table)],
        "drift_check": ["/usr/bin/drift-check", str(table)],
    }
    args = {"files": [owned(table, "table inet meshover {}\n")], "units": [unit]}
    _rc, res = run_module(bundle.main, args)  # the file changes: restarted for it, no check needed
    assert res["restarted"] == ["meshover-firewall.service"] and res["drifted"] == [] and fake.drift_runs == 0
    _rc, res = run_module(bundle.main, args)  # nothing changed, the live state is the file's
    assert res["changed"] is False and res["drifted"] == [] and fake.drift_runs == 1
    fake.drift_rc = 1  # someone flushed the table
    _rc, res = run_module(bundle.main, args)
    assert res["changed"] is True and res["drifted"] == ["meshover-firewall.service"]
    assert res["restarted"] == ["meshover-firewall.service"]
    assert fake.systemctl_calls()[-1] == ["restart", "meshover-firewall.service"]
    fake.drift_rc = 1
    calls = len(fake.systemctl_calls())
    _rc, res = run_module(bundle.main, dict(args, _ansible_check_mode=True))  # check mode: reported, not done
    assert res["changed"] is True and res["drifted"] == ["meshover-firewall.service"]
    assert len(fake.systemctl_calls()) == calls
    fake.drift_rc = 2  # the check itself is broken: fail, restart nothing
    _rc, res = run_module(bundle.main, args)
    assert (
        res.get("failed") and "drift check of meshover-firewall.service failed (rc=2): nft: no such file" in res["msg"]
    )
    assert len(fake.systemctl_calls()) == calls
    fake.units["meshover-firewall.service"]["active"] = False  # a stopped unit is started, not checked
    runs = fake.drift_runs
    _rc, res = run_module(bundle.main, args)
    assert res["started"] == ["meshover-firewall.service"] and fake.drift_runs == runs


def test_systemd_too_busy_to_answer_is_asked_again(tmp_path, fake, run_module, monkeypatch):
    pauses = []
    monkeypatch.setattr(bundle.time, "sleep", pauses.append)
    fake.units["x.service"] = {}
    fake.busy = 2  # the first `systemctl show` and its first retry time out on D-Bus
    conf = tmp_path / "etc/x.conf"
    rc, res = run_module(
        bundle.main,
        {
            "files": [owned(conf, "a=1\n")],
            "units": [{"name": "x.service", "enabled": True, "state": "started", "restart_on": [str(conf)]}],
        },
    )
    assert rc == 0 and res["started"] == ["x.service"], res
    assert [c[1] for c in fake.calls if c[0].endswith("systemctl")][:3] == ["show", "show", "show"]
    assert pauses == [5, 15]
    assert fake.systemctl_calls() == [["enable", "x.service"], ["start", "x.service"]]
