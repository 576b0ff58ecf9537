#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle
short_description: Reconcile a role's packages, files and the systemd units that use them, in one module run
version_added: 0.1.0
description:
  - Installs the Debian packages the role needs, writes a set of files whose content was rendered
    on the controller (for example with C(lookup('ansible.builtin.template', ...))), removes the
    files listed as absent, then brings systemd units to their wanted enabled and active states.
  - One module run replaces a package task, a template task per file and a systemd task per unit.
    Under slow targets every task costs seconds, so the meshover roles use this module for their
    packages and static files.
  - Packages are checked with one C(dpkg-query) call, without loading APT's cache (which is what
    makes an unchanged C(ansible.builtin.apt) task cost seconds on small nodes); C(apt-get install)
    runs only for the packages that are missing, or, with O(package_state=latest), only when
    C(apt-get -s) shows an upgrade.
  - Before installing, C(apt-get update) runs when the package lists are missing (a fresh cloud
    image) or older than O(cache_valid_time); it also runs once when C(apt-get -s install) cannot
    locate a package with recent lists. When nothing is to be installed APT is not touched.
  - Locks held by another process (unattended-upgrades or cloud-init at first boot) are waited for
    up to O(lock_timeout) seconds. Every command runs under C(timeout) (C(apt-get install) with a
    long one).
  - Files under a C(sysusers.d) directory are written first and applied with C(systemd-sysusers),
    so the other files of the same run can be owned by the users they declare.
  - A file is written atomically (temporary file in the same directory, then rename) and only when
    its content differs; mode and ownership are corrected separately. Missing parent directories
    are created with mode C(0755).
  - A candidate file is checked with O(files[].validate) before it replaces the live one; a
    failing check leaves the live file untouched and fails the module.
  - C(systemctl daemon-reload) runs when a unit file or a drop-in under a C(systemd) directory
    changed, or when systemd reports that a listed unit's files changed on disk since it loaded
    them (C(NeedDaemonReload), left by an interrupted run). A unit started by this run is not also
    restarted; a running unit is restarted only when one of its O(units[].restart_on) files changed.
  - Work a changed file asks for survives an interrupted run. Before such a file is written, a
    marker is left in O(pending_dir) - the restart of each unit that lists the file in
    O(units[].restart_on), and the file's own O(files[].pending) name - and removed only when the
    work is done - by the restart, by a (re)start of a unit that lists the name in
    O(units[].clears_pending), or by the role's own step for a O(files[].pending) name (which
    removes the marker file). A run that finds a marker does the restart it owes, and returns the
    file markers in RV(pending), so a rerun after a run killed halfway finishes the job.
author:
  - meshover contributors (@meshover)
options:
  packages:
    description:
      - Debian packages the role needs, installed before the files are written (a file's
        O(files[].validate) command or its group may come from one of them).
    type: list
    elements: str
    default: []
  package_state:
    description:
      - V(present) installs missing packages only; V(latest) also upgrades them to the newest
        version the node's package lists know.
    type: str
    choices: [present, latest]
    default: present
  pending_dir:
    description:
      - Directory of the markers of work a changed file still asks for (created when needed, mode
        C(0755)). Only tests change it.
    type: path
    default: /var/lib/meshover/pending
  cache_valid_time:
    description:
      - Package lists older than this many seconds are refreshed with C(apt-get update) before a
        package is installed or upgraded. Their age is that of the newest of the C(*_Packages)
        files under C(/var/lib/apt/lists), that directory and
        C(/var/lib/apt/periodic/update-success-stamp). Lists that do not exist are always
        refreshed.
      - V(0) refreshes them whenever something is to be installed.
    type: int
    default: 3600
  install_recommends:
    description:
      - Whether APT also installs the packages that O(packages) recommend (its default). V(false)
        installs what they depend on only (C(--no-install-recommends)), as C(playbooks/monitoring.yml)
        does for Prometheus, whose recommended node exporter and its collectors nobody asked for.
      - Packages already installed are left as they are either way.
    type: bool
    default: true
  lock_timeout:
    description:
      - Seconds to wait, over the whole run, for the dpkg and APT lists locks when another process
        holds them (unattended-upgrades or cloud-init on a new node). C(apt-get update) is retried
        while its lock is held; C(apt-get install) gets C(-o DPkg::Lock::Timeout) with the time left.
      - V(0) fails at once when a lock is held.
    type: int
    default: 300
  files:
    description:
      - The files the role owns on the node.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file.
        type: path
        required: true
      state:
        description: V(absent) removes the file if it exists.
        type: str
        choices: [present, absent]
        default: present
      content:
        description: Full content of the file. Required when O(files[].state=present).
        type: str
      mode:
        description: Octal mode, as a string such as V('0644').
        type: str
        default: "0644"
      owner:
        description: Owner (name or uid).
        type: str
        default: root
      group:
        description: Group (name or gid).
        type: str
        default: root
      validate:
        description:
          - Command that checks the candidate file before it replaces the live one; C(%s) is
            replaced by the candidate's path. Run without a shell.
        type: str
      diff:
        description: V(false) shows only the sizes in the diff (for long generated files).
        type: bool
        default: true
      pending:
        description:
          - A name (letters, digits, C(_.@-)) for work outside this module that a change of this file asks
            for, such as applying a sysctl.d file or reloading a daemon's configuration. A marker of that
            name is left in O(pending_dir) before the file is written; RV(pending) lists it until the
            work's own step removes C(<pending_dir>/<name>), or a unit that lists it in
            O(units[].clears_pending) is (re)started.
        type: str
  units:
    description:
      - systemd units and their wanted states, handled after the files.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Unit name, such as V(meshover-exporter.service).
        type: str
        required: true
      enabled:
        description: Whether the unit starts at boot. Omitted leaves it as it is.
        type: bool
      state:
        description: V(started) starts it if it is not active; V(stopped) stops it. Omitted leaves it as it is.
        type: str
        choices: [started, stopped]
      restart_on:
        description: Paths from O(files) whose change restarts the unit when it is already running.
        type: list
        elements: path
        default: []
      reload_on:
        description:
          - Paths from O(files) whose change reloads the unit (C(systemctl reload), its C(ExecReload=))
            when it is already running and this run neither starts nor restarts it. For a daemon that
            re-reads these files on a signal, so that their change costs no restart.
          - Like a restart, a reload that a run killed halfway did not get to is done by the next run (a
            marker in O(pending_dir)).
        type: list
        elements: path
        default: []
      restart:
        description:
          - Restart the unit if it is already running, whatever changed. A unit started by this run
            is not restarted.
        type: bool
        default: false
      restart_on_packages:
        description:
          - Restart the unit if it is already running and this run installed or upgraded one of
            O(packages) (for example the package that provides the daemon).
        type: bool
        default: false
      drift_check:
        description:
          - A command (argument list) that tells whether the running unit does what its files say - exit 0
            when it does, 1 when it does not (then the unit is restarted, and reported in RV(drifted)),
            anything else fails the module. For a unit whose live state can change behind its files (a
            table in the kernel that someone flushed), which no changed file would reveal.
          - Run only when the unit is active and this run neither starts, restarts nor reloads it; also
            in check mode, so it must change nothing. Bounded like the module's other commands.
        type: list
        elements: str
        default: []
      clears_pending:
        description:
          - O(files[].pending) names whose work a (re)start of this unit does (a daemon that reads its
            whole configuration when it starts needs no reload afterwards).
        type: list
        elements: str
        default: []
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.PLATFORM_LINUX
attributes:
  check_mode:
    support: full
    details:
      - Reports the packages that would be installed, the files that would change and the systemctl
        commands that would run; changes nothing.
      - The package lists are not updated in check mode. When they are missing or stale a warning says
        so, RV(package_lists) tells which, and a package that C(apt-get -s) cannot locate with them
        is reported in RV(installed) (without its dependencies) instead of failing.
      - O(files[].validate) and C(systemd-sysusers) are not run in check mode. A file owned by a user
        that a sysusers.d file of the same run would create is reported as changed.
  diff_mode:
    support: full
requirements:
  - systemd (C(systemctl)) on the managed node when O(units) is not empty.
  - dpkg and APT (Debian and its derivatives) when O(packages) is not empty.
seealso:
  - module: ansible.builtin.apt
  - module: ansible.builtin.template
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Exporter user, configuration and unit; restart the exporter when either changed
  meshover.mesh.bundle:
    packages: [sudo]
    files:
      - path: /etc/sysusers.d/meshover-exporter.conf
        content: "u meshover-exporter - \"meshover exporter\" / /usr/sbin/nologin\n"
      - path: /etc/meshover/exporter.json
        content: "{{ lookup('ansible.builtin.template', 'exporter.json.j2') }}"
        mode: "0640"
        group: meshover-exporter
      - path: /etc/systemd/system/meshover-exporter.service
        content: "{{ lookup('ansible.builtin.template', 'meshover-exporter.service.j2') }}"
      - path: /etc/sudoers.d/meshover-exporter
        state: absent
    units:
      - name: meshover-exporter.service
        enabled: true
        state: started
        restart_on:
          - /etc/meshover/exporter.json
          - /etc/systemd/system/meshover-exporter.service
  register: exporter_bundle

- name: WireGuard tools on a new cloud node (lists refreshed if older than a day, wait for unattended-upgrades)
  meshover.mesh.bundle:
    packages: [wireguard-tools]
    cache_valid_time: 86400
    lock_timeout: 600
"""

RETURN = r"""
installed:
  description: Packages installed or upgraded (or that would be, in check mode), dependencies included.
  returned: always
  type: list
  elements: str
  sample: [wireguard-tools]
changed_paths:
  description: Files written, re-moded, re-owned or removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/meshover-exporter.service]
commands:
  description: systemctl and systemd-sysusers commands run (or that would run, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [systemctl daemon-reload, systemctl restart meshover-exporter.service]
pending:
  description:
    - O(files[].pending) names of this run's files whose work is still to be done - the file changed in
      this run or in an earlier run that was interrupted - (in check mode, also those whose file would
      change). The role does that work and then removes C(<pending_dir>/<name>).
  returned: always
  type: list
  elements: str
  sample: [gre_overlay-sysctl]
started:
  description: Units started by this run.
  returned: always
  type: list
  elements: str
restarted:
  description: Units restarted by this run.
  returned: always
  type: list
  elements: str
reloaded:
  description: Units reloaded by this run (one of their O(units[].reload_on) files changed).
  returned: always
  type: list
  elements: str
drifted:
  description: Units whose O(units[].drift_check) found the live state different from their files (restarted).
  returned: always
  type: list
  elements: str
cache_updated:
  description: Whether this run ran C(apt-get update).
  returned: always
  type: bool
  sample: true
lock_wait_s:
  description: Seconds this run waited for dpkg or APT locks held by other processes.
  returned: always
  type: float
  sample: 42.0
package_lists:
  description:
    - State of the package lists when a package was to be installed or upgraded, V(missing), V(stale)
      or V(fresh) (after this run's C(apt-get update), if any). In check mode it shows whether a real
      run would update them first.
  returned: when a package was to be installed or upgraded
  type: str
  sample: missing
"""

import fcntl
import grp
import os
import pwd
import shlex
import stat
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshover.mesh.plugins.module_utils.node._bundle import (
    APT_LISTS_DIR,
    APT_UPDATE_STAMP,
    PENDING_DIR,
    SHOW_PROPERTIES,
    TIMEOUTS,
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
    reload_marker,
    restart_marker,
    retry_delay,
    unit_actions,
    validate_files,
    validate_packages,
    validate_pending,
    verbs_act,
)
from ansible_collections.meshover.mesh.plugins.module_utils.node._files import read_text, write_atomic
from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import C_ENV, TIMEOUT_RC, run_systemctl
from ansible_collections.meshover.mesh.plugins.module_utils.node._runner import run as run_bounded

APT_ENV = dict(C_ENV, DEBIAN_FRONTEND="noninteractive", APT_LISTCHANGES_FRONTEND="none")
DPKG_FRONTEND_LOCK = "/var/lib/dpkg/lock-frontend"


def resolve_id(module, kind, name):
    """uid/gid of a name; in check mode a name that does not exist yet (a sysusers.d file of this
    run would create it) is -1, which differs from any current owner."""
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid if kind == "owner" else grp.getgrnam(name).gr_gid
    except KeyError:
        if module.check_mode:
            return -1
        module.fail_json(msg=f"{kind} {name!r} does not exist on the node")


class Apt:
    """dpkg-query and apt-get for ensure_packages(): every run under timeout(1), the lists updated when
    missing or stale, and locks held by another process (unattended-upgrades, cloud-init) waited for
    until one deadline shared by the whole module run."""

    def __init__(self, module, lock_timeout, cache_valid_time, recommends=True):
        self.module = module
        self.recommends = recommends
        self.lock_timeout = lock_timeout
        self.deadline = time.monotonic() + lock_timeout
        self.cache_valid_time = cache_valid_time
        self.lock_wait = 0.0
        self.cache_updated = False
        self.lists = None  # missing, stale or fresh, once read

    def run(self, kind, argv, extra_seconds=0):
        return run_bounded(self.module, argv, TIMEOUTS[kind] + extra_seconds, env=APT_ENV)

    def sleep_for_lock(self, attempt, err, what):
        delay = retry_delay(time.monotonic(), self.deadline, attempt)
        if delay is None:
            holder = lock_holder(err)
            self.module.fail_json(
                msg=f"{what}: the lock is still held{' by process ' + holder if holder else ''} after "
                f"lock_timeout={self.lock_timeout}s: {err.strip()}",
                lock_wait_s=round(self.lock_wait, 1),
            )
        time.sleep(delay)
        self.lock_wait += delay

    def wait_dpkg_lock(self):
        """Poll the dpkg frontend lock (apt and dpkg take it with fcntl) until it is free or the
        deadline passes; apt-get install then waits the rest itself (DPkg::Lock::Timeout)."""
        try:
            fd = os.open(DPKG_FRONTEND_LOCK, os.O_RDWR)
        except OSError:
            return  # no dpkg here, or not root: apt-get reports it
        try:
            attempt = 0
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    delay = retry_delay(time.monotonic(), self.deadline, attempt)
                    if delay is None:
                        return
                    time.sleep(delay)
                    self.lock_wait += delay
                    attempt += 1
                    continue
                fcntl.lockf(fd, fcntl.LOCK_UN)
                return
        finally:
            os.close(fd)

    def read_lists(self):
        packages, now = [], time.time()
        try:
            with os.scandir(APT_LISTS_DIR) as entries:
                packages = [e.stat().st_mtime for e in entries if e.is_file() and is_lists_file(e.name)]
        except OSError:
            pass
        self.lists = lists_state(now, packages, [mtime(APT_UPDATE_STAMP), mtime(APT_LISTS_DIR)], self.cache_valid_time)
        return self.lists

    def update(self, apt_get):
        """apt-get update, retried while another process holds the lists lock."""
        attempt = 0
        while True:
            rc, out, err = self.run("apt-get update", apt_argv(apt_get, "update"))
            if rc == 0:
                break
            if not is_lock_error(err):
                reason = "timed out" if rc == TIMEOUT_RC else f"failed (rc={rc})"
                self.module.fail_json(msg=f"apt-get update {reason}: {err.strip()}", stdout=out)
            self.sleep_for_lock(attempt, err, "apt-get update")
            attempt += 1
        self.cache_updated = True
        self.lists = "fresh"

    def simulate(self, apt_get, wanted):
        attempt = 0
        while True:
            rc, out, err = self.run("apt-get -s", apt_argv(apt_get, "simulate", wanted, recommends=self.recommends))
            if rc == 0 or not is_lock_error(err):
                return rc, out, err
            self.sleep_for_lock(attempt, err, "apt-get -s install")
            attempt += 1

    def install(self, apt_get, wanted):
        self.wait_dpkg_lock()
        left = max(0, int(self.deadline - time.monotonic()))
        argv = apt_argv(apt_get, "install", wanted, lock_timeout=left, recommends=self.recommends)
        rc, out, err = self.run("apt-get install", argv, left)
        if rc != 0:
            reason = "timed out" if rc == TIMEOUT_RC else f"failed (rc={rc})"
            self.module.fail_json(
                msg=f"apt-get install {' '.join(wanted)} {reason}: {err.strip()}",
                stdout=out,
                lock_wait_s=round(self.lock_wait, 1),
            )


def mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def ensure_packages(module, apt, packages, state):
    """Install what is missing (or, for latest, what apt-get would upgrade). Returns the names.

    The fast path (state present, everything installed) is one dpkg-query and nothing else."""
    if not packages:
        return []
    dpkg_query = module.get_bin_path("dpkg-query", required=True)
    argv = [dpkg_query, "-W", "-f", "${Package} ${db:Status-Abbrev}\\n", *packages]
    _rc, out, _err = run_bounded(module, argv, TIMEOUTS["dpkg-query"])
    todo = missing_packages(packages, parse_dpkg_query(out))
    if state == "present" and not todo:
        return []
    apt_get = module.get_bin_path("apt-get", required=True)
    wanted = packages if state == "latest" else todo
    if apt.read_lists() != "fresh":
        if module.check_mode:
            module.warn(f"the package lists are {apt.lists}: a real run updates them first (apt-get update)")
        else:
            apt.update(apt_get)
    rc, out, err = apt.simulate(apt_get, wanted)
    if rc != 0 and is_not_found_error(err) and not apt.cache_updated and not module.check_mode:
        # The lists are recent but do not know a package yet (a source added since): update once, retry.
        apt.update(apt_get)
        rc, out, err = apt.simulate(apt_get, wanted)
    if rc != 0:
        if module.check_mode and apt.lists != "fresh" and is_not_found_error(err):
            # A fresh node: the lists are not there yet, so only the real run can tell the dependencies.
            module.warn(f"apt-get -s cannot resolve {' '.join(wanted)} with {apt.lists} package lists")
            return list(wanted)
        reason = "timed out" if rc == TIMEOUT_RC else f"rc={rc}"
        module.fail_json(msg=f"apt-get cannot install {' '.join(wanted)} ({reason}): {err.strip()}", stdout=out)
    todo = parse_apt_simulation(out)
    if todo and not module.check_mode:
        apt.install(apt_get, wanted)
    return todo


def read_current(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    content = read_text(path, errors="surrogateescape") if stat.S_ISREG(st.st_mode) else None
    return {"content": content, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def write_file(module, wanted):
    """Write one file (mode and owner before its content), checked by its `validate` command first."""
    path = wanted["path"]

    def validate(tmp):
        argv = [tmp if arg == "%s" else arg.replace("%s", tmp) for arg in shlex.split(wanted["validate"])]
        rc, out, err = run_bounded(module, argv, TIMEOUTS["validate"])
        if rc != 0:
            module.fail_json(
                msg=f"{path}: the new content failed its check ({shlex.join(argv)}, rc={rc})", stdout=out, stderr=err
            )

    write_atomic(
        path,
        wanted["content"],
        wanted["mode"],
        uid=wanted["uid"],
        gid=wanted["gid"],
        dir_mode=0o755,
        check=validate if wanted.get("validate") else None,
    )


def set_marker(module, pending_dir, name):
    """Leave a marker (an empty file) before the work it stands for is asked for."""
    try:
        os.makedirs(pending_dir, mode=0o755, exist_ok=True)
        with open(os.path.join(pending_dir, name), "a", encoding="utf-8"):
            pass
    except OSError as exc:
        module.fail_json(msg=f"cannot leave the marker {name} in {pending_dir}: {exc}")


def clear_marker(pending_dir, name):
    try:
        os.unlink(os.path.join(pending_dir, name))
    except FileNotFoundError:
        pass


def has_marker(pending_dir, name):
    return os.path.exists(os.path.join(pending_dir, name))


def unit_states(module, systemctl, names):
    """{"enabled", "active", "need_reload"} of each unit, in order, from one `systemctl show` (a block per unit)."""
    rc, out, err = run_systemctl(
        module, systemctl, ["show", f"--property={SHOW_PROPERTIES}", *names], TIMEOUTS["systemctl"]
    )
    states = parse_systemctl_show(out) if rc == 0 else []
    if len(states) != len(names):
        module.fail_json(msg=f"systemctl show {' '.join(names)} failed (rc={rc}): {err.strip()}", stdout=out)
    return states


def reconcile_files(module, files, units, pending_dir):
    """Write, chmod, chown or remove each file as asked; sysusers.d files first, applied at once (the users they
    declare may own the other files). Returns (changed paths, diffs, commands run)."""
    changed_paths, diffs, commands = [], [], []

    def reconcile(f):
        wanted = dict(f)
        if f["state"] == "present":
            wanted["mode"] = normalize_mode(f["mode"])
            wanted["uid"] = resolve_id(module, "owner", f["owner"])
            wanted["gid"] = resolve_id(module, "group", f["group"])
        current = read_current(f["path"])
        actions = file_actions(wanted, current)
        if not actions:
            return
        changed_paths.append(f["path"])
        if module._diff and ("write" in actions or "remove" in actions):
            diffs.append(file_diff(f["path"], wanted, current, show_content=f["diff"]))
        if module.check_mode:
            return
        if "write" in actions or "remove" in actions:
            for name in markers_before_write(f["path"], files, units):
                set_marker(module, pending_dir, name)
        if "remove" in actions:
            os.unlink(f["path"])
        elif "write" in actions:
            write_file(module, wanted)
        else:
            if "chmod" in actions:
                os.chmod(f["path"], wanted["mode"])
            if "chown" in actions:
                os.chown(f["path"], wanted["uid"], wanted["gid"])

    for f in files:
        if is_sysusers(f["path"]):
            reconcile(f)
    applied = [f["path"] for f in files if f["path"] in changed_paths and f["state"] == "present"]
    if applied:
        commands.append(shlex.join(["systemd-sysusers", *applied]))
        if not module.check_mode:
            argv = [module.get_bin_path("systemd-sysusers", required=True), *applied]
            rc, out, err = run_bounded(module, argv, TIMEOUTS["systemd-sysusers"])
            if rc != 0:
                module.fail_json(msg=f"systemd-sysusers failed (rc={rc}): {err.strip()}", stdout=out)
    for f in files:
        if not is_sysusers(f["path"]):
            reconcile(f)
    return changed_paths, diffs, commands


def reconcile_units(module, units, changed_paths, installed, pending_dir, commands):
    """daemon-reload when a unit file changed (or systemd says one did), then each unit's enable, start and
    restart (or reload) as asked; appends the systemctl commands to ``commands``. A running unit that this
    run leaves alone and whose drift_check exits 1 is restarted. Returns (started, restarted, reloaded, drifted)."""
    started, restarted, reloaded, drifted = [], [], [], []
    if not units:
        return started, restarted, reloaded, drifted
    systemctl = module.get_bin_path("systemctl", required=True)

    def systemctl_run(args):
        commands.append(shlex.join(["systemctl", *args]))
        if module.check_mode:
            return
        rc, out, err = run_systemctl(module, systemctl, args, TIMEOUTS["systemctl"])
        if rc != 0:
            module.fail_json(
                msg=f"systemctl {shlex.join(args)} failed (rc={rc}): {err.strip()}",
                stdout=out,
                changed_paths=changed_paths,
                commands=commands,
            )

    # daemon-reload before the states are acted on: a changed unit file is then what systemd
    # reports. Also when systemd says a unit's files changed since it loaded them (a run killed
    # between writing a unit file and its daemon-reload).
    names = [u["name"] for u in units]
    states = unit_states(module, systemctl, names)
    if needs_daemon_reload(changed_paths) or any(st["need_reload"] for st in states):
        systemctl_run(["daemon-reload"])
        if not module.check_mode:
            states = unit_states(module, systemctl, names)
    for unit, current in zip(units, states):
        verbs = unit_actions(
            unit,
            current,
            changed_paths,
            packages_changed=bool(installed),
            restart_pending=has_marker(pending_dir, restart_marker(unit["name"])),
            reload_pending=has_marker(pending_dir, reload_marker(unit["name"])),
        )
        if unit.get("drift_check") and current["active"] and unit.get("state") == "started" and not verbs_act(verbs):
            rc, out, err = run_bounded(module, unit["drift_check"], TIMEOUTS["validate"])
            if rc not in (0, 1):
                module.fail_json(
                    msg=f"the drift check of {unit['name']} failed (rc={rc}): {err.strip() or out.strip()}",
                    changed_paths=changed_paths,
                    commands=commands,
                )
            if rc == 1:
                drifted.append(unit["name"])
                verbs = [*verbs, "restart"]
        for verb in verbs:
            systemctl_run([verb, unit["name"]])
            if verb == "start":
                started.append(unit["name"])
            elif verb == "restart":
                restarted.append(unit["name"])
            elif verb == "reload":
                reloaded.append(unit["name"])
        if not module.check_mode:
            for name in markers_done(unit, verbs):
                clear_marker(pending_dir, name)
    return started, restarted, reloaded, drifted


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type="list", elements="str", default=[]),
            package_state=dict(type="str", choices=["present", "latest"], default="present"),
            cache_valid_time=dict(type="int", default=3600),
            lock_timeout=dict(type="int", default=300),
            install_recommends=dict(type="bool", default=True),
            pending_dir=dict(type="path", default=PENDING_DIR),
            files=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    path=dict(type="path", required=True),
                    state=dict(type="str", choices=["present", "absent"], default="present"),
                    content=dict(type="str"),
                    mode=dict(type="str", default="0644"),
                    owner=dict(type="str", default="root"),
                    group=dict(type="str", default="root"),
                    validate=dict(type="str"),
                    diff=dict(type="bool", default=True),
                    pending=dict(type="str"),
                ),
            ),
            units=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    enabled=dict(type="bool"),
                    state=dict(type="str", choices=["started", "stopped"]),
                    restart_on=dict(type="list", elements="path", default=[]),
                    reload_on=dict(type="list", elements="path", default=[]),
                    restart=dict(type="bool", default=False),
                    restart_on_packages=dict(type="bool", default=False),
                    clears_pending=dict(type="list", elements="str", default=[]),
                    drift_check=dict(type="list", elements="str", default=[]),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    files = module.params["files"]
    units = module.params["units"]
    pending_dir = module.params["pending_dir"]
    errors = validate_packages(module.params["packages"]) + validate_files(files) + validate_pending(files, units)
    if errors:
        module.fail_json(msg="; ".join(errors))

    if module.params["cache_valid_time"] < 0 or module.params["lock_timeout"] < 0:
        module.fail_json(msg="cache_valid_time and lock_timeout must not be negative")

    # Without pipelining, Ansible runs become through ssh -tt: this module's stdin is then a terminal.
    # timeout(1) puts its command in a process group of its own, a background one on that terminal,
    # and apt-get's first terminal call (it saves and sets the modes of its stdin around dpkg) stops
    # it with SIGTTOU, for ever: seen on a fresh Debian 13 node (dpkg done, apt-get in state T). The
    # module reads nothing from stdin after AnsibleModule parsed its arguments, so its children get
    # /dev/null: no command of this module can block on, or change, the session's terminal.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)

    params = module.params
    apt = Apt(module, params["lock_timeout"], params["cache_valid_time"], params["install_recommends"])
    installed = ensure_packages(module, apt, module.params["packages"], module.params["package_state"])
    changed_paths, diffs, commands = reconcile_files(module, files, units, pending_dir)
    started, restarted, reloaded, drifted = reconcile_units(
        module, units, changed_paths, installed, pending_dir, commands
    )

    # The work of the files' `pending` names that is still to do (its markers), and in check mode that
    # of the files that would change now.
    pending = sorted(
        {
            f["pending"]
            for f in files
            if f.get("pending")
            and (has_marker(pending_dir, f["pending"]) or (module.check_mode and f["path"] in changed_paths))
        }
    )

    result = dict(
        changed=bool(installed or changed_paths or commands or pending),
        pending=pending,
        installed=installed,
        changed_paths=changed_paths,
        commands=commands,
        started=started,
        restarted=restarted,
        reloaded=reloaded,
        drifted=drifted,
        cache_updated=apt.cache_updated,
        lock_wait_s=round(apt.lock_wait, 1),
    )
    if apt.lists is not None:
        result["package_lists"] = apt.lists
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
