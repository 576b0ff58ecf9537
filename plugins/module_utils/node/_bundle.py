# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: not part of the collection's public API.
"""Planning for meshover.mesh.bundle: a role's packages, its files and the systemd units that use them.

Under qemu-TCG (and on slow fleets) every Ansible task costs seconds, and a role's static files,
each written by its own template/copy task (two module runs per unchanged file) plus one
systemd task per unit, were most of an idempotent converge. The bundle module takes the role's
files already rendered on the controller and the units' wanted states, and does it all in one
module run. This module holds the pure decisions, so they are unit-tested without a node.
"""

from __future__ import annotations

import os
import re

from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import SYSTEMCTL_SECONDS

UNIT_SUFFIXES = (".service", ".socket", ".timer", ".path", ".mount", ".target")
# Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters, starts alphanumeric.
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+\Z")


def normalize_mode(mode):
    """'0644' / '644' / 420 -> 0o644. Raises ValueError on anything else."""
    if isinstance(mode, int):
        value = mode
    else:
        text = str(mode).strip()
        if not text or any(c not in "01234567" for c in text) or len(text) > 4:
            raise ValueError(f"mode {mode!r} is not an octal mode like '0644'")
        value = int(text, 8)
    if not 0 <= value <= 0o7777:
        raise ValueError(f"mode {mode!r} is out of range")
    return value


def validate_files(files):
    """Return a list of error strings for the module's `files` option (after argspec typing)."""
    errors = []
    seen = set()
    for i, f in enumerate(files):
        path = f.get("path") or ""
        where = f"files[{i}] ({path or 'no path'})"
        if not os.path.isabs(path) or path.endswith("/"):
            errors.append(f"{where}: path must be an absolute file path")
        if path in seen:
            errors.append(f"{where}: path is listed twice")
        seen.add(path)
        if f.get("state", "present") == "present":
            if f.get("content") is None:
                errors.append(f"{where}: content is required when state is present")
            try:
                normalize_mode(f.get("mode", "0644"))
            except ValueError as e:
                errors.append(f"{where}: {e}")
            validate = f.get("validate")
            if validate and "%s" not in validate:
                errors.append(f"{where}: validate must contain %s (the path of the candidate file)")
    return errors


def validate_packages(packages):
    """Return a list of error strings for the module's `packages` option."""
    errors = []
    for i, name in enumerate(packages):
        if not isinstance(name, str) or not PACKAGE_RE.match(name):
            errors.append(f"packages[{i}] ({name!r}): not a Debian package name")
    if len(set(packages)) != len(packages):
        errors.append("packages: a package is listed twice")
    return errors


def parse_dpkg_query(output):
    """Installed package names from `dpkg-query -W -f '${Package} ${db:Status-Abbrev}\\n' NAMES...`.

    db:Status-Abbrev is three characters: wanted, status, error flag; "ii " is installed and sound.
    Anything else (rc: removed with its configuration left, iU: unpacked, half-configured, ...) is
    not installed.
    """
    installed = set()
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1] == "ii":
            installed.add(fields[0].split(":", 1)[0])  # multi-arch packages may print name:arch
    return installed


def missing_packages(packages, installed):
    """The wanted packages that are not installed, in the order given."""
    return [p for p in packages if p not in installed]


def parse_apt_simulation(output):
    """Packages `apt-get -s install ...` would install or upgrade (its "Inst NAME ..." lines)."""
    return [line.split()[1] for line in output.splitlines() if line.startswith("Inst ") and len(line.split()) > 1]


ENABLED_STATES = {"enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "linked"}
ACTIVE_STATES = {"active", "activating", "reloading"}


SHOW_PROPERTIES = "UnitFileState,ActiveState,NeedDaemonReload"


def parse_systemctl_show(output):
    """[{"enabled", "active", "need_reload"}] per unit from `systemctl show --property=SHOW_PROPERTIES U...`.

    systemctl prints one block of KEY=VALUE lines per unit, in the order asked, separated by an
    empty line; a unit that does not exist has an empty UnitFileState and ActiveState=inactive.
    NeedDaemonReload=yes: the unit's file or a drop-in changed on disk since systemd loaded it (a run
    that wrote it and was interrupted before its daemon-reload leaves this behind).
    """
    states = []
    for block in output.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props:
            states.append(
                {
                    "enabled": props.get("UnitFileState", "") in ENABLED_STATES,
                    "active": props.get("ActiveState", "") in ACTIVE_STATES,
                    "need_reload": props.get("NeedDaemonReload", "") == "yes",
                }
            )
    return states


# -- Work that survives an interrupted run --------------------------------------------------------
#
# A run that writes a file and is killed before the restart, reload or apply that the file asks for
# leaves a node whose files are new and whose daemons and kernel are not; the next run finds the files
# unchanged and would do nothing. So before the module writes such a file it leaves a marker in
# PENDING_DIR, and removes it only once the work is done: the restart here, or the role's own step
# (e.g. frr-reload, systemd-sysctl) for a file's `pending` marker. A marker found at the start of a run
# is work left over, done in this run.

PENDING_DIR = "/var/lib/meshover/pending"
PENDING_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}\Z")


def restart_marker(unit_name):
    """The marker of a restart the unit still owes (one of its restart_on files changed)."""
    return f"restart@{unit_name}"


def reload_marker(unit_name):
    """The marker of a reload the unit still owes (one of its reload_on files changed)."""
    return f"reload@{unit_name}"


def markers_before_write(path, files, units):
    """Markers to leave before `path` is written or removed: its own `pending` name, and the restart (or
    reload) of every started unit that lists it in restart_on (or reload_on)."""
    names = [f["pending"] for f in files if f["path"] == path and f.get("pending")]
    for u in units:
        if u.get("state") != "started":
            continue
        if path in (u.get("restart_on") or []):
            names.append(restart_marker(u["name"]))
        elif path in (u.get("reload_on") or []):
            names.append(reload_marker(u["name"]))
    return names


def markers_done(unit, verbs):
    """Markers a unit's actions settle: a (re)start re-reads everything (its restart and reload markers
    and its clears_pending names); a reload settles its reload marker; a stopped unit owes neither."""
    if "start" in verbs or "restart" in verbs:
        return [restart_marker(unit["name"]), reload_marker(unit["name"]), *(unit.get("clears_pending") or [])]
    if "reload" in verbs:
        return [reload_marker(unit["name"])]
    if unit.get("state") == "stopped":
        return [restart_marker(unit["name"]), reload_marker(unit["name"])]
    return []


def validate_pending(files, units):
    """Errors for marker names that are not plain file names."""
    errors = []
    for f in files:
        name = f.get("pending")
        if name is not None and not PENDING_NAME_RE.match(name):
            errors.append(f"files[{f['path']}].pending {name!r} is not a plain name (letters, digits, _.@-)")
    for u in units:
        for name in u.get("clears_pending") or []:
            if not PENDING_NAME_RE.match(name):
                errors.append(f"units[{u['name']}].clears_pending {name!r} is not a plain name (letters, digits, _.@-)")
    return errors


def is_sysusers(path):
    """A sysusers.d(5) file: systemd-sysusers creates its users and groups."""
    return "/sysusers.d/" in path and path.endswith(".conf")


def file_actions(wanted, current):
    """Decide what to do with one file.

    wanted: {"path", "state", "content", "mode" (int), "uid", "gid"}.
    current: None when the path does not exist, else {"content" (str or None if not a regular file),
      "mode" (int), "uid", "gid"}.
    Returns a list of actions among "write", "chmod", "chown", "remove" (empty: nothing to do).
    """
    if wanted.get("state", "present") == "absent":
        return ["remove"] if current is not None else []
    if current is None or current.get("content") != wanted["content"]:
        return ["write"]
    actions = []
    if current["mode"] != wanted["mode"]:
        actions.append("chmod")
    if (current["uid"], current["gid"]) != (wanted["uid"], wanted["gid"]):
        actions.append("chown")
    return actions


def file_diff(path, wanted, current, show_content=True):
    """A before/after diff entry for Ansible's --diff output."""
    before = "" if current is None or current.get("content") is None else current["content"]
    after = "" if wanted.get("state", "present") == "absent" else wanted["content"]
    if not show_content:
        before = f"({len(before)} characters)\n" if before else ""
        after = f"({len(after)} characters)\n" if after else ""
    return {"before_header": path, "after_header": path, "before": before, "after": after}


def needs_daemon_reload(changed_paths):
    """A unit file, or a unit drop-in, under a systemd/system directory changed: systemd must re-read them."""
    for path in changed_paths:
        if "/systemd/system/" not in path:
            continue
        if path.endswith(UNIT_SUFFIXES) or (path.endswith(".conf") and ".d/" in path):
            return True
    return False


def unit_actions(unit, current, changed_paths, packages_changed=False, restart_pending=False, reload_pending=False):
    """systemctl verbs for one unit, in order.

    unit: {"name", "enabled" (bool or None), "state" ("started", "stopped" or None),
      "restart_on" ([paths]), "reload_on" ([paths]), "restart" (bool: restart anyway),
      "restart_on_packages" (bool: restart when this run installed or upgraded a package)}.
    current: {"enabled": bool, "active": bool}.
    changed_paths: files this run wrote or removed.
    packages_changed: whether this run installed or upgraded a package.
    restart_pending: a restart marker of this unit exists (an earlier run changed a restart_on file
      and did not get to the restart). reload_pending: the same for a reload_on file and its reload.

    A unit that is started by this run is never restarted as well; a running unit is restarted
    only when one of its restart_on files changed or restart is set, and reloaded (`systemctl reload`,
    the unit's ExecReload) when one of its reload_on files changed and it is not restarted.
    """
    verbs = []
    if unit.get("enabled") is True and not current["enabled"]:
        verbs.append("enable")
    elif unit.get("enabled") is False and current["enabled"]:
        verbs.append("disable")
    state = unit.get("state")
    if state == "started":
        if not current["active"]:
            verbs.append("start")
        elif (
            unit.get("restart")
            or restart_pending
            or (packages_changed and unit.get("restart_on_packages"))
            or set(unit.get("restart_on") or []) & set(changed_paths)
        ):
            verbs.append("restart")
        elif reload_pending or set(unit.get("reload_on") or []) & set(changed_paths):
            verbs.append("reload")
    elif state == "stopped" and current["active"]:
        verbs.append("stop")
    return verbs


def verbs_act(verbs):
    """Whether these systemctl verbs (unit_actions()) start, restart or reload the unit: then its live state is
    read afresh anyway and a drift check is not needed."""
    return bool(set(verbs) & {"start", "restart", "reload"})


# -- APT on a fresh node: package lists, locks, timeouts ----------------------------------------
#
# A fresh cloud image has never run `apt-get update` (empty /var/lib/apt/lists), and at first boot
# unattended-upgrades or cloud-init may hold the dpkg and lists locks for minutes.

APT_LISTS_DIR = "/var/lib/apt/lists"
APT_UPDATE_STAMP = "/var/lib/apt/periodic/update-success-stamp"  # touched by apt's 15update-stamp hook

# Seconds each subprocess may run before `timeout` stops it (install: lock wait + this).
TIMEOUTS = {
    "dpkg-query": 60,
    "apt-get -s": 300,
    "apt-get update": 600,
    "apt-get install": 3600,
    "systemctl": SYSTEMCTL_SECONDS,
    "systemd-sysusers": 120,
    "validate": 120,
}

LOCK_PATTERNS = ("could not get lock", "is another process using it", "unable to lock directory")
NOT_FOUND_PATTERNS = (
    "unable to locate package",
    "has no installation candidate",
    "is not available, but is referred to",
)
LOCK_HOLDER_RE = re.compile(r"held by process (\d+)(?: \(([^)]*)\))?")


def is_lists_file(name):
    """A package index APT downloaded: ..._Packages, also ..._Packages.lz4 and friends when compressed."""
    return "_Packages" in name and not name.endswith("Index")


def lists_state(now, packages_mtimes, other_mtimes, valid_time):
    """'missing', 'stale' or 'fresh' for the node's package lists.

    packages_mtimes: mtimes of the *_Packages* files under /var/lib/apt/lists (empty: no lists at
      all, whatever else is there, which is "missing").
    other_mtimes: mtimes of the other witnesses of an update (update-success-stamp, the lists
      directory); None entries (the file does not exist) are ignored.
    The newest witness counts: apt keeps a server's Last-Modified time on the list files, so a list
    fetched a minute ago may look old while the stamp or the directory shows the update.
    """
    if not packages_mtimes:
        return "missing"
    newest = max([*packages_mtimes, *(m for m in other_mtimes if m is not None)])
    return "fresh" if now - newest < valid_time else "stale"


def is_lock_error(stderr):
    """apt-get failed because another process (unattended-upgrades, cloud-init, apt-daily) holds a
    dpkg or lists lock, and waiting may help. A permission problem ("are you root?") is not one."""
    text = (stderr or "").lower()
    return any(p in text for p in LOCK_PATTERNS)


def lock_holder(stderr):
    """'1234 (unattended-upgr)' from apt's "It is held by process 1234 (unattended-upgr)", else None."""
    m = LOCK_HOLDER_RE.search(stderr or "")
    if not m:
        return None
    return f"{m.group(1)} ({m.group(2)})" if m.group(2) else m.group(1)


def is_not_found_error(stderr):
    """apt-get -s install failed because the lists do not know a package (yet)."""
    text = (stderr or "").lower()
    return any(p in text for p in NOT_FOUND_PATTERNS)


APT_INSTALL_OPTIONS = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]


def apt_argv(apt_get, action, packages=(), lock_timeout=0, recommends=True):
    """argv of one apt-get run. action: 'simulate' (apt-get -s install), 'install' or 'update'.

    install waits up to lock_timeout seconds for the dpkg lock (DPkg::Lock::Timeout, apt >= 1.9.11).
    update is retried by the caller instead: the lists lock does not honour that option on every
    apt release. recommends=False adds --no-install-recommends to simulate and install alike.
    """
    no_recommends = [] if recommends else ["--no-install-recommends"]
    if action == "simulate":
        return [apt_get, "-s", "-q", *no_recommends, "install", *packages]
    if action == "install":
        return [
            apt_get,
            "install",
            "-y",
            "-q",
            *no_recommends,
            "-o",
            f"DPkg::Lock::Timeout={int(lock_timeout)}",
            *APT_INSTALL_OPTIONS,
            *packages,
        ]
    if action == "update":
        return [apt_get, "update", "-q"]
    raise ValueError(f"unknown apt-get action {action!r}")


def retry_delay(now, deadline, attempt):
    """Seconds to sleep before the next try while a lock is held: 1, 2, 4 ... capped at 10, never past
    the deadline; None when the deadline has passed (give up)."""
    left = deadline - now
    if left <= 0:
        return None
    return min(float(min(2**attempt, 10)), left)
