"""Extracting a restore's tar stream with file creation in parallel.

Why: a mailbox is thousands of small files, and creating a file costs a filesystem round
trip that dwarfs decrypting and decompressing its bytes; one thread creating them one after
another restored a Maildir at a quarter of restic's speed. The stream is still read in order,
on one thread, and every member still passes tarfile's `data` filter there (no absolute path,
no `..`, no link out of the target, no device, no setuid bit); only the writing of small
regular files (read whole, at most `SMALL` bytes each, in batches of `BATCH_FILES`, at most
`AHEAD` batches in flight) is handed to a pool. Everything else (directories, links, large
files, streamed) is extracted in order, once the pool has caught up (a hard link may name a
file just written). Directory modes and times are set last, as `extractall` does, so a
read-only directory is filled first.

Per small file the stream's thread does only the header parse, the name check below and one
read; handing files over in batches rather than one future each halved the restore's time
on a Maildir (profiled: futures, `TarInfo.replace` copies and `extractfile` objects were most
of the Python time per file). No file is fsynced (as restic, tar and cp do not): a restore
to a directory is a copy a sysadmin reads, redone after a crash; a restore into the live
service syncs the filesystem once before the swap (`backup_swap`).

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
BATCH_FILES = 32  # small files per task: one hand-over to the pool, not one per file
BATCH_BYTES = 4 << 20
AHEAD = 4  # batches in flight: bounds the memory a restore holds (about 16 MiB)
# Three writers: file creation waits on the disk, so a few overlap well, but each syscall a
# writer makes hands the GIL back and forth; with 8 the same restore took about twice the CPU
# (futex wake-ups) for no gain in time on two cores.
WORKERS = 3
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_PLAIN_FILE = (tarfile.REGTYPE, tarfile.AREGTYPE)  # not sparse, not a GNU long-name record

Small = tuple[str, bytes, int, float]  # path, content, mode, mtime
# A link the customer made to an absolute path or out of their tree (`ln -s /etc/passwd`) is
# archived as they made it (the backup is a copy of their space), but never created by a
# restore: it is skipped and named to the caller, not taken for tampering. Tampering is a
# chunk that does not authenticate (`crypto.backup_chunks`); a member *path* out of the
# target still refuses the whole restore (our packer never writes one).
_LINK_OUT = (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError)


def _umask() -> int | None:
    """The process's umask, read without changing it (`os.umask` sets it, for every thread);
    None where /proc does not say."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    found = next((line for line in status.splitlines() if line.startswith("Umask:")), None)
    return None if found is None else int(found.split()[1], 8)


def _write(path: str, data: bytes, mode: int, mtime: float, umask: int | None) -> None:
    # Created with its mode when the umask keeps it whole: one syscall (and GIL hand-over)
    # fewer per file than a chmod after; the file is in a private directory until the end.
    exact = umask is not None and not mode & umask
    try:
        fd = os.open(path, _CREATE, mode if exact else 0o600)
    except FileNotFoundError:  # a member whose directory the stream did not list first
        Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, _CREATE, mode if exact else 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if not exact:
            os.fchmod(fd, mode)
        os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


def _write_all(batch: list[Small], umask: int | None) -> None:
    for path, data, mode, mtime in batch:
        _write(path, data, mode, mtime, umask)


def _inside(name: str, links: set[str]) -> bool:
    """A relative name without `..` that passes through no symbolic link extracted so far
    cannot leave the (fresh, private) target."""
    if name.startswith("/"):
        return False
    parts = PurePosixPath(name).parts
    return ".." not in parts and not any(
        "/".join(parts[: i + 1]) in links for i in range(len(parts))
    )


def _file_mode(mode: int) -> int:
    """The `data` filter's mode of a regular file: no setuid/setgid/sticky bit, no write for
    group or others, owner read and write always; executable only if the owner's was."""
    mode &= 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


def _plain(member: tarfile.TarInfo, links: set[str]) -> tarfile.TarInfo | None:
    """`data_filter`'s result for a plain file or directory (see the module doc), or None
    when the member needs the filter's own checks."""
    if not (member.isreg() or member.isdir()) or not _inside(member.name, links):
        return None
    mode = _file_mode(member.mode) if member.isreg() else None
    # What the filter itself returns: no owner (`data`); typeshed's `replace` cannot say None.
    attrs: dict[str, Any] = {"mode": mode, "uid": None, "gid": None, "uname": None, "gname": None}
    return member.replace(**attrs, deep=False)


def _filtered(member: tarfile.TarInfo, links: set[str], dest: str) -> tarfile.TarInfo | None:
    """The member as the `data` filter lets it through; None for a link it refuses only for
    pointing out of the tree (`_LINK_OUT`); anything else it refuses raises."""
    try:
        return _plain(member, links) or tarfile.data_filter(member, dest)
    except _LINK_OUT:
        if member.issym() or member.islnk():
            return None
        raise


def extract(tar: tarfile.TarFile, target: Path) -> tuple[int, list[str]]:
    """Extract every member of the stream `tar` into `target`; returns the regular files and
    the names of the links skipped (see `_LINK_OUT`)."""
    dest = str(target)
    skipped: list[str] = []
    dirs: list[tarfile.TarInfo] = []
    links: set[str] = set()  # symbolic links extracted so far, by normalised name
    pending: deque[Future[None]] = deque()
    batch: list[Small] = []
    batched = 0
    files = 0
    stream = tar.fileobj
    assert stream is not None
    umask = _umask()

    def hand_over(keep: int) -> None:
        """Give the batch to the pool, then wait until at most `keep` batches are in flight."""
        nonlocal batch, batched
        if batch:
            pending.append(pool.submit(_write_all, batch, umask))
            batch, batched = [], 0
        while len(pending) > keep:
            pending.popleft().result()

    with ThreadPoolExecutor(WORKERS, thread_name_prefix="restore") as pool:
        try:
            for member in tar:
                if (
                    member.type in _PLAIN_FILE
                    and member.size <= SMALL
                    and _inside(member.name, links)
                ):
                    # The stream stands at the member's data (as `extractfile` would seek to).
                    data = stream.read(member.size)
                    if len(data) != member.size:
                        raise tarfile.ReadError("unexpected end of data")
                    batch.append(
                        (f"{dest}/{member.name}", data, _file_mode(member.mode), member.mtime)
                    )
                    batched += member.size
                    files += 1
                    if len(batch) >= BATCH_FILES or batched >= BATCH_BYTES:
                        hand_over(AHEAD)
                    continue
                safe = _filtered(member, links, dest)
                if safe is None:
                    skipped.append(member.name)
                    continue
                if safe.isdir():
                    (target / safe.name).mkdir(mode=0o700, parents=True, exist_ok=True)
                    dirs.append(safe)
                    continue
                hand_over(0)  # in order from here: a hard link's target may be in the pool
                if safe.issym():
                    links.add("/".join(PurePosixPath(safe.name).parts))
                tar.extract(safe, dest, filter="data", set_attrs=True)
                files += safe.isreg()
            hand_over(0)
        finally:
            for future in pending:
                future.cancel()
    _dir_attrs(target, dirs)
    return files, skipped


def _dir_attrs(target: Path, dirs: list[tarfile.TarInfo]) -> None:
    """Directory modes and times last, deepest first (as `extractall`)."""
    for info in sorted(dirs, key=lambda d: d.name, reverse=True):
        path = target / info.name
        if info.mode is not None:
            path.chmod(info.mode)
        os.utime(path, (info.mtime, info.mtime))
