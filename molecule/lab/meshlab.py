# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meshlab: the qemu-TCG test lab of meshover.mesh (stdlib only).

Run it as ``python3 molecule/lab/meshlab.py SUBCOMMAND ...`` (never rely on exec bits).

  build [RELEASE...]              build (or reuse) the cached base images, package archives, FRR image
  up --lab NAME --nodes N         start N VMs and the router rt on a small internet (two vde switches),
     [--underlay inet|flat]       or on one switch (flat); wait for ssh, write the inventory
     [--net N=KIND] [--release N=REL] [--apt-lock N:SECONDS]
  down --lab NAME                 stop VMs and switches (by pid file), remove overlays; idempotent
  status --lab NAME               show VMs, ports, pids, ssh state, addresses
  ssh --lab NAME nK|rt [CMD...]   ssh into a VM
  instances --lab NAME            print instances.json (molecule instance config)
  check-isolation --lab NAME      assert restrict=on and no default route out of the lab
  netem --lab NAME on|off [--delay 20ms] [--jitter 0ms] [--loss 1%] [--link pub|home|both] [--rate 40mbit]
                                  delay, loss and a rate on the router's data links (tc netem)
  nat-flush --lab NAME            flush the router's conntrack table: NATed flows get new mappings
  prune                           delete cached images of old recipes that no lab uses
  stop-vm / start-vm --lab NAME nK|rt   power a single VM off / on again (overlay kept)

Nothing of the lab touches the host's network stack: management is qemu user networking with
``restrict=on`` (only a hostfwd 127.0.0.1:PORT -> guest:22), the data network is user-space
vde_switches on unix sockets. See molecule/lab/README.md.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Debian releases the lab boots. Every node runs DEFAULT_RELEASE unless `up --release N=REL` says
# otherwise (molecule and the demo keep one node on bookworm: mixed releases and FRR versions peer).
RELEASES = {
    "trixie": [
        "deb http://deb.debian.org/debian trixie main",
        "deb http://deb.debian.org/debian trixie-updates main",
        "deb http://deb.debian.org/debian-security trixie-security main",
    ],
    "bookworm": [
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ],
}
DEFAULT_RELEASE = "trixie"
DEFAULT_NODE_RELEASES = ["3=bookworm"]
# The FRR container image (served by the lab's registry) is built from this release's frr.
FRR_RELEASE = "trixie"
# The guests' only server: qemu user networking forwards 10.0.2.100:80 to labhttp.py (one process per
# connection), which serves the package archives (/debian/REL/) and the registry (/v2/).
LAB_SERVER = "10.0.2.100"
# Bump to force a rebuild when something outside the recipe dict changes the image.
RECIPE_VERSION = 5

# What a minimal Debian cloud image holds (genericcloud: systemd, ssh, sudo, python3, the cloud kernel,
# the release's networking), plus the lab's test tools: iperf3 for bench/throughput.py, and radvd,
# conntrack and tcpdump for the lab's router VM (inert on the nodes: radvd.service only starts with an
# /etc/radvd.conf, which only the router writes). Nothing the roles install is here: they install it
# from the lab's archive (ARCHIVE_GROUPS), as on a fresh server.
BASE_PACKAGES = sorted(
    {
        "systemd-sysv",
        "systemd",
        "udev",
        "dbus",
        "openssh-server",
        "iproute2",
        "iputils-ping",
        "procps",
        "python3",
        "sudo",
        "linux-image-cloud-amd64",
        "initramfs-tools",
        "kmod",
        "curl",
        "ca-certificates",
        "netbase",
        "iperf3",
        "radvd",
        "conntrack",
        "tcpdump",
        # inert unless a node's underlay is `public-nm` (lab-net starts it then): NetworkManager is a
        # server's network configuration too, and the RA uplinks it manages must keep working
        "network-manager",
    }
)
# What the lab's router VM installs from the archive at its first boot (lab-router): nft for its NAT
# rules. nftables is a package the roles install, so it stays out of the base image: the nodes must
# install it as on a fresh server.
ROUTER_PACKAGES = ["nftables"]
# The lab's package archive of a release: every package the roles and playbooks install, with the
# dependencies a base image lacks (recommends included, as apt installs them). Each group is resolved
# on its own, as a node installs it (podman's and docker.io's alternatives differ). Keep in step with
# wireguard_mesh_packages, frr_bgp_packages, RUNTIME_PACKAGES (module_utils/controller/_bgp.py), exporter_packages and
# playbooks/monitoring.yml.
ARCHIVE_GROUPS = [
    ["wireguard-tools", "iproute2", "python3-pyroute2", "nftables"],
    ["frr", "frr-pythontools"],
    ["podman"],
    ["docker.io"],
    ["python3-prometheus-client", "sudo"],
    ["prometheus"],
    # the lab's router VM (never a node): it boots the trixie base image and installs these at its
    # first boot (lab-router), so they must be in the archive (nftables also is in the first group)
    ROUTER_PACKAGES,
]
FRR_PACKAGES = ["frr", "frr-pythontools", "iproute2", "procps", "tini"]
DPKG_OPTS = [
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
]
IMAGE_SIZE = "4G"
# Guest memory, MiB: the smallest common cloud size. 384 MiB was enough for Debian 12 with everything
# preinstalled; measured on 2026-12-03 with Debian 13 fresh nodes during verify: the podman node had
# 63 MiB available of 337, and the Docker node (dockerd, containerd, FRR, the exporter, the checks'
# Python) ran out: journald failed, ssh stopped answering, qemu spun at 100 % CPU.
GUEST_MEMORY_MB = 1024

# The underlay (the nodes' data network). `inet`, the default, is a small internet: segment A "pub"
# (vde switch LAB/vde.ctl) and segment B "home" (LAB/vde-home.ctl), joined by the router VM ROUTER,
# which routes IPv6 between them, NATs B's IPv4 out of A and sends RAs on B. `flat` is the old single
# switch with fd00:10::N (+ 10.10.0.N) on every node and no router (bench/run_all.py uses it).
UNDERLAYS = ("inet", "flat")
DEFAULT_UNDERLAY = "inet"
SWITCHES = {"pub": "vde", "home": "vde-home"}
PUB6, PUB4 = "fd00:10::", "10.10.0."
HOME6, HOME4 = "fd00:11::", "10.11.0."
# How a node is attached on the inet underlay (`up --net N=KIND`).
NET_KINDS = {
    "public": "segment A, dual stack: fd00:10::N/64 and 10.10.0.N/24 static, default routes via the router",
    "public-nm": "segment A, NetworkManager: fd00:10::N by SLAAC (RAs from the router), 10.10.0.N/24 static",
    "slaac": "segment B, IPv6 only: fd00:11::N by SLAAC done by the kernel (eth1 not managed by networkd)",
    "slaac-networkd": "segment B, IPv6 only: fd00:11::N by SLAAC done by systemd-networkd (IPv6AcceptRA=yes)",
    "slaac-lan4": "segment B: fd00:11::N by SLAAC done by the kernel, and 10.11.0.N/24 on the LAN (no IPv4 route out)",
    "nat4": "segment B, IPv4 only: 10.11.0.N/24 behind the router's NAT, no IPv6 on eth1",
}
DEFAULT_NODE_NETS = ["2=slaac", "3=nat4"]  # every other node: public
# The router: not a mesh node. Its ssh port is the lab's port base + 0 (nodes use + N), its MACs end
# in 00:fe, it boots ROUTER_RELEASE's base image and installs ROUTER_PACKAGES at its first boot.
ROUTER = "rt"
ROUTER_ID = 0xFE
ROUTER_RELEASE = "trixie"
ROUTER_MEMORY_MB = 384
ROUTER_PUB6, ROUTER_PUB4 = f"{PUB6}fe", f"{PUB4}254"
ROUTER_HOME6, ROUTER_HOME4 = f"{HOME6}1", f"{HOME4}1"
# RAs on segment B (radvd): a short router lifetime, and unsolicited RAs every 20-30 s, so that a
# host that accepts RAs keeps its default route for ever, and one that stops accepting them (IPv6
# forwarding on with accept_ra=1) loses it within RA_LIFETIME seconds.
RA_LIFETIME, RA_MIN_INTERVAL, RA_MAX_INTERVAL = 90, 20, 30
# The FRR image the guests pull from the lab's registry (insecure: plain HTTP, configured in the image
# as a provider's registry mirror would be).
FRR_IMAGE_NAME = "frr"
FRR_IMAGE_TAG = "lab"
FRR_IMAGE = f"{LAB_SERVER}/{FRR_IMAGE_NAME}:{FRR_IMAGE_TAG}"
# The user Ansible logs in as (passwordless sudo, like a cloud image's default user); root only for
# the lab's own management.
ADMIN_USER = "admin"
FRR_ENTRYPOINT = ["/usr/bin/tini", "--"]
FRR_CMD = ["/usr/lib/frr/docker-start"]
INITRD_MODULES = ["virtio_pci", "virtio_blk", "virtio_net", "ext4"]

ESSENTIAL_HOOK = r"""set -eu
R="$1"
# Small generic initramfs. conf.d and modules.d are not conffiles, so writing them before
# initramfs-tools is installed is safe (LAB.md).
mkdir -p "$R/etc/initramfs-tools/conf.d" "$R/usr/share/initramfs-tools/modules.d"
echo MODULES=list > "$R/etc/initramfs-tools/conf.d/meshlab"
printf '%s\n' @MODULES@ > "$R/usr/share/initramfs-tools/modules.d/meshlab"
"""

# Runs in the chroot while it still has the release's mirrors and the host's resolv.conf: downloads
# the archive's packages (ARCHIVE_GROUPS, one group per argument) against the base image's dpkg
# status, so the archive holds exactly what a node of this image will install.
DOWNLOAD_HOOK = r"""set -eu
R="$1"
OUT="$2"
shift 2
rm -f "$R"/var/cache/apt/archives/*.deb
for group in "$@"; do
    # shellcheck disable=SC2086
    chroot "$R" apt-get install --download-only -y -q -o APT::Install-Recommends=true $group
done
mkdir -p "$OUT"
mv "$R"/var/cache/apt/archives/*.deb "$OUT"/
"""

CUSTOMIZE_HOOK = r"""set -eu
R="$1"
S="$2"
REL="$3"
cp -a "$S/." "$R/"
chmod 0755 "$R/usr/local/sbin/lab-net" "$R/usr/local/sbin/lab-router"
# Ansible logs in as a cloud image's admin user with passwordless sudo, as on a fresh cloud server;
# root is only for the lab's own management (meshlab.py ssh, check-isolation, stop-vm). Both get the
# lab's key at boot from the kernel command line (lab-net), as cloud-init gets it from metadata.
chroot "$R" useradd -m -s /bin/bash -u 1000 -U -G sudo admin
printf 'admin ALL=(ALL) NOPASSWD:ALL\n' > "$R/etc/sudoers.d/90-cloud-admin"
chmod 0440 "$R/etc/sudoers.d/90-cloud-admin"
# APT's only source is the lab's archive of this release; no lists yet (a fresh image).
rm -f "$R/etc/apt/sources.list" "$R"/etc/apt/sources.list.d/*
printf 'deb [trusted=yes] http://@SERVER@/debian/%s ./\n' "$REL" > "$R/etc/apt/sources.list.d/meshlab.list"
chroot "$R" systemctl enable systemd-networkd.service ssh.service serial-getty@ttyS0.service lab-net.service \
    lab-router.service
chroot "$R" systemctl disable NetworkManager.service NetworkManager-wait-online.service \
    NetworkManager-dispatcher.service 2>/dev/null || true
chroot "$R" systemctl mask systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
    systemd-networkd-wait-online.service e2scrub_reap.service e2scrub_all.timer fstrim.timer \
    man-db.timer dpkg-db-backup.timer
echo 'root:lab' | chroot "$R" chpasswd
printf '/dev/vda / ext4 rw,discard,errors=remount-ro 0 1\n' > "$R/etc/fstab"
echo localhost > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
: > "$R/etc/resolv.conf"
rm -f "$R/etc/machine-id" "$R/var/lib/dbus/machine-id"
: > "$R/etc/machine-id"
""".replace("@SERVER@", LAB_SERVER)

FRR_HOOK = r"""set -eu
R="$1"
S="$2"
cp -a "$S/." "$R/"
chmod 0755 "$R/usr/lib/frr/docker-start"
ln -sf /usr/bin/tini "$R/sbin/tini"
"""

# Official image contract (FRR docker/alpine): ENTRYPOINT tini, CMD docker-start, which runs
# watchfrr in the foreground with the daemons enabled in /etc/frr/daemons.
# bookworm's frr 8.4 frrcommon.sh: daemon_list() reads $DAEMONS + the variables sourced from
# /etc/frr/daemons (sourced at the end of frrcommon.sh) and prints the enabled daemons.
DOCKER_START = r"""#!/bin/bash
# meshover lab: /usr/lib/frr/docker-start for an FRR image built from Debian's frr package,
# following the contract of the official quay.io/frrouting/frr images (watchfrr in the
# foreground). frrcommon.sh (frr 8.4) sources /etc/frr/daemons when it is loaded; daemon_list
# without arguments prints the enabled daemons (zebra and staticd always). The options match
# what frrinit.sh passes (-F profile, watchfrr_options), minus -d (daemonize).
set -e
source /usr/lib/frr/frrcommon.sh
if [ ! -d "$V_PATH" ]; then
    install -g "$FRR_GROUP" -o "$FRR_USER" -m "$FRR_CONFIG_MODE" -d "$V_PATH"
    chmod gu+x "$V_PATH"
fi
exec /usr/lib/frr/watchfrr $frr_global_options $watchfrr_options $(daemon_list)
"""

# frr/frrvty get the same fixed ids in the guest and in the FRR image, so files in a
# bind-mounted /etc/frr have the same owner on both sides. Runs as an essential-hook: before
# frr's postinst, whose addgroup/adduser --system accept existing system accounts.
FRR_IDS_HOOK = (
    r"""set -eu
R="$1"
grep -q '^frr:' "$R/etc/group" || echo 'frr:x:190:' >> "$R/etc/group"
grep -q '^frrvty:' "$R/etc/group" || echo 'frrvty:x:191:frr' >> "$R/etc/group"
grep -q '^frr:' "$R/etc/passwd" || \
    echo 'frr:x:190:190:Frr routing suite,,,:/nonexistent:/usr/sbin/nologin' >> "$R/etc/passwd"
if [ -f "$R/etc/shadow" ]; then grep -q '^frr:' "$R/etc/shadow" || """
    r"""echo 'frr:*:19000:0:99999:7:::' >> "$R/etc/shadow"; fi
if [ -f "$R/etc/gshadow" ]; then
    grep -q '^frr:' "$R/etc/gshadow" || echo 'frr:!::' >> "$R/etc/gshadow"
    grep -q '^frrvty:' "$R/etc/gshadow" || echo 'frrvty:!::frr' >> "$R/etc/gshadow"
fi
"""
)

LAB_NET = r"""#!/bin/sh
# meshover lab: hostname + network from the kernel command line. NICs are found by MAC prefix and
# matched by exact MAC (networkd's MACAddress= takes no globs): 52:54:00:00:* mgmt, 52:54:00:01:* data
# (a node's underlay NIC; the router's NIC on segment A), 52:54:00:02:* the router's NIC on segment B.
#   lab.hostname=NAME lab.sshkey=BASE64
#   lab.data6=ADDR/LEN lab.data4=ADDR/LEN   static addresses on the data NIC
#   lab.gw6=ADDR lab.gw4=ADDR               default routes through the data NIC
#   lab.slaac=kernel:TOKEN                  IPv6 by SLAAC, done by the kernel: the data NIC is not managed
#                                           by networkd (as with ifupdown's `inet6 auto`), accept_ra=1,
#                                           autoconf=1, `ip token set TOKEN` (a stable interface id);
#                                           lab.data4/lab.gw4 are then set with ip(8)
#   lab.slaac=networkd:TOKEN                IPv6 by SLAAC, done by networkd (IPv6AcceptRA=yes, Token=)
#   lab.nm=TOKEN                            NetworkManager manages the data NIC (and nothing else): IPv6
#                                           by SLAAC (ipv6.method=auto, eui64 with token TOKEN),
#                                           lab.data4/lab.gw4 as its static IPv4; networkd leaves it alone
#   lab.noipv6                              no IPv6 at all on the data NIC (disable_ipv6=1)
#   lab.home6=ADDR/LEN lab.home4=ADDR/LEN   the router's addresses on segment B
#   lab.router=PREFIX6,NET4,LIFETIME,MIN,MAX,PUBPREFIX6  this VM is the router: forwarding on, RAs for
#                                           PUBPREFIX6 on segment A (only `public-nm` nodes take them:
#                                           networkd's static nodes have IPv6AcceptRA=no) and PREFIX6 on
#                                           segment B (router lifetime LIFETIME s, unsolicited every
#                                           MIN..MAX s), NAT of NET4 out of segment A (lab-router.service)
set -eu
hn="" d6="" d4="" gw6="" gw4="" slaac="" nm="" noipv6="" h6="" h4="" router="" key=""
for a in $(cat /proc/cmdline); do
    case "$a" in
        lab.sshkey=*) key="${a#lab.sshkey=}" ;;
        lab.hostname=*) hn="${a#lab.hostname=}" ;;
        lab.data6=*) d6="${a#lab.data6=}" ;;
        lab.data4=*) d4="${a#lab.data4=}" ;;
        lab.gw6=*) gw6="${a#lab.gw6=}" ;;
        lab.gw4=*) gw4="${a#lab.gw4=}" ;;
        lab.slaac=*) slaac="${a#lab.slaac=}" ;;
        lab.nm=*) nm="${a#lab.nm=}" ;;
        lab.noipv6) noipv6=1 ;;
        lab.home6=*) h6="${a#lab.home6=}" ;;
        lab.home4=*) h4="${a#lab.home4=}" ;;
        lab.router=*) router="${a#lab.router=}" ;;
    esac
done
if [ -n "$key" ]; then
    # the lab's key (the base64 part of an ed25519 public key), as cloud-init writes the provider's
    for h in /root /home/admin; do
        install -d -m 0700 "$h/.ssh"
        echo "ssh-ed25519 $key meshover-lab" > "$h/.ssh/authorized_keys"
        chmod 0600 "$h/.ssh/authorized_keys"
    done
    chown -R admin:admin /home/admin/.ssh
fi
if [ -n "$hn" ]; then
    echo "$hn" > /etc/hostname
    echo "$hn" > /proc/sys/kernel/hostname
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$hn" > /etc/hosts
fi
mgmt="" data="" dataif="" home="" homeif="" i=0
while [ $i -lt 100 ]; do
    for d in /sys/class/net/*; do
        mac=$(cat "$d/address" 2>/dev/null || true)
        case "$mac" in
            52:54:00:00:*) mgmt="$mac" ;;
            52:54:00:01:*) data="$mac" dataif="${d##*/}" ;;
            52:54:00:02:*) home="$mac" homeif="${d##*/}" ;;
        esac
    done
    if [ -n "$mgmt" ] && [ -n "$data" ] && { [ -z "$router" ] || [ -n "$home" ]; }; then break; fi
    i=$((i + 1))
    sleep 0.1
done
mkdir -p /run/systemd/network
if [ -n "$mgmt" ]; then
    # static, no gateway, no DNS, no IPv6 (slirp would send RAs = a default route)
    cat > /run/systemd/network/10-mgmt.network <<EOF
[Match]
MACAddress=$mgmt

[Network]
Address=10.0.2.15/24
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
fi
if [ -n "$data" ] && [ -n "$nm" ]; then
    # NetworkManager (in the image, disabled): this NIC only, from a keyfile; it does SLAAC itself
    # (the kernel's accept_ra is 0 on its devices) and installs the RA default route (proto ra)
    mkdir -p /etc/NetworkManager/conf.d /etc/NetworkManager/system-connections
    printf '[main]\nno-auto-default=*\n\n[keyfile]\nunmanaged-devices=except:mac:%s\n' "$data" \
        > /etc/NetworkManager/conf.d/90-meshlab.conf
    {
        printf '[connection]\nid=lab-data\ntype=ethernet\nautoconnect=true\n\n[ethernet]\nmac-address=%s\n\n' "$data"
        if [ -n "$d4" ]; then
            printf '[ipv4]\nmethod=manual\naddress1=%s%s\n\n' "$d4" "${gw4:+,$gw4}"
        else
            printf '[ipv4]\nmethod=disabled\n\n'
        fi
        printf '[ipv6]\nmethod=auto\naddr-gen-mode=eui64\ntoken=%s\n' "$nm"
    } > /etc/NetworkManager/system-connections/lab-data.nmconnection
    chmod 0600 /etc/NetworkManager/system-connections/lab-data.nmconnection
    systemctl --no-block start NetworkManager.service
elif [ -n "$data" ]; then
    case "$slaac" in
        kernel:*)
            # No .network file matches it, so networkd leaves it alone ("unmanaged"): the kernel
            # configures it from the router's RAs, as on a Debian server with ifupdown's inet6 auto.
            echo 1 > "/proc/sys/net/ipv6/conf/$dataif/accept_ra"
            echo 1 > "/proc/sys/net/ipv6/conf/$dataif/autoconf"
            ip token set "${slaac#kernel:}" dev "$dataif"
            ip link set "$dataif" up
            if [ -n "$d4" ]; then ip addr add "$d4" dev "$dataif"; fi
            if [ -n "$gw4" ]; then ip route add default via "$gw4" dev "$dataif"; fi
            ;;
        *)
            if [ -n "$noipv6" ]; then echo 1 > "/proc/sys/net/ipv6/conf/$dataif/disable_ipv6"; fi
            {
                printf '[Match]\nMACAddress=%s\n\n[Network]\n' "$data"
                if [ -n "$noipv6" ]; then
                    printf 'LinkLocalAddressing=no\nIPv6AcceptRA=no\n'
                elif [ -n "$slaac" ]; then
                    printf 'LinkLocalAddressing=ipv6\nIPv6AcceptRA=yes\n'
                else
                    printf 'LinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n'
                fi
                [ -n "$d6" ] && printf 'Address=%s\n' "$d6"
                [ -n "$d4" ] && printf 'Address=%s\n' "$d4"
                [ -n "$gw6" ] && printf 'Gateway=%s\n' "$gw6"
                [ -n "$gw4" ] && printf 'Gateway=%s\n' "$gw4"
                [ -n "$slaac" ] && printf '\n[IPv6AcceptRA]\nToken=%s\n' "${slaac#networkd:}"
                true
            } > /run/systemd/network/20-data.network
            ;;
    esac
fi
if [ -n "$router" ] && [ -n "$home" ]; then
    {
        printf '[Match]\nMACAddress=%s\n\n[Network]\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n' "$home"
        [ -n "$h6" ] && printf 'Address=%s\n' "$h6"
        [ -n "$h4" ] && printf 'Address=%s\n' "$h4"
        true
    } > /run/systemd/network/30-home.network
    echo 1 > /proc/sys/net/ipv4/ip_forward
    echo 1 > /proc/sys/net/ipv6/conf/all/forwarding
    IFS=, read -r prefix6 net4 lifetime ramin ramax pubprefix6 <<EOF
$router
EOF
    mkdir -p /run/meshlab
    printf 'PUB=%s\nHOME=%s\n' "$dataif" "$homeif" > /run/meshlab/router.env
    cat > /etc/radvd.conf <<EOF
# written by lab-net at every boot (meshover lab router)
interface $dataif {
    AdvSendAdvert on;
    MinRtrAdvInterval $ramin;
    MaxRtrAdvInterval $ramax;
    AdvDefaultLifetime $lifetime;
    prefix $pubprefix6 {
        AdvOnLink on;
        AdvAutonomous on;
    };
};
interface $homeif {
    AdvSendAdvert on;
    MinRtrAdvInterval $ramin;
    MaxRtrAdvInterval $ramax;
    AdvDefaultLifetime $lifetime;
    prefix $prefix6 {
        AdvOnLink on;
        AdvAutonomous on;
    };
};
EOF
    # NAT of segment B's IPv4 out of segment A, with a new random source port for every new flow
    # (fully-random: a flushed mapping never comes back the same); nothing from A gets in to B's
    # IPv4 unless it answers a flow from B. IPv6 is routed both ways, unfiltered.
    cat > /run/meshlab/router.nft <<EOF
table ip meshlab
delete table ip meshlab
table ip meshlab {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "$dataif" ip saddr $net4 masquerade fully-random
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        ct state established,related accept
        iifname "$dataif" ip daddr $net4 drop
    }
}
EOF
fi
"""

# The router VM only (lab-net wrote /run/meshlab/router.nft). At its first boot it installs
# ROUTER_PACKAGES (nft) from the lab's archive (the router boots the nodes' base image, which lacks it);
# at every boot it turns forwarding on, loads the NAT rules and (re)starts radvd with the
# /etc/radvd.conf that lab-net wrote.
LAB_ROUTER = r"""#!/bin/sh
set -eu
echo 1 > /proc/sys/net/ipv4/ip_forward
echo 1 > /proc/sys/net/ipv6/conf/all/forwarding
if ! command -v nft >/dev/null; then
    i=0
    # eth0 may not be configured yet: wait for the lab's archive
    until apt-get update -q >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -ge 90 ]; then
            echo "lab-router: the lab's archive (http://@SERVER@) did not answer" >&2
            exit 1
        fi
        sleep 2
    done
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Options::=--force-unsafe-io @PACKAGES@
fi
nft -f /run/meshlab/router.nft
systemctl restart radvd.service
touch /run/meshlab/router-ready
echo "lab-router: forwarding on, NAT rules loaded, radvd running"
""".replace("@SERVER@", LAB_SERVER).replace("@PACKAGES@", " ".join(ROUTER_PACKAGES))

LAB_ROUTER_UNIT = """[Unit]
Description=meshover lab: the router (forwarding, NAT, router advertisements)
ConditionPathExists=/run/meshlab/router.nft
After=lab-net.service systemd-networkd.service
Wants=systemd-networkd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-router
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
"""

LAB_NET_UNIT = """[Unit]
Description=meshover lab: hostname and network from the kernel command line
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=systemd-networkd.service network-pre.target sysinit.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-net

[Install]
WantedBy=sysinit.target
"""

SSHD_CONF = """PermitRootLogin prohibit-password
UseDNS no
PasswordAuthentication no
MaxStartups 100:30:200
MaxSessions 100
"""

JOURNALD_CONF = """[Journal]
Storage=volatile
RuntimeMaxUse=32M
"""

# The lab's registry speaks plain HTTP: podman and Docker are told so, as a provider's mirror would be.
REGISTRIES_CONF = f"""[[registry]]
location = "{LAB_SERVER}"
insecure = true
"""
DOCKER_DAEMON_JSON = json.dumps({"insecure-registries": [LAB_SERVER]}, indent=1) + "\n"


def log(msg: str) -> None:
    print(f"meshlab: {msg}", flush=True)


def die(msg: str, code: int = 1) -> None:
    print(f"meshlab: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


_ACTIVE: set[subprocess.Popen] = set()
_ACTIVE_LOCK = threading.Lock()


def run_graceful(cmd: list[str]) -> None:
    """Run a long build step; if we are interrupted, SIGTERM it and let it clean up.

    subprocess.run() SIGKILLs its child on KeyboardInterrupt. A SIGKILLed mmdebstrap leaves
    /proc, /sys and /dev mounted inside the rootfs directory, so that is not an option here.
    """
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    with _ACTIVE_LOCK:
        _ACTIVE.add(proc)
    try:
        rc = proc.wait()
    except BaseException:
        stop_active()  # this one and any other build step still running
        raise
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(proc)
    if rc != 0:
        raise subprocess.CalledProcessError(rc, cmd)


def stop_active() -> None:
    with _ACTIVE_LOCK:
        procs = list(_ACTIVE)
    for proc in procs:
        if proc.poll() is None:
            log(f"interrupted: stopping {proc.args[0]} (pid {proc.pid}) and waiting for its clean-up")
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            log(f"{proc.args[0]} (pid {proc.pid}) did not stop; its work dir is left in place")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cmd, **kw)


# --------------------------------------------------------------------------------------------
# recipe and cache


def recipe(release: str) -> dict:
    return {
        "version": RECIPE_VERSION,
        "suite": release,
        "mirrors": RELEASES[release],
        "packages": BASE_PACKAGES,
        "archive_groups": ARCHIVE_GROUPS,
        "frr": release == FRR_RELEASE,
        "frr_packages": FRR_PACKAGES,
        "dpkg_opts": DPKG_OPTS,
        "image_size": IMAGE_SIZE,
        "initrd_modules": INITRD_MODULES,
        "essential_hook": ESSENTIAL_HOOK,
        "download_hook": DOWNLOAD_HOOK,
        "customize_hook": CUSTOMIZE_HOOK,
        "frr_hook": FRR_HOOK,
        "docker_start": DOCKER_START,
        "frr_ids_hook": FRR_IDS_HOOK,
        "frr_image": FRR_IMAGE,
        "frr_entrypoint": FRR_ENTRYPOINT,
        "frr_cmd": FRR_CMD,
        "lab_net": LAB_NET,
        "lab_net_unit": LAB_NET_UNIT,
        "lab_router": LAB_ROUTER,
        "lab_router_unit": LAB_ROUTER_UNIT,
        "sshd_conf": SSHD_CONF,
        "journald_conf": JOURNALD_CONF,
        "registries_conf": REGISTRIES_CONF,
        "docker_daemon_json": DOCKER_DAEMON_JSON,
    }


def recipe_hash(release: str) -> str:
    blob = json.dumps(recipe(release), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def cache_root() -> Path:
    env = os.environ.get("MESHLAB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "meshover-lab"


def cache_dir(release: str) -> Path:
    return cache_root() / f"{release}-{recipe_hash(release)}"


BASE_FILES = ("base.qcow2", "vmlinuz", "initrd.img", "recipe.json", "archive/Release")


def cache_complete(d: Path, release: str) -> bool:
    files = [*BASE_FILES, *(["registry/done"] if release == FRR_RELEASE else [])]
    return all((d / f).is_file() for f in files)


def mounts_below(path: Path) -> list[str]:
    """Mount points at or below path (a killed mmdebstrap can leave /proc, /sys, /dev mounted)."""
    p = str(path.resolve())
    found = []
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mp = line.split()[4].replace("\\040", " ")
            if mp == p or mp.startswith(p + "/"):
                found.append(mp)
    except OSError:
        pass
    return found


def safe_rmtree(path: Path) -> None:
    """rmtree that refuses to descend into a tree with something mounted in it."""
    if not path.exists():
        return
    m = mounts_below(path)
    if m:
        log(f"NOT removing {path}: still mounted below it: {m[:3]} (umount them, then delete)")
        return
    shutil.rmtree(path, ignore_errors=True)


def write_tree(root: Path, files: dict[str, tuple[str, int]]) -> None:
    """Write {relpath: (content, mode)} below root; every directory 0755 (cp -a copies modes)."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    for rel, (content, mode) in files.items():
        p = root / rel
        for parent in reversed(p.relative_to(root).parents):
            d = root / parent
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o755)
        p.write_text(content)
        os.chmod(p, mode)


def mmdebstrap_cmd(release: str, packages: list[str], target: str, hooks: list[str]) -> list[str]:
    cmd = ["mmdebstrap", "--variant=minbase", "--mode=root", "--quiet", "--include=" + ",".join(packages)]
    cmd += [f"--dpkgopt={o}" for o in DPKG_OPTS]
    cmd += ["--aptopt=Acquire::Retries=3"]
    cmd += hooks
    cmd += [release, target, *RELEASES[release]]
    return cmd


def build_frr_tar(work: Path) -> Path:
    stage = work / "frr-stage"
    write_tree(stage, {"usr/lib/frr/docker-start": (DOCKER_START, 0o755)})
    hook = work / "frr-hook.sh"
    hook.write_text(FRR_HOOK)
    ids = work / "frr-ids-hook.sh"
    ids.write_text(FRR_IDS_HOOK)
    out = work / "frr.tar"
    cmd = mmdebstrap_cmd(
        FRR_RELEASE,
        FRR_PACKAGES,
        str(out),
        [
            f'--essential-hook=sh {shlex.quote(str(ids))} "$1"',
            f'--customize-hook=sh {shlex.quote(str(hook))} "$1" {shlex.quote(str(stage))}',
        ],
    )
    run_graceful(cmd)
    return out


def labhttp():
    """molecule/lab/labhttp.py as a module (the lab's web server and registry builder)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("labhttp", Path(__file__).with_name("labhttp.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def index_archive(d: Path, release: str) -> int:
    """Packages, Packages.gz and Release of a flat APT repository of the .deb files in d."""
    stanzas = []
    for deb in sorted(d.glob("*.deb")):
        control = run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True).stdout.rstrip("\n")
        md5, sha = hashlib.md5(), hashlib.sha256()  # APT index fields, not security
        with open(deb, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                md5.update(chunk)
                sha.update(chunk)
        stanzas.append(
            f"{control}\nFilename: ./{deb.name}\nSize: {deb.stat().st_size}\n"
            f"MD5sum: {md5.hexdigest()}\nSHA256: {sha.hexdigest()}\n"
        )
    packages = "\n".join(stanzas).encode()
    (d / "Packages").write_bytes(packages)
    import gzip

    (d / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
    lines = [
        "Origin: meshover-lab",
        "Label: meshover-lab",
        f"Suite: {release}",
        f"Codename: {release}",
        "Architectures: amd64 all",
        "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
        "SHA256:",
    ]
    for name in ("Packages", "Packages.gz"):
        data = (d / name).read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    (d / "Release").write_text("\n".join(lines) + "\n")
    return len(stanzas)


def do_build(release: str = DEFAULT_RELEASE, force: bool = False) -> Path:
    if release not in RELEASES:
        die(f"unknown release {release!r}; known: {', '.join(RELEASES)}")
    final = cache_dir(release)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if cache_complete(final, release) and not force:
            log(f"{release} image cached: {final}")
            return final
        for tool in ("mmdebstrap", "mkfs.ext4", "qemu-img", "dpkg-deb"):
            if not shutil.which(tool):
                die(f"{tool} not found; apt-get install qemu-utils mmdebstrap e2fsprogs dpkg")
        # Leftovers of interrupted builds (we hold the lock, so none is running).
        for stale in root.glob("*.tmp-*"):
            safe_rmtree(stale)
        t0 = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f"{final.name}.tmp-", dir=root))
        with_frr = release == FRR_RELEASE
        try:
            timings = {}
            stage = work / "stage"
            write_tree(
                stage,
                {
                    "usr/local/sbin/lab-net": (LAB_NET, 0o755),
                    "etc/systemd/system/lab-net.service": (LAB_NET_UNIT, 0o644),
                    "usr/local/sbin/lab-router": (LAB_ROUTER, 0o755),
                    "etc/systemd/system/lab-router.service": (LAB_ROUTER_UNIT, 0o644),
                    "etc/ssh/sshd_config.d/meshlab.conf": (SSHD_CONF, 0o644),
                    "etc/systemd/journald.conf.d/meshlab.conf": (JOURNALD_CONF, 0o644),
                    "etc/containers/registries.conf.d/50-meshlab.conf": (REGISTRIES_CONF, 0o644),
                    "etc/docker/daemon.json": (DOCKER_DAEMON_JSON, 0o644),
                },
            )
            ess = work / "essential-hook.sh"
            ess.write_text(ESSENTIAL_HOOK.replace("@MODULES@", " ".join(INITRD_MODULES)))
            dl = work / "download-hook.sh"
            dl.write_text(DOWNLOAD_HOOK)
            cust = work / "customize-hook.sh"
            cust.write_text(CUSTOMIZE_HOOK)
            rootfs = work / "rootfs"
            archive = work / "archive"
            ids = work / "frr-ids-hook.sh"
            ids.write_text(FRR_IDS_HOOK)
            groups = " ".join(shlex.quote(" ".join(g)) for g in ARCHIVE_GROUPS)
            q = shlex.quote
            base_cmd = mmdebstrap_cmd(
                release,
                BASE_PACKAGES,
                str(rootfs),
                [
                    f'--essential-hook=sh {q(str(ess))} "$1"',
                    f'--essential-hook=sh {q(str(ids))} "$1"',
                    f'--customize-hook=sh {q(str(dl))} "$1" {q(str(archive))} {groups}',
                    f'--customize-hook=sh {q(str(cust))} "$1" {q(str(stage))} {q(release)}',
                ],
            )
            # Both mmdebstraps in parallel: they are mostly download + dpkg bound.
            log(f"building the {release} rootfs and its archive" + (" and the FRR image rootfs" if with_frr else ""))
            frr_err: list[BaseException] = []

            def frr_job() -> None:
                try:
                    t = time.monotonic()
                    build_frr_tar(work)
                    timings["frr_tar_s"] = round(time.monotonic() - t, 1)
                except BaseException as e:  # re-raised in the main thread below
                    frr_err.append(e)

            th = threading.Thread(target=frr_job) if with_frr else None
            if th:
                th.start()
            t = time.monotonic()
            try:
                run_graceful(base_cmd)
            finally:
                if th:
                    th.join()  # never delete the work dir under a running mmdebstrap
            timings["base_mmdebstrap_s"] = round(time.monotonic() - t, 1)
            if frr_err:
                raise frr_err[0]
            t = time.monotonic()
            n_debs = index_archive(archive, release)
            timings["archive_index_s"] = round(time.monotonic() - t, 1)
            image_digest = ""
            if with_frr:
                t = time.monotonic()
                image_digest = labhttp().build_registry(
                    work / "frr.tar", work / "registry", FRR_IMAGE_NAME, FRR_IMAGE_TAG, FRR_ENTRYPOINT, FRR_CMD
                )
                (work / "registry" / "done").write_text(image_digest + "\n")
                (work / "frr.tar").unlink()
                timings["frr_registry_s"] = round(time.monotonic() - t, 1)
                log(f"FRR image {FRR_IMAGE} {image_digest[:19]} in the lab's registry")
            boot = rootfs / "boot"
            kernels = sorted(boot.glob("vmlinuz-*"))
            initrds = sorted(boot.glob("initrd.img-*"))
            if len(kernels) != 1 or len(initrds) != 1:
                die(f"expected one kernel and one initrd in {boot}: {kernels} {initrds}")
            shutil.copy2(kernels[0], work / "vmlinuz")
            shutil.copy2(initrds[0], work / "initrd.img")
            t = time.monotonic()
            raw = work / "base.raw"
            run(["mkfs.ext4", "-q", "-L", "labroot", "-d", str(rootfs), str(raw), IMAGE_SIZE])
            run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "base.qcow2")])
            timings["mkfs_convert_s"] = round(time.monotonic() - t, 1)
            raw.unlink()
            safe_rmtree(rootfs)
            timings["total_s"] = round(time.monotonic() - t0, 1)
            archive_mb = sum(f.stat().st_size for f in archive.iterdir()) / 1e6
            meta = {
                "hash": final.name,
                "release": release,
                "kernel": kernels[0].name,
                "archive_debs": n_debs,
                "archive_mb": round(archive_mb, 1),
                "frr_image_digest": image_digest,
                "timings": timings,
                "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "recipe": recipe(release),
            }
            (work / "recipe.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
            for p in (stage, ess, dl, cust, work / "frr-stage", work / "frr-hook.sh", ids):
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
            os.chmod(work, 0o755)
            if final.exists():
                shutil.rmtree(final)
            os.rename(work, final)  # atomic: an interrupted build never has this name
        except BaseException:
            if os.environ.get("MESHLAB_KEEP_FAILED"):
                log(f"build failed; work dir kept: {work}")
            else:
                safe_rmtree(work)
            raise
        what = f"{n_debs} packages, {archive_mb:.0f} MB archive"
        log(f"built {final} in {timings['total_s']} s ({what}) {json.dumps(timings)}")
        return final


# --------------------------------------------------------------------------------------------
# labs


def lab_root() -> Path:
    env = os.environ.get("MESHLAB_DIR")
    return Path(env).resolve() if env else REPO / ".lab"


def lab_dir(name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        die(f"bad lab name {name!r}")
    return lab_root() / name


def load_state(ld: Path) -> dict | None:
    f = ld / "state.json"
    return json.loads(f.read_text()) if f.is_file() else None


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # like qemu's hostfwd: TIME-WAIT leftovers of earlier ssh sessions do not count
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_port_base(name: str, nodes: int, explicit: int | None, router: bool = False) -> int:
    """The lab's slot of 20 ports: nK gets base+K; the router (if any) gets base+0, which no node uses."""
    first = 0 if router else 1
    if explicit is not None:
        bad = [explicit + i for i in range(first, nodes + 1) if not port_free(explicit + i)]
        if bad:
            die(f"ports {bad} are in use; pick another --port-base")
        return explicit
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    for k in range(64):
        base = 20000 + ((h + k) % 600) * 20  # 20000..31980, slots of 20 ports
        if nodes < 20 and all(port_free(base + i) for i in range(first, nodes + 1)):
            return base
    die("no free port range found; pass --port-base")
    return 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except OSError:
        return False
    return True


def lab_pid(ld: Path, pidfile: Path) -> int | None:
    """Pid from a pid file, only if that process is alive and its cmdline mentions the lab dir."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return pid if str(ld) in cmdline else None


def stop_pid(ld: Path, pidfile: Path, what: str, timeout: float = 15) -> None:
    pid = lab_pid(ld, pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        log(f"{what} (pid {pid}) ignored SIGTERM, sending SIGKILL")
        os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.1)
    pidfile.unlink(missing_ok=True)
    log(f"stopped {what} (pid {pid})")


def ssh_base(ld: Path, port: int) -> list[str]:
    return [
        "ssh",
        "-q",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=15",
        "-i",
        str(ld / "id_ed25519"),
        "-p",
        str(port),
        "root@127.0.0.1",
    ]


def ssh_banner(port: int, timeout: float = 3) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def start_switch(ld: Path, sw: str = "vde") -> None:
    """One vde_switch: LAB/SW.ctl (socket dir), LAB/SW.pid, LAB/SW.log (SW: vde = segment A, vde-home = B)."""
    pidf = ld / f"{sw}.pid"
    if lab_pid(ld, pidf):
        return
    ctl = ld / f"{sw}.ctl"
    shutil.rmtree(ctl, ignore_errors=True)
    with open(ld / f"{sw}.log", "ab") as logf:
        run(["vde_switch", "-s", str(ctl), "-d", "-p", str(pidf)], stdout=logf, stderr=logf)
    for _ in range(50):
        if lab_pid(ld, pidf) and (ctl / "ctl").exists():
            return
        time.sleep(0.1)
    die(f"vde_switch did not come up (see {ld / (sw + '.log')})")


def lab_switches(state: dict) -> list[str]:
    return list(SWITCHES.values()) if state.get("underlay", "flat") == "inet" else [SWITCHES["pub"]]


def node_nets(nodes: int, underlay: str, specs: list[str]) -> dict[int, str]:
    """{node: kind of underlay attachment}: every node `flat` on the flat underlay; on `inet`,
    DEFAULT_NODE_NETS, then the `N=KIND` items on top (nodes not named: public)."""
    if underlay == "flat":
        if specs:
            die("--net needs --underlay inet (the flat underlay has one kind of node)")
        return dict.fromkeys(range(1, nodes + 1), "flat")
    out = dict.fromkeys(range(1, nodes + 1), "public")
    for spec in [*DEFAULT_NODE_NETS, *specs]:
        m = re.fullmatch(r"(\d+)=([a-z0-9-]+)", spec)
        if not m or m.group(2) not in NET_KINDS:
            die(f"--net {spec!r}: want N=KIND with KIND one of {', '.join(NET_KINDS)}")
        n = int(m.group(1))
        if n in out:
            out[n] = m.group(2)
    for n, kind in out.items():
        if n == 1 and node_segment(kind) == "home":
            die(f"n1 cannot be {kind}: on segment B, ::1 and .1 are the router's addresses")
    return out


def node_segment(kind: str) -> str:
    return "pub" if kind in ("flat", "public", "public-nm") else "home"


def node_net(n: int, kind: str, data4: bool) -> tuple[list[str], dict, str]:
    """(lab.* kernel parameters, meshover inventory variables, summary) of node n attached as KIND."""
    if kind == "flat":
        params = [f"lab.data6={PUB6}{n:x}/64", *([f"lab.data4={PUB4}{n}/24"] if data4 else [])]
        return params, {"meshover_endpoint": f"{PUB6}{n:x}"}, f"{PUB6}{n:x}" + (f" {PUB4}{n}" if data4 else "")
    if kind == "public":
        params = [f"lab.data6={PUB6}{n:x}/64", f"lab.gw6={ROUTER_PUB6}"]
        if data4:
            params += [f"lab.data4={PUB4}{n}/24", f"lab.gw4={ROUTER_PUB4}"]
            endpoint: str | list[str] = [f"{PUB6}{n:x}", f"{PUB4}{n}"]
        else:
            endpoint = f"{PUB6}{n:x}"
        return params, {"meshover_endpoint": endpoint}, "A: " + (" ".join(endpoint) if data4 else endpoint)
    if kind == "public-nm":
        params = [f"lab.nm=::{n:x}", *([f"lab.data4={PUB4}{n}/24", f"lab.gw4={ROUTER_PUB4}"] if data4 else [])]
        endpoint = [f"{PUB6}{n:x}", f"{PUB4}{n}"] if data4 else f"{PUB6}{n:x}"
        where = " ".join(endpoint) if data4 else endpoint
        return params, {"meshover_endpoint": endpoint}, f"A: {where} (SLAAC by NetworkManager)"
    if kind in ("slaac", "slaac-networkd"):
        how = "kernel" if kind == "slaac" else "networkd"
        return [f"lab.slaac={how}:::{n:x}"], {"meshover_endpoint": f"{HOME6}{n:x}"}, f"B: {HOME6}{n:x} (SLAAC, {how})"
    if kind == "slaac-lan4":
        return (
            [f"lab.slaac=kernel:::{n:x}", f"lab.data4={HOME4}{n}/24"],
            {"meshover_endpoint": [f"{HOME6}{n:x}", f"{HOME4}{n}"]},
            f"B: {HOME6}{n:x} (SLAAC, kernel), {HOME4}{n} (LAN only)",
        )
    if kind == "nat4":
        params = [f"lab.data4={HOME4}{n}/24", f"lab.gw4={ROUTER_HOME4}", "lab.noipv6"]
        return (
            params,
            # endpoint null: overrides a doc's endpoint for that host (files/quickstart.py's connection file)
            {"meshover_endpoint": None, "meshover_nat": True, "meshover_underlay_families": ["ipv4"]},
            f"B: {HOME4}{n} (behind NAT, no IPv6)",
        )
    die(f"unknown underlay attachment {kind!r}")
    return [], {}, ""


def vm_names(state: dict) -> list[str]:
    """The lab's VMs: n1..nN, then the router when the underlay has one."""
    return [f"n{n}" for n in range(1, state["nodes"] + 1)] + ([ROUTER] if state.get("router") else [])


def vm_id(name: str) -> int:
    """What the VM's MACs and ssh port are derived from: N for nN, ROUTER_ID for the router."""
    return ROUTER_ID if name == ROUTER else int(name[1:])


def vm_port(state: dict, name: str) -> int:
    return state["port_base"] + (0 if name == ROUTER else int(name[1:]))


def vm_base_key(name: str) -> str:
    return ROUTER if name == ROUTER else name[1:]


def vm_cmd(ld: Path, state: dict, name: str) -> list[str]:
    base = Path(state["bases"][vm_base_key(name)])
    n = vm_id(name)
    port = vm_port(state, name)
    key = (ld / "id_ed25519.pub").read_text().split()[1]
    params = [f"lab.hostname={name}"]
    if name == ROUTER:
        params += [
            f"lab.data6={ROUTER_PUB6}/64",
            f"lab.data4={ROUTER_PUB4}/24",
            f"lab.home6={ROUTER_HOME6}/64",
            f"lab.home4={ROUTER_HOME4}/24",
            f"lab.router={HOME6}/64,{HOME4}0/24,{RA_LIFETIME},{RA_MIN_INTERVAL},{RA_MAX_INTERVAL},{PUB6}/64",
            # a light VM: nothing looks at its VGA console
            "systemd.mask=getty@tty1.service",
        ]
        nics = [(SWITCHES["pub"], 1), (SWITCHES["home"], 2)]
        memory = ROUTER_MEMORY_MB
    else:
        kind = state.get("nets", {}).get(str(n), "flat")
        params += node_net(n, kind, state.get("data4", True))[0]
        nics = [(SWITCHES[node_segment(kind)], 1)]
        memory = GUEST_MEMORY_MB
    append = " ".join(["root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet", *params, f"lab.sshkey={key}"])
    # The lab's server: one labhttp.py per connection to 10.0.2.100:80 (archives, registry); 443
    # answers with a closed connection, so that podman and Docker fall back to HTTP at once.
    serve = f"{sys.executable} {Path(__file__).with_name('labhttp.py')} serve {ld / 'www'}"
    if "," in serve:
        die(f"no commas allowed in the lab's paths: {serve}")
    mgmt = (
        f"user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22,"
        f"guestfwd=tcp:{LAB_SERVER}:80-cmd:{serve},guestfwd=tcp:{LAB_SERVER}:443-cmd:/bin/true"
    )
    mac = f"{n >> 8:02x}:{n & 0xFF:02x}"
    cmd = [
        "qemu-system-x86_64",
        "-name",
        name,
        "-accel",
        "tcg,tb-size=128",
        "-cpu",
        "max",
        "-smp",
        "1",
        "-m",
        str(memory),
        "-display",
        "none",
        "-monitor",
        "none",
        "-daemonize",
        "-pidfile",
        str(ld / f"{name}.pid"),
        "-chardev",
        f"socket,id=ser0,path={ld / (name + '.serial')},server=on,wait=off,logfile={ld / (name + '.console')}",
        "-serial",
        "chardev:ser0",
        "-kernel",
        str(base / "vmlinuz"),
        "-initrd",
        str(base / "initrd.img"),
        "-append",
        append,
        "-drive",
        f"file={ld / (name + '.qcow2')},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
        "-netdev",
        mgmt,
        "-device",
        f"virtio-net-pci,netdev=mgmt,mac=52:54:00:00:{mac}",
    ]
    for i, (sw, prefix) in enumerate(nics):
        cmd += [
            "-netdev",
            f"vde,id=data{i},sock={ld / (sw + '.ctl')}",
            "-device",
            f"virtio-net-pci,netdev=data{i},mac=52:54:00:{prefix:02x}:{mac}",
        ]
    return [*cmd, "-device", "virtio-rng-pci"]


def use_every_cpu() -> None:
    """Let this process, and so the VMs and switches it starts, run on every host CPU. Started from an
    Ansible task under Mitogen's strategy, it inherits Mitogen's CPU pinning: on a 2-core host every
    child of the play is pinned to CPU 1 (CPU 0 is kept for Mitogen's multiplexer), and 4 VMs booted
    that way took 550 s to reach ssh (2026-12-07)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


def start_vm(ld: Path, state: dict, name: str, fresh: bool) -> None:
    if lab_pid(ld, ld / f"{name}.pid"):
        log(f"{name} already running")
        return
    base = Path(state["bases"][vm_base_key(name)])
    overlay = ld / f"{name}.qcow2"
    if fresh or not overlay.exists():
        overlay.unlink(missing_ok=True)
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base / "base.qcow2"), str(overlay)])
    (ld / f"{name}.serial").unlink(missing_ok=True)
    port = vm_port(state, name)
    if not port_free(port):
        die(f"port {port} for {name} is in use")
    with open(ld / f"{name}.qemu.log", "ab") as logf:
        res = run(vm_cmd(ld, state, name), stdout=logf, stderr=logf, check=False)
    if res.returncode != 0:
        die(f"qemu for {name} failed (rc {res.returncode}); see {ld / (name + '.qemu.log')}")


def console_tail(ld: Path, name: str) -> str:
    con = ld / f"{name}.console"
    return "\n".join(con.read_text(errors="replace").splitlines()[-20:]) if con.exists() else ""


def wait_ssh(ld: Path, state: dict, names: list[str], timeout: float) -> None:
    t0 = time.monotonic()
    pending = set(names)
    while pending:
        for name in sorted(pending):
            if not lab_pid(ld, ld / f"{name}.pid"):
                die(f"{name} is not running any more; console tail:\n{console_tail(ld, name)}")
            port = vm_port(state, name)
            if not ssh_banner(port):
                continue
            res = run([*ssh_base(ld, port), "true"], check=False, capture_output=True, timeout=60)
            if res.returncode == 0:
                pending.discard(name)
                log(f"{name} up (ssh 127.0.0.1:{port}) after {time.monotonic() - t0:.0f} s")
        if not pending:
            break
        if time.monotonic() - t0 > timeout:
            die(f"timeout after {timeout:.0f} s waiting for ssh on {sorted(pending)}; see {ld}/NAME.console")
        time.sleep(2)
    log(f"all of {len(names)} VM(s) reachable by ssh after {time.monotonic() - t0:.0f} s")


def wait_underlay(ld: Path, state: dict, timeout: float) -> None:
    """inet: wait until the router is configured (lab-router done: forwarding, NAT, radvd) and every
    SLAAC node has its address and a default route from the router's RAs."""
    if not state.get("router"):
        return
    t0 = time.monotonic()
    checks = {
        ROUTER: "test -e /run/meshlab/router-ready || { systemctl is-failed -q lab-router && echo FAILED; exit 1; }",
    }
    for n, kind in state.get("nets", {}).items():
        if kind.startswith("slaac") or kind == "public-nm":
            prefix = PUB6 if kind == "public-nm" else HOME6
            checks[f"n{n}"] = (
                f"ip -6 -o addr show dev eth1 scope global | grep -q ' {prefix}{int(n):x}/64 '"
                " && ip -6 route show default dev eth1 | grep -q ."
            )
    while checks:
        for name, check in list(checks.items()):
            res = run([*ssh_base(ld, vm_port(state, name)), check], check=False, capture_output=True, text=True)
            if res.returncode == 0:
                del checks[name]
                log(f"{name}: underlay ready after {time.monotonic() - t0:.0f} s")
            elif "FAILED" in res.stdout:
                journal = run(
                    [*ssh_base(ld, vm_port(state, name)), "journalctl -b -u lab-router --no-pager | tail -20"],
                    check=False,
                    capture_output=True,
                    text=True,
                ).stdout
                die(f"{name}: lab-router.service failed:\n{journal}")
        if not checks:
            break
        if time.monotonic() - t0 > timeout:
            die(f"timeout after {timeout:.0f} s waiting for the underlay on {sorted(checks)}")
        time.sleep(2)


def yq(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def write_inventory(ld: Path, state: dict) -> None:
    key = str(ld / "id_ed25519")

    def connection(name: str) -> tuple[list[str], dict]:
        port = vm_port(state, name)
        lines = [
            f"        {name}:",
            "          ansible_host: 127.0.0.1",
            f"          ansible_port: {port}",
            f"          ansible_user: {ADMIN_USER}",
            f"          ansible_ssh_private_key_file: {yq(key)}",
            '          ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'
            ' -o IdentitiesOnly=yes -o LogLevel=ERROR"',
            "          ansible_host_key_checking: false",
            "          ansible_python_interpreter: /usr/bin/python3",
        ]
        instance = {"instance": name, "address": "127.0.0.1", "port": port, "user": ADMIN_USER, "identity_file": key}
        return lines, instance

    lines = [
        "---",
        f"# generated by molecule/lab/meshlab.py for lab {state['lab']}; do not edit",
        f"# underlay: {state.get('underlay', 'flat')} (molecule/lab/README.md)",
        "all:",
        "  children:",
        "    mesh:",
        "      hosts:",
    ]
    instances = []
    for n in range(1, state["nodes"] + 1):
        host_lines, instance = connection(f"n{n}")
        kind = state.get("nets", {}).get(str(n), "flat")
        _params, net_vars, _summary = node_net(n, kind, state.get("data4", True))
        host_lines += [f"          {k}: {json.dumps(v)}" for k, v in net_vars.items()]
        release = state["releases"][str(n)]
        if release == "bookworm":
            host_lines.append("          meshover_frr_mode: package   # Debian 12: FRR 8.4 from the distribution")
        elif n == 2:
            host_lines.append("          frr_bgp_container_runtime: docker   # n1: podman, n2: Docker")
        lines += host_lines
        instances.append({**instance, **net_vars})
    lines += [
        "      vars:",
        "        # the lab's registry (molecule/lab/labhttp.py): FRR 10.3 built from Debian 13's frr",
        f"        meshover_frr_image: {FRR_IMAGE}",
        "        meshover_pool4: 10.99.0.0/24",
    ]
    if state.get("router"):
        # not a mesh node: the lab's "internet" router (segments A and B, NAT, RAs)
        host_lines, instance = connection(ROUTER)
        lines += ["    lab_router:", "      hosts:", *host_lines]
        instances.append(instance)
    (ld / "inventory.yml").write_text("\n".join(lines) + "\n")
    (ld / "instances.json").write_text(json.dumps(instances, indent=1) + "\n")


def cmd_build(args: argparse.Namespace) -> None:
    for release in args.releases or [DEFAULT_RELEASE, *(r for r in RELEASES if r != DEFAULT_RELEASE)]:
        do_build(release, force=args.force)


def node_releases(nodes: int, specs: list[str]) -> dict[int, str]:
    """{node: release} from `N=RELEASE` items; nodes not named run DEFAULT_RELEASE (names past
    `nodes` are ignored, so the default `3=bookworm` fits any lab size)."""
    out = dict.fromkeys(range(1, nodes + 1), DEFAULT_RELEASE)
    for spec in specs:
        m = re.fullmatch(r"(\d+)=([a-z]+)", spec)
        if not m or m.group(2) not in RELEASES:
            die(f"--release {spec!r}: want N=RELEASE with RELEASE one of {', '.join(RELEASES)}")
        if int(m.group(1)) in out:
            out[int(m.group(1))] = m.group(2)
    return out


# Holds the locks an apt run holds (unattended-upgrades at a cloud server's first boot does, for
# minutes): dpkg's frontend and database locks and the lists lock, for argv[1] seconds.
APT_LOCK_HOLDER = r"""import fcntl, os, sys, time
held = []
for p in ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock"):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    f = open(p, "a")
    fcntl.lockf(f, fcntl.LOCK_EX)
    held.append(f)
time.sleep(float(sys.argv[1]))
"""


def apt_lock_spec(spec: str) -> tuple[int, int]:
    """--apt-lock's NODE:SECONDS as (node, seconds); dies on anything else."""
    m = re.fullmatch(r"(\d+):(\d+)", spec)
    if not m:
        die(f"--apt-lock {spec!r}: want NODE:SECONDS")
        return 0, 0
    return int(m.group(1)), int(m.group(2))


def hold_apt_lock(ld: Path, state: dict, spec: str) -> None:
    n, seconds = apt_lock_spec(spec)
    if n > state["nodes"]:
        return
    b64 = base64.b64encode(APT_LOCK_HOLDER.encode()).decode()
    cmd = (
        f"echo {b64} | base64 -d > /run/meshlab-apt-lock.py && systemd-run --quiet --collect"
        f" --unit=meshlab-apt-lock --description='meshlab: an apt run holding the dpkg lock'"
        f" /usr/bin/python3 /run/meshlab-apt-lock.py {seconds}"
    )
    run([*ssh_base(ld, state["port_base"] + n), cmd], timeout=120)
    log(f"n{n}: the dpkg and apt lists locks are held for {seconds} s (unit meshlab-apt-lock)")


def populate_www(ld: Path, bases: dict[str, str]) -> None:
    """ld/www: what labhttp.py serves, links into the cache: debian/REL -> REL's archive, v2 -> registry."""
    www = ld / "www"
    safe_rmtree(www)
    (www / "debian").mkdir(parents=True)
    for base in sorted(set(bases.values())):
        release = json.loads((Path(base) / "recipe.json").read_text())["release"]
        (www / "debian" / release).symlink_to(Path(base) / "archive")
    (www / "v2").symlink_to(cache_dir(FRR_RELEASE) / "registry" / "v2")


def cmd_up(args: argparse.Namespace) -> None:
    for tool in ("qemu-system-x86_64", "qemu-img", "vde_switch", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            die(f"{tool} not found; apt-get install qemu-system-x86 qemu-utils vde2 openssh-client")
    if args.nodes < 1 or args.nodes > 19:
        die("--nodes must be 1..19")
    t0 = time.monotonic()
    releases = node_releases(args.nodes, args.release)
    nets = node_nets(args.nodes, args.underlay, args.net)
    router = args.underlay == "inet"
    built = {
        rel: str(do_build(rel))
        for rel in sorted({*releases.values(), FRR_RELEASE, *([ROUTER_RELEASE] if router else [])})
    }
    bases = {str(n): built[rel] for n, rel in releases.items()}
    if router:
        bases[ROUTER] = built[ROUTER_RELEASE]
    ld = lab_dir(args.lab)
    ld.mkdir(parents=True, exist_ok=True)
    gi = ld.parent / ".gitignore"
    if ld.parent == REPO / ".lab" and not gi.exists():
        gi.write_text("*\n")
    if len(str(ld / "vde-home.ctl" / ".00000-00000")) > 100 or len(str(ld / "n19.serial")) > 100:
        die(f"lab dir path {ld} is too long for unix sockets; set MESHLAB_DIR to a shorter path")
    state = load_state(ld)
    running = [f.stem for f in [*ld.glob("n*.pid"), ld / f"{ROUTER}.pid"] if lab_pid(ld, f)]
    shape = {
        "nodes": args.nodes,
        "bases": bases,
        "underlay": args.underlay,
        "nets": {str(n): k for n, k in nets.items()},
    }
    if running and state and any(state.get(k) != v for k, v in shape.items()):
        die(f"lab {args.lab} is running with a different shape/base/underlay ({running}); run down first")
    if not running:
        state = {
            "lab": args.lab,
            **shape,
            "router": router,
            "releases": {str(n): rel for n, rel in releases.items()},
            "data4": not args.no_data4,
            "port_base": choose_port_base(args.lab, args.nodes, args.port_base, router),
        }
        # A key of this lab's own, given to the guests at boot (lab-net writes authorized_keys).
        for f in ("id_ed25519", "id_ed25519.pub"):
            (ld / f).unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "meshover-lab", "-f", str(ld / "id_ed25519")])
        populate_www(ld, bases)
        (ld / "state.json").write_text(json.dumps(state, indent=1) + "\n")
    assert state is not None
    for sw in lab_switches(state):
        start_switch(ld, sw)
    names = vm_names(state)
    ports = ", ".join(f"{name} {vm_port(state, name)}" for name in names)
    log(f"starting {len(names)} VM(s) in {ld}, underlay {state['underlay']} (ssh ports: {ports})")
    # the router first: n2's SLAAC and n3's NAT need it, and it installs its packages at first boot
    for name in sorted(names, key=lambda x: x != ROUTER):
        start_vm(ld, state, name, fresh=not running)
    wait_ssh(ld, state, names, args.timeout)
    wait_underlay(ld, state, args.timeout)
    if not running:
        for spec in args.apt_lock:
            hold_apt_lock(ld, state, spec)
    write_inventory(ld, state)
    log(f"inventory: {ld / 'inventory.yml'}  (lab up in {time.monotonic() - t0:.0f} s)")


def cmd_down(args: argparse.Namespace) -> None:
    ld = lab_dir(args.lab)
    if not ld.is_dir():
        log(f"lab {args.lab} not present")
        return
    for pidf in [*sorted(ld.glob("n*.pid")), ld / f"{ROUTER}.pid"]:
        stop_pid(ld, pidf, pidf.stem)
    for sw in SWITCHES.values():
        stop_pid(ld, ld / f"{sw}.pid", f"vde_switch {sw}")
    for pattern in ("n*.qcow2", "n*.serial", f"{ROUTER}.qcow2", f"{ROUTER}.serial"):
        for f in ld.glob(pattern):
            f.unlink(missing_ok=True)
    for f in ("inventory.yml", "instances.json", "state.json"):
        (ld / f).unlink(missing_ok=True)
    for sw in SWITCHES.values():
        shutil.rmtree(ld / f"{sw}.ctl", ignore_errors=True)
    log(f"lab {args.lab} down (console logs kept in {ld})")


def need_state(ld: Path) -> dict:
    state = load_state(ld)
    if not state:
        die(f"lab {ld.name} is not up ({ld / 'state.json'} missing)")
    assert state is not None
    return state


def vm_name(name: str, state: dict) -> str:
    if name not in vm_names(state):
        die(f"unknown VM {name!r} ({', '.join(vm_names(state))})")
    return name


def need_router(ld: Path, state: dict) -> int:
    """The router's ssh port; dies on a lab without one (the flat underlay)."""
    if not state.get("router"):
        die(f"lab {ld.name} has no router (underlay {state.get('underlay', 'flat')}); use --underlay inet")
    return vm_port(state, ROUTER)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cmd_status(args: argparse.Namespace) -> None:
    ld = lab_dir(args.lab)
    state = load_state(ld)
    if not state:
        print(f"lab {args.lab}: down")
        return
    switches = ", ".join(f"{sw} pid {lab_pid(ld, ld / (sw + '.pid')) or '-'}" for sw in lab_switches(state))
    print(f"lab {args.lab}: dir {ld}, underlay {state.get('underlay', 'flat')}, switches: {switches}")
    for name in vm_names(state):
        pid = lab_pid(ld, ld / f"{name}.pid")
        port = vm_port(state, name)
        ssh = "ssh" if pid and ssh_banner(port) else "-"
        rss = f"{rss_kib(pid) // 1024} MiB" if pid else "-"
        if name == ROUTER:
            rel = ROUTER_RELEASE
            where = f"router: A {ROUTER_PUB6} {ROUTER_PUB4}, B {ROUTER_HOME6} {ROUTER_HOME4} (RAs, NAT)"
        else:
            n = int(name[1:])
            rel = state.get("releases", {}).get(str(n), "?")
            where = node_net(n, state.get("nets", {}).get(str(n), "flat"), state.get("data4", True))[2]
        print(f"  {name}: {rel} pid {pid or '-'} port {port} {ssh} rss {rss} data {where}")


def cmd_ssh(args: argparse.Namespace) -> None:
    ld = lab_dir(args.lab)
    state = need_state(ld)
    cmd = ssh_base(ld, vm_port(state, vm_name(args.vm, state)))
    if args.cmd:
        cmd.append(" ".join(args.cmd) if len(args.cmd) > 1 else args.cmd[0])
    else:  # interactive shell: a tty, and no BatchMode
        i = cmd.index("BatchMode=yes")
        cmd[i - 1 : i + 1] = ["-t"]
    os.execvp(cmd[0], cmd)


def cmd_instances(args: argparse.Namespace) -> None:
    ld = lab_dir(args.lab)
    need_state(ld)
    f = ld / "instances.json"
    if not f.is_file():
        die(f"{f} missing: run up first")
    sys.stdout.write(f.read_text())


def cmd_prune(args: argparse.Namespace) -> None:
    """Delete cached base images other than the current recipe's, unless a lab still uses one."""
    root = cache_root()
    if not root.is_dir():
        return
    keep = {cache_dir(r).resolve() for r in RELEASES}
    if lab_root().is_dir():
        for sf in lab_root().glob("*/state.json"):
            try:
                keep.update(Path(b).resolve() for b in json.loads(sf.read_text())["bases"].values())
            except (OSError, ValueError, KeyError):
                continue
    for proc in Path("/proc").glob("[0-9]*/cmdline"):  # e.g. a VM of a lab whose dir is gone
        try:
            argv = proc.read_bytes().decode(errors="replace")
        except OSError:
            continue
        keep.update(d.resolve() for d in root.iterdir() if d.is_dir() and str(d.resolve()) in argv)
    with open(root / ".lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        for d in sorted(root.iterdir()):
            if d.is_dir() and d.resolve() not in keep:
                log(f"removing {d}")
                safe_rmtree(d)
    log(f"kept: {', '.join(sorted(str(k) for k in keep))}")


def cmd_check_isolation(args: argparse.Namespace) -> None:
    ld = lab_dir(args.lab)
    state = need_state(ld)
    failed = []
    # On the inet underlay the nodes' default routes lead to the router, a VM of the same lab that has
    # no default route itself: allowed through eth1 with the router as next hop, nothing else.
    router_addrs = {ROUTER_PUB6, ROUTER_PUB4, ROUTER_HOME6, ROUTER_HOME4} if state.get("router") else set()
    names = vm_names(state)
    if state.get("router"):
        names = [ROUTER, *(n for n in names if n != ROUTER)]  # its link-local addresses first
    # The guests' routing tables, read over ssh from every VM at once (one after another took 30 s under TCG).
    reads: dict[str, subprocess.CompletedProcess] = {}

    def read_routes(name: str) -> None:
        cmd = [
            *ssh_base(ld, vm_port(state, name)),
            "ip -4 route show table all; ip -6 route show table all; echo @@; ip -6 -o addr show scope link",
        ]
        try:
            reads[name] = run(cmd, check=False, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            reads[name] = subprocess.CompletedProcess(cmd, 255, "", "no answer in 60 s")

    pids = {name: lab_pid(ld, ld / f"{name}.pid") for name in names}
    readers = [threading.Thread(target=read_routes, args=(name,)) for name in names if pids[name]]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    for name in names:
        pid = pids[name]
        if not pid:
            failed.append(f"{name}: not running")
            continue
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        nets = [a.decode() for a in argv if a.startswith(b"user,")]
        if not nets or any("restrict=on" not in a for a in nets):
            failed.append(f"{name}: user netdev without restrict=on: {nets}")
        if any(a.startswith(b"tap") or a.startswith(b"bridge") for a in argv):
            failed.append(f"{name}: tap/bridge netdev on the host")
        res = reads[name]
        if res.returncode != 0:
            failed.append(f"{name}: ssh failed: {res.stderr.strip()}")
            continue
        routes, _, lladdrs = res.stdout.partition("@@\n")
        if name == ROUTER:
            router_addrs |= set(re.findall(r"inet6 (fe80::[0-9a-f:]+)/", lladdrs))
        # A default route is a way out only through the guest's NICs (eth0: qemu user networking,
        # eth1/eth2: the vde switches). Defaults through the mesh (meshover0, mo-* tunnels, e.g. source
        # routing's tables) end at another VM of the same lab.
        defaults = [
            line
            for line in routes.splitlines()
            if (line.startswith("default") or line.startswith("0.0.0.0/0") or line.startswith("::/0"))
            and (" dev " not in line or re.search(r" dev eth\d+\b", line))
        ]
        to_router = [
            line
            for line in defaults
            if name != ROUTER
            and " dev eth1 " in f"{line} "
            and re.search(r" via (\S+)", line)
            and re.search(r" via (\S+)", line).group(1) in router_addrs
        ]
        others = [line for line in defaults if line not in to_router]
        if others:
            failed.append(f"{name}: default route(s): {others}")
        else:
            via = f", {len(to_router)} default route(s) via the lab's router" if to_router else ", no default route"
            print(f"{name}: restrict=on{via} ({len(routes.splitlines())} routes checked)")
    if failed:
        die("isolation check failed:\n  " + "\n  ".join(failed))
    print("isolation OK")


def cmd_stop_vm(args: argparse.Namespace) -> None:
    ld = lab_dir(args.lab)
    state = need_state(ld)
    name = vm_name(args.vm, state)
    pidf = ld / f"{name}.pid"
    pid = lab_pid(ld, pidf)
    if pid and not args.hard:
        run([*ssh_base(ld, vm_port(state, name)), "systemctl poweroff"], check=False, capture_output=True, timeout=60)
        deadline = time.monotonic() + 60
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
    stop_pid(ld, pidf, name)
    log(f"{name} is off (overlay kept: start-vm brings it back)")


def cmd_start_vm(args: argparse.Namespace) -> None:
    ld = lab_dir(args.lab)
    state = need_state(ld)
    name = vm_name(args.vm, state)
    for sw in lab_switches(state):
        start_switch(ld, sw)
    start_vm(ld, state, name, fresh=False)
    wait_ssh(ld, state, [name], args.timeout)


def cmd_renew(args: argparse.Namespace) -> None:
    """Make nodes fresh servers again: each VM is killed, its overlay thrown away, and it boots from a
    new overlay of its base image (a new server with the same name, addresses and ssh port). The
    router, the switches and the other nodes keep running."""
    ld = lab_dir(args.lab)
    state = need_state(ld)
    names = [vm_name(vm, state) for vm in args.vms]
    if ROUTER in names:
        die(f"{ROUTER} is the lab's router, not a server: renew nodes only")
    locks = {spec: apt_lock_spec(spec)[0] for spec in args.apt_lock}  # checked before a VM is killed
    t0 = time.monotonic()
    for name in names:
        stop_pid(ld, ld / f"{name}.pid", name)  # killed: its disk is thrown away
    for sw in lab_switches(state):
        start_switch(ld, sw)
    for name in names:
        start_vm(ld, state, name, fresh=True)
    wait_ssh(ld, state, names, args.timeout)
    wait_underlay(ld, state, args.timeout)
    for spec, n in locks.items():
        if f"n{n}" in names:
            hold_apt_lock(ld, state, spec)
    log(f"{', '.join(names)} renewed: fresh servers from the base images, in {time.monotonic() - t0:.0f} s")


def cmd_netem(args: argparse.Namespace) -> None:
    """Delay and loss (tc netem) on the router's data links: each packet that crosses the router is
    delayed (and maybe dropped) once, on its way out of the router."""
    ld = lab_dir(args.lab)
    state = need_state(ld)
    port = need_router(ld, state)
    devs = {"pub": "$PUB", "home": "$HOME", "both": "$PUB $HOME"}[args.link]
    if args.action == "on":
        for what, value, pattern in (
            ("--delay", args.delay, r"\d+(\.\d+)?(us|ms|s)"),
            ("--jitter", args.jitter, r"\d+(\.\d+)?(us|ms|s)"),
            ("--loss", args.loss, r"\d+(\.\d+)?%"),
            ("--rate", args.rate or "1mbit", r"\d+(\.\d+)?(kbit|mbit|gbit)"),
        ):
            if not re.fullmatch(pattern, value):
                die(f"{what} {value!r}: want e.g. 20ms (delay, jitter), 1% (loss) or 40mbit (rate)")
        jitter = f" {args.jitter}" if not re.fullmatch(r"0+(\.0+)?(us|ms|s)", args.jitter) else ""
        rate = f" rate {args.rate}" if args.rate else ""
        netem = f"netem limit 10000 delay {args.delay}{jitter} loss {args.loss}{rate}"
        action = f'for d in {devs}; do tc qdisc replace dev "$d" root {netem}; done'
    else:
        action = f'for d in {devs}; do tc qdisc del dev "$d" root 2>/dev/null || true; done'
    show = 'for d in $PUB $HOME; do printf "%s: " "$d"; tc qdisc show dev "$d" root; done'
    on_router(ld, port, f". /run/meshlab/router.env && {action} && {show}", f"netem {args.action}")


def on_router(ld: Path, port: int, script: str, what: str) -> None:
    """Run a shell script on the router as root; print its output; die naming `what` if it failed."""
    res = run([*ssh_base(ld, port), script], check=False, capture_output=True, text=True, timeout=60)
    sys.stdout.write(res.stdout)
    if res.returncode != 0:
        die(f"{what} failed on the router: {res.stderr.strip()}")


def cmd_nat_flush(args: argparse.Namespace) -> None:
    """Flush the router's connection tracking table: every NATed flow gets a new mapping (a new random
    source port on segment A: the masquerade is fully-random) with its next packet."""
    ld = lab_dir(args.lab)
    state = need_state(ld)
    port = need_router(ld, state)
    script = "echo 'NATed flows before the flush (conntrack -L -n):'; conntrack -L -n 2>/dev/null; conntrack -F 2>&1"
    on_router(ld, port, script, "nat-flush")


def add_apt_lock(parser: argparse.ArgumentParser, when: str) -> None:
    parser.add_argument(
        "--apt-lock",
        action="append",
        default=[],
        metavar="N:SECONDS",
        help=f"after boot, hold node N's dpkg and apt locks for SECONDS (as unattended-upgrades does){when}",
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="meshlab.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build or reuse the cached base image")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    b.add_argument("releases", nargs="*", help=f"releases to build (default: all of {', '.join(RELEASES)})")
    b.set_defaults(func=cmd_build)
    pr = sub.add_parser("prune", help="delete cached images of old recipes no lab uses")
    pr.set_defaults(func=cmd_prune)
    u = sub.add_parser("up", help="start a lab")
    u.add_argument("--lab", required=True)
    u.add_argument("--nodes", type=int, required=True)
    u.add_argument("--port-base", type=int, default=None, help="VM nK gets ssh port PORT_BASE+K")
    u.add_argument("--timeout", type=float, default=600)
    u.add_argument(
        "--underlay",
        choices=UNDERLAYS,
        default=DEFAULT_UNDERLAY,
        help="inet: two segments and a router VM (default); flat: one switch, no router",
    )
    u.add_argument(
        "--net",
        action="append",
        default=[],
        metavar="N=KIND",
        help=f"inet: attach node N as KIND, one of {', '.join(NET_KINDS)} (defaults: "
        f"{' '.join(DEFAULT_NODE_NETS)}, the others public)",
    )
    u.add_argument("--no-data4", action="store_true", help="no 10.10.0.N/24 on flat and public nodes")
    u.add_argument(
        "--release",
        action="append",
        default=None,
        metavar="N=RELEASE",
        help=f"node N runs RELEASE (default: {' '.join(DEFAULT_NODE_RELEASES)}, the others {DEFAULT_RELEASE})",
    )
    add_apt_lock(u, "")
    u.set_defaults(func=cmd_up)
    for name, func, hlp in (
        ("down", cmd_down, "stop a lab, remove overlays"),
        ("status", cmd_status, "show a lab"),
        ("instances", cmd_instances, "print instances.json (for molecule)"),
        ("check-isolation", cmd_check_isolation, "assert no way out of the lab"),
    ):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("--lab", required=True)
        s.set_defaults(func=func)
    s = sub.add_parser("netem", help="add (on) or remove (off) delay and loss on the router's data links")
    s.add_argument("--lab", required=True)
    s.add_argument("action", choices=("on", "off"))
    s.add_argument("--delay", default="20ms", help="added once per crossing of the router (default 20ms)")
    s.add_argument("--jitter", default="0ms", help="delay variation (default none)")
    s.add_argument("--loss", default="1%", help="random loss per crossing (default 1%%)")
    s.add_argument("--link", choices=("pub", "home", "both"), default="both", help="which segment (default both)")
    s.add_argument("--rate", default="", help="a link's rate out of the router, e.g. 40mbit (default: unlimited)")
    s.set_defaults(func=cmd_netem)
    s = sub.add_parser("nat-flush", help="flush the router's NAT/conntrack state: NATed flows get new mappings")
    s.add_argument("--lab", required=True)
    s.set_defaults(func=cmd_nat_flush)
    s = sub.add_parser("ssh", help="ssh into a VM")
    s.add_argument("--lab", required=True)
    s.add_argument("vm")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_ssh)
    s = sub.add_parser("stop-vm", help="power off one VM (overlay kept)")
    s.add_argument("--lab", required=True)
    s.add_argument("vm")
    s.add_argument("--hard", action="store_true", help="kill instead of poweroff")
    s.set_defaults(func=cmd_stop_vm)
    s = sub.add_parser("start-vm", help="start one VM again and wait for ssh")
    s.add_argument("--lab", required=True)
    s.add_argument("vm")
    s.add_argument("--timeout", type=float, default=300)
    s.set_defaults(func=cmd_start_vm)
    s = sub.add_parser("renew", help="kill nodes and boot them from new overlays: fresh servers again")
    s.add_argument("--lab", required=True)
    s.add_argument("vms", nargs="+", metavar="vm")
    s.add_argument("--timeout", type=float, default=600)
    add_apt_lock(s, ", when N is renewed")
    s.set_defaults(func=cmd_renew)
    args = p.parse_args(argv)
    if getattr(args, "release", False) is None:
        args.release = list(DEFAULT_NODE_RELEASES)

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwind: clean-up handlers and finally blocks run

    signal.signal(signal.SIGTERM, on_term)
    if args.command in ("up", "start-vm", "renew"):
        use_every_cpu()
    args.func(args)


if __name__ == "__main__":
    main()
