# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meshover.mesh.ra_uplinks on a node: what it reads (ip under timeout(1), /proc, networkd's state
files) and what it returns; it never reports a change."""

from __future__ import annotations

import json

from ansible.module_utils.basic import AnsibleModule
from module_args import bounded

from ansible_collections.meshover.mesh.plugins.modules import ra_uplinks

# a node whose eth1 gets its IPv6 by kernel SLAAC, eth2 by networkd, eth3 by NetworkManager, eth4 has an
# RA route but accept_ra 0 and a NetworkManager state file that says NetworkManager leaves it alone, and a
# GRE tunnel that heard FRR's RAs
FILES = {
    "/proc/sys/net/ipv6/conf/eth1/accept_ra": "1\n",
    "/proc/sys/net/ipv6/conf/eth2/accept_ra": "0\n",
    "/proc/sys/net/ipv6/conf/mo-n1/accept_ra": "1\n",
    "/proc/sys/net/ipv6/conf/all/accept_ra": "1\n",
    "/sys/class/net/eth1/ifindex": "3\n",
    "/sys/class/net/eth2/ifindex": "4\n",
    "/sys/class/net/mo-n1/ifindex": "9\n",
    "/run/systemd/netif/links/4": "ADMIN_STATE=configured\nNETWORK_FILE=/etc/systemd/network/20-eth2.network\n",
    "/proc/sys/net/ipv6/conf/eth3/accept_ra": "0\n",
    "/sys/class/net/eth3/ifindex": "5\n",
    "/run/NetworkManager/devices/5": "[device]\nmanaged=true\nroute-metric-default-effective=100\n",
    "/proc/sys/net/ipv6/conf/eth4/accept_ra": "0\n",
    "/sys/class/net/eth4/ifindex": "6\n",
    "/run/NetworkManager/devices/6": "[device]\nmanaged=false\n",
}
ROUTES = [
    {"dst": "default", "gateway": "fe80::1", "dev": "eth1", "expires": 80},
    {"dst": "default", "gateway": "fe80::fe", "dev": "eth2"},
    {"dst": "default", "gateway": "fe80::fe", "dev": "eth3", "metric": 100},
    {"dst": "default", "gateway": "fe80::fe", "dev": "eth4"},
    {"dst": "default", "gateway": "fe80::2", "dev": "mo-n1"},
]


ROUTES_JSON = json.dumps(ROUTES)


def _fake(monkeypatch, calls, rc=0, out=ROUTES_JSON):
    monkeypatch.setattr(ra_uplinks, "_read", FILES.get)
    monkeypatch.setattr(ra_uplinks.glob, "glob", lambda pattern: sorted(p for p in FILES if p.endswith("/accept_ra")))
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/bin/{name}")

    def run_command(self, args, **kwargs):
        calls.append(bounded(args))
        return rc, out, "boom" if rc else ""

    monkeypatch.setattr(AnsibleModule, "run_command", run_command)


def test_kernel_and_networkd_uplinks_found_tunnels_excluded(run_module, monkeypatch):
    calls = []
    _fake(monkeypatch, calls)
    rc, res = run_module(ra_uplinks.main, {"exclude": ["mo-n1", "meshover0"], "extra": ["eth0.100"]})
    assert rc == 0 and res["changed"] is False
    assert calls == [["/usr/bin/ip", "-N", "-j", "-6", "route", "show", "table", "main", "proto", "ra"]]
    assert res["uplinks"] == [
        {"name": "eth1", "manager": "kernel", "network_file": None},
        {"name": "eth2", "manager": "networkd", "network_file": "/etc/systemd/network/20-eth2.network"},
        # NetworkManager's by its state file; eth4's file says managed=false: not NetworkManager's
        {"name": "eth3", "manager": "NetworkManager", "network_file": None},
    ]
    assert res["kernel_interfaces"] == ["eth0.100", "eth1"]
    assert [d["path"] for d in res["networkd_dropins"]] == [
        "/etc/systemd/network/20-eth2.network.d/90-meshover-ra.conf"
    ]


def test_check_mode_reads_the_same(run_module, monkeypatch):
    _fake(monkeypatch, [])
    rc, res = run_module(ra_uplinks.main, {"exclude": ["mo-n1"], "_ansible_check_mode": True})
    assert rc == 0 and [u["name"] for u in res["uplinks"]] == ["eth1", "eth2", "eth3"]


def test_ip_failing_fails_the_task_with_its_message(run_module, monkeypatch):
    _fake(monkeypatch, [], rc=1, out="")
    rc, res = run_module(ra_uplinks.main, {})
    assert rc == 1 and res["failed"] and "boom" in res["msg"]
