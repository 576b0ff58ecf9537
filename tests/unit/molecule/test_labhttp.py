# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""molecule/lab/labhttp.py: the lab guests' web server (APT archives, registry) and registry builder."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
from email.utils import formatdate
from pathlib import Path

import pytest

LABHTTP = Path(__file__).resolve().parents[3] / "molecule/lab/labhttp.py"
SPEC = importlib.util.spec_from_file_location("labhttp", LABHTTP)
labhttp = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(labhttp)

MTIME = 1_700_000_000
ENTRYPOINT = ["/usr/bin/tini", "--"]
CMD = ["/usr/lib/frr/docker-start"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def get(target: str, method: str = "GET", **headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 10.0.2.100"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse(data: bytes, heads: tuple[int, ...] = ()) -> list[tuple[int, dict[str, str], bytes]]:
    """The replies in data, framed by their Content-Length; heads: indexes of replies to HEADs."""
    out = []
    i = 0
    while i < len(data):
        end = data.index(b"\r\n\r\n", i)
        lines = data[i:end].decode("latin-1").split("\r\n")
        i = end + 4
        assert lines[0].startswith("HTTP/1.1 ")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _u1, value = line.partition(":")
            headers[name.lower()] = value.strip()
        length = 0 if len(out) in heads or status == 304 else int(headers["content-length"])
        body = data[i : i + length]
        assert len(body) == length, "reply cut short"
        i += length
        out.append((status, headers, body))
    return out


def run(root: Path, raw: bytes) -> tuple[int, bytes]:
    wfile = io.BytesIO()
    n = labhttp.serve(root, io.BytesIO(raw), wfile)
    return n, wfile.getvalue()


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "www"
    rel = r / "debian" / "trixie"
    rel.mkdir(parents=True)
    (rel / "Release").write_bytes(b"Origin: meshover lab\nSuite: trixie\n")
    (rel / "Packages").write_bytes(b"Package: wireguard-tools\nVersion: 1.0.20210914-1.1\n\n" * 3)
    (rel / "Packages.gz").write_bytes(gzip.compress((rel / "Packages").read_bytes()))
    (rel / "wireguard-tools_1.0.20210914-1.1_amd64.deb").write_bytes(bytes(range(256)) * 40)
    for f in rel.iterdir():
        os.utime(f, (MTIME, MTIME))
    (tmp_path / "secret").write_bytes(b"TOP SECRET")
    return r


# ---------------------------------------------------------------------------------------------- HTTP


def test_pipelined_gets_are_answered_in_order(root):
    rel = root / "debian/trixie"
    n, out = run(root, get("/debian/trixie/./Release") + get("/debian/trixie/./Packages"))
    replies = parse(out)
    assert n == 2
    assert [r[0] for r in replies] == [200, 200]
    assert replies[0][2] == (rel / "Release").read_bytes()
    assert replies[1][2] == (rel / "Packages").read_bytes()
    assert all("connection" not in h for _u1, h, _u2 in replies)  # still open for more


def test_missing_file_is_404_and_the_connection_goes_on(root):
    n, out = run(root, get("/debian/trixie/./Packages.xz") + get("/debian/trixie/./Packages.gz"))
    (s1, _u1, _u2), (s2, _u3, body) = parse(out)
    assert (n, s1, s2) == (2, 404, 200)
    assert body == (root / "debian/trixie/Packages.gz").read_bytes()


def test_head_gives_the_length_and_no_body(root):
    deb = root / "debian/trixie/wireguard-tools_1.0.20210914-1.1_amd64.deb"
    target = "/debian/trixie/./" + deb.name
    n, out = run(root, get(target, "HEAD") + get("/debian/trixie/./Release"))
    (s1, h1, b1), (s2, _u1, b2) = parse(out, heads=(0,))
    assert (n, s1, s2) == (2, 200, 200)
    assert int(h1["content-length"]) == deb.stat().st_size and b1 == b""
    assert b2 == (root / "debian/trixie/Release").read_bytes()  # no body bytes slipped in after the HEAD


def test_connection_close_ends_the_stream(root):
    raw = get("/debian/trixie/Release") + get("/debian/trixie/Release", Connection="close") + get("/x")
    n, out = run(root, raw)
    replies = parse(out)
    assert n == 2 and len(replies) == 2
    assert replies[1][1]["connection"] == "close"


def test_http10_closes_unless_keep_alive(root):
    raw = b"GET /debian/trixie/Release HTTP/1.0\r\n\r\nGET /debian/trixie/Release HTTP/1.0\r\n\r\n"
    n, out = run(root, raw)
    assert n == 1 and parse(out)[0][1]["connection"] == "close"
    raw = b"GET /debian/trixie/Release HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2
    n, out = run(root, raw)
    assert n == 2 and parse(out)[0][1]["connection"] == "keep-alive"


def test_percent_encoded_names_and_absolute_form(root):
    deb = root / "debian/trixie/libstdc++6_14.2.0-19~x_amd64.deb"
    deb.write_bytes(b"deb")
    raw = get("/debian/trixie/./libstdc%2b%2b6_14.2.0-19%7ex_amd64.deb")
    n, out = run(root, raw + get("http://10.0.2.100/debian/trixie/Release?x=1"))
    (s1, _u1, b1), (s2, _u2, _u3) = parse(out)
    assert (n, s1, b1, s2) == (2, 200, b"deb", 200)


@pytest.mark.parametrize(
    "target",
    [
        "/../secret",
        "/debian/../debian/trixie/Release",  # '..' is refused even where it would stay inside ROOT
        "/debian/../../secret",
        "/debian/trixie/../../../secret",
        "/%2e%2e/secret",
        "/debian%2f..%2f..%2fsecret",
        "http://10.0.2.100/../secret",
        "/debian/trixie/escape",
        "/debian/trixie/",
        "/",
    ],
)
def test_nothing_outside_root_is_served(root, target):
    (root / "debian/trixie/escape").symlink_to(root.parent / "secret")
    n, out = run(root, get(target))
    ((status, _u1, _u2),) = parse(out)
    assert n == 1 and status in (403, 404)
    assert b"SECRET" not in out


def test_symlinks_inside_root_and_grafted_directories_are_served(root, tmp_path):
    (root / "debian/trixie/Latest").symlink_to("Release")
    cache = tmp_path / "cache" / "archive"
    cache.mkdir(parents=True)
    (cache / "Release").write_bytes(b"bookworm release")
    (cache / "leak").symlink_to(tmp_path / "secret")
    (root / "debian/bookworm").symlink_to(cache)  # as meshlab's populate_www links the image cache
    raw = get("/debian/trixie/Latest") + get("/debian/bookworm/./Release") + get("/debian/bookworm/leak")
    _u1, out = run(root, raw)
    (s1, _u1, b1), (s2, _u2, b2), (s3, _u3, _u4) = parse(out)
    assert (s1, b1) == (200, (root / "debian/trixie/Release").read_bytes())
    assert (s2, b2) == (200, b"bookworm release")
    assert s3 == 404 and b"SECRET" not in out


def test_last_modified_and_if_modified_since(root):
    stamp = formatdate(MTIME, usegmt=True)
    older = formatdate(MTIME - 10, usegmt=True)
    raw = (
        get("/debian/trixie/Release")
        + get("/debian/trixie/Release", If_Modified_Since=stamp)
        + get("/debian/trixie/Release", If_Modified_Since=older)
    )
    n, out = run(root, raw)
    (s1, h1, _u1), (s2, h2, b2), (s3, _u2, b3) = parse(out)
    assert (n, s1, h1["last-modified"]) == (3, 200, stamp)
    assert (s2, b2) == (304, b"") and "content-length" not in h2
    assert s3 == 200 and b3 == (root / "debian/trixie/Release").read_bytes()


def test_ranges(root):
    data = (root / "debian/trixie/Packages").read_bytes()
    size = len(data)
    stamp = formatdate(MTIME, usegmt=True)
    raw = (
        get("/debian/trixie/Packages", Range="bytes=10-")
        + get("/debian/trixie/Packages", Range="bytes=10-19", If_Range=stamp)
        + get("/debian/trixie/Packages", Range="bytes=10-", If_Range=formatdate(MTIME - 1, usegmt=True))
        + get("/debian/trixie/Packages", Range=f"bytes={size}-")
        + get("/debian/trixie/Packages", Range="bytes=-5")
        + get("/debian/trixie/Packages", Range="bytes=0-1,5-6")
    )
    n, out = run(root, raw)
    r = parse(out)
    assert n == 6
    assert (r[0][0], r[0][1]["content-range"], r[0][2]) == (206, f"bytes 10-{size - 1}/{size}", data[10:])
    assert (r[1][0], r[1][2]) == (206, data[10:20])
    assert (r[2][0], r[2][2]) == (200, data)  # changed since the client's piece: all of it
    assert (r[3][0], r[3][1]["content-range"]) == (416, f"bytes */{size}")
    assert (r[4][0], r[4][2]) == (206, data[-5:])
    assert (r[5][0], r[5][2]) == (200, data)


def test_malformed_request_line_is_400_and_closes(root):
    n, out = run(root, b"GARBAGE\r\n\r\n" + get("/debian/trixie/Release"))
    ((status, headers, _u1),) = parse(out)
    assert (n, status, headers["connection"]) == (1, 400, "close")


def test_other_methods_are_405(root):
    raw = b"POST /debian/trixie/Release HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" + get("/debian/trixie/Release")
    n, out = run(root, raw)
    (s1, h1, _u1), (s2, _u2, _u3) = parse(out)
    assert (n, s1, h1["allow"], s2) == (2, 405, "GET, HEAD", 200)


def test_large_files_are_streamed_in_chunks(root):
    big = root / "debian/trixie/big.deb"
    big.write_bytes(os.urandom(3 * labhttp.CHUNK + 123))

    class Recorder(io.BytesIO):
        sizes: list[int] = []

        def write(self, b):
            self.sizes.append(len(b))
            return super().write(b)

    w = Recorder()
    assert labhttp.serve(root, io.BytesIO(get("/debian/trixie/big.deb")), w) == 1
    ((status, _u1, body),) = parse(w.getvalue())
    assert status == 200 and body == big.read_bytes()
    assert max(w.sizes) <= labhttp.CHUNK


def test_a_guest_hanging_up_mid_reply_ends_quietly(root):
    (root / "debian/trixie/big.deb").write_bytes(b"x" * (3 * labhttp.CHUNK))

    class Gone(io.BytesIO):
        def write(self, b):
            if self.tell() > 100:
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(b)

    assert labhttp.serve(root, io.BytesIO(get("/debian/trixie/big.deb") * 2), Gone()) == 0


def test_request_log(root, tmp_path, monkeypatch):
    log = tmp_path / "labhttp.log"
    monkeypatch.setenv("LABHTTP_LOG", str(log))
    run(root, get("/debian/trixie/Release") + get("/nope"))
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("GET /debian/trixie/Release 200 35") and " 404 " in lines[1]


# ------------------------------------------------------------------------------------------ registry


def rootfs_tar(tmp_path: Path, content: bytes = b"frr-lab\n") -> Path:
    src = tmp_path / "rootfs"
    (src / "etc").mkdir(parents=True, exist_ok=True)
    (src / "etc/hostname").write_bytes(content)
    out = tmp_path / "frr.tar"
    with tarfile.open(out, "w") as tar:  # mmdebstrap's layout: ./etc/...
        tar.add(src, arcname=".")
    return out


@pytest.fixture
def image(tmp_path, root):
    tar = rootfs_tar(tmp_path)
    digest = labhttp.build_registry(tar, root, "library/frr", "lab", ENTRYPOINT, CMD)
    return tar, digest


def test_v2_base(root):
    n, out = run(root, get("/v2/") + get("/v2"))
    assert n == 2
    for status, headers, body in parse(out):
        assert (status, body) == (200, b"{}")
        assert headers["docker-distribution-api-version"] == "registry/2.0"
        assert headers["content-type"].startswith("application/json")


def test_build_registry_layout_and_digests(root, image):
    tar, digest = image
    repo = root / "v2/library/frr"
    manifest_bytes = (repo / "manifests/lab").read_bytes()
    assert sha256(manifest_bytes) == digest
    assert (repo / "manifests" / digest).read_bytes() == manifest_bytes
    manifest = json.loads(manifest_bytes)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == labhttp.MANIFEST_V2
    config_blob = (repo / "blobs" / manifest["config"]["digest"]).read_bytes()
    assert sha256(config_blob) == manifest["config"]["digest"]
    assert manifest["config"]["size"] == len(config_blob)
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    layer_blob = (repo / "blobs" / layer["digest"]).read_bytes()
    assert sha256(layer_blob) == layer["digest"] and layer["size"] == len(layer_blob)
    assert gzip.decompress(layer_blob) == tar.read_bytes()
    config = json.loads(config_blob)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [sha256(tar.read_bytes())]}
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert config["config"]["Entrypoint"] == ["/usr/bin/tini", "--"]
    assert config["config"]["Cmd"] == ["/usr/lib/frr/docker-start"]
    assert config["config"]["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert config["history"][0]["created_by"] == "meshover lab" and "created" in config
    assert sorted(p.name for p in (repo / "blobs").iterdir()) == sorted([manifest["config"]["digest"], layer["digest"]])


def test_build_registry_is_reproducible_and_prunes_old_builds(tmp_path, root, image):
    tar, digest = image
    repo = root / "v2/library/frr"
    again = labhttp.build_registry(tar, root, "library/frr", "lab", ENTRYPOINT, CMD)
    assert again == digest
    rootfs_tar(tmp_path, b"rebuilt\n")
    new = labhttp.build_registry(tar, root, "library/frr", "lab", ["/usr/bin/tini", "--"], ["/bin/sh"], env=["A=b"])
    assert new != digest
    manifest = json.loads((repo / "manifests/lab").read_bytes())
    assert sorted(p.name for p in (repo / "manifests").iterdir()) == sorted(["lab", new])
    assert sorted(p.name for p in (repo / "blobs").iterdir()) == sorted(
        [manifest["config"]["digest"], manifest["layers"][0]["digest"]]
    )
    config = json.loads((repo / "blobs" / manifest["config"]["digest"]).read_bytes())
    assert config["config"]["Env"] == ["A=b"] and config["config"]["Cmd"] == ["/bin/sh"]


def test_build_registry_takes_gzipped_tars_and_refuses_other_files(tmp_path, root):
    tar = rootfs_tar(tmp_path)
    tgz = tmp_path / "frr.tar.gz"
    tgz.write_bytes(gzip.compress(tar.read_bytes()))
    labhttp.build_registry(tgz, root, "frr", "lab", [], [])
    manifest = json.loads((root / "v2/frr/manifests/lab").read_bytes())
    config = json.loads((root / "v2/frr/blobs" / manifest["config"]["digest"]).read_bytes())
    assert config["rootfs"]["diff_ids"] == [sha256(tar.read_bytes())]
    assert config["config"]["Entrypoint"] is None
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"no tar" * 200)
    with pytest.raises(ValueError):
        labhttp.build_registry(junk, root, "frr", "lab", [], [])
    with pytest.raises(ValueError):
        labhttp.build_registry(tar, root, "../frr", "lab", [], [])
    assert not list((root / "v2/frr").rglob(".tmp-*"))


def test_served_manifests_and_blobs(root, image):
    _u1, digest = image
    manifest_bytes = (root / "v2/library/frr/manifests/lab").read_bytes()
    layer = json.loads(manifest_bytes)["layers"][0]
    layer_blob = (root / "v2/library/frr/blobs" / layer["digest"]).read_bytes()
    raw = (
        get("/v2/library/frr/manifests/lab", "HEAD")
        + get("/v2/library/frr/manifests/lab")
        + get(f"/v2/library/frr/manifests/{digest}")
        + get(f"/v2/library/frr/blobs/{layer['digest']}", "HEAD")
        + get(f"/v2/library/frr/blobs/{layer['digest']}")
        + get("/v2/library/frr/tags/list")
    )
    n, out = run(root, raw)
    r = parse(out, heads=(0, 3))
    assert n == 6 and all(status == 200 for status, _u1, _u2 in r)
    for _u1, headers, _u2 in r[:3]:
        assert headers["content-type"] == "application/vnd.docker.distribution.manifest.v2+json"
        assert headers["docker-content-digest"] == digest
        assert int(headers["content-length"]) == len(manifest_bytes)
        assert headers["docker-distribution-api-version"] == "registry/2.0"
    assert r[0][2] == b"" and r[1][2] == manifest_bytes and r[2][2] == manifest_bytes
    for _u1, headers, _u2 in r[3:5]:
        assert headers["docker-content-digest"] == layer["digest"]
        assert headers["content-type"] == "application/octet-stream"
        assert int(headers["content-length"]) == layer["size"]
    assert r[3][2] == b"" and r[4][2] == layer_blob
    assert json.loads(r[5][2]) == {"name": "library/frr", "tags": ["lab"]}


def test_unknown_manifests_and_blobs(root, image):
    raw = (
        get("/v2/library/frr/manifests/nope")
        + get("/v2/other/manifests/lab")
        + get("/v2/library/frr/manifests/..")
        + get("/v2/library/frr/blobs/sha256:" + "0" * 64)
        + get("/v2/library/frr/manifests/lab", "DELETE")
    )
    n, out = run(root, raw)
    r = parse(out)
    assert n == 5
    codes = [json.loads(body)["errors"][0]["code"] for _u1, _u2, body in r[:4]]
    assert [s for s, _u1, _u2 in r] == [404, 404, 404, 404, 405]
    assert codes == ["MANIFEST_UNKNOWN", "MANIFEST_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"]
    assert r[0][1]["docker-distribution-api-version"] == "registry/2.0"


def test_main_registry(tmp_path, root, capsys):
    tar = rootfs_tar(tmp_path)
    argv = ["registry", str(tar), str(root), "frr", "lab", "--entrypoint", '["/usr/bin/tini", "--"]', "--cmd", '["/x"]']
    assert labhttp.main(argv) == 0
    digest = capsys.readouterr().out.strip()
    assert sha256((root / "v2/frr/manifests/lab").read_bytes()) == digest


# ------------------------------------------------------------------------------------ as qemu runs it


def test_subprocess_on_pipes(root, tmp_path):
    log = tmp_path / "labhttp.log"
    raw = get("/debian/trixie/./Release") + get("/v2/")
    env = {**os.environ, "LABHTTP_LOG": str(log)}
    p = subprocess.run(
        [sys.executable, str(LABHTTP), "serve", str(root)],
        input=raw,
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert p.returncode == 0 and p.stderr == b""
    (s1, _u1, b1), (s2, _u2, b2) = parse(p.stdout)
    assert (s1, b1, s2, b2) == (200, (root / "debian/trixie/Release").read_bytes(), 200, b"{}")
    assert len(log.read_text().splitlines()) == 2


def converse(argv: list[str], raw: bytes, shut: bool) -> tuple[int, bytes]:
    """Run argv as libslirp's fork_exec does (one socket as stdin, stdout and stderr): (rc, what it sent)."""
    ours, theirs = socket.socketpair()
    with ours:
        with theirs:
            p = subprocess.Popen(argv, stdin=theirs, stdout=theirs, stderr=theirs)
        ours.sendall(raw)
        if shut:
            ours.shutdown(socket.SHUT_WR)
        ours.settimeout(30)
        out = b""
        while chunk := ours.recv(65536):
            out += chunk
    return p.wait(timeout=30), out


def test_subprocess_on_one_socket_as_qemu_runs_it(root):
    cmd = [sys.executable, str(LABHTTP), "serve", str(root)]
    deb = root / "debian/trixie/wireguard-tools_1.0.20210914-1.1_amd64.deb"
    raw = get("/debian/trixie/./Release") + get("/debian/trixie/./" + deb.name) + get("/missing")
    rc, out = converse(cmd, raw, shut=True)
    (s1, _u1, _u2), (s2, _u3, b2), (s3, _u4, _u5) = parse(out)
    assert (rc, s1, s2, b2, s3) == (0, 200, 200, deb.read_bytes(), 404)
    # Connection: close ends the process by itself, without the guest closing its side first.
    rc, out = converse(cmd, get("/v2/", Connection="close"), shut=False)
    ((status, headers, _u1),) = parse(out)
    assert (rc, status, headers["connection"]) == (0, 200, "close")


def test_subprocess_errors_never_reach_the_guest(root):
    # A usage error would print on stderr, which is the guest's socket under qemu.
    rc, out = converse([sys.executable, str(LABHTTP), "serve"], b"", shut=True)
    assert (rc, out) == (2, b"")
