# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.meshover.mesh.plugins.modules import mesh_preflight


@pytest.fixture
def run(run_module):
    return lambda args, capsys=None: run_module(mesh_preflight.main, args)


GOOD = {"n1": {"meshover_endpoint": "2001:db8::1"}, "n2": {"meshover_endpoint": "2001:db8::2"}}


def test_success_returns_identities(run, capsys):
    rc, result = run({"inventory": GOOD}, capsys)
    assert rc == 0
    assert result["changed"] is False
    assert result["problems"] == []
    assert result["identities"]["n1"]["interface_id"] == "3d27e462938bc19a"
    assert result["identities"]["n2"]["gre_name"] == "mo-n2"


def test_check_mode_same_result(run, capsys):
    rc, result = run({"inventory": GOOD, "_ansible_check_mode": True}, capsys)
    assert rc == 0 and result["changed"] is False and "n1" in result["identities"]


def test_failure_lists_all_problems(run, capsys):
    bad = {"n1": {"meshover_endpont": "2001:db8::1"}, "n2": {"meshover_endpoint": "fe80::2", "meshover_wg_port": 0}}
    rc, result = run({"inventory": bad}, capsys)
    assert rc == 1
    assert result["failed"] is True
    assert len(result["problems"]) == 4
    lines = result["msg"].splitlines()
    assert lines[0] == "meshover preflight found 4 problem(s):"
    assert lines[1:] == result["problems"]
    assert any("did you mean meshover_endpoint" in p for p in result["problems"])
