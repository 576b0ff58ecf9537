# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/gre_overlay/templates/meshover.nft.j2 (issue 17, item 2): nftables itself accepts what the
template renders (`nft -c`, as the role's validate does on the node), and the forward chain stops the
detour through another node to the overlay's control ports. The lab probes the detour (molecule
verify, tasks/firewall.yml)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest
from role_templates import render as render_template

ROOT = pathlib.Path(__file__).resolve().parents[3]


def render(sources):
    return render_template(
        "gre_overlay",
        "meshover.nft.j2",
        gre_overlay_wg_interface="meshover0",
        gre_overlay_wg_port=51820,
        gre_overlay_firewall_exporter_port=9474,
        gre_overlay_firewall_exporter_sources=sources,
    )


def chain(text, name):
    start = text.index(f"chain {name} {{")
    return text[start : text.index("\n\t}", start)]


@pytest.mark.parametrize("sources", [[], ["192.0.2.10", "2001:db8::/64"]])
def test_nft_accepts_the_rendered_table(tmp_path, sources):
    nft = shutil.which("nft") or "/usr/sbin/nft"
    assert pathlib.Path(nft).exists(), "nft is missing: molecule/lab/host-deps.sh installs nftables"
    path = tmp_path / "meshover.nft"
    path.write_text(render(sources))
    res = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0, res.stderr


def test_forward_chain_drops_control_ports_routed_into_a_tunnel():
    forward = chain(render(["192.0.2.10"]), "forward")
    lines = [line.strip() for line in forward.splitlines()]
    # only what leaves through a tunnel, and not tunnel-to-tunnel transit, is looked at
    assert lines.index('oifname != "mo*" return') < lines.index(
        'tcp dport 179 counter drop comment "BGP: from outside the overlay into a tunnel"'
    )
    assert any(line.startswith('iifname "mo*" return') for line in lines)
    assert any(line.startswith("udp dport { 3784, 3785, 4784 } counter drop") for line in lines)
    monitoring = next(i for i, line in enumerate(lines) if line.startswith("ip saddr { 192.0.2.10 } tcp dport 9474"))
    drop = next(i for i, line in enumerate(lines) if line.startswith("tcp dport 9474 counter drop"))
    assert monitoring < drop


def test_bgp_and_bfd_on_a_tunnel_only_from_link_local():
    inp = chain(render([]), "input")
    assert inp.index("ip6 saddr != fe80::/10") < inp.index('iifname "mo*" return')
