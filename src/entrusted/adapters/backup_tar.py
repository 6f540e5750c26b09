"""`services.backups.Packer`: a directory as a tar stream compressed with zstandard, and back.

Packing follows no symbolic link (a link is archived as a link) and reads each file once.
Unpacking uses tarfile's `data` filter (no absolute paths, no `..`, no links out of the
target, no device files, no setuid bits; `adapters.backup_extract`, which creates small files
in parallel) into a private temporary directory beside the target, reads the sealed stream
to its very end (so a truncated archive is caught even after the last file), and only then
renames it into place: a restore appears whole or not at all.
"""

from __future__ import annotations

import secrets
import shutil
import tarfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

import zstandard

from entrusted.adapters import backup_swap
from entrusted.adapters.backup_extract import extract
from entrusted.adapters.file_modes import DIR_MODE
from entrusted.crypto.backup_chunks import Sink, Source
from entrusted.errors import TamperDetected

# tar's stream buffer. Not larger: tarfile's stream copies what is left of its buffer on every
# read and every write (`buf = buf[size:]`, `buf += data`), so with 1 MiB each 512-byte header
# and each small file moved up to 1 MiB; profiled, that copying was most of a Maildir's restore.
# zstd and the chunk sealer buffer on their own, so 64 KiB pieces cost them nothing.
BUFFER = 64 << 10
LEVEL = 3  # zstd's default: most of the ratio of higher levels at several times the speed
# The staging directory is `.<name>.partial-<8 hex>`: a target's last name may be at most
# NAME_MAX minus these 18 characters (`services.backup_access` checks before anything runs).
STAGING_PREFIX = "."
STAGING_EXTRA = len(STAGING_PREFIX) + len(".partial-") + 8


class TarZstdPacker:
    def __init__(self, level: int = LEVEL) -> None:
        self._level = level

    def has_tree(self, root: str) -> bool:
        return bool(root) and Path(root).is_dir()

    def pack_tree(self, root: str, sink: Sink) -> int:
        files = 0

        def count(info: tarfile.TarInfo) -> tarfile.TarInfo:
            nonlocal files
            files += info.isfile()
            return info

        with self._tar(sink) as tar:
            tar.add(root, arcname=".", recursive=True, filter=count)
        return files

    def pack_files(self, files: Mapping[str, bytes], sink: Sink) -> int:
        with self._tar(sink) as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o600
                info.mtime = int(time.time())
                tar.addfile(info, BytesIO(data))
        return len(files)

    def unpack(self, source: Source, target: Path) -> tuple[int, list[str]]:
        created = _missing_parents(target)
        try:
            target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            staging = f"{STAGING_PREFIX}{target.name}.partial-{secrets.token_hex(4)}"
            partial = target.parent / staging
            partial.mkdir(mode=DIR_MODE)
        except BaseException:
            _remove_empty(created)
            raise
        try:
            # zstandard's stubs want a ByteString source; any object with read() is accepted.
            reader = zstandard.ZstdDecompressor().stream_reader(source, closefd=False)  # type: ignore[arg-type]
            with reader, tarfile.open(fileobj=reader, mode="r|", bufsize=BUFFER) as tar:
                files, skipped = extract(tar, partial)
            while source.read(1 << 20):  # authenticate every chunk up to the final one
                pass
            partial.rename(target)
        except (zstandard.ZstdError, tarfile.TarError) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            _remove_empty(created)
            raise TamperDetected(f"the archive does not unpack ({type(exc).__name__})") from None
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            _remove_empty(created)
            raise
        return files, skipped

    def can_swap(self, live: Path) -> bool:
        return backup_swap.can_exchange(live)

    def swap_in(self, staged: Path, live: Path) -> bool:
        return backup_swap.swap_in(staged, live)

    def swap_back(self, staged: Path, live: Path) -> None:
        backup_swap.exchange(staged, live)
        backup_swap.settle(live.parent)

    def remove_old(self, old: Path) -> int | None:
        return backup_swap.remove(old)

    def discard(self, staged: Path) -> None:
        backup_swap.discard(staged)

    @contextmanager
    def _tar(self, sink: Sink) -> Iterator[tarfile.TarFile]:
        """A tar stream into a zstd frame into `sink`; both end when the block does."""
        compressor = zstandard.ZstdCompressor(level=self._level)
        # zstandard's stubs want an IO[bytes] sink; any object with write() is accepted.
        with (
            compressor.stream_writer(sink, closefd=False) as stream,  # type: ignore[arg-type]
            tarfile.open(
                fileobj=stream, mode="w|", format=tarfile.GNU_FORMAT, bufsize=BUFFER
            ) as tar,
        ):
            yield tar


def _missing_parents(target: Path) -> list[Path]:
    """The directories above `target` that do not exist yet, deepest first: a failed restore
    removes them again (if still empty) rather than leave `restores/sub` behind."""
    missing = []
    for parent in target.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


def _remove_empty(created: list[Path]) -> None:
    for path in created:
        try:
            path.rmdir()
        except OSError:  # not empty (someone else's now), or already gone
            return
