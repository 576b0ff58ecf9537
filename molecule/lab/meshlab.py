# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meshlab: the qemu-TCG test lab of meshover.mesh (stdlib only).

Run it as ``python3 molecule/lab/meshlab.py SUBCOMMAND ...`` (never rely on exec bits).

  build [RELEASE...]              build (or reuse) the cached base images, package archives, FRR image
  up --lab NAME --nodes N         start N VMs on one vde switch, wait for ssh, write the inventory
     [--release N=REL] [--apt-lock N:SECONDS]
  down --lab NAME                 stop VMs and switch (by pid file), remove overlays; idempotent
  status --lab NAME               show VMs, ports, pids, ssh state
  ssh --lab NAME nK [CMD...]      ssh into a VM
  instances --lab NAME            print instances.json (molecule instance config)
  check-isolation --lab NAME      assert restrict=on and no default route in any guest
  prune                           delete cached images of old recipes that no lab uses
  stop-vm / start-vm --lab NAME nK   power a single VM off / on again (overlay kept)

Nothing of the lab touches the host's network stack: management is qemu user networking with
``restrict=on`` (only a hostfwd 127.0.0.1:PORT -> guest:22), the data network is a user-space
vde_switch on a unix socket. See molecule/lab/README.md.
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
# the release's networking), plus iperf3 for bench/throughput.py. Nothing the roles install is here:
# they install it from the lab's archive (ARCHIVE_GROUPS), as on a fresh server.
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
    }
)
# The lab's package archive of a release: every package the roles and playbooks install, with the
# dependencies a base image lacks (recommends included, as apt installs them). Each group is resolved
# on its own, as a node installs it (podman's and docker.io's alternatives differ). Keep in step with
# wireguard_mesh_packages, frr_bgp_packages, frr_bgp__runtime_package, exporter_packages and
# playbooks/monitoring.yml.
ARCHIVE_GROUPS = [
    ["wireguard-tools", "iproute2", "python3-pyroute2", "nftables"],
    ["frr", "frr-pythontools"],
    ["podman"],
    ["docker.io"],
    ["python3-prometheus-client", "sudo"],
    ["prometheus"],
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
chmod 0755 "$R/usr/local/sbin/lab-net"
# Ansible logs in as a cloud image's admin user with passwordless sudo, as on a fresh cloud server;
# root is only for the lab's own management (meshlab.py ssh, check-isolation, stop-vm). Both get the
# lab's key at boot from the kernel command line (lab-net), as cloud-init gets it from metadata.
chroot "$R" useradd -m -s /bin/bash -u 1000 -U -G sudo admin
printf 'admin ALL=(ALL) NOPASSWD:ALL\n' > "$R/etc/sudoers.d/90-cloud-admin"
chmod 0440 "$R/etc/sudoers.d/90-cloud-admin"
# APT's only source is the lab's archive of this release; no lists yet (a fresh image).
rm -f "$R/etc/apt/sources.list" "$R"/etc/apt/sources.list.d/*
printf 'deb [trusted=yes] http://@SERVER@/debian/%s ./\n' "$REL" > "$R/etc/apt/sources.list.d/meshlab.list"
chroot "$R" systemctl enable systemd-networkd.service ssh.service serial-getty@ttyS0.service lab-net.service
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
# meshover lab: hostname + networkd config from the kernel command line
# (lab.hostname=, lab.data6=, lab.data4=, lab.sshkey=). NICs are found by MAC prefix and matched by
# exact MAC (networkd's MACAddress= takes no globs): 52:54:00:00:* mgmt, 52:54:00:01:* data.
set -eu
hn="" d6="" d4="" key=""
for a in $(cat /proc/cmdline); do
    case "$a" in
        lab.sshkey=*) key="${a#lab.sshkey=}" ;;
        lab.hostname=*) hn="${a#lab.hostname=}" ;;
        lab.data6=*) d6="${a#lab.data6=}" ;;
        lab.data4=*) d4="${a#lab.data4=}" ;;
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
mgmt="" data="" i=0
while [ $i -lt 100 ]; do
    for d in /sys/class/net/*; do
        mac=$(cat "$d/address" 2>/dev/null || true)
        case "$mac" in
            52:54:00:00:*) mgmt="$mac" ;;
            52:54:00:01:*) data="$mac" ;;
        esac
    done
    if [ -n "$mgmt" ] && [ -n "$data" ]; then break; fi
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
if [ -n "$data" ]; then
    {
        printf '[Match]\nMACAddress=%s\n\n[Network]\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n' "$data"
        [ -n "$d6" ] && printf 'Address=%s\n' "$d6"
        [ -n "$d4" ] && printf 'Address=%s\n' "$d4"
        true
    } > /run/systemd/network/20-data.network
fi
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


def choose_port_base(name: str, nodes: int, explicit: int | None) -> int:
    if explicit is not None:
        bad = [explicit + i for i in range(1, nodes + 1) if not port_free(explicit + i)]
        if bad:
            die(f"ports {bad} are in use; pick another --port-base")
        return explicit
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    for k in range(64):
        base = 20000 + ((h + k) % 600) * 20  # 20000..31980, slots of 20 ports
        if nodes < 20 and all(port_free(base + i) for i in range(1, nodes + 1)):
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


def start_switch(ld: Path) -> None:
    pidf = ld / "vde.pid"
    if lab_pid(ld, pidf):
        return
    ctl = ld / "vde.ctl"
    shutil.rmtree(ctl, ignore_errors=True)
    with open(ld / "vde.log", "ab") as logf:
        run(["vde_switch", "-s", str(ctl), "-d", "-p", str(pidf)], stdout=logf, stderr=logf)
    for _ in range(50):
        if lab_pid(ld, pidf) and (ctl / "ctl").exists():
            return
        time.sleep(0.1)
    die(f"vde_switch did not come up (see {ld / 'vde.log'})")


def vm_cmd(ld: Path, base: Path, n: int, port: int, data4: bool) -> list[str]:
    name = f"n{n}"
    key = (ld / "id_ed25519.pub").read_text().split()[1]
    append = (
        f"root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet lab.hostname={name} lab.data6=fd00:10::{n:x}/64"
        f" lab.sshkey={key}"
    )
    if data4:
        append += f" lab.data4=10.10.0.{n}/24"
    # The lab's server: one labhttp.py per connection to 10.0.2.100:80 (archives, registry); 443
    # answers with a closed connection, so that podman and Docker fall back to HTTP at once.
    serve = f"{sys.executable} {Path(__file__).with_name('labhttp.py')} serve {ld / 'www'}"
    if "," in serve:
        die(f"no commas allowed in the lab's paths: {serve}")
    mgmt = (
        f"user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22,"
        f"guestfwd=tcp:{LAB_SERVER}:80-cmd:{serve},guestfwd=tcp:{LAB_SERVER}:443-cmd:/bin/true"
    )
    return [
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
        str(GUEST_MEMORY_MB),
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
        f"virtio-net-pci,netdev=mgmt,mac=52:54:00:00:{n >> 8:02x}:{n & 0xFF:02x}",
        "-netdev",
        f"vde,id=data,sock={ld / 'vde.ctl'}",
        "-device",
        f"virtio-net-pci,netdev=data,mac=52:54:00:01:{n >> 8:02x}:{n & 0xFF:02x}",
        "-device",
        "virtio-rng-pci",
    ]


def start_vm(ld: Path, state: dict, n: int, fresh: bool) -> None:
    name = f"n{n}"
    if lab_pid(ld, ld / f"{name}.pid"):
        log(f"{name} already running")
        return
    base = Path(state["bases"][str(n)])
    overlay = ld / f"{name}.qcow2"
    if fresh or not overlay.exists():
        overlay.unlink(missing_ok=True)
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base / "base.qcow2"), str(overlay)])
    (ld / f"{name}.serial").unlink(missing_ok=True)
    port = state["port_base"] + n
    if not port_free(port):
        die(f"port {port} for {name} is in use")
    with open(ld / f"{name}.qemu.log", "ab") as logf:
        res = run(vm_cmd(ld, base, n, port, state.get("data4", True)), stdout=logf, stderr=logf, check=False)
    if res.returncode != 0:
        die(f"qemu for {name} failed (rc {res.returncode}); see {ld / (name + '.qemu.log')}")


def wait_ssh(ld: Path, state: dict, nodes: list[int], timeout: float) -> None:
    t0 = time.monotonic()
    pending = set(nodes)
    while pending:
        for n in sorted(pending):
            name = f"n{n}"
            if not lab_pid(ld, ld / f"{name}.pid"):
                tail = ""
                con = ld / f"{name}.console"
                if con.exists():
                    tail = "\n".join(con.read_text(errors="replace").splitlines()[-20:])
                die(f"{name} is not running any more; console tail:\n{tail}")
            port = state["port_base"] + n
            if not ssh_banner(port):
                continue
            res = run([*ssh_base(ld, port), "true"], check=False, capture_output=True, timeout=60)
            if res.returncode == 0:
                pending.discard(n)
                log(f"{name} up (ssh 127.0.0.1:{port}) after {time.monotonic() - t0:.0f} s")
        if not pending:
            break
        if time.monotonic() - t0 > timeout:
            die(f"timeout after {timeout:.0f} s waiting for ssh on {sorted(pending)}; see {ld}/nN.console")
        time.sleep(2)
    log(f"all of {len(nodes)} VM(s) reachable by ssh after {time.monotonic() - t0:.0f} s")


def yq(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def write_inventory(ld: Path, state: dict) -> None:
    key = str(ld / "id_ed25519")
    lines = [
        "---",
        f"# generated by molecule/lab/meshlab.py for lab {state['lab']}; do not edit",
        "all:",
        "  children:",
        "    mesh:",
        "      hosts:",
    ]
    instances = []
    for n in range(1, state["nodes"] + 1):
        port = state["port_base"] + n
        lines += [
            f"        n{n}:",
            "          ansible_host: 127.0.0.1",
            f"          ansible_port: {port}",
            f"          ansible_user: {ADMIN_USER}",
            f"          ansible_ssh_private_key_file: {yq(key)}",
            '          ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'
            ' -o IdentitiesOnly=yes -o LogLevel=ERROR"',
            "          ansible_host_key_checking: false",
            "          ansible_python_interpreter: /usr/bin/python3",
            f'          meshover_endpoint: "fd00:10::{n:x}"',
        ]
        release = state["releases"][str(n)]
        if release == "bookworm":
            lines.append("          meshover_frr_mode: package   # Debian 12: FRR 8.4 from the distribution")
        elif n == 2:
            lines.append("          frr_bgp_container_runtime: docker   # n1: podman, n2: Docker")
        instances.append(
            {
                "instance": f"n{n}",
                "address": "127.0.0.1",
                "port": port,
                "user": ADMIN_USER,
                "identity_file": key,
                "meshover_endpoint": f"fd00:10::{n:x}",
            }
        )
    lines += [
        "      vars:",
        "        # the lab's registry (molecule/lab/labhttp.py): FRR 10.3 built from Debian 13's frr",
        f"        meshover_frr_image: {FRR_IMAGE}",
        "        meshover_pool4: 10.99.0.0/24",
    ]
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


def hold_apt_lock(ld: Path, state: dict, spec: str) -> None:
    m = re.fullmatch(r"(\d+):(\d+)", spec)
    if not m:
        die(f"--apt-lock {spec!r}: want NODE:SECONDS")
    n, seconds = int(m.group(1)), int(m.group(2))
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
    built = {rel: str(do_build(rel)) for rel in sorted({*releases.values(), FRR_RELEASE})}
    bases = {str(n): built[rel] for n, rel in releases.items()}
    ld = lab_dir(args.lab)
    ld.mkdir(parents=True, exist_ok=True)
    gi = ld.parent / ".gitignore"
    if ld.parent == REPO / ".lab" and not gi.exists():
        gi.write_text("*\n")
    if len(str(ld / "vde.ctl" / ".00000-00000")) > 100 or len(str(ld / "n19.serial")) > 100:
        die(f"lab dir path {ld} is too long for unix sockets; set MESHLAB_DIR to a shorter path")
    state = load_state(ld)
    running = [f.stem for f in ld.glob("n*.pid") if lab_pid(ld, f)]
    if running and state and (state["nodes"] != args.nodes or state.get("bases") != bases):
        die(f"lab {args.lab} is running with a different shape/base ({running}); run down first")
    if not running:
        state = {
            "lab": args.lab,
            "nodes": args.nodes,
            "bases": bases,
            "releases": {str(n): rel for n, rel in releases.items()},
            "data4": not args.no_data4,
            "port_base": choose_port_base(args.lab, args.nodes, args.port_base),
        }
        # A key of this lab's own, given to the guests at boot (lab-net writes authorized_keys).
        for f in ("id_ed25519", "id_ed25519.pub"):
            (ld / f).unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "meshover-lab", "-f", str(ld / "id_ed25519")])
        populate_www(ld, bases)
        (ld / "state.json").write_text(json.dumps(state, indent=1) + "\n")
    assert state is not None
    start_switch(ld)
    log(f"starting {args.nodes} VM(s) in {ld} (ssh ports {state['port_base'] + 1}..{state['port_base'] + args.nodes})")
    for n in range(1, args.nodes + 1):
        start_vm(ld, state, n, fresh=not running)
    wait_ssh(ld, state, list(range(1, args.nodes + 1)), args.timeout)
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
    for pidf in sorted(ld.glob("n*.pid")):
        stop_pid(ld, pidf, pidf.stem)
    stop_pid(ld, ld / "vde.pid", "vde_switch")
    for pattern in ("n*.qcow2", "n*.serial", "inventory.yml", "instances.json", "state.json"):
        for f in ld.glob(pattern):
            f.unlink(missing_ok=True)
    shutil.rmtree(ld / "vde.ctl", ignore_errors=True)
    log(f"lab {args.lab} down (console logs kept in {ld})")


def need_state(ld: Path) -> dict:
    state = load_state(ld)
    if not state:
        die(f"lab {ld.name} is not up ({ld / 'state.json'} missing)")
    assert state is not None
    return state


def node_num(name: str, state: dict) -> int:
    if not name.startswith("n") or not name[1:].isdigit() or not 1 <= int(name[1:]) <= state["nodes"]:
        die(f"unknown VM {name!r} (n1..n{state['nodes']})")
    return int(name[1:])


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
    sw = lab_pid(ld, ld / "vde.pid")
    print(f"lab {args.lab}: dir {ld}, switch pid {sw or '-'}")
    for n in range(1, state["nodes"] + 1):
        pid = lab_pid(ld, ld / f"n{n}.pid")
        port = state["port_base"] + n
        ssh = "ssh" if pid and ssh_banner(port) else "-"
        rss = f"{rss_kib(pid) // 1024} MiB" if pid else "-"
        rel = state.get("releases", {}).get(str(n), "?")
        print(f"  n{n}: {rel} pid {pid or '-'} port {port} {ssh} rss {rss} data fd00:10::{n:x}")


def cmd_ssh(args: argparse.Namespace) -> None:
    ld = lab_dir(args.lab)
    state = need_state(ld)
    n = node_num(args.vm, state)
    cmd = ssh_base(ld, state["port_base"] + n)
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
    for n in range(1, state["nodes"] + 1):
        name = f"n{n}"
        pid = lab_pid(ld, ld / f"{name}.pid")
        if not pid:
            failed.append(f"{name}: not running")
            continue
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        nets = [a.decode() for a in argv if a.startswith(b"user,")]
        if not nets or any("restrict=on" not in a for a in nets):
            failed.append(f"{name}: user netdev without restrict=on: {nets}")
        if any(a.startswith(b"tap") or a.startswith(b"bridge") for a in argv):
            failed.append(f"{name}: tap/bridge netdev on the host")
        res = run(
            [*ssh_base(ld, state["port_base"] + n), "ip -4 route show table all; ip -6 route show table all"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if res.returncode != 0:
            failed.append(f"{name}: ssh failed: {res.stderr.strip()}")
            continue
        # A default route is a way out only through the guest's NICs (eth0: qemu user networking,
        # eth1: the vde switch). Defaults through the mesh (meshover0, mo-* tunnels, e.g. source
        # routing's tables) end at another VM of the same lab.
        defaults = [
            line
            for line in res.stdout.splitlines()
            if (line.startswith("default") or line.startswith("0.0.0.0/0") or line.startswith("::/0"))
            and (" dev " not in line or re.search(r" dev eth\d+\b", line))
        ]
        if defaults:
            failed.append(f"{name}: default route(s): {defaults}")
        else:
            print(f"{name}: restrict=on, no default route ({len(res.stdout.splitlines())} routes checked)")
    if failed:
        die("isolation check failed:\n  " + "\n  ".join(failed))
    print("isolation OK")


def cmd_stop_vm(args: argparse.Namespace) -> None:
    ld = lab_dir(args.lab)
    state = need_state(ld)
    n = node_num(args.vm, state)
    pidf = ld / f"n{n}.pid"
    pid = lab_pid(ld, pidf)
    if pid and not args.hard:
        run([*ssh_base(ld, state["port_base"] + n), "systemctl poweroff"], check=False, capture_output=True, timeout=60)
        deadline = time.monotonic() + 60
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
    stop_pid(ld, pidf, f"n{n}")
    log(f"n{n} is off (overlay kept: start-vm brings it back)")


def cmd_start_vm(args: argparse.Namespace) -> None:
    ld = lab_dir(args.lab)
    state = need_state(ld)
    n = node_num(args.vm, state)
    start_switch(ld)
    start_vm(ld, state, n, fresh=False)
    wait_ssh(ld, state, [n], args.timeout)


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
    u.add_argument("--no-data4", action="store_true", help="no 10.10.0.N/24 on the data NIC")
    u.add_argument(
        "--release",
        action="append",
        default=None,
        metavar="N=RELEASE",
        help=f"node N runs RELEASE (default: {' '.join(DEFAULT_NODE_RELEASES)}, the others {DEFAULT_RELEASE})",
    )
    u.add_argument(
        "--apt-lock",
        action="append",
        default=[],
        metavar="N:SECONDS",
        help="after boot, hold node N's dpkg and apt locks for SECONDS (as unattended-upgrades does)",
    )
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
    args = p.parse_args(argv)
    if getattr(args, "release", False) is None:
        args.release = list(DEFAULT_NODE_RELEASES)

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwind: clean-up handlers and finally blocks run

    signal.signal(signal.SIGTERM, on_term)
    args.func(args)


if __name__ == "__main__":
    main()
