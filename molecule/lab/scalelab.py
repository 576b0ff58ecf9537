#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scale lab: many real mesh nodes on a 2-core machine (issue #20).

One large qemu-TCG guest (Debian 13, the cloud kernel: WireGuard, ip6gre) runs every node as a
systemd-nspawn container with its own network namespace, systemd, sshd, FRR (package mode) and the
exporter. The nodes share one underlay bridge in the guest (br0: fd00:30::N/64, 10.30.0.N/16), and
Ansible reaches each one over SSH as a server (127.0.0.1:PORT -> the guest's qemu hostfwd -> a DNAT
in the guest -> the node's sshd), as the admin user with passwordless sudo.

What differs from a cloud server, and why: the nodes' packages are installed in the image (the
roles' install path is proven by the molecule lab; here it would only measure dpkg under TCG 32
times), and systemd-sysctl does not run at a node's boot (a container's /proc/sys is read-only but
for net.*, which the roles' handler writes). Every node runs in one kernel: the figures are per
node, the CPU is shared by all of them.

  scalelab.py build                 build (or reuse) the guest image with the node image inside
  scalelab.py up --nodes N          boot the guest, start nodes n1..nN, write the inventory
  scalelab.py nodes --nodes N       start (or stop) nodes so that exactly n1..nN run
  scalelab.py reset                 stop every node and delete its state (fresh servers again)
  scalelab.py kill NAME             stop a node at once (systemd-nspawn killed: the node dies)
  scalelab.py guest CMD...          run a command in the guest (root)
  scalelab.py down                  stop the guest
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import meshlab

RELEASE = "trixie"
RECIPE_VERSION = 1
LAB_NAME = "scale"
MAX_NODES = 40
GUEST_MEMORY_MB = int(os.environ.get("SCALELAB_MEMORY_MB", "7168"))
GUEST_CPUS = 2
IMAGE_SIZE = "6G"
GUEST_SSH_BASE = 10000  # node N's sshd is the guest's port 10000+N (DNAT to 10.30.0.N:22)

# A minimal Debian cloud image: the molecule lab's base image without its test tools (and without
# NetworkManager, which the molecule lab keeps disabled for its `public-nm` nodes).
CLOUD_PACKAGES = set(meshlab.BASE_PACKAGES) - {
    "curl",
    "ca-certificates",
    "iperf3",
    "radvd",
    "conntrack",
    "tcpdump",
    "network-manager",
}
KERNEL_PACKAGES = {"linux-image-cloud-amd64", "initramfs-tools", "kmod", "udev"}
# The guest: a cloud server that runs containers and holds the nodes' underlay bridge and its DNAT.
GUEST_PACKAGES = sorted(CLOUD_PACKAGES - {"sudo"} | {"systemd-container", "nftables"})
# A node: a cloud server without a kernel of its own, plus what the roles install in package mode (the
# molecule lab's archive groups, minus container runtimes and Prometheus): the bundle module's dpkg-query
# finds them all and installs nothing.
ROLE_PACKAGES = {p for g in meshlab.ARCHIVE_GROUPS for p in g} - {"podman", "docker.io", "prometheus"}
NODE_PACKAGES = sorted(CLOUD_PACKAGES - KERNEL_PACKAGES | ROLE_PACKAGES)
# Loaded in the guest at boot: a container cannot load modules, and these are what the nodes create.
MODULES = [
    "wireguard",
    "ip6_gre",
    "ip_gre",
    "ip6_tunnel",
    "dummy",
    "veth",
    "bridge",
    "nf_tables",
    "nft_ct",
    "nft_chain_nat",
    "nft_nat",
    "nft_masq",
    "nft_reject_inet",
    "nft_fib_inet",
    "nft_fib_ipv4",
    "nft_fib_ipv6",
    "nft_limit",
    "nft_log",
    "nf_conntrack",
]

GUEST_HOOK = r"""set -eu
R="$1"
S="$2"
N="$3"
cp -a "$S/." "$R/"
chmod 0755 "$R/usr/local/sbin/scale-guest" "$R/usr/local/sbin/scale-node-prep"
mkdir -p "$R/var/lib/machines/base" "$R/root/.ssh"
cp -a "$N/." "$R/var/lib/machines/base/"
chroot "$R" systemctl enable systemd-networkd.service ssh.service scale-guest.service serial-getty@ttyS0.service
chroot "$R" systemctl mask systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
    systemd-networkd-wait-online.service e2scrub_reap.service e2scrub_all.timer fstrim.timer \
    man-db.timer dpkg-db-backup.timer
echo 'root:lab' | chroot "$R" chpasswd
printf '/dev/vda / ext4 rw,discard,errors=remount-ro 0 1\n' > "$R/etc/fstab"
echo scalehost > "$R/etc/hostname"
: > "$R/etc/resolv.conf"
rm -f "$R/etc/machine-id" "$R/var/lib/dbus/machine-id"
: > "$R/etc/machine-id"
rm -f "$R/etc/apt/sources.list" "$R"/etc/apt/sources.list.d/*
"""

NODE_HOOK = r"""set -eu
R="$1"
S="$2"
cp -a "$S/." "$R/"
chroot "$R" useradd -m -s /bin/bash -u 1000 -U -G sudo admin
printf 'admin ALL=(ALL) NOPASSWD:ALL\n' > "$R/etc/sudoers.d/90-cloud-admin"
chmod 0440 "$R/etc/sudoers.d/90-cloud-admin"
install -d -m 0700 -o 1000 -g 1000 "$R/home/admin/.ssh"
install -m 0600 -o 1000 -g 1000 "$S/../authorized_keys" "$R/home/admin/.ssh/authorized_keys"
rm -f "$R/etc/apt/sources.list" "$R"/etc/apt/sources.list.d/*
chroot "$R" systemctl enable systemd-networkd.service ssh.service
# FRR is installed but off, as the roles find a package they installed themselves (they enable it).
chroot "$R" systemctl disable frr.service
chroot "$R" systemctl mask systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
    systemd-networkd-wait-online.service e2scrub_reap.service e2scrub_all.timer fstrim.timer \
    man-db.timer dpkg-db-backup.timer getty@tty1.service console-getty.service
: > "$R/etc/resolv.conf"
rm -f "$R/etc/machine-id" "$R/var/lib/dbus/machine-id"
: > "$R/etc/machine-id"
"""

# The guest: the underlay bridge, the DNAT of each node's ssh port, masquerade of the management
# traffic towards the nodes (so that a node answers on its bridge address, with no route of its own).
SCALE_GUEST = r"""#!/bin/sh
set -eu
ip link add br0 type bridge 2>/dev/null || true
ip addr replace 10.30.255.254/16 dev br0
ip -6 addr replace fd00:30::fffe/64 dev br0 nodad
ip link set br0 up
sysctl -q -w net.ipv4.ip_forward=1
{
  echo 'table ip scalelab {'
  echo ' chain pre { type nat hook prerouting priority dstnat; policy accept;'
  n=1
  while [ "$n" -le @MAX@ ]; do
    echo "  iifname != \"br0\" tcp dport $((@BASE@ + n)) dnat to 10.30.0.$n:22"
    n=$((n + 1))
  done
  echo ' }'
  echo ' chain post { type nat hook postrouting priority srcnat; policy accept;'
  echo '  oifname "br0" ip saddr 10.0.2.0/24 masquerade'
  echo ' }'
  echo '}'
} > /run/scalelab.nft
nft delete table ip scalelab 2>/dev/null || true
nft -f /run/scalelab.nft
"""

SCALE_GUEST_UNIT = """[Unit]
Description=scale lab: the nodes' underlay bridge and ssh forwarding
After=systemd-modules-load.service
Before=network.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/scale-guest
[Install]
WantedBy=multi-user.target
"""

# A node's root: the shared image as the lower layer, the node's own upper layer; its identity is
# written into the upper layer (hostname, addresses) before it boots.
SCALE_NODE_PREP = r"""#!/bin/sh
set -eu
name="$1"
n="${name#n}"
top=/var/lib/scale/"$name"
root=/var/lib/machines/"$name"
mkdir -p "$top/upper" "$top/work" "$root"
# A node killed with SIGKILL leaves systemd-nspawn's export mount point behind; the next start refuses it.
ex=/run/systemd/nspawn/unix-export/"$name"
if [ -e "$ex" ]; then umount "$ex" 2>/dev/null || true; rmdir "$ex" 2>/dev/null || true; fi
if ! mountpoint -q "$root"; then
  mount -t overlay overlay -o "lowerdir=/var/lib/machines/base,upperdir=$top/upper,workdir=$top/work" "$root"
fi
echo "$name" > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$name" > "$root/etc/hosts"
mkdir -p "$root/etc/systemd/network"
cat > "$root/etc/systemd/network/10-host0.network" <<EOF
[Match]
Name=host0
[Network]
Address=fd00:30::$n/64
Address=10.30.0.$n/16
IPv6AcceptRA=no
LinkLocalAddressing=ipv6
EOF
"""

SCALE_NODE_UNIT = """[Unit]
Description=scale lab node %i
After=scale-guest.service
Requires=scale-guest.service
[Service]
ExecStartPre=/usr/local/sbin/scale-node-prep %i
ExecStart=/usr/bin/systemd-nspawn --quiet --keep-unit --boot --link-journal=no --machine=%i \\
    --directory=/var/lib/machines/%i --network-bridge=br0 --private-users=no --notify-ready=yes
ExecStopPost=-/bin/umount /var/lib/machines/%i
KillMode=mixed
Type=notify
RestartForceExitStatus=133
SuccessExitStatus=133
Delegate=yes
Slice=machine.slice
TasksMax=16384
TimeoutStartSec=600
DevicePolicy=closed
DeviceAllow=/dev/net/tun rwm
DeviceAllow=char-pts rw
DeviceAllow=/dev/loop-control rw
DeviceAllow=block-loop rw
DeviceAllow=block-blkext rw
"""

GUEST_NETWORK = """[Match]
Name=eth0
[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
"""

SSHD_CONF = meshlab.SSHD_CONF
JOURNALD_GUEST = """[Journal]
Storage=volatile
RuntimeMaxUse=64M
"""
JOURNALD_NODE = """[Journal]
Storage=volatile
RuntimeMaxUse=8M
"""


def recipe() -> dict:
    return {
        "version": RECIPE_VERSION,
        "release": RELEASE,
        "guest": GUEST_PACKAGES,
        "node": NODE_PACKAGES,
        "modules": MODULES,
        "hooks": [GUEST_HOOK, NODE_HOOK, SCALE_GUEST, SCALE_GUEST_UNIT, SCALE_NODE_PREP, SCALE_NODE_UNIT],
        "net": GUEST_NETWORK,
        "sshd": SSHD_CONF,
        "journald": [JOURNALD_GUEST, JOURNALD_NODE],
        "max": MAX_NODES,
        "size": IMAGE_SIZE,
    }


def cache_dir() -> Path:
    import hashlib

    h = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]
    return meshlab.cache_root() / f"scale-{h}"


def build(force: bool = False) -> Path:
    final = cache_dir()
    if (final / "done").is_file() and not force:
        meshlab.log(f"scale image cached: {final}")
        return final
    root = meshlab.cache_root()
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"{final.name}.tmp-", dir=root))
    try:
        meshlab.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "scalelab", "-f", str(work / "id_ed25519")])
        pub = (work / "id_ed25519.pub").read_text()
        node_stage = work / "node-stage"
        meshlab.write_tree(
            node_stage,
            {
                "etc/ssh/sshd_config.d/meshlab.conf": (SSHD_CONF, 0o644),
                "etc/systemd/journald.conf.d/meshlab.conf": (JOURNALD_NODE, 0o644),
            },
        )
        (work / "authorized_keys").write_text(pub)
        guest_stage = work / "guest-stage"
        meshlab.write_tree(
            guest_stage,
            {
                "usr/local/sbin/scale-guest": (
                    SCALE_GUEST.replace("@MAX@", str(MAX_NODES)).replace("@BASE@", str(GUEST_SSH_BASE)),
                    0o755,
                ),
                "usr/local/sbin/scale-node-prep": (SCALE_NODE_PREP, 0o755),
                "etc/systemd/system/scale-guest.service": (SCALE_GUEST_UNIT, 0o644),
                "etc/systemd/system/scale-node@.service": (SCALE_NODE_UNIT, 0o644),
                "etc/systemd/network/10-mgmt.network": (GUEST_NETWORK, 0o644),
                "etc/modules-load.d/scalelab.conf": ("\n".join(MODULES) + "\n", 0o644),
                "etc/ssh/sshd_config.d/meshlab.conf": (SSHD_CONF, 0o644),
                "etc/systemd/journald.conf.d/meshlab.conf": (JOURNALD_GUEST, 0o644),
                "root/.ssh/authorized_keys": (pub, 0o600),
            },
        )
        (work / "node-hook.sh").write_text(NODE_HOOK)
        (work / "guest-hook.sh").write_text(GUEST_HOOK)
        ess = work / "essential-hook.sh"
        ess.write_text(meshlab.ESSENTIAL_HOOK.replace("@MODULES@", " ".join(meshlab.INITRD_MODULES)))
        q = shlex.quote
        node_root = work / "node"
        node_root.mkdir()
        node_cmd = meshlab.mmdebstrap_cmd(
            RELEASE,
            NODE_PACKAGES,
            str(node_root),
            [f'--customize-hook=sh {q(str(work / "node-hook.sh"))} "$1" {q(str(node_stage))}'],
        )
        meshlab.log("building the node image")
        meshlab.run_graceful(node_cmd)
        guest_root = work / "guest"
        guest_cmd = meshlab.mmdebstrap_cmd(
            RELEASE,
            GUEST_PACKAGES,
            str(guest_root),
            [
                f'--essential-hook=sh {q(str(ess))} "$1"',
                f'--customize-hook=sh {q(str(work / "guest-hook.sh"))} "$1" {q(str(guest_stage))} {q(str(node_root))}',
            ],
        )
        meshlab.log("building the guest image")
        meshlab.run_graceful(guest_cmd)
        boot = guest_root / "boot"
        shutil.copy2(sorted(boot.glob("vmlinuz-*"))[0], work / "vmlinuz")
        shutil.copy2(sorted(boot.glob("initrd.img-*"))[0], work / "initrd.img")
        raw = work / "base.raw"
        meshlab.run(["mkfs.ext4", "-q", "-L", "labroot", "-d", str(guest_root), str(raw), IMAGE_SIZE])
        meshlab.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "base.qcow2")])
        raw.unlink()
        meshlab.safe_rmtree(guest_root)
        meshlab.safe_rmtree(node_root)
        for p in (node_stage, guest_stage):
            shutil.rmtree(p)
        (work / "done").write_text(json.dumps({"built_s": round(time.monotonic() - t0, 1)}) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.rename(work, final)
    except BaseException:
        meshlab.safe_rmtree(work)
        raise
    meshlab.log(f"built {final} in {time.monotonic() - t0:.0f} s")
    return final


# --------------------------------------------------------------------------------------------


def lab() -> Path:
    return meshlab.lab_dir(LAB_NAME)


def state() -> dict:
    s = meshlab.load_state(lab())
    if not s:
        meshlab.die(f"no scale lab at {lab()}; run: molecule/lab/scalelab.py up --nodes N")
    return s


def guest_ssh(st: dict) -> list[str]:
    base = meshlab.ssh_base(lab(), st["port_base"])
    return [a if a != str(lab() / "id_ed25519") else st["key"] for a in base]


def guest(st: dict, script: str, check: bool = True, capture: bool = False, timeout: float = 600) -> str:
    res = subprocess.run(
        [*guest_ssh(st), script],
        check=False,
        text=True,
        stdin=subprocess.DEVNULL,
        capture_output=capture,
        timeout=timeout,
    )
    if check and res.returncode != 0:
        meshlab.die(f"guest command failed (rc {res.returncode}): {script}\n{res.stderr if capture else ''}")
    return res.stdout if capture else ""


def choose_ports() -> int:
    for base in range(33000, 40000, 100):
        if all(meshlab.port_free(base + i) for i in range(MAX_NODES + 1)):
            return base
    meshlab.die("no free port range for the scale lab")
    return 0


def qemu_cmd(ld: Path, img: Path, port_base: int) -> list[str]:
    fwd = [f"hostfwd=tcp:127.0.0.1:{port_base}-:22"]
    fwd += [f"hostfwd=tcp:127.0.0.1:{port_base + n}-:{GUEST_SSH_BASE + n}" for n in range(1, MAX_NODES + 1)]
    return [
        "qemu-system-x86_64", "-name", "scalehost",
        "-accel", "tcg,thread=multi,tb-size=512", "-cpu", "max", "-smp", str(GUEST_CPUS),
        "-m", str(GUEST_MEMORY_MB), "-display", "none", "-monitor", "none", "-daemonize",
        "-pidfile", str(ld / "guest.pid"),
        "-chardev", f"socket,id=ser0,path={ld / 'guest.serial'},server=on,wait=off,logfile={ld / 'guest.console'}",
        "-serial", "chardev:ser0",
        "-kernel", str(img / "vmlinuz"), "-initrd", str(img / "initrd.img"),
        "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet",
        "-drive", f"file={ld / 'guest.qcow2'},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
        "-netdev", "user,id=mgmt,restrict=on," + ",".join(fwd),
        "-device", "virtio-net-pci,netdev=mgmt,mac=52:54:00:00:00:01",
        "-device", "virtio-rng-pci",
    ]  # fmt: skip


def write_inventory(st: dict, nodes: int) -> Path:
    lines = [
        "---",
        "# generated by molecule/lab/scalelab.py; do not edit",
        "all:",
        "  children:",
        "    mesh:",
        "      hosts:",
    ]
    for n in range(1, nodes + 1):
        lines += [
            f"        n{n}:",
            f"          ansible_port: {st['port_base'] + n}",
            f'          meshover_endpoint: "fd00:30::{n}"',
        ]
    lines += [
        "      vars:",
        "        ansible_host: 127.0.0.1",
        "        ansible_user: admin",
        f"        ansible_ssh_private_key_file: {json.dumps(st['key'])}",
        '        ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'
        ' -o IdentitiesOnly=yes -o LogLevel=ERROR"',
        "        ansible_host_key_checking: false",
        "        ansible_python_interpreter: /usr/bin/python3",
        "        meshover_frr_mode: package",
        # n1..n32 hashed into a /24 collide (n4 and n18: the preflight refuses it); none do in a /16
        "        meshover_pool4: 10.99.0.0/16",
        # bgpd logs each session that goes down, with its reason, to the node's journal: bench/scale.py
        # tells a reset the configuration caused from one the lab's load caused (BFD down received)
        "        meshover_frr_extra_config: log syslog informational",
    ]
    inv = lab() / "inventory.yml"
    inv.write_text("\n".join(lines) + "\n")
    return inv


def node_ready(st: dict, n: int) -> bool:
    port = st["port_base"] + n
    if not meshlab.ssh_banner(port):
        return False
    cmd = [a if a != "root@127.0.0.1" else "admin@127.0.0.1" for a in guest_ssh(st)]
    cmd[cmd.index("-p") + 1] = str(port)
    res = subprocess.run([*cmd, "sudo -n true"], check=False, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    return res.returncode == 0


def set_nodes(st: dict, nodes: int, timeout: float = 1200) -> None:
    if not 1 <= nodes <= MAX_NODES:
        meshlab.die(f"--nodes must be 1..{MAX_NODES}")
    t0 = time.monotonic()
    extra = " ".join(f"scale-node@n{n}.service" for n in range(nodes + 1, MAX_NODES + 1))
    # every node's systemd holds inotify instances of the guest's root user: the default 128 starts about 28
    # nodes, and the others fail to mount /tmp ("Failed to create inotify object: Too many open files")
    guest(st, "sysctl -qw fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=1048576")
    if extra:
        guest(st, f"systemctl stop {extra}")
    # Nodes boot in waves of BOOT_WAVE: 32 booting at once on 2 emulated CPUs ran past a unit's 600 s start
    # bound (load average 94), while a wave boots in about a minute.
    for first in range(1, nodes + 1, BOOT_WAVE):
        wave = range(first, min(first + BOOT_WAVE, nodes + 1))
        guest(st, "systemctl start --no-block " + " ".join(f"scale-node@n{n}.service" for n in wave))
        wait_nodes(st, set(wave), t0, timeout)
    st["nodes"] = nodes
    (lab() / "state.json").write_text(json.dumps(st, indent=1))
    inv = write_inventory(st, nodes)
    meshlab.log(f"{nodes} node(s) reachable by ssh after {time.monotonic() - t0:.0f} s; inventory: {inv}")


BOOT_WAVE = 8


def wait_nodes(st: dict, pending: set[int], t0: float, timeout: float) -> None:
    """Until every node of pending answers ssh with sudo; dies naming a node whose unit failed, or on timeout."""
    while pending:
        for n in sorted(pending):
            if node_ready(st, n):
                pending.discard(n)
        failed = guest(st, "systemctl --failed --plain --no-legend 'scale-node@*' || true", capture=True).split()
        dead = sorted(u for u in failed if u.startswith("scale-node@n") and int(u[12:].split(".")[0]) in pending)
        if dead:
            log = guest(st, f"journalctl -u {dead[0]} --no-pager -n 15", check=False, capture=True)
            meshlab.die(f"{', '.join(dead)} failed to start:\n{log}")
        if pending and time.monotonic() - t0 > timeout:
            meshlab.die(f"nodes {sorted(pending)} not reachable after {timeout:.0f} s")
        if pending:
            time.sleep(3)


def cmd_up(args: argparse.Namespace) -> None:
    img = build()
    ld = lab()
    ld.mkdir(parents=True, exist_ok=True)
    st = meshlab.load_state(ld)
    pid = meshlab.lab_pid(ld, ld / "guest.pid")
    if not (st and pid):
        overlay = ld / "guest.qcow2"
        for f in (overlay, ld / "state.json", ld / "guest.serial", ld / "inventory.yml"):
            f.unlink(missing_ok=True)
        shutil.rmtree(ld / "host_vars", ignore_errors=True)  # a new guest: new nodes, new keys
        meshlab.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(img / "base.qcow2"), str(overlay)]
        )
        shutil.copy2(img / "id_ed25519", ld / "id_ed25519")
        os.chmod(ld / "id_ed25519", 0o600)
        st = {
            "lab": LAB_NAME,
            "port_base": choose_ports(),
            "key": str(ld / "id_ed25519"),
            "nodes": 0,
            "image": str(img),
        }
        (ld / "state.json").write_text(json.dumps(st, indent=1))
        t0 = time.monotonic()
        with open(ld / "qemu.log", "ab") as logf:
            meshlab.run(qemu_cmd(ld, img, st["port_base"]), stdout=logf, stderr=logf)
        while not meshlab.ssh_banner(st["port_base"]):
            if time.monotonic() - t0 > 300 or not meshlab.lab_pid(ld, ld / "guest.pid"):
                meshlab.die(f"the guest did not come up; see {ld / 'guest.console'}")
            time.sleep(2)
        meshlab.log(f"guest up after {time.monotonic() - t0:.0f} s (ssh 127.0.0.1:{st['port_base']})")
    set_nodes(st, args.nodes)


def cmd_nodes(args: argparse.Namespace) -> None:
    set_nodes(state(), args.nodes)


def reset(st: dict) -> None:
    """Every node stopped and its upper layer deleted (fresh servers again); the controller's key cache
    next to the inventory goes too, as it would for servers built anew."""
    guest(
        st,
        "systemctl stop 'scale-node@*.service'; systemctl reset-failed 'scale-node@*.service'; rm -rf /var/lib/scale/*",
    )
    shutil.rmtree(lab() / "host_vars", ignore_errors=True)
    st["nodes"] = 0
    (lab() / "state.json").write_text(json.dumps(st, indent=1))


def cmd_reset(args: argparse.Namespace) -> None:
    reset(state())


def cmd_kill(args: argparse.Namespace) -> None:
    st = state()
    # SIGKILL to the whole container: the node's kernel objects go with its network namespace.
    guest(st, f"systemctl kill --signal=SIGKILL scale-node@{shlex.quote(args.name)}.service")


def cmd_guest(args: argparse.Namespace) -> None:
    st = state()
    sys.stdout.write(guest(st, " ".join(args.command), check=False, capture=True))


def cmd_down(args: argparse.Namespace) -> None:
    ld = lab()
    meshlab.stop_pid(ld, ld / "guest.pid", "scale guest")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--force", action="store_true")
    b.set_defaults(func=lambda a: build(a.force))
    u = sub.add_parser("up")
    u.add_argument("--nodes", type=int, default=4)
    u.set_defaults(func=cmd_up)
    n = sub.add_parser("nodes")
    n.add_argument("--nodes", type=int, required=True)
    n.set_defaults(func=cmd_nodes)
    r = sub.add_parser("reset")
    r.set_defaults(func=cmd_reset)
    k = sub.add_parser("kill")
    k.add_argument("name")
    k.set_defaults(func=cmd_kill)
    g = sub.add_parser("guest")
    g.add_argument("command", nargs=argparse.REMAINDER)
    g.set_defaults(func=cmd_guest)
    d = sub.add_parser("down")
    d.set_defaults(func=cmd_down)
    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
