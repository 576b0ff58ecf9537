# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""molecule/default/files/bgp_lab.py: the hijack proofs' commands and verdicts, with FRR's JSON faked.

The lab runs them against FRR (molecule/default/tasks/bgp.yml); here only what they send to vtysh and how
they read its answers is checked, so a typo cannot pass for a proof.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SPEC = importlib.util.spec_from_file_location("bgp_lab", REPO / "molecule/default/files/bgp_lab.py")
bgp_lab = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bgp_lab
SPEC.loader.exec_module(bgp_lab)

N1, N2, N3 = 4275762751, 4284140060, 4232783764
LO4, LO6 = "10.99.0.56/32", "fd46:76a3:fa9b:0:3d27:e462:938b:c19a/128"


class FakeNode:
    """Answers vtysh `show` commands from a dict (command -> JSON-able) and ip commands from another."""

    def __init__(self, shows, ip=None):
        self.shows, self.ip, self.configured = shows, ip or {}, []

    def run(self, cmd, check=False):
        if cmd[0] == "vtysh":
            commands = cmd[2::2]
            if commands[0] == "configure terminal":
                self.configured.append(commands)
                out = ""
            else:
                out = json.dumps(self.shows.get(commands[0], {}))
        else:
            out = self.ip.get(" ".join(cmd), "")
        return subprocess.CompletedProcess(cmd, 0, out, "")


@pytest.fixture
def node(monkeypatch):
    def make(shows, ip=None):
        fake = FakeNode(shows, ip)
        monkeypatch.setattr(bgp_lab, "run", fake.run)
        monkeypatch.setattr(bgp_lab, "VTYSH", ["vtysh"])
        monkeypatch.setattr(bgp_lab.time, "sleep", lambda _s: None)
        return fake

    return make


def _forged_session(remote_as):
    return {"show bgp neighbors mo-n3 json": {"mo-n3": {"bgpState": "Established", "remoteAs": remote_as}}}


def _observer(accepted_from_n3):
    shows = _forged_session(N1)
    for af, victim in (("ipv6", LO6), ("ipv4", LO4)):
        shows[f"show bgp {af} unicast neighbors mo-n3 routes json"] = {
            "routes": {victim: [{"aspath": {"string": str(N1)}}]} if accepted_from_n3 else {}
        }
        paths = [{"aspath": {"string": str(N1)}}] + ([{"aspath": {"string": str(N1)}}] if accepted_from_n3 else [])
        shows[f"show bgp {af} unicast {victim} json"] = {"paths": paths}
    ip = {
        "ip -6 route get fd46:76a3:fa9b:0:3d27:e462:938b:c19a": "fd46:... via fe80::1 dev mo-n1 proto bgp src ...",
        "ip -4 route get 10.99.0.56": "10.99.0.56 via inet6 fe80::1 dev mo-n1 proto bgp src ...",
    }
    return shows, ip


FORGED_CHECK = {
    "victim_asn": N1,
    "victim6": LO6,
    "victim4": LO4,
    "victim_if": "mo-n1",
    "hijacker_if": "mo-n3",
    "forged_asn": N1,
}


def test_forged_origin_check_passes_when_nothing_is_accepted_from_the_forger(node, capsys):
    node(*_observer(accepted_from_n3=False))
    assert bgp_lab.hijack_check(FORGED_CHECK) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and f"{LO6}: nothing accepted from mo-n3" in out


def test_forged_origin_check_fails_when_the_forged_path_was_accepted(node, capsys):
    # the forged path ends in the victim's ASN: only "nothing from mo-n3" tells it from the real one
    node(*_observer(accepted_from_n3=True))
    assert bgp_lab.hijack_check(FORGED_CHECK) == 1
    out = capsys.readouterr().out
    assert f"FAIL {LO6}: nothing accepted from mo-n3" in out
    assert f"PASS {LO6}: paths" in out  # the old check alone would have passed


def test_forged_origin_check_fails_when_the_forgery_did_not_happen(node, capsys, monkeypatch):
    shows, ip = _observer(accepted_from_n3=False)
    shows.update(_forged_session(N3))  # n3 still speaks as itself: the proof proves nothing
    node(shows, ip)
    monkeypatch.setattr(bgp_lab.time, "time", iter(range(0, 10_000, 50)).__next__)
    assert bgp_lab.hijack_check(FORGED_CHECK) == 1
    assert f"FAIL session on mo-n3: Established AS{N3}" in capsys.readouterr().out


def test_forge_speaks_as_the_victim_on_one_session(node):
    adv = {"advertisedRoutes": {LO6: {}, LO4: {}}}
    fake = node(
        {
            "show bgp neighbors mo-n2 json": {"mo-n2": {"bgpState": "Established", "remoteAs": N2}},
            "show bgp ipv6 unicast neighbors mo-n2 advertised-routes json": adv,
            "show bgp ipv4 unicast neighbors mo-n2 advertised-routes json": adv,
        }
    )
    arg = {"asn": N3, "forged_asn": N1, "peer_if": "mo-n2", "victim6": LO6, "victim4": LO4}
    assert bgp_lab.forge(arg) == 0
    assert fake.configured == [
        ["configure terminal", f"router bgp {N3}", f"neighbor mo-n2 local-as {N1} no-prepend replace-as"]
    ]


@pytest.mark.parametrize("advertised,rc", [({LO6: {}, LO4: {}}, 0), ({LO6: {}}, 1)])
def test_hijack_waits_for_each_victim_to_be_advertised(node, advertised, rc):
    adv = {"advertisedRoutes": advertised}
    node(
        {
            "show bgp ipv6 unicast neighbors mo-n2 advertised-routes json": adv,
            "show bgp ipv4 unicast neighbors mo-n2 advertised-routes json": adv,
        }
    )
    assert bgp_lab.hijack({"asn": N3, "peer_if": "mo-n2", "victim6": LO6, "victim4": LO4}) == rc


MORE = {"prefix4": "10.200.2.128/25", "prefix6": "2001:db8:f2:0:8000::/65"}


def test_more_specific_is_originated_with_the_owner_prepended(node):
    adv = {"advertisedRoutes": {MORE["prefix4"]: {}, MORE["prefix6"]: {}}}
    fake = node(
        {
            "show bgp ipv4 unicast neighbors mo-n1 advertised-routes json": adv,
            "show bgp ipv6 unicast neighbors mo-n1 advertised-routes json": adv,
        }
    )
    assert bgp_lab.more_specific({"asn": N3, "owner_asn": N2, "peer_if": "mo-n1", **MORE}) == 0
    setup = fake.configured[0]
    assert f"set as-path prepend {N2}" in setup
    assert "network 10.200.2.128/25 route-map MO-LAB-FORGE" in setup
    assert "network 2001:db8:f2:0:8000::/65 route-map MO-LAB-FORGE" in setup
    assert "ip route 10.200.2.128/25 blackhole" in setup and "ipv6 route 2001:db8:f2:0:8000::/65 blackhole" in setup
    assert [c[-1] for c in fake.configured[1:]] == [
        "no neighbor MESH route-map MO-OUT-IPV4 out",
        "no neighbor MESH route-map MO-OUT-IPV6 out",
    ]


def test_more_specific_check(node, capsys):
    node({})  # FRR answers {} for a prefix it does not have; no kernel route either
    assert bgp_lab.more_specific_check(MORE) == 0
    path = [{"aspath": {"string": f"{N3} {N2}"}}]
    node(
        {"show bgp ipv4 unicast 10.200.2.128/25 json": {"paths": path}},
        {"ip -4 route show 10.200.2.128/25": "10.200.2.128/25 via inet6 fe80::3 dev mo-n3 proto bgp"},
    )
    assert bgp_lab.more_specific_check(MORE) == 1
    out = capsys.readouterr().out
    assert "FAIL 10.200.2.128/25: no BGP path" in out and "FAIL no kernel route for 10.200.2.128/25" in out
