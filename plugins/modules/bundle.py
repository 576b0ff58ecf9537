#!/usr/bin/python
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle
short_description: Reconcile a role's files and the systemd units that use them, in one module run
version_added: 1.1.0
description:
  - Writes a set of files whose content was rendered on the controller (for example with
    C(lookup('ansible.builtin.template', ...))), removes the files listed as absent, then brings
    systemd units to their wanted enabled and active states.
  - One module run replaces a template task per file and a systemd task per unit. Under slow
    targets every task costs seconds, so the meshover roles use this module for their static files.
  - A file is written atomically (temporary file in the same directory, then rename) and only when
    its content differs; mode and ownership are corrected separately. Missing parent directories
    are created with mode C(0755).
  - A candidate file is checked with O(files[].validate) before it replaces the live one; a
    failing check leaves the live file untouched and fails the module.
  - C(systemctl daemon-reload) runs when a unit file or a drop-in under a C(systemd) directory
    changed. A unit started by this run is not also restarted; a running unit is restarted only
    when one of its O(units[].restart_on) files changed.
author:
  - meshover contributors (@meshover)
options:
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
      restart:
        description:
          - Restart the unit if it is already running, whatever changed (for example after the role
            upgraded the package that provides it). A unit started by this run is not restarted.
        type: bool
        default: false
extends_documentation_fragment:
  - meshover.mesh._attributes
  - meshover.mesh._attributes.PLATFORM_LINUX
attributes:
  check_mode:
    support: full
    details:
      - Reports the files that would change and the systemctl commands that would run; changes nothing.
      - O(files[].validate) is not run in check mode.
  diff_mode:
    support: full
requirements:
  - systemd (C(systemctl)) on the managed node when O(units) is not empty.
seealso:
  - module: ansible.builtin.template
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Exporter configuration and unit; restart the exporter when either changed
  meshover.mesh.bundle:
    files:
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
"""

RETURN = r"""
changed_paths:
  description: Files written, re-moded, re-owned or removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/meshover-exporter.service]
commands:
  description: systemctl commands run (or that would run, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [systemctl daemon-reload, systemctl restart meshover-exporter.service]
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
"""

import grp
import os
import pwd
import shlex
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshover.mesh.plugins.module_utils._bundle import (
    file_actions,
    file_diff,
    needs_daemon_reload,
    normalize_mode,
    unit_actions,
    validate_files,
)

C_ENV = {"LC_ALL": "C", "LANG": "C"}
ENABLED_STATES = {"enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "linked"}


def resolve_uid(module, owner):
    if owner.isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        module.fail_json(msg=f"owner {owner!r} does not exist on the node")


def resolve_gid(module, group):
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        module.fail_json(msg=f"group {group!r} does not exist on the node")


def read_current(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    content = None
    if stat.S_ISREG(st.st_mode):
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            content = f.read()
    return {"content": content, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def write_file(module, wanted):
    path = wanted["path"]
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".meshover-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            f.write(wanted["content"])
        os.chmod(tmp, wanted["mode"])
        os.chown(tmp, wanted["uid"], wanted["gid"])
        if wanted.get("validate"):
            argv = [tmp if arg == "%s" else arg.replace("%s", tmp) for arg in shlex.split(wanted["validate"])]
            rc, out, err = module.run_command(argv, environ_update=C_ENV)
            if rc != 0:
                module.fail_json(
                    msg=f"{path}: the new content failed its check ({shlex.join(argv)}, rc={rc})",
                    stdout=out,
                    stderr=err,
                )
        os.rename(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def unit_state(module, systemctl, name):
    _rc, enabled, _err = module.run_command([systemctl, "is-enabled", name], environ_update=C_ENV)
    _rc, active, _err = module.run_command([systemctl, "is-active", name], environ_update=C_ENV)
    return {
        "enabled": enabled.strip() in ENABLED_STATES,
        "active": active.strip() in ("active", "activating", "reloading"),
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
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
                    restart=dict(type="bool", default=False),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    files = module.params["files"]
    errors = validate_files(files)
    if errors:
        module.fail_json(msg="; ".join(errors))

    changed_paths, diffs = [], []
    for f in files:
        wanted = dict(f)
        if f["state"] == "present":
            wanted["mode"] = normalize_mode(f["mode"])
            wanted["uid"] = resolve_uid(module, f["owner"])
            wanted["gid"] = resolve_gid(module, f["group"])
        current = read_current(f["path"])
        actions = file_actions(wanted, current)
        if not actions:
            continue
        changed_paths.append(f["path"])
        if module._diff and ("write" in actions or "remove" in actions):
            diffs.append(file_diff(f["path"], wanted, current, show_content=f["diff"]))
        if module.check_mode:
            continue
        if "remove" in actions:
            os.unlink(f["path"])
        elif "write" in actions:
            write_file(module, wanted)
        else:
            if "chmod" in actions:
                os.chmod(f["path"], wanted["mode"])
            if "chown" in actions:
                os.chown(f["path"], wanted["uid"], wanted["gid"])

    commands, started, restarted = [], [], []
    units = module.params["units"]
    if units:
        systemctl = module.get_bin_path("systemctl", required=True)
        plan = []
        if needs_daemon_reload(changed_paths):
            plan.append(["daemon-reload"])
        for unit in units:
            current = unit_state(module, systemctl, unit["name"])
            for verb in unit_actions(unit, current, changed_paths):
                plan.append([verb, unit["name"]])
                if verb == "start":
                    started.append(unit["name"])
                elif verb == "restart":
                    restarted.append(unit["name"])
        for args in plan:
            commands.append(shlex.join(["systemctl", *args]))
            if module.check_mode:
                continue
            rc, out, err = module.run_command([systemctl, *args], environ_update=C_ENV)
            if rc != 0:
                module.fail_json(
                    msg=f"systemctl {shlex.join(args)} failed (rc={rc}): {err.strip()}",
                    stdout=out,
                    changed_paths=changed_paths,
                    commands=commands,
                )

    result = dict(
        changed=bool(changed_paths or commands),
        changed_paths=changed_paths,
        commands=commands,
        started=started,
        restarted=restarted,
    )
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
