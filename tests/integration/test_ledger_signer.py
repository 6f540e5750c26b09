"""One signer, on both databases: the store refuses, as it inserts, a checkpoint smaller than
or inconsistent with the largest one stored; two signers racing with appends never make the
sequence go backwards; and the signed local record catches a rollback done with database
access only (checkpoints deleted, log truncated, tiles rebuilt), which `ledger verify` alone
cannot see."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_verify import verify_ledger
from entrusted.adapters.ledger_record import LocalRecordFile
from entrusted.bootstrap import LEDGER_RECORD, Container, adopt_ledger_record, build
from entrusted.config import Settings
from entrusted.crypto.signing import load_signer
from entrusted.domain.audit import AuditEntry
from entrusted.domain.checkpoint import Checkpoint
from entrusted.domain.policy import Actor, ActorKind
from entrusted.errors import Conflict, EntrustedError, TamperDetected
from entrusted.services.ledger import CheckpointService
from tests.conftest import FakeClock, count_rows
from tests.integration.ledger_support import audit_entry, disable_triggers, fill

pytestmark = pytest.mark.promise("P3")


def _checkpoint_sizes(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        cp = t.ledger_checkpoint.c
        return [int(s) for s in conn.execute(sa.select(cp.size).order_by(cp.id)).scalars()]


def test_the_store_refuses_a_smaller_checkpoint(container: Container) -> None:
    fill(container, 300, (300,))
    store = container.ledger_store
    signer = load_signer(container.settings.effective_ledger_key_file)
    note = signer.sign_checkpoint(Checkpoint(signer.name, 200, store.root_at(200)))
    with pytest.raises(Conflict, match="largest signed checkpoint has size 300"):
        store.add_checkpoint(200, store.root_at(200), note, datetime.now(UTC))
    assert _checkpoint_sizes(container.engine) == [300]


def test_the_store_refuses_an_inconsistent_checkpoint(container: Container) -> None:
    fill(container, 300, (256,))
    fill(container, 400)
    signer = load_signer(container.settings.effective_ledger_key_file)
    forged = bytes(32)
    note = signer.sign_checkpoint(Checkpoint(signer.name, 400, forged))
    with pytest.raises(TamperDetected, match="not consistent with the largest signed"):
        container.ledger_store.add_checkpoint(400, forged, note, datetime.now(UTC))
    assert _checkpoint_sizes(container.engine) == [256]


def test_a_trigger_refuses_a_smaller_checkpoint_from_any_writer(container: Container) -> None:
    fill(container, 300, (300,))
    insert = t.ledger_checkpoint.insert().values(
        size=1, root=bytes(32), note="x", signed_at=datetime.now(UTC)
    )
    with (
        pytest.raises(sa.exc.DBAPIError, match="checkpoints only grow"),
        container.engine.begin() as conn,
    ):
        conn.execute(insert)
    assert count_rows(container.engine, "ledger_checkpoint") == 1


class _NoLock:
    """A lock that always grants: two signers interleave freely, so only the store's check
    inside the insert transaction stands between them and a backwards sequence."""

    @contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        yield True


@pytest.mark.parametrize("service_lock", [True, False], ids=["job-lock", "store-only"])
def test_racing_signers_never_go_backwards(
    container: Container, settings: Settings, clock: FakeClock, service_lock: bool
) -> None:
    """Two processes' worth of signers (own store, own service) and appenders for 3 s."""
    other = build(settings, clock=clock)
    try:
        signers = [container.checkpoints, other.checkpoints]
        if not service_lock:
            key = load_signer(settings.effective_ledger_key_file)
            signers = [
                CheckpointService(
                    c.ledger_store,
                    key,
                    clock,
                    _NoLock(),
                    LocalRecordFile(settings.data_dir / LEDGER_RECORD, key),
                )
                for c in (container, other)
            ]
        stop = time.monotonic() + 3
        failures: list[Exception] = []
        refusals: list[EntrustedError] = []

        def append(c: Container, k: int) -> None:
            i = 0
            while time.monotonic() < stop:
                batch = [audit_entry(k * 1_000_000 + i + j, "cus_1") for j in range(7)]
                c.ledger.append_many(batch)
                i += 7

        def sign(service: CheckpointService) -> None:
            while time.monotonic() < stop:
                try:
                    service.sign(force=True)
                except Conflict as exc:  # lost the race at insert time: refused, not stored
                    refusals.append(exc)
                except TamperDetected as exc:
                    # Without the service lock a signer can read the size before another one
                    # records a larger signed head: the local record refuses the stale head.
                    stale = "the head this log signed" in exc.message
                    (failures if service_lock or not stale else refusals).append(exc)
                except Exception as exc:  # asserted empty below
                    failures.append(exc)

        threads = [
            threading.Thread(target=append, args=(c, k))
            for k, c in enumerate((container, other, container, other))
        ] + [threading.Thread(target=sign, args=(s,)) for s in signers for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert failures == []
        if service_lock:
            assert refusals == []
        sizes = _checkpoint_sizes(container.engine)
        assert len(sizes) > 3
        assert sizes == sorted(sizes)
        report = verify_ledger(container.engine, container.checkpoints.vkey)
        assert report.checkpoints == len(sizes)
    finally:
        other.close()


def _rollback_without_key(c: Container, keep: int, keep_checkpoints: int) -> None:
    """What a database thief can do: keep the first `keep` entries and checkpoints, rebuild
    tiles and state for them; the signing key and the data directory stay out of reach."""
    entries = c.ledger_store.entries(0, keep)
    with c.engine.connect() as conn:
        owners = [
            r.customer_id
            for r in conn.execute(
                sa.select(t.ledger_entry.c.customer_id)
                .where(t.ledger_entry.c.idx < keep)
                .order_by(t.ledger_entry.c.idx)
            )
        ]
        checkpoints = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(t.ledger_checkpoint).order_by(t.ledger_checkpoint.c.id)
            ).all()[:keep_checkpoints]
        ]
    disable_triggers(c.engine)
    with c.engine.begin() as conn:
        for table in (
            t.ledger_entry,
            t.ledger_full_tile,
            t.ledger_partial_tile,
            t.ledger_state,
            t.ledger_checkpoint,
        ):
            conn.execute(table.delete())
    fresh = SqlLedgerStore(c.engine)
    fresh.open()
    fresh.append_batch(list(zip(entries, owners, strict=True)))
    with c.engine.begin() as conn:
        conn.execute(t.ledger_checkpoint.insert(), checkpoints)


def test_a_rollback_without_the_key_is_refused(container: Container, settings: Settings) -> None:
    fill(container, 3000, (1000, 2000, 3000))
    container.close()
    _rollback_without_key(container, 1500, 1)
    # The database alone is self-consistent: the full verification cannot tell.
    vkey = container.checkpoints.vkey
    assert verify_ledger(container.engine, vkey).size == 1500
    restarted = build(settings)
    try:
        restarted.ledger.append_many([audit_entry(i, None) for i in range(5000, 7000)])
        with pytest.raises(TamperDetected, match=r"not consistent with the head this log signed"):
            restarted.checkpoints.sign(force=True)
        assert _checkpoint_sizes(restarted.engine) == [1000]  # nothing was signed
        with pytest.raises(TamperDetected, match=r"rewritten|removed"):
            restarted.start("ops@example.com")
    finally:
        restarted.close()


def test_a_rollback_with_the_record_deleted_is_still_refused(
    container: Container, settings: Settings
) -> None:
    """Trial finding: deleting `ledger.record` next to the database used to turn the rollback
    check off (start-up re-verified from zero and signed a fork of its own checkpoints)."""
    fill(container, 3000, (1000, 2000, 3000))
    container.close()
    assert container.checkpoints.check_record().startswith("consistent with the head")
    _rollback_without_key(container, 1500, 1)
    # `ledger verify`'s second half: the stored log against what this installation signed.
    with pytest.raises(TamperDetected, match=r"shrank below the head this log signed"):
        container.checkpoints.check_record()
    (settings.data_dir / LEDGER_RECORD).unlink()
    restarted = build(settings)
    try:
        with pytest.raises(TamperDetected, match=r"signed local record is missing"):
            restarted.start("ops@example.com")
        assert _checkpoint_sizes(restarted.engine) == [1000]  # nothing was signed
        # The operator's explicit, ledgered adoption (after checking the published heads).
        summary = adopt_ledger_record(restarted, Actor(ActorKind.SERVICE, "cli:ops@host"))
        assert summary.startswith("local ledger record adopted: ledger verified")
        store = restarted.ledger_store
        last = AuditEntry.from_bytes(store.entries(0, store.stored_size())[-1])
        assert (last.actor_id, last.rule, last.resource_id) == (
            "cli:ops@host",
            "ledger.verified",
            "local-record",
        )
        restarted.start("ops@example.com")  # adopted: starts again
    finally:
        restarted.close()
