# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""labhttp: the lab guests' only web server, and the builder of its container registry (stdlib only).

  serve ROOT                                  answer HTTP/1.1 on stdin/stdout (one TCP connection)
  registry ROOTFS_TAR ROOT NAME TAG [--entrypoint JSON] [--cmd JSON] [--env JSON]
                                              turn a rootfs tarball into a one-layer image under ROOT/v2

QEMU's user network runs ``labhttp.py serve ROOT`` once per guest connection to 10.0.2.100:80
(``guestfwd=tcp:10.0.2.100:80-cmd:...``). libslirp hands the process one socket as stdin, stdout AND
stderr, so anything written to stderr would land in the guest's HTTP stream: ``serve`` points fd 2 at
$LABHTTP_LOG (one line per request is appended there too) or at /dev/null before anything else.

ROOT holds flat APT repositories (ROOT/debian/REL/{Release,Packages*,*.deb}), served as static files,
and ROOT/v2/NAME/{manifests/TAG|DIGEST,blobs/sha256:HEX}, served as a read-only Docker Registry HTTP
API v2, so that ``docker pull`` and ``podman pull 10.0.2.100/NAME:TAG`` work over plain HTTP.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import socket
import stat
import sys
import tempfile
import time
import traceback
from datetime import timezone
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import unquote, urlsplit

# Layers are 100+ MB: files go out in pieces of this size, never whole.
CHUNK = 1 << 20
MAX_LINE = 8192
MAX_HEADERS = 100
MAX_MANIFEST = 4 << 20
# After the last reply, read what the guest still sends for this long, so that closing the socket
# with unread bytes does not reset the connection before the reply has reached it.
LINGER_SECONDS = 2.0

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
JSON_TYPE = "application/json; charset=utf-8"
API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
# Fixed, so that the same rootfs tarball always gives the same image digest.
CREATED = "1970-01-01T00:00:00Z"

TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
VERSION = re.compile(r"HTTP/1\.[0-9]")
DIGITS = re.compile(r"[0-9]+")
RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*")
# Distribution's grammar: path components of lowercase alphanumerics joined by separators, so that
# no component of a name, tag or digest can be '.' or '..'.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_NAME = rf"(?P<name>{_COMPONENT}(?:/{_COMPONENT})*)"
MANIFEST_PATH = re.compile(rf"/v2/{_NAME}/manifests/(?P<ref>[^/]+)")
BLOB_PATH = re.compile(rf"/v2/{_NAME}/blobs/(?P<digest>[^/]+)")
TAGS_PATH = re.compile(rf"/v2/{_NAME}/tags/list")
UNSATISFIABLE = (-1, -1)


class BadRequest(Exception):
    """The bytes on the wire are no HTTP/1.x request: answer 400 and hang up."""


# Plain classes, not dataclasses: meshlab.py and the tests load this file with importlib, without
# a sys.modules entry, which dataclasses need to resolve postponed annotations.
class Request:
    """One parsed request (header names lowercased)."""

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str], keep_alive: bool) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive


class Response:
    """A reply; a file body is streamed from offset, length bytes, and the sender closes the file."""

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        file: BinaryIO | None = None,
        offset: int = 0,
        length: int = 0,
    ) -> None:
        self.status = status
        self.headers = headers or []
        self.body = body
        self.file = file
        self.offset = offset
        self.length = length


# ---------------------------------------------------------------------------------------------- HTTP


def read_request(rfile: BinaryIO) -> Request | None:
    """The next request of the stream (its body, if any, read and dropped), None at end of stream."""
    for _ in range(8):  # RFC 9112 2.2: a server should ignore empty lines before a request line
        line = rfile.readline(MAX_LINE + 1)
        if not line:
            return None
        if line.strip(b"\r\n"):
            break
    else:
        raise BadRequest("nothing but empty lines")
    if len(line) > MAX_LINE or not line.endswith(b"\n"):
        raise BadRequest("request line too long or cut off")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]) or not parts[1] or not VERSION.fullmatch(parts[2]):
        raise BadRequest(f"malformed request line {line[:80]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    last = ""
    for _ in range(MAX_HEADERS + 1):
        raw = rfile.readline(MAX_LINE + 1)
        if not raw:
            return None  # gone in the middle of a request: nobody to answer
        if len(raw) > MAX_LINE or not raw.endswith(b"\n"):
            raise BadRequest("header line too long")
        text = raw.decode("latin-1").rstrip("\r\n")
        if not text:
            break
        if text[0] in " \t":  # obsolete line folding
            if not last:
                raise BadRequest("folded first header")
            headers[last] += " " + text.strip()
            continue
        name, colon, value = text.partition(":")
        if not colon or not TOKEN.fullmatch(name):
            raise BadRequest(f"malformed header {text[:80]!r}")
        last = name.lower()
        value = value.strip()
        headers[last] = f"{headers[last]}, {value}" if last in headers else value
    else:
        raise BadRequest("too many headers")
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
    if "transfer-encoding" in headers:
        keep_alive = False  # a chunked body cannot be skipped here: this request is the last
    elif "content-length" in headers:
        if not DIGITS.fullmatch(headers["content-length"]):
            raise BadRequest("bad Content-Length")
        left = int(headers["content-length"])
        while left > 0:
            got = rfile.read(min(left, CHUNK))
            if not got:
                break
            left -= len(got)
    return Request(method, target, version, headers, keep_alive)


def send(wfile: BinaryIO, resp: Response, head_only: bool, keep_alive: bool, http10: bool) -> bool:
    """Write resp; False if its file ran short, after which the connection must close (framing lost)."""
    length = resp.length if resp.file is not None else len(resp.body)
    lines = [
        f"HTTP/1.1 {resp.status} {HTTPStatus(resp.status).phrase}",
        f"Date: {formatdate(usegmt=True)}",
        "Server: labhttp",
        *(f"{k}: {v}" for k, v in resp.headers),
    ]
    if resp.status != 304:
        lines.append(f"Content-Length: {length}")
    if not keep_alive:
        lines.append("Connection: close")
    elif http10:
        lines.append("Connection: keep-alive")
    wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if head_only or resp.status == 304:
        return True
    if resp.file is None:
        wfile.write(resp.body)
        return True
    resp.file.seek(resp.offset)
    left = length
    while left > 0:
        chunk = resp.file.read(min(left, CHUNK))
        if not chunk:
            return False
        wfile.write(chunk)
        left -= len(chunk)
    return True


def serve(root: Path, rfile: BinaryIO, wfile: BinaryIO) -> int:
    """Answer the requests of one connection in order until end of stream or Connection: close.

    Returns the number of replies written in full. A guest that hangs up mid-reply ends it quietly.
    """
    base = os.path.realpath(root)
    log = _open_log()
    served = 0
    try:
        while True:
            try:
                req = read_request(rfile)
            except BadRequest:
                send(wfile, Response(400, [("Content-Type", "text/plain")], b"bad request\n"), False, False, False)
                wfile.flush()
                served += 1
                _log(log, "-", "-", 400, 12)
                break
            if req is None:
                break
            try:
                resp = route(base, req)
            except Exception:  # a bug, not the guest's fault: tell the log, answer 500, hang up
                traceback.print_exc()
                resp = Response(500, [("Content-Type", "text/plain")], b"internal error\n")
                req.keep_alive = False
            try:
                complete = send(wfile, resp, req.method == "HEAD", req.keep_alive, req.version == "HTTP/1.0")
            finally:
                if resp.file is not None:
                    resp.file.close()
            wfile.flush()
            served += 1
            _log(log, req.method, req.target, resp.status, resp.length if resp.file is not None else len(resp.body))
            if not complete or not req.keep_alive:
                break
    except ConnectionError:
        pass  # the guest hung up; there is nobody left to tell
    finally:
        if log is not None:
            log.close()
    return served


def route(base: str, req: Request) -> Response:
    """The response to req; base is the real path of ROOT."""
    if req.method not in ("GET", "HEAD"):
        return Response(405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b"method not allowed\n")
    target = req.target
    if target.startswith(("http://", "https://")):  # absolute form, as sent to proxies
        target = urlsplit(target).path or "/"
    elif not target.startswith("/"):
        return Response(400, [("Content-Type", "text/plain")], b"bad request target\n")
    # APT quotes '+' and '~' of package file names (%2b, %7e); '+' is no space in a path.
    path = unquote(target.split("?", 1)[0].split("#", 1)[0])
    if path == "/v2" or path.startswith("/v2/"):
        return _registry(base, path, req)
    return _static(base, path, req)


def _not_found() -> Response:
    return Response(404, [("Content-Type", "text/plain")], b"not found\n")


def _open_under(base: str, parts: list[str]) -> tuple[BinaryIO, os.stat_result] | None:
    """The regular file base/parts opened for reading, or None if missing or outside the served tree.

    The served tree is base, plus the directories that directory symlinks in it graft in (the lab's
    www/ links debian/REL and v2 into its image cache, like bind mounts); '..' never climbs, and a
    symlink to a file must stay inside the tree it is in.
    """
    if not parts or any(p in ("", ".", "..") or "\0" in p for p in parts):
        return None
    tree = cur = base
    for part in parts[:-1]:
        nxt = os.path.join(cur, part)
        if os.path.islink(nxt):
            real = os.path.realpath(nxt)
            if not os.path.isdir(real):
                return None
            tree = cur = real
        elif os.path.isdir(nxt):
            cur = nxt
        else:
            return None
    real = os.path.realpath(os.path.join(cur, parts[-1]))
    if os.path.commonpath([tree, real]) != tree:
        return None
    try:
        # O_NONBLOCK: a FIFO under ROOT must not hang the connection; regular files ignore it.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb"), st


def _split(path: str) -> list[str] | None:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return None if ".." in parts else parts


def _http_date(value: str | None) -> int | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp())


def _parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single Range, UNSATISFIABLE, or None for none/several/junk (send all)."""
    m = RANGE.fullmatch(value or "")
    if not m or not (m[1] or m[2]):
        return None
    if m[1]:
        first = int(m[1])
        last = int(m[2]) if m[2] else size - 1
        if m[2] and last < first:
            return None  # invalid: ignored, as RFC 9110 14.2 allows
        if first >= size:
            return UNSATISFIABLE
        return first, min(last, size - 1)
    suffix = int(m[2])
    if suffix == 0 or size == 0:
        return UNSATISFIABLE
    return max(0, size - suffix), size - 1


def _file_response(f: BinaryIO, st: os.stat_result, headers: list[tuple[str, str]], req: Request) -> Response:
    """200, 304, 206 or 416 for an opened file, by If-Modified-Since, Range and If-Range."""
    mtime = int(st.st_mtime)
    size = st.st_size
    headers = [*headers, ("Last-Modified", formatdate(mtime, usegmt=True)), ("Accept-Ranges", "bytes")]
    since = _http_date(req.headers.get("if-modified-since"))
    if since is not None and since <= time.time() and mtime <= since:
        f.close()
        return Response(304, headers)
    rng = _parse_range(req.headers.get("range"), size)
    # If-Range: resume only a file that is still the one the client has a piece of (we send no ETags).
    if rng is not None and "if-range" in req.headers and _http_date(req.headers["if-range"]) != mtime:
        rng = None
    if rng == UNSATISFIABLE:
        f.close()
        return Response(416, [*headers, ("Content-Range", f"bytes */{size}")])
    if rng is not None:
        first, last = rng
        headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
        return Response(206, headers, file=f, offset=first, length=last - first + 1)
    return Response(200, headers, file=f, length=size)


def _static(base: str, path: str, req: Request) -> Response:
    parts = _split(path)
    opened = _open_under(base, parts) if parts is not None else None
    if opened is None:
        return _not_found()
    f, st = opened
    return _file_response(f, st, [("Content-Type", "application/octet-stream")], req)


# ------------------------------------------------------------------------------------------ registry


def _registry_error(status: int, code: str, message: str, detail: dict | None = None) -> Response:
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": detail or {}}]}).encode()
    return Response(status, [API_VERSION, ("Content-Type", JSON_TYPE)], body)


def _registry(base: str, path: str, req: Request) -> Response:
    if path in ("/v2", "/v2/"):
        return Response(200, [API_VERSION, ("Content-Type", JSON_TYPE)], b"{}")
    m = MANIFEST_PATH.fullmatch(path)
    if m:
        return _manifest(base, m["name"], m["ref"])
    m = BLOB_PATH.fullmatch(path)
    if m:
        return _blob(base, m["name"], m["digest"], req)
    m = TAGS_PATH.fullmatch(path)
    if m:
        return _tags(base, m["name"])
    return _registry_error(404, "UNSUPPORTED", "not served by the lab's read-only registry", {"path": path})


def _manifest(base: str, name: str, ref: str) -> Response:
    unknown = _registry_error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"name": name, "reference": ref})
    if not (TAG_RE.fullmatch(ref) or DIGEST_RE.fullmatch(ref)):
        return unknown
    opened = _open_under(base, ["v2", *name.split("/"), "manifests", ref])
    if opened is None:
        return unknown
    f, _ = opened
    with f:
        data = f.read(MAX_MANIFEST + 1)
    if len(data) > MAX_MANIFEST:
        return unknown
    # Clients pick the manifest's parser by Content-Type and check the digest of what they got.
    try:
        media = json.loads(data).get("mediaType") or MANIFEST_V2
    except (ValueError, AttributeError):
        media = MANIFEST_V2
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    headers = [API_VERSION, ("Content-Type", media), ("Docker-Content-Digest", digest), ("Etag", f'"{digest}"')]
    return Response(200, headers, data)


def _blob(base: str, name: str, digest: str, req: Request) -> Response:
    unknown = _registry_error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
    if not DIGEST_RE.fullmatch(digest):
        return unknown
    opened = _open_under(base, ["v2", *name.split("/"), "blobs", digest])
    if opened is None:
        return unknown
    f, st = opened
    headers = [
        API_VERSION,
        ("Content-Type", "application/octet-stream"),
        ("Docker-Content-Digest", digest),
        ("Etag", f'"{digest}"'),
    ]
    return _file_response(f, st, headers, req)


def _tags(base: str, name: str) -> Response:
    parts = ["v2", *name.split("/"), "manifests"]
    real = os.path.realpath(os.path.join(base, *parts))
    try:
        tags = sorted(n for n in os.listdir(real) if TAG_RE.fullmatch(n))
    except OSError:
        return _registry_error(404, "NAME_UNKNOWN", "repository name not known to registry", {"name": name})
    return Response(200, [API_VERSION, ("Content-Type", JSON_TYPE)], json.dumps({"name": name, "tags": tags}).encode())


class _HashingWriter:
    """A file-like sink that hashes and counts what goes through it (the compressed layer)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def _tar_chunks(path: Path) -> Iterator[bytes]:
    """The uncompressed bytes of a tar archive (plain or gzip), in CHUNK pieces."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        src = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        chunk = src.read(CHUNK)
        if chunk[257:262] != b"ustar":
            raise ValueError(f"{path}: not a tar archive")
        while chunk:
            yield chunk
            chunk = src.read(CHUNK)


def _temp_in(directory: Path) -> tuple[BinaryIO, Path]:
    fd, name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the store from anyone but its builder
    return os.fdopen(fd, "wb"), Path(name)


def _write_atomic(path: Path, data: bytes) -> None:
    out, tmp = _temp_in(path.parent)
    try:
        with out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_layer(rootfs_tar: Path, blobs: Path) -> tuple[str, int, str]:
    """(digest, size, diff_id) of the gzipped layer of rootfs_tar, written to blobs/DIGEST."""
    diff = hashlib.sha256()
    out, tmp = _temp_in(blobs)
    try:
        with out:
            sink = _HashingWriter(out)
            # mtime=0 and no file name in the gzip header: the same tar gives the same blob.
            with gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=1, mtime=0) as gz:
                for chunk in _tar_chunks(rootfs_tar):
                    diff.update(chunk)
                    gz.write(chunk)
        digest = "sha256:" + sink.sha.hexdigest()
        os.replace(tmp, blobs / digest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest, sink.size, "sha256:" + diff.hexdigest()


def _prune(repo: Path) -> None:
    """Drop what no tag reaches any more (old builds' layers are hundreds of MB) and stale temp files."""
    manifests, blobs = repo / "manifests", repo / "blobs"
    keep_manifests, keep_blobs = set(), set()
    for entry in manifests.iterdir():
        if not TAG_RE.fullmatch(entry.name):
            continue
        data = entry.read_bytes()
        try:
            doc = json.loads(data)
            refs = [doc["config"]["digest"], *(layer["digest"] for layer in doc["layers"])]
        except (ValueError, KeyError, TypeError):
            return  # a manifest this module did not write: leave the store alone
        keep_manifests.add("sha256:" + hashlib.sha256(data).hexdigest())
        keep_blobs.update(refs)
    for directory, keep in ((manifests, keep_manifests), (blobs, keep_blobs)):
        for entry in directory.iterdir():
            if entry.name in keep or (directory is manifests and TAG_RE.fullmatch(entry.name)):
                continue
            if entry.is_file() or entry.is_symlink():
                entry.unlink()


def build_registry(
    rootfs_tar: Path,
    root: Path,
    name: str,
    tag: str,
    entrypoint: list[str],
    cmd: list[str],
    env: list[str] | None = None,
) -> str:
    """Store rootfs_tar as the one-layer image NAME:TAG under root/v2; returns the manifest digest.

    Streams the tarball (never held in memory). Reproducible (same tar and arguments, same digest)
    and idempotent: files are written under temporary names and renamed; what the tags no longer
    reach is deleted. Not safe against a concurrent build of the same repository.
    """
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"invalid repository name {name!r}")
    if not TAG_RE.fullmatch(tag):
        raise ValueError(f"invalid tag {tag!r}")
    for what, value in (("entrypoint", entrypoint), ("cmd", cmd), ("env", env or [])):
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise ValueError(f"{what} must be a list of strings: {value!r}")
    repo = Path(root) / "v2" / name
    blobs, manifests = repo / "blobs", repo / "manifests"
    blobs.mkdir(parents=True, exist_ok=True)
    manifests.mkdir(parents=True, exist_ok=True)
    layer_digest, layer_size, diff_id = _write_layer(Path(rootfs_tar), blobs)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        # null, as Docker itself writes an unset Entrypoint/Cmd
        "config": {"Entrypoint": list(entrypoint) or None, "Cmd": list(cmd) or None, "Env": list(env or DEFAULT_ENV)},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": CREATED, "created_by": "meshover lab"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    _write_atomic(blobs / config_digest, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": {"mediaType": CONFIG_V1, "size": len(config_bytes), "digest": config_digest},
        "layers": [{"mediaType": LAYER_TAR_GZIP, "size": layer_size, "digest": layer_digest}],
    }
    manifest_bytes = json.dumps(manifest, indent=3).encode()
    digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    _write_atomic(manifests / digest, manifest_bytes)
    _write_atomic(manifests / tag, manifest_bytes)
    _prune(repo)
    return digest


# ------------------------------------------------------------------------------------------------ CLI


def _open_log():
    path = os.environ.get("LABHTTP_LOG")
    if not path:
        return None
    try:
        return open(path, "a", buffering=1, encoding="utf-8", errors="replace")
    except OSError:
        return None


def _log(log, method: str, target: str, status: int, length: int) -> None:
    if log is not None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        log.write(f"{stamp} {os.getpid()} {method} {ascii(target)[1:-1]} {status} {length}\n")


def _quiet_stderr() -> None:
    """fd 2 is the guest's socket under qemu: send errors to $LABHTTP_LOG, or nowhere."""
    try:
        fd = os.open(os.environ.get("LABHTTP_LOG") or os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 2)
    os.close(fd)


def _linger(fd: int = 0, seconds: float = LINGER_SECONDS) -> None:
    """If fd is a socket: end our half, then read until the guest closes (or seconds pass)."""
    try:
        dup = os.dup(fd)
    except OSError:
        return
    try:
        sock = socket.socket(fileno=dup)
    except OSError:  # a pipe (tests, manual runs): nothing to linger on
        os.close(dup)
        return
    with sock:
        try:
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                if not sock.recv(65536):
                    break
        except OSError:
            pass


def _serve_stdio(root: Path) -> int:
    rc = 0
    try:
        serve(root, sys.stdin.buffer, sys.stdout.buffer)
    except Exception:
        traceback.print_exc()
        rc = 1
    try:
        sys.stdout.flush()
    except OSError:  # the guest is gone; let the interpreter's last flush go nowhere
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    _linger()
    return rc


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from None
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise argparse.ArgumentTypeError("must be a JSON list of strings")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labhttp.py", description=__doc__.split("\n", 1)[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="answer one HTTP connection on stdin/stdout")
    s.add_argument("root", type=Path)
    r = sub.add_parser("registry", help="store a rootfs tarball as a one-layer image under ROOT/v2")
    r.add_argument("rootfs_tar", type=Path)
    r.add_argument("root", type=Path)
    r.add_argument("name")
    r.add_argument("tag")
    r.add_argument("--entrypoint", type=_json_list, default=[], help='JSON list, e.g. \'["/usr/bin/tini", "--"]\'')
    r.add_argument("--cmd", type=_json_list, default=[], help="JSON list")
    r.add_argument("--env", type=_json_list, default=None, help="JSON list of NAME=VALUE (default: PATH only)")
    return p


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        _quiet_stderr()  # before argparse, whose usage errors would otherwise reach the guest
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve_stdio(args.root)
    print(build_registry(args.rootfs_tar, args.root, args.name, args.tag, args.entrypoint, args.cmd, args.env))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
