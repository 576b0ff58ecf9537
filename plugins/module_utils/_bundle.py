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

UNIT_SUFFIXES = (".service", ".socket", ".timer", ".path", ".mount", ".target")
# Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters, starts alphanumeric.
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


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


def parse_systemctl_show(output):
    """[{"enabled", "active"}] per unit from `systemctl show --property=UnitFileState,ActiveState U...`.

    systemctl prints one block of KEY=VALUE lines per unit, in the order asked, separated by an
    empty line; a unit that does not exist has an empty UnitFileState and ActiveState=inactive.
    """
    states = []
    for block in output.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props:
            states.append(
                {
                    "enabled": props.get("UnitFileState", "") in ENABLED_STATES,
                    "active": props.get("ActiveState", "") in ACTIVE_STATES,
                }
            )
    return states


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


def unit_actions(unit, current, changed_paths, packages_changed=False):
    """systemctl verbs for one unit, in order.

    unit: {"name", "enabled" (bool or None), "state" ("started", "stopped" or None),
      "restart_on" ([paths]), "restart" (bool: restart anyway),
      "restart_on_packages" (bool: restart when this run installed or upgraded a package)}.
    current: {"enabled": bool, "active": bool}.
    changed_paths: files this run wrote or removed.
    packages_changed: whether this run installed or upgraded a package.

    A unit that is started by this run is never restarted as well; a running unit is restarted
    only when one of its restart_on files changed or restart is set (a reload-capable daemon
    reloads itself through the role's handler instead).
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
            or (packages_changed and unit.get("restart_on_packages"))
            or set(unit.get("restart_on") or []) & set(changed_paths)
        ):
            verbs.append("restart")
    elif state == "stopped" and current["active"]:
        verbs.append("stop")
    return verbs
