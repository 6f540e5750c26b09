"""Swapping a restored tree into the place of a live one (a restore into the live service).

Why an exchange: with two renames (live aside, restored in) there is a moment with no
directory at all, and a mail or FTP server that creates a missing directory on first use
would fill it; a crash or an error between the renames leaves the live directory missing or
empty and the old tree hidden beside it. Linux's `renameat2(RENAME_EXCHANGE)` swaps the two
names in one step, so a reader sees the old tree or the new one, never neither. Where it is
missing (another kernel; a filesystem without it, e.g. NFS answers EINVAL) there is no
fallback: `can_exchange` probes first, on two empty directories beside the live one, and the
restore is refused before anything of the live tree is touched.

The order (`services.backup_access`): swap the restored tree in, back up the tree it displaced
(which no service writes to any more), then delete that tree; if the backup fails, the same
exchange swaps the old tree back.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import secrets
import shutil
from pathlib import Path

from entrusted.crypto.keyfiles import fsync_dir

log = logging.getLogger(__name__)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 1 << 1
_UNSUPPORTED = (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP)
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def _try_exchange(a: Path, b: Path) -> bool:
    """Swap the names `a` and `b` atomically; False where the system cannot."""
    if _renameat2 is None:
        return False
    done = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(a))


def can_exchange(live: Path) -> bool:
    """Whether two directories in `live`'s parent can swap names atomically: tried on two
    empty probe directories (removed again), never on `live` itself."""
    if _renameat2 is None:
        return False
    base = live.parent / f".{live.name}.probe-{secrets.token_hex(4)}"
    a, b = base.with_name(base.name + "-a"), base.with_name(base.name + "-b")
    try:
        a.mkdir()
        b.mkdir()
        return _try_exchange(a, b)
    finally:
        for probe in (a, b):
            with contextlib.suppress(FileNotFoundError):
                probe.rmdir()


def exchange(a: Path, b: Path) -> None:
    """Swap `a` and `b` in one step; OSError (ENOTSUP) where that cannot be done."""
    if not _try_exchange(a, b):
        raise OSError(errno.ENOTSUP, "no atomic directory exchange here", str(b))


def _sync_filesystem(path: Path) -> None:
    """Make every file of the restored tree durable in one call (`syncfs`), not one fsync
    per file: once swapped in, the live service reads it, so a crash must not leave it with
    empty files."""
    syncfs = getattr(_libc, "syncfs", None)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def swap_in(staged: Path, live: Path) -> bool:
    """Put `staged` (a sibling of `live`) where `live` is. True: the old tree is now at
    `staged`; False: there was no live tree. Atomic only: OSError where it cannot be."""
    _sync_filesystem(staged)
    if not live.exists():
        staged.rename(live)
        settle(live.parent)
        return False
    exchange(staged, live)
    return True


def settle(directory: Path) -> int | None:
    """fsync a directory after a swap, best effort: the swap has happened; an error is
    logged (its errno only) and returned, never raised."""
    try:
        fsync_dir(directory)
    except OSError as exc:
        log.warning("backup restore: fsync of the parent directory failed (errno %s)", exc.errno)
        return exc.errno or 0
    return None


def remove(old: Path) -> int | None:
    """Delete the displaced tree, best effort (NFS leaves `.nfsXXXX` files: ENOTEMPTY).
    Returns the errno of the first failure (logged without any name), None if all went."""
    failures: list[int] = []

    def failed(_fn: object, _path: object, info: tuple[type, BaseException, object]) -> None:
        failures.append(getattr(info[1], "errno", None) or 0)

    shutil.rmtree(old, onerror=failed)
    synced = settle(old.parent)
    if failures:
        log.warning("backup restore: the old tree was not fully removed (errno %s)", failures[0])
        return failures[0]
    return synced


def discard(staged: Path) -> None:
    shutil.rmtree(staged, ignore_errors=True)
