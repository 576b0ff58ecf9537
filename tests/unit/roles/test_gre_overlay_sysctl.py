# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/gre_overlay/templates/90-meshover.conf.j2: every accept_ra line names the right /proc/sys file."""

from __future__ import annotations

import pathlib

from role_templates import render

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _render(interfaces):
    return render("gre_overlay", "90-meshover.conf.j2", gre_overlay__uplinks={"kernel_interfaces": interfaces})


def _proc_sys(key):
    """The file systemd-sysctl writes for a key (sysctl.d(5): when the first separator is a dot, dots and
    slashes swap places)."""
    key = key.strip()
    first = min((i for i in (key.find("."), key.find("/")) if i >= 0), default=-1)
    if first >= 0 and key[first] == ".":
        key = key.translate(str.maketrans("./", "/."))
    return "/proc/sys/" + key


def test_accept_ra_of_plain_and_vlan_interfaces():
    lines = [line for line in _render(["eth0", "eth0.100", "br-lan"]).splitlines() if "accept_ra" in line]
    lines = [line for line in lines if not line.startswith("#")]
    assert [_proc_sys(line.split("=")[0]) for line in lines] == [
        "/proc/sys/net/ipv6/conf/eth0/accept_ra",
        "/proc/sys/net/ipv6/conf/eth0.100/accept_ra",
        "/proc/sys/net/ipv6/conf/br-lan/accept_ra",
    ]
    assert all(line.endswith(" = 2") for line in lines)


def test_no_interface_no_accept_ra_line():
    assert [line for line in _render([]).splitlines() if "accept_ra =" in line] == []


def test_accept_ra_comes_before_forwarding():
    """Turning forwarding on purges the RA default routes of interfaces whose accept_ra is not 2 yet."""
    lines = [line for line in _render(["eth0"]).splitlines() if not line.startswith("#")]
    assert lines.index("net.ipv6.conf.eth0.accept_ra = 2") < lines.index("net.ipv6.conf.all.forwarding = 1")
