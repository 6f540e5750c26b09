"""Unpacking a restore (adapters/backup_tar.py, backup_extract.py) on real directories: a tar
stream that names a path out of the target, through a symbolic link or with `..`, or that
holds a device file, restores nothing; a link out of it is skipped and named; links inside the
target, modes and times are kept."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest
import zstandard

from entrusted.adapters import backup_swap
from entrusted.adapters.backup_tar import TarZstdPacker
from entrusted.errors import TamperDetected

pytestmark = pytest.mark.promise("P15")


def stream(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return io.BytesIO(zstandard.ZstdCompressor().compress(raw.getvalue()))


def member(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, mode, 1_700_000_000
    return info


@pytest.mark.parametrize(
    "members",
    [
        [(member("../evil"), b"x")],
        [(member("a/../../evil"), b"x")],
        [(member("dev", tarfile.CHRTYPE), b"")],
    ],
)
def test_a_stream_that_leaves_the_target_restores_nothing(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]]
) -> None:
    target = tmp_path / "root" / "restore"
    with pytest.raises(TamperDetected, match="does not unpack"):
        TarZstdPacker().unpack(stream(*members), target)
    assert not (tmp_path / "root").exists()  # nor the parent it created for the target
    assert not (tmp_path / "evil").exists()


def test_links_out_of_the_target_are_skipped_and_named_not_followed(tmp_path: Path) -> None:
    """A customer's `ln -s /etc/passwd` (or a link up and out) is archived as made, but a
    restore does not create it: it is skipped and named, and the rest restores."""
    target = tmp_path / "root" / "restore"
    files, skipped = TarZstdPacker().unpack(
        stream(
            (member("abs", tarfile.SYMTYPE, "/etc/passwd"), b""),
            (member("out", tarfile.SYMTYPE, "../.."), b""),
            (member("sub", tarfile.DIRTYPE), b""),
            (member("sub/up", tarfile.SYMTYPE, ".."), b""),
            (member("sub/up/x", tarfile.SYMTYPE, ".."), b""),
            (member("sub/up/x/kept"), b"x"),
            (member("hard", tarfile.LNKTYPE, "/etc/passwd"), b""),
        ),
        target,
    )
    assert (files, skipped) == (1, ["abs", "out", "sub/up/x", "hard"])
    assert [p.name for p in (tmp_path / "root").iterdir()] == ["restore"]
    assert not (target / "abs").is_symlink()
    assert not (target / "out").is_symlink()
    assert (target / "x" / "kept").read_bytes() == b"x"  # through sub/up, inside the target
    assert not (tmp_path / "kept").exists()


def test_links_inside_modes_and_times_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "restore"
    files, skipped = TarZstdPacker().unpack(
        stream(
            (member("site", tarfile.DIRTYPE, mode=0o755), b""),
            (member("site/run.sh", mode=0o4755), b"#!/bin/sh\n"),
            (member("site/page.html", mode=0o666), b"<p>hi</p>"),
            (member("latest", tarfile.SYMTYPE, "site"), b""),
            (member("latest/via-link.txt"), b"through a link inside the target"),
            (member("hard", tarfile.LNKTYPE, "site/page.html"), b""),
        ),
        target,
    )
    assert (files, skipped) == (3, [])
    assert stat.S_IMODE((target / "site" / "run.sh").stat().st_mode) == 0o755  # no setuid
    assert stat.S_IMODE((target / "site" / "page.html").stat().st_mode) == 0o644  # no go+w
    assert (target / "site" / "page.html").stat().st_mtime == 1_700_000_000
    assert (target / "site" / "via-link.txt").read_bytes() == b"through a link inside the target"
    assert (target / "latest").is_symlink()
    assert (target / "hard").read_bytes() == b"<p>hi</p>"


def test_a_staged_tree_swaps_with_the_live_one_and_the_old_one_is_removed(
    tmp_path: Path,
) -> None:
    """`renameat2(RENAME_EXCHANGE)`: the live name holds the new tree, the old one is at the
    staged name until removed, and then nothing is left beside it."""
    live, staged = tmp_path / "Maildir", tmp_path / ".Maildir.restore-1"
    (live / "cur").mkdir(parents=True)
    (live / "cur" / "old.eml").write_bytes(b"old")
    (staged / "cur").mkdir(parents=True)
    (staged / "cur" / "new.eml").write_bytes(b"new")
    packer = TarZstdPacker()
    assert packer.can_swap(live)
    assert packer.swap_in(staged, live)
    assert [p.name for p in (live / "cur").iterdir()] == ["new.eml"]
    assert [p.name for p in (staged / "cur").iterdir()] == ["old.eml"]
    assert packer.remove_old(staged) is None
    assert [p.name for p in tmp_path.iterdir()] == ["Maildir"]


def test_without_an_atomic_exchange_nothing_is_swapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No two-rename fallback: the probe says no (and leaves nothing), a swap raises."""
    monkeypatch.setattr(backup_swap, "_renameat2", None)
    live, staged = tmp_path / "Maildir", tmp_path / ".Maildir.restore-1"
    live.mkdir()
    staged.mkdir()
    packer = TarZstdPacker()
    assert not packer.can_swap(live)
    with pytest.raises(OSError):
        packer.swap_in(staged, live)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".Maildir.restore-1", "Maildir"]
