"""Snapshots of everything hosted (P15): one sealed archive per hosted service and one of each
customer's record, every day, each decided by the gate and ledgered.

An archive is a tar stream, compressed with zstandard and sealed in authenticated AES-256-GCM
chunks (`crypto.backup_chunks`) under a fresh data key, which the day's key wraps; the day's
key is wrapped by the master key and lives only in the catalogue's key table, which no backup
ever contains. Destroying that key (`services.backup_purge`) destroys the day's archives.

Crash safety: an archive's row is written (`writing`) before its bytes, so a purge finds even
an archive whose run died; the bytes become visible in the store only once complete, and only
`complete` archives are listed or restored. A full disk or a vanished directory fails that one
archive (ledgered as `backups.failed`), not the run.

```python
report = backups.run(WORKER, progress=lambda done, total: ...)
report.taken, report.failed, report.missing
```
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from entrusted.crypto.backup_chunks import (
    ChunkSealer,
    Sink,
    Source,
    commitment,
    wrap_archive_key,
)
from entrusted.crypto.envelope import Keyring, WrappedKey, key_id, new_data_key, unwrap, wrap
from entrusted.crypto.secrets import new_id
from entrusted.domain.backups import (
    Archive,
    ArchiveStatus,
    DayKey,
    backup_day,
    destroy_after,
)
from entrusted.domain.backups import Source as SourceKind
from entrusted.domain.policy import Action, Actor, Decision, Obligation, Resource, ResourceKind
from entrusted.errors import Unavailable
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.ports import Clock

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called after each archive with (archives handled so far, archives planned)."""


class BackupStore(Protocol):
    """Where sealed archives live: a directory (`adapters.backup_directory`); an S3-compatible
    bucket would be a sibling. The store sees only ciphertext."""

    def writer(self, archive_id: str) -> AbstractContextManager[Sink]:
        """A sink whose bytes become the archive only when the block ends without error."""
        ...

    def reader(self, archive_id: str) -> AbstractContextManager[Source]:
        """The stored bytes; NotFound if there are none."""
        ...

    def delete(self, archive_id: str) -> bool:
        """Remove the archive's bytes (and any partial write); False if there were none."""
        ...


class Packer(Protocol):
    """Turns a directory (or a few in-memory files) into a compressed tar stream and back."""

    def has_tree(self, root: str) -> bool: ...

    def pack_tree(self, root: str, sink: Sink) -> int:
        """Write `root` as a compressed tar stream into `sink`; returns the file count."""
        ...

    def pack_files(self, files: Mapping[str, bytes], sink: Sink) -> int: ...

    def unpack(self, source: Source, target: Path) -> tuple[int, list[str]]:
        """Extract into `target`, which appears only once everything was read and
        authenticated (nothing half-restored); returns the file count and the names of the
        links not created because they point to an absolute path or out of the tree."""
        ...

    def can_swap(self, live: Path) -> bool:
        """Whether directories beside `live` can swap names in one atomic step (probed on
        empty directories, never on `live`)."""
        ...

    def swap_in(self, staged: Path, live: Path) -> bool:
        """Put the directory `staged` (beside `live`) in the place of `live` in one step;
        True if a live tree was displaced (it is now at `staged`). Atomic or OSError."""
        ...

    def swap_back(self, staged: Path, live: Path) -> None:
        """Undo `swap_in`: the same atomic exchange again."""
        ...

    def remove_old(self, old: Path) -> int | None:
        """Delete a displaced tree, best effort: the errno of a failure (logged), or None."""
        ...

    def discard(self, staged: Path) -> None:
        """Remove a staged tree that will not be swapped in."""
        ...


class BackupCatalog(Protocol):
    """The archives and the day keys (`adapters.db.backup_store`). The key table is the one
    place a day's key exists; `destroy_day` removes it."""

    def day_key(self, day: date) -> tuple[DayKey, WrappedKey] | None: ...
    def add_day_key(self, key: DayKey, wrapped: WrappedKey) -> bool: ...
    def days(self) -> list[DayKey]: ...
    def destroy_day(self, day: date, at: datetime) -> list[str]:
        """In one transaction: delete the day's key row, mark its archives destroyed and drop
        their wrapped data keys; returns the archive ids. Idempotent."""
        ...

    def mark_evidence(self, day: date) -> None: ...
    def add_archive(self, archive: Archive, wrapped_dek: WrappedKey) -> None: ...
    def finish_archive(self, archive_id: str, size: int, chunks: int, sha256: str) -> None: ...
    def fail_archive(self, archive_id: str) -> None: ...
    def get(self, archive_id: str) -> Archive | None: ...
    def wrapped_dek(self, archive_id: str) -> WrappedKey | None: ...
    def archives(
        self, customer_id: str | None = None, day: date | None = None
    ) -> list[Archive]: ...


@dataclass(frozen=True, slots=True)
class Target:
    """One thing to back up: a hosted service's directory, or the customer's record."""

    customer_id: str
    source: SourceKind
    service_id: str | None
    root: str | None = None  # the directory of a hosted service
    record: bytes | None = None  # the customer's record (ciphertext fields stay ciphertext)
    problem: str | None = None  # the customer could not be planned: the error's type name


class Sources(Protocol):
    def plan(self) -> list[Target]: ...


@dataclass(frozen=True, slots=True)
class BackupParts:
    """What every backup service works with; built once by the composition root."""

    catalog: BackupCatalog
    store: BackupStore
    packer: Packer
    gate: Gate
    keyring: Callable[[], Keyring]
    clock: Clock
    ids: Callable[[str], str] = new_id

    @property
    def outcomes(self) -> OutcomeRecorder:
        return OutcomeRecorder(self.gate)


@dataclass(frozen=True, slots=True)
class RunReport:
    day: date
    key_id: str
    taken: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    missing: int = 0  # hosted services whose directory does not exist (nothing to back up)
    bytes: int = 0

    def __str__(self) -> str:
        return (
            f"{len(self.taken)} archives sealed under day key {self.key_id} ({self.bytes} bytes)"
            f", {len(self.failed)} failed, {self.missing} services without a directory"
        )


def backup_resource(archive_id: str, owner: str | None) -> Resource:
    return Resource(ResourceKind.BACKUP, archive_id, owner=owner)


def discharge(decision: Decision, archive: Archive) -> Archive:
    """Honour the decision's obligations for this archive, or refuse (fail closed): an
    obligation this service does not know could be a promise nobody keeps."""
    for obligation in decision.obligations:
        if obligation == Obligation.DESTROY_AFTER_7_DAYS:
            # The row carries its destruction time; the purge job destroys the day key then.
            archive = replace(archive, destroy_after=destroy_after(archive.day))
        else:
            raise Unavailable(
                f"rule {decision.rule_id} obliges {obligation!r}, which backups cannot honour"
            )
    return archive


class _Counting:
    """Passes bytes on to the store while hashing them, for the catalogue's integrity check."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self.sha = hashlib.sha256()

    def write(self, data: bytes, /) -> int:
        self.sha.update(data)
        self._sink.write(data)
        return len(data)


class BackupRun:
    def __init__(self, parts: BackupParts, sources: Sources, parallel: int = 2) -> None:
        self._p = parts
        self._sources = sources
        self._parallel = max(1, parallel)

    def run(self, actor: Actor, progress: Progress | None = None) -> RunReport:
        """Back up everything hosted now; each archive is decided (one ledger append for the
        run), sealed, stored and ledgered as taken or failed."""
        now = self._p.clock()
        day = backup_day(now)
        key, day_key = self.day_key(actor, day)
        planned = self._sources.plan()
        unplanned = [t for t in planned if t.problem is not None]
        plan = [t for t in planned if t.problem is None]
        present = [t for t in plan if t.record is not None or self._p.packer.has_tree(t.root or "")]
        archives = [
            Archive(
                self._p.ids("bkp"),
                day,
                t.customer_id,
                t.source,
                t.service_id,
                ArchiveStatus.WRITING,
                now,
                destroy_after(day),
            )
            for t in present
        ]
        decided = self._p.gate.decide_many(
            actor,
            Action.CREATE,
            [backup_resource(a.id, a.customer_id) for a in archives],
            AccessContext(note=f"backup run {day.isoformat()}"),
        )
        archives = [discharge(d.decision, a) for d, a in zip(decided, archives, strict=True)]
        report = RunReport(day, key.key_id, missing=len(plan) - len(present))
        for t in unplanned:
            self._unplanned(actor, t)
            report.failed.append(t.customer_id)
        done = 0
        with ThreadPoolExecutor(self._parallel) as pool:
            jobs = [
                pool.submit(self._one, actor, day_key, key, t, a)
                for t, a in zip(present, archives, strict=True)
            ]
            for job in jobs:
                archive_id, size = job.result()
                (report.taken if size is not None else report.failed).append(archive_id)
                done += 1
                if progress is not None:
                    progress(done, len(jobs))
        return replace(report, bytes=sum(a.size for a in self._finished(report.taken)))

    def snapshot(self, actor: Actor, target: Target, why: str) -> str:
        """One archive of one target now, decided and ledgered like a run's (used to keep
        the tree a live restore just displaced); Unavailable if it could not be sealed, and
        the restore swaps that tree back: nothing is replaced without a copy of it."""
        now = self._p.clock()
        day = backup_day(now)
        key, day_key = self.day_key(actor, day)
        archive = Archive(
            self._p.ids("bkp"),
            day,
            target.customer_id,
            target.source,
            target.service_id,
            ArchiveStatus.WRITING,
            now,
            destroy_after(day),
        )
        resource = backup_resource(archive.id, archive.customer_id)
        audited = self._p.gate.decide(actor, Action.CREATE, resource, AccessContext(note=why))
        archive = discharge(audited.decision, archive)
        archive_id, size = self._one(actor, day_key, key, target, archive)
        if size is None:
            raise Unavailable(f"the replaced tree could not be backed up ({archive_id})")
        return archive_id

    def _unplanned(self, actor: Actor, target: Target) -> None:
        """A customer whose record could not be loaded or decrypted: nothing of theirs is
        backed up this run, and the ledger says so (the error's type name only)."""
        self._p.outcomes.record(
            actor,
            Action.CREATE,
            backup_resource(f"customer/{target.customer_id}", target.customer_id),
            Outcome.BACKUP_FAILED,
            f"customer not backed up: their record could not be read ({target.problem})",
            allowed=False,
        )

    def _failed(self, actor: Actor, archive: Archive, added: bool, exc: Exception) -> None:
        """Ledger one archive as failed, naming only the error's type (its text may carry a
        file name, which is the customer's; an OSError adds its errno text). Its row (if
        written) is marked failed and any partial bytes deleted, each best effort: the run
        goes on."""
        for undo in ((self._p.catalog.fail_archive,) if added else ()) + (self._p.store.delete,):
            try:
                undo(archive.id)
            except Exception as cleanup:  # noqa: BLE001 - the purge finds a `writing` row
                log.warning("backup %s: cleanup failed (%s)", archive.id, type(cleanup).__name__)
        # An OSError's strerror is the errno's text ("No space left on device"), no names.
        strerror = f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""
        self._p.outcomes.record(
            actor,
            Action.CREATE,
            backup_resource(archive.id, archive.customer_id),
            Outcome.BACKUP_FAILED,
            f"{archive.source.value} archive failed ({type(exc).__name__}{strerror})",
            allowed=False,
        )

    def _finished(self, ids: Sequence[str]) -> list[Archive]:
        return [a for i in ids if (a := self._p.catalog.get(i)) is not None]

    def day_key(self, actor: Actor, day: date) -> tuple[DayKey, bytes]:
        """Today's key (created, and its creation ledgered with its commitment, on first use)."""
        keyring = self._p.keyring()
        found = self._p.catalog.day_key(day)
        gone = None if found else next((k for k in self._p.catalog.days() if k.day == day), None)
        if gone is not None and gone.destroyed_at is not None:
            # Only a clock set back past a purge gets here: a fresh key for the day would make
            # archives already due for destruction, so nothing is sealed and the run says why.
            raise Unavailable(
                f"backup day {day.isoformat()}'s key was destroyed at "
                f"{gone.destroyed_at.isoformat()} (its week is over): nothing can be backed up "
                "under it; check the system clock"
            )
        if found is None:
            material = new_data_key()
            key = DayKey(
                day, key_id(material), commitment(material), self._p.clock(), destroy_after(day)
            )
            if self._p.catalog.add_day_key(key, wrap(keyring.current, material)):
                self._p.outcomes.record(
                    actor,
                    Action.CREATE,
                    backup_resource(f"day/{day.isoformat()}", None),
                    Outcome.BACKUP_KEY_CREATED,
                    f"day key {key.key_id} for {day.isoformat()} created, commitment "
                    f"{key.commitment}; to be destroyed at {key.destroy_after.isoformat()}",
                )
            found = self._p.catalog.day_key(day)
            if found is None:
                raise Unavailable(f"the key of backup day {day.isoformat()} could not be kept")
        key, wrapped = found
        if key.destroyed_at is not None:
            raise Unavailable(f"the key of backup day {day.isoformat()} is already destroyed")
        return key, unwrap(keyring, wrapped)

    def _one(
        self, actor: Actor, day_key: bytes, key: DayKey, target: Target, archive: Archive
    ) -> tuple[str, int | None]:
        dek = new_data_key()
        resource = backup_resource(archive.id, archive.customer_id)
        added = False
        try:
            self._p.catalog.add_archive(archive, wrap_archive_key(day_key, dek))
            added = True
            with self._p.store.writer(archive.id) as sink:
                counted = _Counting(sink)
                sealer = ChunkSealer(dek, archive.id, counted)
                if target.record is not None:
                    files = self._p.packer.pack_files({"record.json": target.record}, sealer)
                else:
                    files = self._p.packer.pack_tree(target.root or "", sealer)
                sealer.finish()
        except Exception as exc:  # noqa: BLE001 - one bad item fails itself, never the run
            self._failed(actor, archive, added, exc)
            return archive.id, None
        self._p.catalog.finish_archive(
            archive.id, sealer.sealed_bytes, sealer.chunks, counted.sha.hexdigest()
        )
        self._p.outcomes.record(
            actor,
            Action.CREATE,
            resource,
            Outcome.BACKUP_TAKEN,
            f"{archive.source.value} archive of {files} files sealed in {sealer.chunks} chunks "
            f"under day key {key.key_id}; destroyed by {archive.destroy_after.isoformat()}",
        )
        return archive.id, sealer.sealed_bytes
