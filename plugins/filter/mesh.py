# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters meshover.mesh.mesh_identity, mesh_identities, mesh_hostvars, mesh_rolevars, bgp_undrained,
bgp_sessions, frr_coil_method, frr_probe, frr_reload_test, quote_for and vtysh_script (docs: sidecar .yml
files)."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.release import __version__ as ansible_version
from jinja2 import Undefined

from ansible_collections.meshover.mesh.plugins.module_utils.controller._bgp import (
    coil_method,
    parse_probe,
    parse_reload_test,
    runtime_install,
    undrained_prefixes,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._identity import (
    MeshError,
    MeshSettings,
    derive_identities,
    derive_identity,
    settings_from_vars,
)
from ansible_collections.meshover.mesh.plugins.module_utils.controller._quoting import QuotingError
from ansible_collections.meshover.mesh.plugins.module_utils.controller._quoting import quote_for as _quote_for
from ansible_collections.meshover.mesh.plugins.module_utils.controller._rolevars import is_role_var
from ansible_collections.meshover.mesh.plugins.module_utils.node._kernel import bgp_sessions as _bgp_sessions
from ansible_collections.meshover.mesh.plugins.module_utils.node._kernel import vtysh_script as _vtysh_script

_PREFIX = "meshover.mesh."


def _settings(name: str, base: Mapping[str, Any] | None, **kwargs: Any) -> MeshSettings:
    mesh_vars = dict(base or {})
    for key, value in kwargs.items():
        if value is not None:
            mesh_vars[f"meshover_{key}"] = value
    try:
        return settings_from_vars(mesh_vars, where=_PREFIX + name)
    except MeshError as exc:
        raise AnsibleFilterError("\n".join(exc.messages)) from None


def mesh_identity(
    hostname: Any,
    mesh_name: str | None = None,
    prefix6: str | None = None,
    pool4: str | None = None,
    asn_range: list[int] | None = None,
) -> dict[str, Any]:
    """The v1 identity of one host under the given (or default) mesh settings."""
    if not isinstance(hostname, str):
        raise AnsibleFilterError(f"{_PREFIX}mesh_identity expects a hostname string, got {type(hostname).__name__}")
    settings = _settings("mesh_identity", None, mesh_name=mesh_name, prefix6=prefix6, pool4=pool4, asn_range=asn_range)
    try:
        return derive_identity(hostname, settings).as_dict()
    except MeshError as exc:
        raise AnsibleFilterError(f"{_PREFIX}mesh_identity: " + "\n".join(exc.messages)) from None


def mesh_identities(
    hosts: Any,
    mesh_name: str | None = None,
    prefix6: str | None = None,
    pool4: str | None = None,
    asn_range: list[int] | None = None,
) -> dict[str, dict[str, Any]]:
    """Identities of many hosts (a list of hostnames, or a dict host -> meshover_* vars), collisions checked."""
    if isinstance(hosts, Mapping):
        inventory = {str(h): (v if isinstance(v, Mapping) else {}) for h, v in hosts.items()}
    elif isinstance(hosts, (list, tuple)) and all(isinstance(h, str) for h in hosts):
        inventory = {h: {} for h in hosts}
    else:
        raise AnsibleFilterError(
            f"{_PREFIX}mesh_identities expects a list of hostnames or a dict host -> vars, got {type(hosts).__name__}"
        )
    base = next(iter(inventory.values()), None)
    settings = _settings(
        "mesh_identities", base, mesh_name=mesh_name, prefix6=prefix6, pool4=pool4, asn_range=asn_range
    )
    try:
        identities = derive_identities(inventory, settings)
    except MeshError as exc:
        raise AnsibleFilterError(f"{_PREFIX}mesh_identities found problems:\n" + "\n".join(exc.messages)) from None
    return {host: ident.as_dict() for host, ident in identities.items()}


def _collect(name: str, hostnames: Any, hostvars: Any, wanted: Any, skip_undefined: bool) -> dict[str, dict[str, Any]]:
    """host -> {its variables whose name passes wanted(), templated}; works on Ansible's lazy hostvars
    (only the selected variables are templated)."""
    if isinstance(hostnames, str) or not isinstance(hostnames, (list, tuple)):
        raise AnsibleFilterError(f"{_PREFIX}{name} expects a list of hostnames, got {type(hostnames).__name__}")
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError(f"{_PREFIX}{name} expects hostvars as its argument, got {type(hostvars).__name__}")
    result: dict[str, dict[str, Any]] = {}
    for host in hostnames:
        if host not in hostvars:
            raise AnsibleFilterError(f"{_PREFIX}{name}: {host!r} is not in hostvars")
        host_vars = hostvars[host]
        result[host] = {}
        for key in host_vars:
            if not wanted(key):
                continue
            try:
                value = host_vars[key]
                if _TEMPLATES_GIVE_TEXT and isinstance(value, str):
                    value = _as_native(hostvars, host, key, value)
                result[host][key] = value
            except AnsibleUndefinedVariable as exc:
                if not skip_undefined:
                    raise AnsibleFilterError(f"{_PREFIX}{name}: {host}: {key} is undefined: {exc}") from None
    return result


# ansible-core 2.18 renders a template to text unless jinja2_native is on, and leaves a template whose
# variable is undefined as it was written; 2.19 returns the template's native value and raises on an
# undefined one. The checks expect 2.19's: on 2.18, a value that came from a template is read back
# as a Python literal (51001, true, [..]) when it is one, and an unrendered template is undefined.
_TEMPLATES_GIVE_TEXT = tuple(int(x) for x in ansible_version.split(".")[:2]) < (2, 19)


def _as_native(hostvars: Any, host: str, key: str, value: str) -> Any:
    raw_get = getattr(hostvars, "raw_get", None)
    raw = raw_get(host).get(key) if raw_get is not None else None
    if not (isinstance(raw, str) and ("{{" in raw or "{%" in raw)):
        return value  # written as text, stays text
    if value == raw:
        raise AnsibleUndefinedVariable(f"{raw!r} could not be templated (a variable in it is undefined)")
    try:
        return ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def mesh_hostvars(hostnames: Any, hostvars: Any) -> dict[str, dict[str, Any]]:
    """host -> {its meshover_* variables, templated}; works on Ansible's lazy hostvars."""
    return _collect(
        "mesh_hostvars",
        hostnames,
        hostvars,
        lambda key: isinstance(key, str) and key.startswith("meshover_"),
        skip_undefined=False,
    )


def mesh_rolevars(hostnames: Any, hostvars: Any) -> dict[str, dict[str, Any]]:
    """host -> {its variables named like a meshover role's (wireguard_mesh_*, gre_overlay_*, ...), templated}.

    A variable that cannot be templated yet (it refers to something a play registers later) is left
    out: the role checks it when it runs.
    """
    return _collect("mesh_rolevars", hostnames, hostvars, is_role_var, skip_undefined=True)


def bgp_undrained(tables: Any, asn: Any) -> list[str]:
    if not isinstance(tables, Mapping):
        raise AnsibleFilterError(f"{_PREFIX}bgp_undrained: input must be a dict address family -> FRR BGP table JSON")
    try:
        asn = int(asn)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{_PREFIX}bgp_undrained: asn must be an integer, got {asn!r}") from None
    return undrained_prefixes(tables, asn)


def bgp_sessions(summary: Any) -> list[dict[str, Any]]:
    """The sessions of FRR's ``show bgp summary json``, read by the node readers' one reader of it (the exporter's)."""
    try:
        return _bgp_sessions(summary)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"{_PREFIX}bgp_sessions: not FRR's show bgp summary json: {exc}") from None


def frr_coil_method(frr_version: Any) -> str:
    if not isinstance(frr_version, str):
        raise AnsibleFilterError(
            f"{_PREFIX}frr_coil_method expects an FRR version string, got {type(frr_version).__name__}"
        )
    try:
        return coil_method(frr_version)
    except ValueError as exc:
        raise AnsibleFilterError(f"{_PREFIX}frr_coil_method: {exc}") from None


def frr_probe(text: Any) -> dict[str, str]:
    if isinstance(text, Undefined):
        # undefined in, undefined out: `frr_bgp_runtime is defined` before the probe ran is false, not an error
        # (ansible-core 2.18 resolves every name a template mentions before it evaluates a condition)
        raise AnsibleUndefinedVariable(f"{_PREFIX}frr_probe: the probe's output is undefined (the probe has not run)")
    if not isinstance(text, str):
        raise AnsibleFilterError(f"{_PREFIX}frr_probe expects the probe's stdout (a string), got {type(text).__name__}")
    return parse_probe(text)


def frr_reload_test(text: Any) -> dict[str, list[str]]:
    if not isinstance(text, str):
        raise AnsibleFilterError(
            f"{_PREFIX}frr_reload_test expects the output of frr-reload.py --test (a string), got {type(text).__name__}"
        )
    return parse_reload_test(text)


def frr_runtime_install(runtime: Any, os_release: Any = "") -> dict[str, Any]:
    if not isinstance(runtime, str) or not isinstance(os_release, str):
        raise AnsibleFilterError(
            f"{_PREFIX}frr_runtime_install expects a runtime name and the probe's os value (strings), "
            f"got {type(runtime).__name__} and {type(os_release).__name__}"
        )
    return runtime_install(runtime, os_release)


def quote_for(value: Any, fmt: str) -> str:
    try:
        return _quote_for(value, fmt)
    except QuotingError as exc:
        raise AnsibleFilterError(f"{_PREFIX}quote_for: {exc}") from None


def vtysh_script(vtysh: Any, bfd: Any = True) -> str:
    """The node readers' vtysh runs (one vtysh per daemon) as one ``sh -c`` script, the bfdd run only with BFD."""
    if not isinstance(vtysh, str) or not vtysh:
        raise AnsibleFilterError(f"{_PREFIX}vtysh_script expects the vtysh command (a string), got {vtysh!r}")
    try:
        with_bfd = boolean(bfd, strict=True)
    except TypeError:
        raise AnsibleFilterError(f"{_PREFIX}vtysh_script: bfd must be a boolean, got {bfd!r}") from None
    return _vtysh_script(vtysh, bfd=with_bfd)


class FilterModule:
    """meshover.mesh identity filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "mesh_identity": mesh_identity,
            "mesh_identities": mesh_identities,
            "mesh_hostvars": mesh_hostvars,
            "mesh_rolevars": mesh_rolevars,
            "bgp_undrained": bgp_undrained,
            "bgp_sessions": bgp_sessions,
            "frr_coil_method": frr_coil_method,
            "frr_probe": frr_probe,
            "frr_reload_test": frr_reload_test,
            "frr_runtime_install": frr_runtime_install,
            "quote_for": quote_for,
            "vtysh_script": vtysh_script,
        }
