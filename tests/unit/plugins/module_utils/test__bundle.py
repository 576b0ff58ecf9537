# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.node._bundle import (
    apt_argv,
    file_actions,
    file_diff,
    is_lists_file,
    is_lock_error,
    is_not_found_error,
    is_sysusers,
    lists_state,
    lock_holder,
    markers_before_write,
    markers_done,
    missing_packages,
    needs_daemon_reload,
    normalize_mode,
    parse_apt_simulation,
    parse_dpkg_query,
    parse_systemctl_show,
    retry_delay,
    unit_actions,
    validate_files,
    validate_packages,
)

WANT = {"path": "/etc/x", "state": "present", "content": "a\n", "mode": 0o640, "uid": 0, "gid": 7}


def cur(content="a\n", mode=0o640, uid=0, gid=7):
    return {"content": content, "mode": mode, "uid": uid, "gid": gid}


@pytest.mark.parametrize("mode, value", [("0644", 0o644), ("644", 0o644), ("0440", 0o440), (0o600, 0o600)])
def test_normalize_mode(mode, value):
    assert normalize_mode(mode) == value


@pytest.mark.parametrize("mode", ["u+rw", "0999", "", "12345", 0o17777])
def test_normalize_mode_rejects(mode):
    with pytest.raises(ValueError):
        normalize_mode(mode)


def test_validate_files_reports_each_problem():
    errors = validate_files(
        [
            {"path": "etc/x", "state": "present", "content": "", "mode": "0644"},
            {"path": "/etc/y", "state": "present", "content": None, "mode": "0644"},
            {"path": "/etc/y", "state": "absent"},
            {"path": "/etc/z", "state": "present", "content": "z", "mode": "rw"},
            {"path": "/etc/v", "state": "present", "content": "v", "mode": "0644", "validate": "visudo -c"},
        ]
    )
    assert errors == [
        "files[0] (etc/x): path must be an absolute file path",
        "files[1] (/etc/y): content is required when state is present",
        "files[2] (/etc/y): path is listed twice",
        "files[3] (/etc/z): mode 'rw' is not an octal mode like '0644'",
        "files[4] (/etc/v): validate must contain %s (the path of the candidate file)",
    ]


def test_validate_files_accepts_absent_without_content():
    assert (
        validate_files([{"path": "/etc/a", "state": "absent"}, {"path": "/etc/b", "content": "", "mode": "0644"}]) == []
    )


@pytest.mark.parametrize(
    "current, actions",
    [
        (None, ["write"]),
        (cur(), []),
        (cur(content="b\n"), ["write"]),
        (cur(content=None), ["write"]),  # a directory or a symlink in the way is replaced
        (cur(mode=0o644), ["chmod"]),
        (cur(gid=0), ["chown"]),
        (cur(mode=0o600, uid=1000), ["chmod", "chown"]),
    ],
)
def test_file_actions_present(current, actions):
    assert file_actions(WANT, current) == actions


def test_file_actions_absent():
    assert file_actions({"path": "/etc/x", "state": "absent"}, cur()) == ["remove"]
    assert file_actions({"path": "/etc/x", "state": "absent"}, None) == []


def test_file_diff_full_and_sizes_only():
    assert file_diff("/etc/x", WANT, cur(content="old\n")) == {
        "before_header": "/etc/x",
        "after_header": "/etc/x",
        "before": "old\n",
        "after": "a\n",
    }
    assert file_diff("/etc/x", WANT, None, show_content=False)["after"] == "(2 characters)\n"
    assert file_diff("/etc/x", {"path": "/etc/x", "state": "absent"}, cur())["after"] == ""


@pytest.mark.parametrize(
    "paths, reload",
    [
        (["/etc/systemd/system/meshover-frr.service"], True),
        (["/etc/systemd/system/frr.service.d/override.conf"], True),
        (["/etc/frr/frr.conf", "/etc/frr/daemons"], False),
        (["/etc/systemd/networkd.conf.d/meshover.conf"], False),  # networkd reads it itself
        ([], False),
    ],
)
def test_needs_daemon_reload(paths, reload):
    assert needs_daemon_reload(paths) is reload


UNIT = {"name": "frr.service", "enabled": True, "state": "started", "restart_on": ["/etc/frr/daemons"]}


@pytest.mark.parametrize(
    "current, changed, verbs",
    [
        ({"enabled": True, "active": True}, [], []),
        ({"enabled": False, "active": False}, [], ["enable", "start"]),
        ({"enabled": True, "active": False}, ["/etc/frr/daemons"], ["start"]),  # started: no restart as well
        ({"enabled": True, "active": True}, ["/etc/frr/daemons"], ["restart"]),
        ({"enabled": True, "active": True}, ["/etc/frr/frr.conf"], []),  # not a restart_on file
    ],
)
def test_unit_actions_started(current, changed, verbs):
    assert unit_actions(UNIT, current, changed) == verbs


def test_unit_actions_stopped_disabled_and_untouched():
    gone = {"name": "meshover-frr.service", "enabled": False, "state": "stopped"}
    assert unit_actions(gone, {"enabled": True, "active": True}, []) == ["disable", "stop"]
    assert unit_actions(gone, {"enabled": False, "active": False}, []) == []
    boot_only = {"name": "meshover-gre.service", "enabled": True, "state": None}
    assert unit_actions(boot_only, {"enabled": False, "active": False}, []) == ["enable"]
    assert unit_actions(boot_only, {"enabled": True, "active": False}, ["/x"]) == []


def test_unit_actions_reload_on():
    unit = {"name": "x.service", "state": "started", "restart_on": ["/a"], "reload_on": ["/b"]}
    running, stopped = {"enabled": True, "active": True}, {"enabled": True, "active": False}
    assert unit_actions(unit, running, ["/b"]) == ["reload"]
    assert unit_actions(unit, running, ["/a", "/b"]) == ["restart"]
    assert unit_actions(unit, stopped, ["/b"]) == ["start"]
    assert unit_actions(unit, running, [], reload_pending=True) == ["reload"]
    assert unit_actions(unit, running, [], reload_pending=True, restart_pending=True) == ["restart"]
    assert unit_actions(unit, running, ["/c"]) == []


def test_markers_of_a_reload():
    files = [{"path": "/b"}, {"path": "/a", "pending": "p"}]
    unit = {"name": "x.service", "state": "started", "restart_on": ["/a"], "reload_on": ["/b"]}
    assert markers_before_write("/b", files, [unit]) == ["reload@x.service"]
    assert markers_before_write("/a", files, [unit]) == ["p", "restart@x.service"]
    assert markers_before_write("/b", files, [dict(unit, state="stopped")]) == []
    assert markers_done(unit, ["reload"]) == ["reload@x.service"]
    assert markers_done(dict(unit, clears_pending=["p"]), ["restart"]) == ["restart@x.service", "reload@x.service", "p"]
    assert markers_done(dict(unit, state="stopped"), ["stop"]) == ["restart@x.service", "reload@x.service"]
    assert markers_done(unit, []) == []


def test_unit_actions_forced_restart_only_when_running():
    unit = {"name": "frr.service", "enabled": True, "state": "started", "restart": True}
    assert unit_actions(unit, {"enabled": True, "active": True}, []) == ["restart"]
    assert unit_actions(unit, {"enabled": True, "active": False}, []) == ["start"]


def test_parse_dpkg_query_only_ii_is_installed():
    out = "frr ii \nwireguard-tools rc \nlibc6:amd64 ii \nnftables iU \nsudo iiR\n"
    assert parse_dpkg_query(out) == {"frr", "libc6"}
    assert missing_packages(["sudo", "frr", "nftables", "libc6"], parse_dpkg_query(out)) == ["sudo", "nftables"]


def test_parse_apt_simulation_lists_inst_lines():
    out = (
        "Reading package lists...\nThe following NEW packages will be installed:\n  frr libyang2\n"
        "Inst libyang2 (2.1.30-2 Debian:12.8/stable [amd64])\nInst frr [8.4.4-1] (8.4.4-1.1 Debian [amd64])\n"
        "Conf libyang2 (2.1.30-2 Debian:12.8/stable [amd64])\n"
    )
    assert parse_apt_simulation(out) == ["libyang2", "frr"]
    assert parse_apt_simulation("frr is already the newest version (8.4.4-1.1).\n") == []


def test_validate_packages():
    assert validate_packages(["wireguard-tools", "python3-pyroute2", "g++", "libc6"]) == []
    assert validate_packages(["Bad", "x", "ok-pkg", "ok-pkg"]) == [
        "packages[0] ('Bad'): not a Debian package name",
        "packages[1] ('x'): not a Debian package name",
        "packages: a package is listed twice",
    ]


def test_parse_systemctl_show_blocks_in_order():
    out = (
        "ActiveState=inactive\nUnitFileState=\n\n"
        "ActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=yes\n\n"
        "ActiveState=activating\nUnitFileState=static\nNeedDaemonReload=no\n\n"
        "ActiveState=failed\nUnitFileState=masked\n"
    )
    assert parse_systemctl_show(out) == [
        {"enabled": False, "active": False, "need_reload": False},
        {"enabled": True, "active": True, "need_reload": True},
        {"enabled": True, "active": True, "need_reload": False},
        {"enabled": False, "active": False, "need_reload": False},
    ]


@pytest.mark.parametrize(
    ("path", "yes"),
    [
        ("/etc/sysusers.d/meshover-exporter.conf", True),
        ("/usr/lib/sysusers.d/x.conf", True),
        ("/etc/sysusers.d/README", False),
        ("/etc/sysctl.d/90-meshover.conf", False),
    ],
)
def test_is_sysusers(path, yes):
    assert is_sysusers(path) is yes


def test_unit_actions_restart_on_packages():
    running = {"enabled": True, "active": True}
    unit = {"name": "frr.service", "state": "started", "restart_on_packages": True}
    assert unit_actions(unit, running, [], packages_changed=True) == ["restart"]
    assert unit_actions(unit, running, [], packages_changed=False) == []
    assert unit_actions({"name": "x", "state": "started"}, running, [], packages_changed=True) == []
    assert unit_actions(unit, {"enabled": True, "active": False}, [], packages_changed=True) == ["start"]


@pytest.mark.parametrize(
    ("packages", "others", "state"),
    [
        ([], [None, 1000.0], "missing"),  # the lists directory alone is not lists
        ([10.0], [None, None], "stale"),
        ([10.0], [900.0, None], "fresh"),  # Last-Modified kept on the file, the stamp shows the update
        ([950.0], [None, 5.0], "fresh"),
        ([100.0, 200.0], [None, 300.0], "stale"),
    ],
)
def test_lists_state(packages, others, state):
    assert lists_state(1000.0, packages, others, 600) == state


def test_lists_state_zero_valid_time_is_always_stale():
    assert lists_state(1000.0, [1000.0], [], 0) == "stale"


def test_is_lists_file():
    assert is_lists_file("deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages")
    assert is_lists_file("deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages.lz4")
    assert not is_lists_file("deb.debian.org_debian_dists_trixie_InRelease")
    assert not is_lists_file("lock")


HELD = (
    "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234 (unattended-upgr)\n"
    "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n"
)
ROOT = (
    "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\n"
    "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), are you root?\n"
)


def test_lock_error_recognition():
    assert is_lock_error(HELD) and lock_holder(HELD) == "1234 (unattended-upgr)"
    assert is_lock_error("E: Could not get lock /var/lib/apt/lists/lock. It is held by process 9\n")
    assert lock_holder("It is held by process 9\n") == "9"
    assert not is_lock_error(ROOT) and lock_holder(ROOT) is None
    assert not is_lock_error("E: Unable to locate package nope") and not is_lock_error(None)


def test_not_found_recognition():
    assert is_not_found_error("E: Unable to locate package wireguard-tools")
    assert is_not_found_error("E: Package 'frr' has no installation candidate")
    assert not is_not_found_error(HELD)


def test_apt_argv():
    assert apt_argv("/usr/bin/apt-get", "simulate", ["a", "b"]) == ["/usr/bin/apt-get", "-s", "-q", "install", "a", "b"]
    assert apt_argv("/usr/bin/apt-get", "update") == ["/usr/bin/apt-get", "update", "-q"]
    install = apt_argv("/usr/bin/apt-get", "install", ["a"], lock_timeout=287.6)
    assert install[:4] == ["/usr/bin/apt-get", "install", "-y", "-q"] and install[-1] == "a"
    assert "DPkg::Lock::Timeout=287" in install and "Dpkg::Options::=--force-confold" in install
    with pytest.raises(ValueError):
        apt_argv("apt-get", "remove")


def test_apt_argv_without_recommends_simulates_and_installs_alike():
    assert "--no-install-recommends" not in apt_argv("apt-get", "install", ["a"])
    simulate = apt_argv("apt-get", "simulate", ["a"], recommends=False)
    install = apt_argv("apt-get", "install", ["a"], lock_timeout=5, recommends=False)
    assert simulate == ["apt-get", "-s", "-q", "--no-install-recommends", "install", "a"]
    assert install[:5] == ["apt-get", "install", "-y", "-q", "--no-install-recommends"] and install[-1] == "a"
    assert apt_argv("apt-get", "update", recommends=False) == ["apt-get", "update", "-q"]


def test_retry_delay_backs_off_and_stops_at_the_deadline():
    assert [retry_delay(0, 100, n) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert retry_delay(99.5, 100, 3) == 0.5
    assert retry_delay(100, 100, 0) is None
