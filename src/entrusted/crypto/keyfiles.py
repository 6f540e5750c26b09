"""Private key files: created atomically with mode 0600, never overwritten, and refused when
group or others could read them.

One implementation for every key Entrusted keeps on disk (the ledger's signing key, the
master key, the blind-index key): a key that others could read must be treated as leaked,
and a key file that is half-written or silently replaced orphans everything made with it.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from entrusted.errors import Conflict, InvalidInput


def create_private_file(path: Path, content: bytes, field: str) -> None:
    """Write `content` to `path` with mode 0600, complete or not at all.

    It is written to a private temporary file (O_CREAT|O_EXCL, 0600), synced, and hard-linked
    into place; the link fails if `path` is taken, so an existing key is never overwritten
    (Conflict). The directory is synced so the new name is durable before anything is made
    with the key.
    """
    if path.exists() or path.is_symlink():
        raise Conflict(f"key file {path} already exists; refusing to overwrite it")
    if not path.parent.is_dir():
        raise InvalidInput(field, f"directory {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask can only narrow the mode; make it exact
            write_all(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError as exc:
            raise Conflict(f"key file {path} already exists; refusing to overwrite it") from exc
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def read_private_file(path: Path, field: str, max_size: int) -> bytes:
    """The bytes of a key file; InvalidInput when it is missing, not a regular file, too large,
    or readable by group or others. The mode is read from the opened descriptor, so swapping
    the file after the check changes nothing. Messages never quote the content."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError as exc:
        raise InvalidInput(field, f"key file {path} does not exist") from exc
    except OSError as exc:
        raise InvalidInput(field, f"cannot open key file {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(field, f"key file {path} is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise InvalidInput(
                field,
                f"key file {path} has mode {mode:04o}, so group or others may read it; "
                f"run `chmod 600 {path}` and rotate the key if it may have leaked",
            )
        raw = os.read(fd, max_size + 1)
    finally:
        os.close(fd)
    if len(raw) > max_size:
        raise InvalidInput(field, f"key file {path} is too large to be a key file")
    return raw


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
