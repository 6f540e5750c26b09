"""Swapping a restored tree into the place of a live one (a restore into the live service).

Why an exchange: with two renames (live aside, restored in) there is a moment with no
directory at all, and a mail or FTP server that creates a missing directory on first use
would fill it, after which the second rename fails or, onto an empty directory, silently
replaces it. Linux's `renameat2(RENAME_EXCHANGE)` swaps the two names in one step, so a
reader sees the old tree or the new one, never neither. Where it is missing (another
kernel, a filesystem without it) the two renames are the fallback, and a directory that
appeared in between is an error (the old tree is left beside it), not something to overwrite.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 1 << 1
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names `a` and `b` atomically; False where the system cannot."""
    if _renameat2 is None:
        return False
    done = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_filesystem(path: Path) -> None:
    """Make every file of the restored tree durable in one call (`syncfs`), not one fsync
    per file: once swapped in, the live service reads it and the old tree is gone, so a
    crash must not leave it with empty files."""
    syncfs = getattr(_libc, "syncfs", None)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def replace_tree(staged: Path, live: Path) -> None:
    """Put `staged` (a sibling of `live`) where `live` is, then delete the old tree."""
    _sync_filesystem(staged)
    if not live.exists():
        staged.rename(live)
        _fsync_dir(live.parent)
        return
    if not _exchange(staged, live):
        aside = staged.with_name(staged.name + ".old")
        live.rename(aside)
        if live.exists():  # something recreated it in between: put the old tree back
            aside.rename(staged.with_name(staged.name + ".kept"))
            raise FileExistsError(errno.EEXIST, "recreated during the restore", str(live))
        staged.rename(live)
        staged = aside
    _fsync_dir(live.parent)
    shutil.rmtree(staged)  # now the replaced tree


def discard(staged: Path) -> None:
    shutil.rmtree(staged, ignore_errors=True)
