# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this module_utils is not part of the collection's public API.
"""Uplinks configured by IPv6 router advertisements, which must keep working once forwarding is on.

With net.ipv6.conf.all.forwarding=1 the kernel ignores router advertisements on an interface whose
accept_ra is 1, and purges the default routes it learned from them at once: a server whose underlay
address and default route come from SLAAC loses them (the route at once, the address when its lifetime
runs out). accept_ra=2 keeps the kernel listening while forwarding. systemd-networkd and NetworkManager
process RAs themselves (kernel accept_ra=0); networkd's IPv6AcceptRA= defaults to off when forwarding is
on, which bites at the next boot or reconfiguration, so a networkd uplink gets IPv6AcceptRA=yes.

An interface counts as an RA uplink when the main table holds an IPv6 route of protocol ``ra`` through
it (a default route, or an RA's prefix or route information), or its accept_ra is already 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

RTPROT_RA = 9
# sysctl.d(5) reads "key = value": a name with "=" or whitespace cannot be written as a key; "." is
# written as "/" (the separator is "." there).
_SYSCTL_UNSAFE = re.compile(r"[=\s]")


def sysctl_name(ifname: str) -> str:
    """An interface name as sysctl.d writes it inside a dotted key: eth0.100 -> eth0/100."""
    return ifname.replace(".", "/")


def ra_devices(routes: Iterable[Mapping[str, Any]]) -> set[str]:
    """Interfaces of the IPv6 routes of protocol ra (``ip -N -j -6 route show table main proto ra``)."""
    out = set()
    for route in routes:
        dev = route.get("dev")
        if isinstance(dev, str) and dev and str(route.get("protocol", RTPROT_RA)) == str(RTPROT_RA):
            out.add(dev)
    return out


def classify(
    ra_devs: Iterable[str],
    accept_ra: Mapping[str, int],
    networkd_files: Mapping[str, str],
    nm_managed: Iterable[str],
    exclude: Iterable[str] = (),
) -> tuple[list[dict[str, Any]], list[str]]:
    """(uplinks, warnings). accept_ra: interface -> current kernel value; networkd_files: interface ->
    the .network file networkd applied to it; nm_managed: interfaces NetworkManager manages.

    Each uplink: {"name", "manager": "kernel" | "networkd" | "NetworkManager", "network_file"}.
    """
    excluded = set(exclude)
    nm = set(nm_managed)
    names = set(ra_devs) | {name for name, value in accept_ra.items() if value == 2}
    uplinks, warnings = [], []
    for name in sorted(names - excluded - {"all", "default", "lo"}):
        kernel = accept_ra.get(name, 0)
        if name in networkd_files and kernel == 0:
            uplinks.append({"name": name, "manager": "networkd", "network_file": networkd_files[name]})
        elif name in nm and kernel == 0:
            uplinks.append({"name": name, "manager": "NetworkManager", "network_file": None})
        elif kernel in (1, 2):
            if _SYSCTL_UNSAFE.search(name):
                warnings.append(
                    f"{name}: gets router advertisements, but its name cannot be written in sysctl.d: set "
                    f"net.ipv6.conf.<name>.accept_ra=2 for it yourself, or it loses its default route"
                )
                continue
            uplinks.append({"name": name, "manager": "kernel", "network_file": None})
    return uplinks, warnings


def parse_networkd_link_state(text: str) -> str | None:
    """NETWORK_FILE= of a /run/systemd/netif/links/<ifindex> file (None if networkd applied no file)."""
    for line in text.splitlines():
        if line.startswith("NETWORK_FILE="):
            value = line.split("=", 1)[1].strip()
            return value or None
    return None


def parse_nm_device_state(text: str) -> bool:
    """Whether a /run/NetworkManager/devices/<ifindex> file says NetworkManager manages the device.

    NetworkManager writes this keyfile for every device it knows, the ones it leaves alone too
    (`managed=false`: unmanaged-devices, or Debian's ifupdown plugin with `managed=false`), so the
    file's presence alone says nothing; only `managed=true` in `[device]` means NetworkManager does
    the device's router advertisements (nm-config.c, nm_config_device_state_write)."""
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == "device" and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            if key == "managed":
                return value.lower() in ("true", "1", "yes")
    return False


NETWORKD_DROPIN_NAME = "90-meshover-ra.conf"
NETWORKD_DROPIN = """# meshover: this link's address and default route come from router advertisements; the node
# forwards (the mesh), and networkd would then stop accepting them at its next start.
[Network]
IPv6AcceptRA=yes
"""


def networkd_dropins(uplinks: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The drop-ins (meshover.mesh.bundle files) that keep networkd's RA uplinks accepting RAs."""
    files = {}
    for uplink in uplinks:
        if uplink.get("manager") == "networkd" and uplink.get("network_file"):
            base = str(uplink["network_file"]).rsplit("/", 1)[-1]
            path = f"/etc/systemd/network/{base}.d/{NETWORKD_DROPIN_NAME}"
            files[path] = {"path": path, "content": NETWORKD_DROPIN}
    return [files[p] for p in sorted(files)]


def kernel_interfaces(uplinks: Iterable[Mapping[str, Any]], extra: Iterable[str] = ()) -> list[str]:
    """The interfaces that need accept_ra=2: the kernel's RA uplinks and those the user listed."""
    return sorted({u["name"] for u in uplinks if u.get("manager") == "kernel"} | set(extra))
