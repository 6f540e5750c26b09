"""One bad item fails itself, never the backup run (review finding 4), on SQLite and
PostgreSQL with real directories: a packer that raises ValueError on one tree, a catalogue
that is busy (`Unavailable`) for one archive's row, and a customer whose record cannot be
loaded are each ledgered as `backups.failed` with the error's type name only, and everything
else is sealed and restorable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from entrusted.bootstrap import WORKER
from entrusted.crypto.backup_chunks import Sink, Source
from entrusted.crypto.envelope import WrappedKey
from entrusted.domain.backups import Archive
from entrusted.domain.backups import Source as Kind
from entrusted.errors import Unavailable
from entrusted.services.backup_sources import RegistrySources
from entrusted.services.backups import BackupCatalog, BackupRun, Packer
from tests.integration.test_backups import World, sysadmin, tree_digest, world
from tests.integration.test_registry_sql import ledgered

pytestmark = pytest.mark.promise("P15")

__all__ = ["world"]

UNKNOWN = "cus_00000000000000000000000000000000"


class BadTreePacker:
    """The real packer, except that packing one tree raises (a corrupt zstd frame, a tar
    header it cannot write)."""

    def __init__(self, real: Packer, bad_root: Path) -> None:
        self._real = real
        self._bad = str(bad_root)

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    def pack_tree(self, root: str, sink: Sink) -> int:
        if root == self._bad:
            raise ValueError("planted: this tree cannot be packed")
        return self._real.pack_tree(root, sink)

    def pack_files(self, files: Mapping[str, bytes], sink: Sink) -> int:
        return self._real.pack_files(files, sink)

    def unpack(self, source: Source, target: Path) -> tuple[int, list[str]]:
        return self._real.unpack(source, target)


class BusyCatalog:
    """The real catalogue, except that one kind of archive's row cannot be written (a
    database busy past its timeout)."""

    def __init__(self, real: BackupCatalog, busy: Kind) -> None:
        self._real = real
        self._busy = busy

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    def add_archive(self, archive: Archive, wrapped_dek: WrappedKey) -> None:
        if archive.source is self._busy:
            raise Unavailable("planted: the database is busy")
        self._real.add_archive(archive, wrapped_dek)


def test_one_bad_item_fails_itself_and_the_run_goes_on(world: World) -> None:
    w = world
    runner = w.c.backups.runner
    real = runner._sources
    assert isinstance(real, RegistrySources)
    sources = RegistrySources(real._p, lambda: [w.customer_id, UNKNOWN], real._roots)
    parts = replace(
        runner._p,
        packer=BadTreePacker(runner._p.packer, w.roots[Kind.WEBSITE]),  # type: ignore[arg-type]
        catalog=BusyCatalog(runner._p.catalog, Kind.MAILBOX),  # type: ignore[arg-type]
    )
    report = BackupRun(parts, sources).run(WORKER)
    assert len(report.taken) == 2
    assert len(report.failed) == 3
    assert UNKNOWN in report.failed
    failed = [e for e in ledgered(w.c) if e.rule == "backups.failed"]
    reasons = sorted(e.reason for e in failed)
    assert any("ValueError" in r and "website" in r for r in reasons), reasons
    assert any("Unavailable" in r and "mailbox" in r for r in reasons), reasons
    assert any("NotFound" in r and "customer not backed up" in r for r in reasons), reasons
    assert not any("planted" in r for r in reasons)  # the type name only, never the text
    assert all(e.decision == "deny" for e in failed)
    # What was sealed restores; the failed archives are never listed.
    listed = {a.source: a for a in w.c.backups.access.archives(sysadmin(w))}
    assert set(listed) == {Kind.RECORD, Kind.FTP_SPACE}
    done = w.c.backups.access.restore(
        sysadmin(w), listed[Kind.FTP_SPACE].id, "ftp", incident="INC-F"
    )
    assert tree_digest(done.target) == tree_digest(w.roots[Kind.FTP_SPACE])
