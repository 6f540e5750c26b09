"""Backups (issue 15, P15, P16) wired by the composition root, on SQLite and PostgreSQL, with
real directories: a run seals one archive per hosted service and one of the record, no stored
byte holds a planted marker, a sysadmin's restore is byte-identical to the original tree (an
independent hash of both), a tampered archive restores nothing, support is refused by the
rule, a customer sees their own backups' dates, and after seven days (the clock moves, not
the files) the day's key is gone, a copy of the archive set aside can no longer be opened by
anything Entrusted keeps, and every step is in the ledger."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from entrusted.bootstrap import WORKER, Container, build
from entrusted.config import Settings
from entrusted.crypto.backup_chunks import ChunkOpener, Sink, Source, unwrap_archive_key
from entrusted.crypto.envelope import unwrap
from entrusted.domain.backups import ArchiveStatus, site_root
from entrusted.domain.backups import Source as Kind
from entrusted.domain.mail import mailbox_root
from entrusted.domain.policy import Actor
from entrusted.errors import Conflict, InvalidInput, TamperDetected
from entrusted.services.backups import BackupRun, BackupStore
from entrusted.services.ftp_login import space_root
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.conftest import FakeClock, count_rows
from tests.installations import Installations
from tests.integration.test_registry_sql import ledgered, raw_rows, staff
from tests.refusals import refused_by
from tests.unit.registry_world import SIGNUP, customer

pytestmark = pytest.mark.promise("P15", "P16")

MARKER = b"PLANTED-MARKER-6f1d0c2e-never-in-a-backup-byte"


@dataclass
class World:
    c: Container
    clock: FakeClock
    customer_id: str
    contract_id: str
    roots: dict[Kind, Path]
    admin: Actor | None = None


def tree_digest(root: Path) -> str:
    """The oracle: every path, type, mode bit that matters and content under `root`, hashed
    independently of the code under test."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                h.update(f"L {rel} -> {path.readlink()}\n".encode())
            else:
                h.update(f"F {rel} {stat.S_IMODE(path.stat().st_mode) & 0o100:o}\n".encode())
                h.update(hashlib.sha256(path.read_bytes()).digest())
        for d in dirnames:
            h.update(f"D {(Path(dirpath) / d).relative_to(root).as_posix()}\n".encode())
    return h.hexdigest()


def plant(root: Path, big: bool = False) -> None:
    (root / "cur").mkdir(parents=True)
    (root / "new").mkdir()
    (root / "cur" / "1.eml").write_bytes(b"Subject: hello\n\n" + MARKER * 50)
    (root / "new" / "2.eml").write_bytes(MARKER)
    (root / "empty").mkdir()
    (root / "link").symlink_to("cur/1.eml")
    if big:  # incompressible, so the archive spans several 1 MiB chunks
        (root / "site.bin").write_bytes(os.urandom(3 << 20))


@pytest.fixture
def world(
    settings: Settings, clock: FakeClock, tmp_path: Path, installations: Installations
) -> Iterator[World]:
    hosted = tmp_path / "hosted"
    s = settings.model_copy(
        update={
            "mail_root_template": str(hosted / "mail" / "%d" / "%n" / "Maildir"),
            "ftp_root_template": str(hosted / "ftp" / "%n"),
            "web_root_template": str(hosted / "www" / "%n"),
        }
    )
    installations.install(s)
    c = build(s, clock=clock)
    form = Registration(
        "Brunner",
        "Anna",
        "anna.brunner@example.com",
        "044 000 20 01",
        None,
        (
            ServiceRequest("mailbox", "anna@example.org"),
            ServiceRequest("ftp_space", "anna-files"),
            ServiceRequest("website", "anna.example.org"),
        ),
    )
    done = c.registry.register(SIGNUP, form)
    assert done.contract_id is not None
    with c.uow() as uow:
        contract = uow.contracts.get(done.contract_id)  # type: ignore[attr-defined]
    ids = {s.kind.value: s.id for s in contract.services}
    roots = {
        Kind.MAILBOX: Path(mailbox_root(s.mail_root_template, "anna@example.org")),
        Kind.FTP_SPACE: Path(space_root(s.ftp_root_template, "anna-files", ids["ftp_space"])),
        Kind.WEBSITE: Path(site_root(s.web_root_template, "anna.example.org", ids["website"])),
    }
    for source, root in roots.items():
        plant(root, big=source is Kind.WEBSITE)
    try:
        yield World(c, clock, done.customer_id, done.contract_id, roots)
    finally:
        c.close()


def sysadmin(w: World) -> Actor:
    if w.admin is None:
        w.admin = staff(w.c, "root-ops", "sysadmin")
    return w.admin


def stored_bytes(w: World) -> list[tuple[Path, bytes]]:
    root = w.c.settings.effective_backup_dir
    return [(p, p.read_bytes()) for p in sorted(root.iterdir())]


def test_a_run_seals_every_service_and_restores_byte_identical(world: World) -> None:
    w = world
    report = w.c.backups.runner.run(WORKER)
    assert (len(report.taken), report.failed, report.missing) == (4, [], 0)
    archives = {a.source: a for a in w.c.backups.access.archives(sysadmin(w))}
    assert set(archives) == {Kind.RECORD, Kind.MAILBOX, Kind.FTP_SPACE, Kind.WEBSITE}
    assert archives[Kind.WEBSITE].chunks >= 3
    # Only ciphertext is stored: no marker, no name, in any stored byte; private modes.
    backup_dir = w.c.settings.effective_backup_dir
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    for path, data in stored_bytes(w):
        assert MARKER not in data
        assert b"anna" not in data
        assert b"Brunner" not in data
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.suffix == ".bkp"
    for cell in raw_rows(w.c.engine):
        assert MARKER not in cell
    # Restore each service's archive: identical to the original, by an independent hash.
    admin = sysadmin(w)
    for source, root in w.roots.items():
        done = w.c.backups.access.restore(
            admin, archives[source].id, f"r-{source.value}", incident="INC-2026-11-27"
        )
        assert tree_digest(done.target) == tree_digest(root)
        assert (done.target / "cur" / "1.eml").read_bytes() == (root / "cur" / "1.eml").read_bytes()
    record = w.c.backups.access.restore(
        admin, archives[Kind.RECORD].id, "r-record", incident="INC-2026-11-27"
    )
    body = (record.target / "record.json").read_bytes()
    assert w.customer_id.encode() in body
    assert b"Brunner" not in body
    entries = ledgered(w.c)
    taken = [e for e in entries if e.rule == "backups.taken"]
    assert {e.owner for e in taken} == {w.customer_id}
    assert len(taken) == 4
    created = [
        e
        for e in entries
        if e.action == "create"
        and e.resource_kind == "backup"
        and e.rule == "service-keeps-backups-for-a-week"
    ]
    assert len(created) == 4
    restored = [e for e in entries if e.rule == "backups.restored"]
    assert len(restored) == 4
    assert all(e.refs.get("ticket") == "INC-2026-11-27" for e in restored)
    assert any(e.rule == "backups.key-created" and "commitment" in e.reason for e in entries)


def test_restore_needs_a_case_and_a_target_inside_the_root(world: World) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    admin = sysadmin(w)
    archive = w.c.backups.access.archives(admin)[0]
    with pytest.raises(InvalidInput, match="case"):
        w.c.backups.access.restore(admin, archive.id, "somewhere")
    for bad in ("../escape", "/etc/entrusted-restore", "", "a/../../b"):
        with pytest.raises(InvalidInput, match="target"):
            w.c.backups.access.restore(admin, archive.id, bad, incident="INC-1")
    w.c.backups.access.restore(admin, archive.id, "once", incident="INC-1")
    with pytest.raises(InvalidInput, match="already exists"):
        w.c.backups.access.restore(admin, archive.id, "once", incident="INC-1")


def test_a_tampered_archive_restores_nothing(world: World) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    admin = sysadmin(w)
    site = next(a for a in w.c.backups.access.archives(admin) if a.source is Kind.WEBSITE)
    path = w.c.settings.effective_backup_dir / f"{site.id}.bkp"
    data = bytearray(path.read_bytes())
    data[12 + (1 << 20) + 100] ^= 0x01  # inside chunk 1
    path.write_bytes(bytes(data))
    with pytest.raises(TamperDetected, match="chunk 1"):
        w.c.backups.access.restore(admin, site.id, "tampered", incident="INC-9")
    restore_root = w.c.settings.effective_restore_root
    assert not list(restore_root.glob("*"))  # nothing half-restored, no partial left
    last = ledgered(w.c)[-1]
    assert (last.decision, last.rule, last.resource_id) == ("deny", "backups.tampered", site.id)


def test_support_is_refused_every_backup_and_the_refusal_is_ledgered(world: World) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    support = staff(w.c, "help-desk", "support")
    archive = w.c.backups.access.archives(sysadmin(w))[0]
    last = lambda: ledgered(w.c)[-1]  # noqa: E731
    with refused_by("support-never-touches-backups", ledger=last):
        w.c.backups.access.restore(support, archive.id, "r", incident="INC-3")
    with refused_by("support-never-touches-backups", ledger=last):
        w.c.backups.access.archives(support)
    with refused_by("support-never-touches-backups", ledger=last):
        w.c.backups.access.inspect(support, archive.id)
    assert not any(w.c.settings.effective_restore_root.glob("*"))


def test_a_customer_sees_only_their_own_backups_and_their_destruction_dates(
    world: World,
) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    mine = w.c.backups.access.for_customer(customer(w.customer_id))
    assert len(mine) == 4
    assert all(a.destroy_after == mine[0].destroy_after for a in mine)
    assert (mine[0].destroy_after - mine[0].created_at).days < 7
    other = w.c.registry.register(
        SIGNUP, Registration("Keller", "Ben", "ben.keller@example.com", "044 000 20 02", None, ())
    )
    assert w.c.backups.access.for_customer(customer(other.customer_id)) == []


def test_after_seven_days_the_key_is_destroyed_and_no_copy_opens(world: World) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    admin = sysadmin(w)
    archive = next(a for a in w.c.backups.access.archives(admin) if a.source is Kind.MAILBOX)
    catalog = w.c.backups.purge._p.catalog
    day_key, wrapped_day_key = catalog.day_key(archive.day)  # type: ignore[misc]
    material = unwrap(w.c.registry_keys().keyring, wrapped_day_key)
    wrapped_dek = catalog.wrapped_dek(archive.id)
    assert wrapped_dek is not None
    aside = w.c.settings.data_dir.parent / "aside.bkp"
    shutil.copyfile(w.c.settings.effective_backup_dir / f"{archive.id}.bkp", aside)
    # The copy opens today, with the keys Entrusted holds.
    with aside.open("rb") as f:
        ChunkOpener(unwrap_archive_key(material, wrapped_dek), archive.id, f).read()
    # Six days later nothing is due; at the start of the seventh day after, the day is gone.
    w.clock.advance(days=6)
    assert w.c.backups.purge.purge(WORKER).days == []
    w.clock.advance(days=1)
    report = w.c.backups.purge.purge(WORKER)
    assert report.days == [archive.day]
    assert report.archives == 4
    assert count_rows(w.c.engine, "backup_key") == 0
    assert list(w.c.settings.effective_backup_dir.iterdir()) == []
    assert catalog.wrapped_dek(archive.id) is None
    # Nothing Entrusted keeps holds the day key or the archive's wrapped key any more.
    needles = [material, wrapped_day_key.blob, wrapped_dek.blob]
    for cell in raw_rows(w.c.engine):
        assert not any(n in cell for n in needles)
    if w.c.settings.database_url and w.c.settings.database_url.startswith("sqlite"):
        w.c.engine.dispose()
    for path in w.c.settings.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path
    # A restore of the destroyed backup fails clearly, and says so in the ledger.
    with pytest.raises(Conflict, match="destroyed"):
        w.c.backups.access.restore(admin, archive.id, "late", incident="INC-4")
    entries = ledgered(w.c)
    assert entries[-1].rule == "backups.unrestorable"
    shredded = next(e for e in entries if e.rule == "backups.key-destroyed")
    assert day_key.key_id in shredded.reason
    assert day_key.commitment in shredded.reason
    destroyed = {e.resource_id for e in entries if e.rule == "backups.destroyed"}
    assert archive.id in destroyed
    assert len(destroyed) == 4
    assert all(
        a.status is ArchiveStatus.DESTROYED
        for a in w.c.backups.access.for_customer(customer(w.customer_id))
    )
    # A rerun finds nothing left to do; the status shows nothing live and nothing overdue.
    assert w.c.backups.purge.purge(WORKER).days == []
    status = w.c.backups.purge.status()
    assert (status.live_archives, status.overdue) == (0, [])


class FullDisk:
    """The directory store, except that the disk fills after `room` bytes of an archive."""

    def __init__(self, store: BackupStore, room: int) -> None:
        self._store = store
        self._room = room

    def writer(self, archive_id: str) -> AbstractContextManager[Sink]:
        return self._full(archive_id)

    @contextmanager
    def _full(self, archive_id: str) -> Iterator[Sink]:
        room = self._room

        with self._store.writer(archive_id) as sink:

            class Filling:
                def write(self, data: bytes, /) -> int:
                    nonlocal room
                    if len(data) > room:
                        raise OSError(errno.ENOSPC, "No space left on device")
                    room -= len(data)
                    return sink.write(data)

            yield Filling()

    def reader(self, archive_id: str) -> AbstractContextManager[Source]:
        return self._store.reader(archive_id)

    def delete(self, archive_id: str) -> bool:
        return self._store.delete(archive_id)


def test_a_full_disk_fails_the_archive_and_leaves_nothing_that_looks_valid(world: World) -> None:
    w = world
    runner = w.c.backups.runner
    parts = replace(runner._p, store=FullDisk(runner._p.store, 1 << 20))
    report = BackupRun(parts, runner._sources).run(WORKER)
    assert len(report.failed) == 1  # the 3 MiB web site; the small ones fit
    assert len(report.taken) == 3
    admin = sysadmin(w)
    assert report.failed[0] not in {a.id for a in w.c.backups.access.archives(admin)}
    assert sorted(p.suffix for p in w.c.settings.effective_backup_dir.iterdir()) == [".bkp"] * 3
    failed = [e for e in ledgered(w.c) if e.rule == "backups.failed"]
    assert [(e.decision, e.resource_id) for e in failed] == [("deny", report.failed[0])]
    assert "ENOSPC" in failed[0].reason or "No space" in failed[0].reason
    with pytest.raises(Conflict, match="never completed"):
        w.c.backups.access.restore(admin, report.failed[0], "half", incident="INC-5")
    # The failed archive's row is destroyed with its day like every other.
    w.clock.advance(days=7)
    assert w.c.backups.purge.purge(WORKER).archives == 4


def test_a_purge_interrupted_after_the_key_went_is_finished_by_the_next_run(
    world: World,
) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    catalog = w.c.backups.purge._p.catalog  # the crash is simulated by hand
    (day,) = catalog.days()
    w.clock.advance(days=7)
    assert w.c.backups.purge.status().overdue == [day]
    catalog.destroy_day(day.day, w.clock())  # the commit happened, then the process died
    assert count_rows(w.c.engine, "backup_key") == 0
    assert len(list(w.c.settings.effective_backup_dir.iterdir())) == 4  # files still there
    assert w.c.backups.purge.status().overdue != []  # no evidence yet: still flagged
    report = w.c.backups.purge.purge(WORKER)
    assert report.archives == 4
    assert list(w.c.settings.effective_backup_dir.iterdir()) == []
    assert w.c.backups.purge.status().overdue == []
    assert [e.rule for e in ledgered(w.c)].count("backups.key-destroyed") == 1
