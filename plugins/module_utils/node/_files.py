# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way meshover.mesh writes a file: atomically, with its mode set before its content.

PRIVATE to meshover.mesh, not part of the collection's public API. Standard library only: the node
modules use it, and so can controller code that has no ``AnsibleModule``.

:func:`write_atomic` creates a new file next to the target (``tempfile.mkstemp`` in the target's own
directory: ``O_CREAT|O_EXCL``, mode 0600 at birth), gives it its owner and then its mode through the
open descriptor, writes the content and fsyncs it, runs an optional check on it, and then either
renames it over the target (``os.replace``) or, with ``create_only``, links it to the target's name
(``os.link``, which fails rather than clobber a file that is there: a WireGuard private key is never
replaced by accident). The directory is fsynced after the rename or link, so the new name survives a
power cut. Whatever fails on the way, the temporary file is removed.

Why not ``AnsibleModule.atomic_move`` (ansible-core ``module_utils/basic.py``)? It moves a file the
caller wrote elsewhere (usually ``module.tmpdir``, under the remote user's home) and then:

- when the target does not exist yet, chmods it *after* the rename to ``0666 & ~umask``: a file
  written as 0600 is world-readable (0644 under the usual umask) until the caller chmods it back;
  when it exists, it copies the old file's mode and owner onto the new one, so every caller chmods
  again afterwards (the four modules that used it did);
- does not ``fsync`` the file or the directory: after a crash a renamed file can be empty;
- has no "create only if absent" (the key pair used ``link()`` by hand for that);
- falls back to copying when ``module.tmpdir`` is on another filesystem than the target, and to
  unsafe in-place writes when asked;
- needs an ``AnsibleModule``, which a controller-side writer (the key cache) does not have.

What it does that this does not: it keeps the SELinux context of the file it replaces. The nodes are
Debian, where SELinux is not enabled; a file created in the target's own directory gets the label
the policy gives new files there, and its owner and group are the ones asked for (or the writer's),
never those of a temp directory.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable


def read_text(path: str, errors: str = "replace") -> str | None:
    """The content of ``path`` as text (UTF-8, line ends as they are), or None if it does not exist."""
    try:
        with open(path, encoding="utf-8", errors=errors, newline="") as f:
            return f.read()
    except FileNotFoundError:
        return None


def ensure_dir(directory: str, mode: int) -> None:
    """Create ``directory`` and its missing parents, each with exactly ``mode``; leave existing ones as they are.

    ``mkdir`` gives at most ``mode`` (the umask only takes bits away), then ``chmod`` gives exactly it,
    so a directory meant to be 0700 is never more open than that, whatever the umask."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, mode)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to chmod
        os.chmod(d, mode)


def write_atomic(
    path: str,
    content: str | bytes,
    mode: int,
    *,
    uid: int | None = None,
    gid: int | None = None,
    dir_mode: int | None = None,
    create_only: bool = False,
    check: Callable[[str], object] | None = None,
) -> bool:
    """Put ``content`` at ``path`` in one step: readers see the old file or the new one, never a part.

    mode: the file's permission bits, set before any byte is written.
    uid, gid: its owner and group (None: the writer's, as for any new file).
    dir_mode: create the missing directories with this mode (None: the directory must exist).
    create_only: make ``path`` only if nothing is there; returns False (and writes nothing) if it is.
    check: called with the temporary file's path before it takes the target's place (a validator);
        whatever it raises (SystemExit from ``fail_json`` too) leaves the target as it was.
    Text is written as UTF-8 (surrogate escapes back to their bytes), with no line-end translation.
    Returns True when ``path`` now holds ``content``.
    """
    directory = os.path.dirname(path) or "."
    if dir_mode is not None:
        ensure_dir(directory, dir_mode)
    data = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else bytes(content)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)[:200]}.", suffix=".tmp", dir=directory)
    try:
        try:
            if uid is not None or gid is not None:
                os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
            os.fchmod(fd, mode)  # after fchown, which may clear set-id bits
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if check is not None:
            check(tmp)
        if create_only:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
            tmp = None
    finally:
        if tmp is not None:
            _remove(tmp)
    fsync_dir(directory)
    return True


def fsync_dir(directory: str) -> None:
    """Make a rename, link or unlink in ``directory`` durable (a no-op where the filesystem cannot)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
