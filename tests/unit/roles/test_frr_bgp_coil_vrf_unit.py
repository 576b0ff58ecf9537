# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The frr_bgp role's Coil VRF unit (roles/frr_bgp/templates/meshover-coil-vrf.service.j2): its commands, run by
/bin/sh the way systemd would run them ($$ unescaped) against a stub `ip` that logs what it is asked."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest
from role_templates import render as render_template

ROOT = pathlib.Path(__file__).resolve().parents[3]
SH = shutil.which("sh")
TOOLS = ("grep",)

pytestmark = pytest.mark.skipif(SH is None or not all(shutil.which(t) for t in TOOLS), reason="needs sh and grep")

# `ip` as the node would answer: the VRF does not exist yet; table 119 holds Coil's blocks and, in IPv6, what
# the kernel adds for a VRF bound to it.
IP = r"""#!/bin/sh
echo "ip $*" >> "$STUB_LOG"
case "$*" in
"link show dev meshover-coil") exit 1 ;;
"-4 route show table 119") echo "10.88.3.0/27 dev lo proto 30 scope link" ;;
"-6 route show table 119")
    echo "fd88:0:0:3::/120 dev lo proto 30 metric 1024 pref medium"
    echo "fe80::/64 dev meshover-coil proto kernel metric 256 pref medium"
    echo "multicast ff00::/8 dev meshover-coil proto kernel metric 256 pref medium" ;;
esac
exit 0
"""


def render():
    return render_template(
        "frr_bgp",
        "meshover-coil-vrf.service.j2",
        frr_bgp_coil_vrf="meshover-coil",
        frr_bgp_plan={"coil": {"table": 119}},
        frr_bgp_package_unit="frr.service",
        frr_bgp_container_unit="meshover-frr.service",
    )


def commands(unit, key):
    """The values of `key=` lines, continuation lines joined, $$ unescaped (systemd's own handling)."""
    out, current = [], None
    for line in unit.splitlines():
        if current is not None:
            current += " " + line.strip().rstrip("\\")
            if not line.endswith("\\"):
                out.append(current)
                current = None
        elif line.startswith(key + "="):
            value = line[len(key) + 1 :].lstrip("-")
            if value.endswith("\\"):
                current = value.rstrip("\\")
            else:
                out.append(value)
    return [c.replace("$$", "$") for c in out]


def test_the_unit_creates_the_vrf_brings_it_up_and_replays_coils_routes_for_a_running_zebra(tmp_path):
    unit = render()
    assert "Before=frr.service meshover-frr.service" in unit and "WantedBy=multi-user.target" in unit
    (tmp_path / "ip").write_text(IP)
    (tmp_path / "ip").chmod(0o755)
    log = tmp_path / "log"
    env = {"PATH": f"{tmp_path}:{pathlib.Path(shutil.which('grep')).parent}", "STUB_LOG": str(log)}
    for cmd in commands(unit, "ExecStart"):
        subprocess.run(
            [SH, "-c", cmd if not cmd.startswith("/bin/sh -c ") else cmd[len("/bin/sh -c ") :].strip("'")],
            env=env,
            check=True,
            timeout=30,
        )
    calls = log.read_text().splitlines()
    assert "ip link add meshover-coil type vrf table 119" in calls
    assert "ip link set dev meshover-coil up" in calls
    # Coil's routes are deleted and added again, in that order (a running zebra hears of them); the kernel's own
    # are left alone
    for f, route in (
        ("-4", "10.88.3.0/27 dev lo proto 30 scope link"),
        ("-6", "fd88:0:0:3::/120 dev lo proto 30 metric 1024 pref medium"),
    ):
        deleted, added = f"ip {f} route del {route} table 119", f"ip {f} route add {route} table 119"
        assert calls.index(deleted) < calls.index(added)
    assert not any(("del" in c or "add" in c) and "proto kernel" in c for c in calls)
    assert calls.index("ip link add meshover-coil type vrf table 119") < calls.index("ip link set dev meshover-coil up")
    assert commands(unit, "ExecStop") == ["ip link del dev meshover-coil"]
