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


NO_NAT = {"sources": {"ipv4": [], "ipv6": []}, "exempt": {"ipv4": [], "ipv6": []}}
# the plan's `nat` of a host with meshover_coil_nat_sources [10.228.0.0/16, 2001:db8:228::/48] (test__nat.py)
NAT = {
    "sources": {"ipv4": ["10.228.0.0/16"], "ipv6": ["2001:db8:228::/48"]},
    "exempt": {
        "ipv4": ["10.99.0.0/24", "10.228.0.0/16", "203.0.113.0/24"],
        "ipv6": ["2001:db8:228::/48", "2001:db8:300::/48", "fd46:76a3:fa9b::/48"],
    },
}
NAT4 = {"sources": {"ipv4": ["10.228.0.0/16"], "ipv6": []}, "exempt": {"ipv4": ["10.228.0.0/16"], "ipv6": []}}


def render(sources, nat=None):
    return render_template(
        "gre_overlay",
        "meshover.nft.j2",
        gre_overlay_wg_interface="meshover0",
        gre_overlay_wg_port=51820,
        gre_overlay_firewall_exporter_port=9474,
        gre_overlay_firewall_exporter_sources=sources,
        gre_overlay_coil_nat=nat or NO_NAT,
    )


def chain(text, name):
    start = text.index(f"chain {name} {{")
    return text[start : text.index("\n\t}", start)]


@pytest.mark.parametrize(
    ("sources", "nat"),
    [([], None), (["192.0.2.10", "2001:db8::/64"], None), ([], NAT), ([], NAT4)],
    ids=["plain", "exporter-sources", "coil-nat", "coil-nat-ipv4"],
)
def test_nft_accepts_the_rendered_table(tmp_path, sources, nat):
    nft = shutil.which("nft") or "/usr/sbin/nft"
    assert pathlib.Path(nft).exists(), "nft is missing: molecule/lab/host-deps.sh installs nftables"
    path = tmp_path / "meshover.nft"
    path.write_text(render(sources, nat))
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


def test_no_postrouting_chain_without_nat_sources():
    text = render(["192.0.2.10"])
    assert "chain postrouting" not in text and "counter masquerade" not in text


def test_coil_nat_masquerades_pods_to_outside_the_mesh_only():
    text = render([], NAT)
    post = [line.strip() for line in chain(text, "postrouting").splitlines()]
    assert post[1] == "type nat hook postrouting priority srcnat; policy accept;"
    # into the overlay first, untouched
    assert post.index('oifname "mo*" return') < post.index('oifname { "lo", "meshover0" } return')
    v4 = "ip saddr { 10.228.0.0/16 } ip daddr != { 10.99.0.0/24, 10.228.0.0/16, 203.0.113.0/24 } counter masquerade"
    v6 = (
        "ip6 saddr { 2001:db8:228::/48 } ip6 daddr != { 2001:db8:228::/48, 2001:db8:300::/48, fd46:76a3:fa9b::/48 } "
        "counter masquerade"
    )
    assert f'{v4} comment "Coil pods to outside the mesh (IPv4)"' in post
    assert f'{v6} comment "Coil pods to outside the mesh (IPv6)"' in post
    assert post.index('oifname { "lo", "meshover0" } return') < post.index(
        f'{v4} comment "Coil pods to outside the mesh (IPv4)"'
    )
    # the filter chains are the same as without NAT
    plain = render([])
    for name in ("input", "forward"):
        assert chain(text, name) == chain(plain, name)


def test_coil_nat_of_one_family_renders_that_family_only():
    post = chain(render([], NAT4), "postrouting")
    assert "ip saddr { 10.228.0.0/16 } ip daddr != { 10.228.0.0/16 } counter masquerade" in post
    assert "ip6 saddr" not in post
