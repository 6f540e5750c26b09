"""The backup services on their in-memory twins (catalogue, store) and the shipped rules: the
worker's run discharges `destroy_after_7_days`, a rule with an obligation backups do not know
is refused before anything is written, and the purge destroys exactly the days that are due
(the clock moves, not the files)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from entrusted.bootstrap.actors import WORKER
from entrusted.crypto.backup_chunks import Sink, Source
from entrusted.crypto.envelope import Keyring, MasterKey
from entrusted.domain.backups import ArchiveStatus
from entrusted.domain.backups import Source as Kind
from entrusted.domain.policy import Decision, Effect
from entrusted.errors import Unavailable
from entrusted.services.backup_purge import BackupPurge
from entrusted.services.backups import BackupParts, BackupRun, Target, discharge
from entrusted.services.gate import Gate
from entrusted.services.memory import InMemoryLedger
from entrusted.services.memory_backups import InMemoryBackupCatalog, InMemoryBackupStore
from tests.conftest import FakeClock
from tests.unit.registry_world import ENGINE

pytestmark = pytest.mark.promise("P15", "P16")


class JsonPacker:
    """A packer without a filesystem: the files as JSON (the real one is tar + zstd)."""

    def has_tree(self, root: str) -> bool:
        return root == "present"

    def pack_tree(self, root: str, sink: Sink) -> int:
        sink.write(json.dumps({"root": root}).encode())
        return 1

    def pack_files(self, files: Mapping[str, bytes], sink: Sink) -> int:
        sink.write(json.dumps({k: v.decode() for k, v in files.items()}).encode())
        return len(files)

    def unpack(self, source: Source, target: Path) -> int:
        raise NotImplementedError

    def can_swap(self, live: Path) -> bool:
        raise NotImplementedError

    def swap_in(self, staged: Path, live: Path) -> bool:
        raise NotImplementedError

    def swap_back(self, staged: Path, live: Path) -> None:
        raise NotImplementedError

    def remove_old(self, old: Path) -> int | None:
        raise NotImplementedError

    def discard(self, staged: Path) -> None:
        raise NotImplementedError


class Plan:
    def plan(self) -> list[Target]:
        return [
            Target("cus_1", Kind.RECORD, None, record=b'{"id": "cus_1"}'),
            Target("cus_1", Kind.MAILBOX, "svc_1", root="present"),
            Target("cus_1", Kind.WEBSITE, "svc_2", root="absent"),
        ]


def parts(clock: FakeClock) -> tuple[BackupParts, InMemoryLedger]:
    ledger = InMemoryLedger()
    kek = MasterKey.generate()
    gate = Gate(ENGINE, ledger, clock)
    catalog, store = InMemoryBackupCatalog(), InMemoryBackupStore()
    return (
        BackupParts(catalog, store, JsonPacker(), gate, lambda: Keyring(kek), clock),
        ledger,
    )


def test_a_run_seals_what_exists_and_the_purge_destroys_it_after_a_week() -> None:
    clock = FakeClock(datetime(2026, 11, 27, 23, 30, tzinfo=UTC))
    p, ledger = parts(clock)
    report = BackupRun(p, Plan()).run(WORKER)
    assert (len(report.taken), report.failed, report.missing) == (2, [], 1)
    archives = p.catalog.archives()
    assert {a.destroy_after for a in archives} == {datetime(2026, 12, 4, tzinfo=UTC)}
    store = p.store
    assert isinstance(store, InMemoryBackupStore)
    assert all(b'"cus_1"' not in blob for blob in store.blobs.values())  # sealed
    rules = [e.rule for e in ledger.entries]
    assert rules.count("service-keeps-backups-for-a-week") == 2
    assert rules.count("backups.taken") == 2
    purge = BackupPurge(p)
    clock.advance(days=6, hours=0.49)  # 23:59 on the 3rd of December: not due yet
    assert purge.purge(WORKER).days == []
    clock.advance(minutes=1)
    assert purge.purge(WORKER).archives == 2
    assert store.blobs == {}
    assert {a.status for a in p.catalog.archives()} == {ArchiveStatus.DESTROYED}
    assert p.catalog.day_key(archives[0].day) is None


def test_an_obligation_backups_do_not_know_is_refused() -> None:
    clock = FakeClock()
    p, _ = parts(clock)
    BackupRun(p, Plan()).run(WORKER)
    archive = p.catalog.archives()[0]
    odd = Decision(Effect.PERMIT, "some-rule", "why", obligations=("notify_the_press",))
    with pytest.raises(Unavailable, match="notify_the_press"):
        discharge(odd, archive)
    kept = Decision(Effect.PERMIT, "r", "why", obligations=("destroy_after_7_days",))
    assert discharge(kept, archive).destroy_after - archive.created_at <= timedelta(days=7)
