"""Extracting a restore's tar stream with file creation in parallel.

Why: a mailbox is thousands of small files, and creating a file costs a filesystem round
trip that dwarfs decrypting and decompressing its bytes; one thread creating them one after
another restored a Maildir at a quarter of restic's speed. The stream is still read in order,
on one thread, and every member still passes tarfile's `data` filter there (no absolute path,
no `..`, no link out of the target, no device, no setuid bit); only the writing of small
regular files (read whole, at most `SMALL` bytes, at most `AHEAD` in flight) is handed to a
pool. Everything else (directories, links, large files, streamed) is extracted in order, after
the pool has caught up where order matters (a hard link to a file just written). Directory
modes and times are set last, as `extractall` does, so a read-only directory is filled first.

The `data` filter resolves every member's path with `realpath` (an `lstat` per component),
which cost more than the writing itself. A regular file or directory whose name is relative,
has no `..` and passes through no symbolic link extracted before it cannot leave the target
(the target is a fresh private directory), so `_plain` gives it the filter's exact result
without touching the disk; any other member goes through `tarfile.data_filter` itself.
"""

from __future__ import annotations

import os
import tarfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

SMALL = 1 << 20
AHEAD = 64
WORKERS = 8
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _write(path: str, data: bytes, mode: int, mtime: float) -> None:
    try:
        fd = os.open(path, _CREATE, 0o600)
    except FileNotFoundError:  # a member whose directory the stream did not list first
        Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, _CREATE, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


def _plain(member: tarfile.TarInfo, links: set[str]) -> tarfile.TarInfo | None:
    """`data_filter`'s result for a plain file or directory (see the module doc), or None
    when the member needs the filter's own checks."""
    if not (member.isreg() or member.isdir()) or member.name.startswith("/"):
        return None
    parts = PurePosixPath(member.name).parts
    if ".." in parts or any("/".join(parts[: i + 1]) in links for i in range(len(parts))):
        return None
    mode: int | None = None
    if member.isreg():
        mode = member.mode & 0o755
        if not mode & 0o100:
            mode &= ~0o111
        mode |= 0o600
    # What the filter itself returns: no owner (`data`); typeshed's `replace` cannot say None.
    attrs: dict[str, Any] = {"mode": mode, "uid": None, "gid": None, "uname": None, "gname": None}
    return member.replace(**attrs, deep=False)


def extract(tar: tarfile.TarFile, target: Path) -> int:
    """Extract every member of the stream `tar` into `target`; returns the regular files."""
    dest = str(target)
    dirs: list[tarfile.TarInfo] = []
    links: set[str] = set()  # symbolic links extracted so far, by normalised name
    pending: deque[Future[None]] = deque()
    files = 0

    def settle(keep: int) -> None:
        while len(pending) > keep:
            pending.popleft().result()

    with ThreadPoolExecutor(WORKERS, thread_name_prefix="restore") as pool:
        try:
            for member in tar:
                safe = _plain(member, links) or tarfile.data_filter(member, dest)
                if safe.isreg() and safe.size <= SMALL:
                    source = tar.extractfile(safe)
                    data = source.read() if source is not None else b""
                    mode = 0o644 if safe.mode is None else safe.mode
                    pending.append(
                        pool.submit(_write, f"{dest}/{safe.name}", data, mode, safe.mtime)
                    )
                    settle(AHEAD)
                    files += 1
                    continue
                if safe.isdir():
                    (target / safe.name).mkdir(mode=0o700, parents=True, exist_ok=True)
                    dirs.append(safe)
                    continue
                if safe.islnk():
                    settle(0)  # its target may still be in the pool
                if safe.issym():
                    links.add("/".join(PurePosixPath(safe.name).parts))
                tar.extract(safe, dest, filter="data", set_attrs=True)
                files += safe.isreg()
            settle(0)
        finally:
            for future in pending:
                future.cancel()
    for info in sorted(dirs, key=lambda d: d.name, reverse=True):
        path = target / info.name
        if info.mode is not None:
            path.chmod(info.mode)
        os.utime(path, (info.mtime, info.mtime))
    return files
