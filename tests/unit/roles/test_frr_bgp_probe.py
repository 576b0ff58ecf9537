# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The frr_bgp role's probe (roles/frr_bgp/templates/frr_probe.sh.j2), run by /bin/sh against stub
dpkg-query, apt-cache and container runtimes, its output read with the role's parser."""

from __future__ import annotations

import os
import pathlib
import shlex
import shutil
import subprocess

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.controller._bgp import parse_probe

ROOT = pathlib.Path(__file__).resolve().parents[3]
IMAGE = "10.0.2.100/frr:lab"
SH = shutil.which("sh")
TOOLS = (
    "tr",
    "awk",
    "sed",
    "head",
    "tail",
    "mkdir",
    "mv",
    "dirname",
    "basename",
    "timeout",
    "cat",
    "touch",
    "grep",
    "sleep",
)

pytestmark = pytest.mark.skipif(SH is None or not all(shutil.which(t) for t in TOOLS), reason="needs sh and coreutils")

# Stubs log their argv to $STUB_LOG. The runtime keeps its one image as the file $STUB_DIR/image (its ID).
RUNTIME = r"""#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
case "$1 $2" in
"image inspect")
    [ -f "$STUB_DIR/image" ] || { echo "Error: $6: image not known" >&2; exit 125; }
    [ "$3" = --format ] && [ "$4" = '{{.Id}}' ] || exit 99
    cat "$STUB_DIR/image" ;;
"pull "*)
    [ -n "${STUB_PULL_ID:-}" ] || { echo "Error: initializing source: connection refused" >&2; exit 125; }
    echo "Copying blob 1234"; echo "$STUB_PULL_ID" > "$STUB_DIR/image" ;;
"container inspect")
    # the container frr exists (running or not) when $STUB_DIR/container does
    [ "$3" = frr ] && [ -f "$STUB_DIR/container" ] || { echo "Error: no such container $3" >&2; exit 125; } ;;
"run --rm")
    [ -f "$STUB_DIR/image" ] || exit 125
    # STUB_FLAKY: the first run prints nothing and succeeds (seen once in the lab after a fresh install)
    if [ -n "${STUB_FLAKY:-}" ] && [ ! -f "$STUB_DIR/ran" ]; then touch "$STUB_DIR/ran"; exit 0; fi
    printf '%s\n' "$STUB_ZEBRA" ;;
*) exit 98 ;;
esac
"""
DPKG_QUERY = r"""#!/bin/sh
echo "dpkg-query $*" >> "$STUB_LOG"
[ "$1 $2" = "-W -f=\${db:Status-Status} \${Version}" ] || exit 99
[ -n "${STUB_DPKG:-}" ] || { echo "dpkg-query: no packages found matching frr" >&2; exit 1; }
printf '%s' "$STUB_DPKG"
"""
APT_CACHE = r"""#!/bin/sh
echo "apt-cache $*" >> "$STUB_LOG"
printf 'frr:\n  Installed: %s\n  Candidate: %s\n  Version table:\n' \
    "${STUB_INSTALLED:-(none)}" "${STUB_CANDIDATE:-(none)}"
"""
ZEBRA_10 = "zebra version 10.3.1\nCopyright 1996-2005 Kunihiro Ishiguro, et al.\nconfigured with:\n\t'--prefix=/usr'"


def render(**overrides):
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROOT / "roles" / "frr_bgp" / "templates")),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["quote"] = lambda s: shlex.quote(str(s))
    env.filters["bool"] = bool
    values = {
        "frr_bgp_plan": {"frr": {"mode": "container", "image": IMAGE}},
        "frr_bgp__runtime_candidates": ["podman", "docker"],
        "frr_bgp_package_state": "present",
        "frr_bgp_container_pull": "missing",
        "frr_bgp__version_cache": "/nonexistent/cache",
        "ansible_check_mode": False,
        "frr_bgp__probe_retry_delay": 0,
        "frr_bgp_coil_vrf": "meshover-coil",
        "frr_bgp_container_name": "frr",
        # the role's converge (tasks/main.yml); the entry point `probe` leaves it unset
        "frr_bgp__probe_converge": True,
        **overrides,
    }
    return env.get_template("frr_probe.sh.j2").render(**values)


class Node:
    """A PATH of stubs and the tools the probe uses, and a state directory."""

    def __init__(self, tmp_path, runtimes=("podman",)):
        self.dir = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for tool in TOOLS:
            (self.bin / tool).symlink_to(shutil.which(tool))
        for name, text in [("dpkg-query", DPKG_QUERY), ("apt-cache", APT_CACHE)] + [(r, RUNTIME) for r in runtimes]:
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.log = tmp_path / "log"
        self.log.touch()
        self.cache = tmp_path / "var" / "lib" / "meshover" / "frr-image-version"

    def image(self, image_id):
        (self.dir / "image").write_text(image_id + "\n")

    def container(self):
        """The container frr exists under the runtime stubs."""
        (self.dir / "container").touch()

    def vtysh(self):
        """FRR's vtysh on the host (the package's)."""
        (self.bin / "vtysh").write_text('#!/bin/sh\necho "vtysh $*" >> "$STUB_LOG"\n')
        (self.bin / "vtysh").chmod(0o755)

    def run(self, script, **stub):
        self.log.write_text("")
        env = {"PATH": str(self.bin), "STUB_LOG": str(self.log), "STUB_DIR": str(self.dir), "IMAGE": IMAGE}
        env.update({f"STUB_{k.upper()}": v for k, v in stub.items()})
        res = subprocess.run([SH, "-c", script], env=env, capture_output=True, text=True, check=False, timeout=60)
        assert res.returncode == 0, res.stderr
        return parse_probe(res.stdout), res.stdout, self.log.read_text().splitlines()


@pytest.fixture
def node(tmp_path):
    return Node(tmp_path)


def test_the_probe_is_valid_posix_sh(tmp_path):
    for mode in ("container", "package", ""):
        for converge in (True, False):
            script = tmp_path / f"probe-{mode}-{converge}"
            plan = {"frr": {"mode": mode, "image": IMAGE}}
            script.write_text(render(frr_bgp_plan=plan, frr_bgp__probe_converge=converge))
            assert subprocess.run([SH, "-n", str(script)], check=False).returncode == 0


# ---------------------------------------------------------------- package mode


def package(**overrides):
    return render(frr_bgp_plan={"frr": {"mode": "package", "image": IMAGE}}, **overrides)


def test_package_installed_is_read_from_dpkg_without_loading_apt(node):
    out, stdout, log = node.run(package(), dpkg="installed 8.4.4-1.1~deb12u2", candidate="10.3-2")
    assert out["mode"] == "package" and out["frr_version"] == "8.4.4-1.1~deb12u2" and out["source"] == "installed"
    assert "frr_version=8.4.4-1.1~deb12u2" in stdout.splitlines()
    assert not any(line.startswith("apt-cache") for line in log)


def test_package_not_installed_gives_the_candidate(node):
    out, _stdout, log = node.run(package(), candidate="10.3-2")
    assert out["frr_version"] == "10.3-2" and out["source"] == "candidate" and out["note"] == ""
    assert "apt-cache policy frr" in log


def test_package_removed_but_not_purged_is_not_installed(node):
    out, _stdout, _log = node.run(package(), dpkg="config-files 8.4.4-1.1~deb12u2")
    assert out["frr_version"] == "" and out["source"] == "none"
    assert "APT has no candidate" in out["note"]


def test_package_latest_takes_the_candidate_apt_upgrades_to(node):
    out, _stdout, _log = node.run(package(frr_bgp_package_state="latest"), dpkg="installed 8.4.4-1", candidate="10.3-2")
    assert out["frr_version"] == "10.3-2" and out["source"] == "candidate"
    out, _stdout, _log = node.run(package(frr_bgp_package_state="latest"), dpkg="installed 8.4.4-1")
    assert out["frr_version"] == "8.4.4-1" and out["source"] == "installed"  # no candidate: what is there


# ---------------------------------------------------------------- container mode


def test_container_no_runtime_is_unknown(tmp_path):
    node = Node(tmp_path, runtimes=())
    out, _stdout, log = node.run(render(frr_bgp__probe_pull=True))
    assert out["runtime"] == "" and out["frr_version"] == "" and out["source"] == "none"
    # tried 3 times (a fresh install), each attempt's reason kept
    assert out["note"].startswith("no container runtime installed (podman or docker); attempt 1 found no FRR version")
    assert "attempt 3 found no FRR version" in out["note"]
    assert log == []


def test_container_docker_when_podman_is_missing(tmp_path):
    node = Node(tmp_path, runtimes=("docker",))
    node.image("sha256:d0c4e7")
    out, _stdout, log = node.run(render(frr_bgp__version_cache=str(node.cache)), zebra=ZEBRA_10)
    assert out["runtime"] == str(node.bin / "docker") and out["frr_version"] == "10.3.1"
    assert log[0] == f"docker image inspect --format {{{{.Id}}}} {IMAGE}"


def test_container_image_missing_is_unknown_and_not_pulled_by_default(node):
    out, _stdout, log = node.run(render())
    assert out["runtime"] == str(node.bin / "podman") and out["image_id"] == "" and out["frr_version"] == ""
    assert out["note"] == f"image {IMAGE} is not present under {node.bin / 'podman'}"
    assert not any(" pull " in line for line in log)


def test_container_version_read_once_then_cached_by_image_id(node):
    node.image("5e1f00d")
    script = render(frr_bgp__version_cache=str(node.cache))
    out, _stdout, log = node.run(script, zebra=ZEBRA_10)
    assert out == {**out, "image_id": "5e1f00d", "frr_version": "10.3.1", "source": "image", "note": ""}
    assert f"podman run --rm --net none --pull never --entrypoint /usr/lib/frr/zebra {IMAGE} --version" in log
    assert node.cache.read_text() == "5e1f00d 10.3.1\n"
    # the rerun: same image, no container started
    out, _stdout, log = node.run(script, zebra="must not run")
    assert out["frr_version"] == "10.3.1" and out["source"] == "cache"
    assert not any(line.startswith("podman run") for line in log)
    # another image under the same name (a new tag push): read again
    node.image("a11ce")
    out, _stdout, log = node.run(script, zebra="zebra version 8.4.4\nCopyright")
    assert out["frr_version"] == "8.4.4" and out["source"] == "image"
    assert node.cache.read_text() == "a11ce 8.4.4\n"


def test_container_check_mode_writes_no_cache(node):
    node.image("5e1f00d")
    out, _stdout, _log = node.run(
        render(frr_bgp__version_cache=str(node.cache), ansible_check_mode=True), zebra=ZEBRA_10
    )
    assert out["frr_version"] == "10.3.1" and out["source"] == "image"
    assert not node.cache.exists()


def test_container_zebra_without_version_is_unknown(node):
    node.image("5e1f00d")
    out, _stdout, _log = node.run(render(frr_bgp__version_cache=str(node.cache)), zebra="exec: no such file\n")
    assert out["frr_version"] == "" and out["source"] == "none"
    assert out["note"].startswith(f"/usr/lib/frr/zebra --version in {IMAGE} printed no version: exec: no such file")
    assert not node.cache.exists()


def test_container_second_probe_pulls_the_missing_image(node):
    script = render(frr_bgp__version_cache=str(node.cache), frr_bgp__probe_pull=True)
    out, stdout, log = node.run(script, pull_id="5e1f00d", zebra=ZEBRA_10)
    assert "pulled=yes" in stdout.splitlines()
    assert out["pulled"] == "yes" and out["image_id"] == "5e1f00d" and out["frr_version"] == "10.3.1"
    assert f"podman pull {IMAGE}" in log


def test_container_second_probe_tries_again_when_no_version_came_out(node):
    script = render(frr_bgp__version_cache=str(node.cache), frr_bgp__probe_pull=True)
    out, _stdout, log = node.run(script, pull_id="5e1f00d", zebra=ZEBRA_10, flaky="1")
    assert out["frr_version"] == "10.3.1" and out["source"] == "image" and out["pulled"] == "yes"
    assert sum(" run --rm " in line for line in log) == 2
    assert "attempt 1 found no FRR version; it printed: mode=container" in out["note"]
    assert "attempt 2" not in out["note"]


def test_container_first_probe_is_tried_once(node):
    node.image("5e1f00d")
    out, _stdout, log = node.run(render(frr_bgp__version_cache=str(node.cache)), zebra=ZEBRA_10, flaky="1")
    assert out["frr_version"] == "" and sum(" run --rm " in line for line in log) == 1


def test_container_failed_pull_is_reported(node):
    out, _stdout, _log = node.run(render(frr_bgp__probe_pull=True))
    assert out["pulled"] == "" and out["frr_version"] == ""
    assert f"pull {IMAGE} failed: Error: initializing source: connection refused" in out["note"]


def test_container_pull_never_is_respected(node):
    out, _stdout, log = node.run(render(frr_bgp__probe_pull=True, frr_bgp_container_pull="never"), pull_id="x")
    assert out["frr_version"] == "" and not any(" pull " in line for line in log)


def test_container_named_runtime_is_looked_up_alone(tmp_path):
    node = Node(tmp_path, runtimes=("podman", "docker"))
    out, _stdout, _log = node.run(render(frr_bgp__runtime_candidates=["docker"]))
    assert out["runtime"] == str(node.bin / "docker")
    out, _stdout, _log = node.run(render(frr_bgp__runtime_candidates=[str(node.bin / "podman")]))
    assert out["runtime"] == str(node.bin / "podman")
    os.remove(node.bin / "docker")
    out, _stdout, _log = node.run(render(frr_bgp__runtime_candidates=["docker"]))
    assert out["runtime"] == "" and out["note"] == "no container runtime installed (docker)"


def test_the_coil_vrf_device_is_reported(node):
    """coil_vrf=yes only when `ip link show dev <frr_bgp_coil_vrf> type vrf` prints the device (the role deletes a
    stale one): a device of another kind by that name is not reported, so it is never deleted."""
    script = render(frr_bgp_plan={"frr": {"mode": "package", "image": IMAGE}})
    out, _stdout, _log = node.run(script, dpkg="installed 8.4.4-1.1~deb12u2")
    assert out["coil_vrf"] == "no"  # no such device (here: no `ip` at all)
    ip = node.bin / "ip"
    # iproute2 prints the device only when it is of the kind asked for, and exits 0 either way
    ip.write_text(
        '#!/bin/sh\necho "ip $*" >> "$STUB_LOG"\n'
        'if [ "$*" = "link show dev meshover-coil type vrf" ]; then echo "9: meshover-coil: <NOARP,MASTER,UP>"; fi\n'
    )
    ip.chmod(0o755)
    out, _stdout, log = node.run(script, dpkg="installed 8.4.4-1.1~deb12u2")
    assert out["coil_vrf"] == "yes" and "ip link show dev meshover-coil type vrf" in log
    ip.write_text('#!/bin/sh\necho "ip $*" >> "$STUB_LOG"\n')  # the device exists, but is no VRF: prints nothing
    out, _stdout, _log = node.run(script, dpkg="installed 8.4.4-1.1~deb12u2")
    assert out["coil_vrf"] == "no"
    out, _stdout, _log = node.run(
        render(frr_bgp_plan={"frr": {"mode": "package", "image": IMAGE}}, frr_bgp_coil_vrf="other"),
        dpkg="installed 8.4.4-1.1~deb12u2",
    )
    assert out["coil_vrf"] == "no"


# ---------------------------------------------------------------- the entry point `probe` (frr_vtysh.yml)


def probe_only(mode="container", image="", **overrides):
    """The script as tasks_from: probe renders it: no converge, the mode the caller knows, no image (no plan)."""
    return render(frr_bgp_plan={"frr": {"mode": mode, "image": image}}, frr_bgp__probe_converge=False, **overrides)


def test_a_converge_does_not_look_for_the_container(node):
    node.image("5e1f00d")
    node.container()
    out, stdout, log = node.run(render(frr_bgp__version_cache=str(node.cache)), zebra=ZEBRA_10)
    assert out["container"] == "" and out["state"] == "" and "state=" not in stdout
    assert not any("container inspect" in line for line in log)


@pytest.mark.parametrize("mode", ["container", ""])
def test_probe_only_finds_the_container(node, mode):
    node.container()
    node.vtysh()  # a container found first wins over vtysh on the host
    out, _stdout, log = node.run(probe_only(mode))
    assert (out["mode"], out["container"], out["state"]) == ("container", "yes", "container")
    assert out["runtime"] == str(node.bin / "podman")
    assert "podman container inspect frr" in log
    # no image named: the probe does not look at images, runs no container, pulls nothing
    assert not any(" image " in line or " run " in line or " pull " in line for line in log)
    assert "no image named" in out["note"]


@pytest.mark.parametrize("mode", ["container", ""])
def test_probe_only_runtime_without_the_container_is_stopped(node, mode):
    out, _stdout, _log = node.run(probe_only(mode))
    assert (out["mode"], out["container"], out["state"]) == ("container", "no", "stopped")
    assert out["runtime"] == str(node.bin / "podman")


def test_probe_only_container_mode_without_a_runtime_is_none(tmp_path):
    node = Node(tmp_path, runtimes=())
    node.vtysh()  # the plan says container: vtysh on the host is not FRR's
    out, _stdout, _log = node.run(probe_only("container"))
    assert (out["mode"], out["container"], out["state"], out["runtime"]) == ("container", "", "none", "")


def test_probe_only_package_mode(node):
    node.container()  # the plan says package: a container is not looked for
    out, _stdout, log = node.run(probe_only("package"), dpkg="installed 8.4.4-1.1~deb12u2")
    assert (out["mode"], out["container"], out["state"]) == ("package", "", "none")
    node.vtysh()
    out, _stdout, log = node.run(probe_only("package"), dpkg="installed 8.4.4-1.1~deb12u2")
    assert (out["mode"], out["state"], out["frr_version"]) == ("package", "package", "8.4.4-1.1~deb12u2")
    assert not any("podman" in line for line in log)


def test_probe_only_without_a_mode_vtysh_comes_before_a_runtime_alone(node):
    node.vtysh()
    out, _stdout, log = node.run(probe_only(""), dpkg="installed 10.3-1")
    assert (out["mode"], out["container"], out["state"], out["frr_version"]) == ("package", "no", "package", "10.3-1")
    assert "podman container inspect frr" in log


def test_probe_only_without_a_mode_and_nothing_installed_is_none(tmp_path):
    node = Node(tmp_path, runtimes=())
    out, stdout, log = node.run(probe_only(""))
    assert (out["mode"], out["container"], out["state"], out["frr_version"]) == ("", "", "none", "")
    assert "mode=" in stdout.splitlines() and "no FRR found" in out["note"]
    assert log == []


def test_probe_only_writes_no_cache_and_pulls_nothing(node):
    """With an image (a caller that has the plan), the version is read as in check mode: nothing written."""
    node.image("5e1f00d")
    node.container()
    script = probe_only("container", IMAGE, frr_bgp__version_cache=str(node.cache), frr_bgp__probe_pull=False)
    out, _stdout, _log = node.run(script, zebra=ZEBRA_10)
    assert (out["state"], out["frr_version"], out["source"]) == ("container", "10.3.1", "image")
    assert not node.cache.exists()
    (node.dir / "image").unlink()
    out, _stdout, log = node.run(script, pull_id="a11ce")
    assert out["image_id"] == "" and not any(" pull " in line for line in log)
