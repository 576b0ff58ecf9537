# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one atomic file writer: mode before content, same directory, no clobber, fsync, no leftovers."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from ansible_collections.meshover.mesh.plugins.module_utils.node import _files
from ansible_collections.meshover.mesh.plugins.module_utils.node._files import ensure_dir, read_text, write_atomic

SECRET = "YE4MH5lLaRbTdHMp9mJsn9n0lSbxLQ6Hg4qAFyuBR2w=\n"


def leftovers(directory):
    return [f for f in os.listdir(directory) if f.endswith(".tmp")]


@pytest.fixture
def umask():
    """Set the process umask for one test (a wide one shows what the writer does not leave to it)."""
    saved = os.umask(0o022)
    os.umask(saved)

    def _set(value):
        os.umask(value)

    yield _set
    os.umask(saved)


@pytest.fixture
def spy(monkeypatch):
    """Record the file system calls the writer makes, in order (the calls still happen)."""
    calls = []
    for name in ("fchown", "fchmod", "write", "fsync", "replace", "link", "close"):
        real = getattr(os, name)

        def wrapper(*args, _real=real, _name=name):
            calls.append((_name, args))
            return _real(*args)

        monkeypatch.setattr(_files.os, name, wrapper)
    return calls


def test_writes_content_and_mode(tmp_path):
    path = tmp_path / "f"
    assert write_atomic(str(path), "a\nb\n", 0o640) is True
    assert path.read_text() == "a\nb\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == []


def test_mode_is_set_before_any_byte_is_written(tmp_path, monkeypatch, umask):
    umask(0)  # a wide umask: the temp file must still never be more open than asked
    seen = []
    real_write = os.write

    def write(fd, data):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(_files.os, "write", write)
    write_atomic(str(tmp_path / "k"), SECRET, 0o600)
    assert seen and set(seen) == {0o600}


def test_owner_then_mode_then_content_then_fsync(tmp_path, spy, monkeypatch):
    monkeypatch.setattr(_files.os, "fchown", lambda fd, uid, gid: spy.append(("fchown", (fd, uid, gid))))
    write_atomic(str(tmp_path / "f"), "x", 0o644, uid=0, gid=0)
    names = [name for name, _args in spy]
    assert names[: names.index("close")] == ["fchown", "fchmod", "write", "fsync"]
    assert spy[0][1][1:] == (0, 0)


def test_no_owner_change_unless_asked(tmp_path, spy):
    write_atomic(str(tmp_path / "f"), "x", 0o644)
    assert "fchown" not in [name for name, _args in spy]


def test_only_uid_leaves_group(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(_files.os, "fchown", lambda fd, uid, gid: calls.append((uid, gid)))
    write_atomic(str(tmp_path / "f"), "x", 0o644, uid=0)
    assert calls == [(0, -1)]


def test_temp_file_is_in_the_target_directory_and_renamed_over_it(tmp_path, spy):
    path = tmp_path / "f"
    path.write_text("old")
    inode = path.stat().st_ino
    write_atomic(str(path), "new", 0o644)
    (src, dst) = next(args for name, args in spy if name == "replace")
    assert os.path.dirname(src) == str(tmp_path) and dst == str(path)
    assert os.path.basename(src).startswith(".f.") and src.endswith(".tmp")  # hidden, ignored by *.conf readers
    assert path.read_text() == "new" and path.stat().st_ino != inode


def test_fsyncs_file_and_directory(tmp_path, spy):
    write_atomic(str(tmp_path / "f"), "x", 0o644)
    fsynced = [args[0] for name, args in spy if name == "fsync"]
    assert len(fsynced) == 2
    # the second one after the rename: the directory
    names = [name for name, _args in spy]
    assert names.index("replace") < len(names) - 1 - names[::-1].index("fsync")


def test_directory_fsync_not_supported_is_not_an_error(tmp_path, monkeypatch):
    real = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd)

    monkeypatch.setattr(_files.os, "fsync", fsync)
    assert write_atomic(str(tmp_path / "f"), "x", 0o644) is True


def test_create_only_never_clobbers(tmp_path, spy):
    path = tmp_path / "k"
    path.write_text("old key\n")
    assert write_atomic(str(path), SECRET, 0o600, create_only=True) is False
    assert path.read_text() == "old key\n"
    assert leftovers(tmp_path) == []
    assert "replace" not in [name for name, _args in spy]


def test_create_only_creates_with_link(tmp_path, spy):
    path = tmp_path / "k"
    assert write_atomic(str(path), SECRET, 0o600, create_only=True) is True
    assert path.read_text() == SECRET and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_nlink == 1  # the temp name is gone
    assert leftovers(tmp_path) == []
    assert [name for name, _args in spy if name in ("link", "replace")] == ["link"]


def test_create_only_does_not_follow_a_dangling_symlink(tmp_path):
    path = tmp_path / "k"
    path.symlink_to(tmp_path / "elsewhere")
    assert write_atomic(str(path), SECRET, 0o600, create_only=True) is False
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_failure_leaves_target_and_no_temp_file(tmp_path, monkeypatch, where):
    path = tmp_path / "f"
    path.write_text("old")

    def boom(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_files.os, where, boom)
    with pytest.raises(OSError):
        write_atomic(str(path), "new", 0o644)
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_failed_check_leaves_target_and_no_temp_file(tmp_path):
    path = tmp_path / "f"
    path.write_text("old")
    checked = []

    def check(tmp):
        checked.append((os.path.dirname(tmp), open(tmp).read(), stat.S_IMODE(os.stat(tmp).st_mode)))
        raise SystemExit(1)  # what fail_json does

    with pytest.raises(SystemExit):
        write_atomic(str(path), "new", 0o640, check=check)
    assert checked == [(str(tmp_path), "new", 0o640)]
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_passing_check_then_replaces(tmp_path):
    path = tmp_path / "f"
    assert write_atomic(str(path), "new", 0o644, check=lambda tmp: None) is True
    assert path.read_text() == "new"


def test_missing_directory_without_dir_mode_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(str(tmp_path / "no" / "f"), "x", 0o644)
    assert not (tmp_path / "no").exists()


def test_dir_mode_creates_parents_with_exact_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "a" / "b" / "k"
    write_atomic(str(path), SECRET, 0o600, dir_mode=0o700)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    umask(0o077)
    write_atomic(str(tmp_path / "c" / "f"), "x", 0o644, dir_mode=0o755)
    assert stat.S_IMODE((tmp_path / "c").stat().st_mode) == 0o755


def test_existing_directory_is_left_as_it_is(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    d.chmod(0o750)
    ensure_dir(str(d), 0o700)
    assert stat.S_IMODE(d.stat().st_mode) == 0o750


def test_text_is_utf8_without_line_end_translation_and_bytes_pass_through(tmp_path):
    path = tmp_path / "f"
    write_atomic(str(path), "é\r\n\udcff", 0o644)  # a surrogate escape goes back to its byte
    assert path.read_bytes() == "é\r\n".encode() + b"\xff"
    write_atomic(str(path), b"\x00\x01", 0o644)
    assert path.read_bytes() == b"\x00\x01"


def test_large_content_is_written_whole(tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    write_atomic(str(tmp_path / "f"), data, 0o644)
    assert (tmp_path / "f").read_bytes() == data


def test_read_text(tmp_path):
    path = tmp_path / "f"
    assert read_text(str(path)) is None
    path.write_bytes(b"a\r\nb\xff\n")
    assert read_text(str(path)) == "a\r\nb\ufffd\n"
    assert read_text(str(path), errors="surrogateescape") == "a\r\nb\udcff\n"
