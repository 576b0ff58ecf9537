# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a role's template as the role does (trim_blocks, strict), with stand-ins for the few Ansible
filters and tests the templates use, and the collection's own quote_for and vtysh_script."""

from __future__ import annotations

import pathlib
import re
import shlex

import jinja2

from ansible_collections.meshover.mesh.plugins.filter.mesh import vtysh_script
from ansible_collections.meshover.mesh.plugins.module_utils.controller._quoting import quote_for

ROOT = pathlib.Path(__file__).resolve().parents[3]


def render(role: str, template: str, **variables) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROOT / "roles" / role / "templates")),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["comment"] = lambda text, *a, **k: f"# {text}"
    env.filters["quote"] = lambda s: shlex.quote(str(s))
    env.tests["search"] = lambda value, pattern: re.search(pattern, value) is not None
    env.filters["meshover.mesh.quote_for"] = quote_for
    env.filters["meshover.mesh.vtysh_script"] = vtysh_script
    return env.get_template(template).render(ansible_managed="Ansible managed", **variables)
