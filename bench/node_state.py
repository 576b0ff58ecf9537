#!/usr/bin/python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print, as one JSON object, what meshover set up on this node, without what changes by itself.

Run as root on a node (bench/killed_converge.py pipes it to `python3 -` over ssh). Two nodes, or one
node at two times, in the same configured state print the same object: kept are the links (kind, MTU,
up, tunnel ends), addresses, routing rules, the routes of every table but the kernel's own, WireGuard
(its public key, port, peers with allowed IPs, endpoint and keepalive), the meshover nftables table
without counters and handles, the forwarding and rp_filter settings, the state of every meshover unit
and of FRR, the sha256 of every file the roles write, the bundle module's pending markers and FRR's
running configuration. Left out: counters, handshake times, session uptimes, PIDs, address lifetimes.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess


def sh(argv, timeout=60):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"ERROR {exc}"
    return r.stdout if r.returncode == 0 else f"ERROR rc {r.returncode}: {r.stderr.strip()[:200]}"


def jsh(argv):
    out = sh(argv)
    try:
        return json.loads(out)
    except ValueError:
        return out


SKIP_LINKS = re.compile(r"^(veth|vnet|docker|podman|br-|cni)")


def links():
    out = {}
    for link in jsh(["ip", "-j", "-d", "link", "show"]) or []:
        name = link.get("ifname", "")
        if SKIP_LINKS.match(name):
            continue
        info = link.get("linkinfo", {})
        data = info.get("info_data", {})
        out[name] = {
            "kind": info.get("info_kind", ""),
            "mtu": link.get("mtu"),
            "up": "UP" in link.get("flags", []),
            "tunnel": [data.get("local"), data.get("remote")] if data.get("remote") else None,
        }
    return out


def addresses():
    out = {}
    for link in jsh(["ip", "-j", "addr", "show"]) or []:
        if SKIP_LINKS.match(link.get("ifname", "")):
            continue
        addrs = sorted(
            f"{a['local']}/{a['prefixlen']}"
            for a in link.get("addr_info", [])
            if not a.get("temporary") and not a.get("tentative")
        )
        if addrs:
            out[link["ifname"]] = addrs
    return out


def routes():
    keep = []
    for family in ("-4", "-6"):
        for r in jsh(["ip", family, "-j", "route", "show", "table", "all"]) or []:
            if r.get("protocol") in ("kernel", "ra") or r.get("table") == "local":
                continue
            if SKIP_LINKS.match(r.get("dev", "")):
                continue
            hops = sorted(n.get("dev", "") for n in r.get("nexthops", [])) or [r.get("dev", "")]
            keep.append(
                f"{family} {r.get('table', 'main')} {r.get('type', 'unicast')} {r['dst']} "
                f"proto {r.get('protocol', '')} via {','.join(hops)}"
            )
    return sorted(keep)


def rules():
    return [
        sorted((k, str(v)) for k, v in r.items())
        for family in ("-4", "-6")
        for r in (jsh(["ip", family, "-j", "rule", "show"]) or [])
    ]


def wireguard():
    out = {}
    text = sh(["wg", "show", "all", "dump"])
    for line in text.splitlines():
        f = line.split("\t")
        if len(f) == 5:
            out[f[0]] = {"public_key": f[2], "port": f[3], "fwmark": f[4], "peers": {}}
        elif len(f) == 9:
            out.setdefault(f[0], {"peers": {}})["peers"][f[1][:8]] = {
                "endpoint": f[3],
                "allowed_ips": sorted(f[4].split(",")),
                "keepalive": f[8],
            }
    return out or text


def strip(obj):
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k not in ("handle", "counter", "packets", "bytes")}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def sysctls():
    out = {}
    for path in [
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/net/ipv6/conf/all/forwarding",
        *glob.glob("/proc/sys/net/ipv4/conf/mo*/rp_filter"),
        *glob.glob("/proc/sys/net/ipv6/conf/*/accept_ra"),
    ]:
        if SKIP_LINKS.match(path.split("/")[-2]):
            continue
        try:
            out[path[len("/proc/sys/") :]] = open(path, encoding="ascii").read().strip()
        except OSError:
            pass
    return out


def units():
    names = ["frr.service", "meshover-frr.service", "wg-quick@meshover0.service", "nftables.service"]
    listed = sh(["systemctl", "list-unit-files", "--no-legend", "--plain", "meshover*"])
    names += [line.split()[0] for line in listed.splitlines() if line.strip() and "@." not in line.split()[0]]
    out = {}
    for n in sorted(set(names)):
        state = []
        for verb in ("is-enabled", "is-active"):
            r = subprocess.run(["systemctl", verb, n], capture_output=True, text=True, timeout=60, check=False)
            state.append(r.stdout.strip() or "-")
        out[n] = state
    return out


FILE_GLOBS = [
    "/etc/meshover/**",
    "/etc/frr/frr.conf",
    "/etc/frr/daemons",
    "/etc/frr/vtysh.conf",
    "/etc/systemd/system/meshover*",
    "/etc/systemd/system/wg-quick@*.d/*",
    "/etc/wireguard/*.conf",
    "/etc/sysctl.d/*meshover*",
    "/etc/sudoers.d/meshover*",
    "/usr/local/lib/meshover/*",
    "/etc/systemd/network/**/*meshover*",
    "/etc/systemd/networkd.conf.d/*",
    "/etc/sysusers.d/meshover*",
    "/var/lib/meshover/**",
]


def files():
    out = {}
    for pattern in FILE_GLOBS:
        for path in glob.glob(pattern, recursive=True):
            if os.path.isfile(path) and "__pycache__" not in path:
                st = os.stat(path)
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()[:16]
                out[path] = f"{digest} {oct(st.st_mode & 0o7777)} {st.st_uid}:{st.st_gid}"
    return dict(sorted(out.items()))


def frr_running():
    if shutil.which("podman") and "frr" in sh(["podman", "ps", "--format", "{{.Names}}"]).split():
        argv = ["podman", "exec", "frr", "vtysh", "-c", "show running-config"]
    elif shutil.which("docker") and "frr" in sh(["docker", "ps", "--format", "{{.Names}}"]).split():
        argv = ["docker", "exec", "frr", "vtysh", "-c", "show running-config"]
    else:
        argv = ["vtysh", "-c", "show running-config"]
    text = sh(argv)
    lines = [x for x in text.splitlines() if not x.startswith(("Building configuration", "Current configuration"))]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16] + f" ({len(lines)} lines)"


def main():
    state = {
        "links": links(),
        "addresses": addresses(),
        "routes": routes(),
        "rules": rules(),
        "wireguard": wireguard(),
        "nft": strip(jsh(["nft", "-j", "list", "table", "inet", "meshover"])),
        "sysctl": sysctls(),
        "units": units(),
        "files": files(),
        "frr_running_config": frr_running(),
    }
    print(json.dumps(state, sort_keys=True))


if __name__ == "__main__":
    main()
