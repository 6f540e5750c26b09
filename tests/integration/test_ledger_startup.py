"""Start-up verification on both databases: `Container.start` (what `serve` and `worker` run)
verifies the entries added since the signed local record and refuses to start, naming the
index, on a tampered entry byte, a tampered full tile, a checkpoint signature or a deleted last
entry; a clean log starts and says exactly what was verified; a forged record is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from entrusted.adapters.db import tables as t
from entrusted.bootstrap import LEDGER_RECORD, LEDGER_VERIFY_JOB, Container, build, initialise
from entrusted.config import Settings
from entrusted.domain.audit import AuditEntry
from entrusted.domain.checkpoint import b64encode
from entrusted.entrypoints.api.app import create_app
from entrusted.errors import TamperDetected
from entrusted.services.outcomes import Outcome
from entrusted.services.receipts import ReceiptService
from tests.conftest import count_rows
from tests.integration.ledger_support import CUSTOMERS, disable_triggers, fill

pytestmark = pytest.mark.promise("P3")

VERIFIED = 700  # the point start-up verified first
SIZE = 1300  # entries appended since, with a checkpoint at the end


def _flip_entry(conn: sa.Connection) -> int:
    return _flip_entry_at(conn, 1000)


def _flip_entry_at(conn: sa.Connection, idx: int) -> int:
    body = conn.execute(sa.select(t.ledger_entry.c.body).where(t.ledger_entry.c.idx == idx)).one()
    flipped = body[0][:10] + bytes([body[0][10] ^ 1]) + body[0][11:]
    conn.execute(t.ledger_entry.update().where(t.ledger_entry.c.idx == idx).values(body=flipped))
    return idx


def _flip_full_tile(conn: sa.Connection) -> int:
    tile = t.ledger_full_tile.c
    row = conn.execute(sa.select(t.ledger_full_tile).where(tile.level == 0, tile.idx == 3)).one()
    data = bytes(row.hashes)
    pos = 40 * 32 + 5  # a byte of the leaf hash of entry 3 * 256 + 40
    conn.execute(
        t.ledger_full_tile.update()
        .where(tile.level == 0, tile.idx == 3)
        .values(hashes=data[:pos] + bytes([data[pos] ^ 1]) + data[pos + 1 :])
    )
    return 3 * 256 + 40


def _flip_signature(conn: sa.Connection) -> None:  # a checkpoint names no entry
    cp = t.ledger_checkpoint.c
    row = conn.execute(sa.select(t.ledger_checkpoint).order_by(cp.id.desc()).limit(1)).one()
    note = str(row.note)
    pos = len(note) - 5  # inside the base64 signature
    swapped = note[:pos] + ("A" if note[pos] != "A" else "B") + note[pos + 1 :]
    conn.execute(t.ledger_checkpoint.update().where(cp.id == row.id).values(note=swapped))


def _delete_last_entry(conn: sa.Connection) -> int:
    conn.execute(t.ledger_entry.delete().where(t.ledger_entry.c.idx == SIZE - 1))
    return SIZE - 1


def _started(settings: Settings, container: Container) -> None:
    fill(container, VERIFIED, (VERIFIED,))
    notes = container.start("ops@example.com")
    assert notes[0].startswith(f"ledger verified: entries 0..{VERIFIED - 1} rehashed")
    fill(container, SIZE, (SIZE,))
    container.close()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_flip_entry, r"entry 1000 does not hash"),
        (_flip_full_tile, r"entry 808 does not hash|tile"),
        (_flip_signature, r"checkpoint #\d+: bad signature"),
        (_delete_last_entry, rf"entry {SIZE - 1} is missing"),
    ],
    ids=["entry-byte", "full-tile", "checkpoint-signature", "last-entry-deleted"],
)
def test_tampering_since_the_last_verified_point_stops_start_up(
    settings: Settings,
    container: Container,
    tamper: Callable[[sa.Connection], int | None],
    message: str,
) -> None:
    _started(settings, container)
    disable_triggers(container.engine)
    with container.engine.begin() as conn:
        index = tamper(conn)
    restarted = build(settings)
    try:
        with pytest.raises(TamperDetected, match=message) as stopped:
            restarted.start("ops@example.com")
        assert stopped.value.index == index
    finally:
        restarted.close()


def test_a_clean_restart_verifies_only_the_new_entries(
    settings: Settings, container: Container
) -> None:
    _started(settings, container)
    restarted = build(settings)
    try:
        notes = restarted.start("ops@example.com")
        assert notes[0].startswith(
            f"ledger verified: entries {VERIFIED}..{SIZE - 1} rehashed against their tiles "
            f"({SIZE - VERIFIED} new since the last verified point)"
        )
        assert "1 new checkpoints" in notes[0]
        again = restarted.start("ops@example.com")
        assert again[0].startswith("ledger verified: no entries since the last verified point")
    finally:
        restarted.close()


def test_a_forged_local_record_stops_start_up(settings: Settings, container: Container) -> None:
    _started(settings, container)
    path = settings.data_dir / LEDGER_RECORD
    text = path.read_text(encoding="utf-8")
    signed = next(line for line in text.splitlines() if line.startswith("signed "))
    forged = f"signed 1 {b64encode(bytes(32))}"  # a thief would rather the signer forgot
    path.write_text(text.replace(signed, forged, 1), encoding="utf-8")
    restarted = build(settings)
    try:
        with pytest.raises(TamperDetected, match=r"record .* is not signed by the log key"):
            restarted.start("ops@example.com")
    finally:
        restarted.close()


def _ledgered_outcomes(c: Container) -> list[tuple[str | None, str]]:
    size = c.ledger_store.stored_size()  # the filled entries (one was tampered) come first
    entries = [AuditEntry.from_bytes(b) for b in c.ledger_store.entries(600, size)]
    return [(e.rule, e.decision) for e in entries if e.resource_kind == "ledger"]


def test_the_scheduled_full_verification_is_ledgered_and_a_health_figure(
    container: Container,
) -> None:
    fill(container, 600, (600,))
    worker = container.worker()
    job = next(j for j in container.jobs if j.name == LEDGER_VERIFY_JOB)
    assert job.interval_s == 86_400  # daily by default
    assert container.ledger_verification()["ok"] is None
    ran = worker.run_job(job)
    assert ran.ok
    assert ran.detail is not None
    assert ran.detail.startswith("ledger verified: 600 entries")
    assert _ledgered_outcomes(container) == [(Outcome.LEDGER_VERIFIED.value, "allow")]
    assert container.ledger_verification()["ok"] is True
    # A planted tampering: the next run fails, is ledgered, and the health figure says so.
    disable_triggers(container.engine)
    with container.engine.begin() as conn:
        _flip_entry_at(conn, 300)
    # Before anything noticed: the receipt is checked as the customer would, so an altered
    # entry is refused rather than handed out as proof.
    receipts = ReceiptService(container.ledger_store, container.checkpoints)
    with pytest.raises(TamperDetected, match=r"entry 300"):
        receipts.export(CUSTOMERS[300 % len(CUSTOMERS)])
    failed = worker.run_job(job)
    assert not failed.ok
    assert _ledgered_outcomes(container)[-1] == (Outcome.LEDGER_TAMPERED.value, "deny")
    health = container.ledger_verification()
    assert health["ok"] is False
    assert "entry 300" in str(health["detail"])
    # The unauthenticated /readyz says failed and when, never the failure's text (which stays
    # in the worker's log, the ledger and `entrusted ledger verify`).
    ready = TestClient(create_app(container=container)).get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["ledger_verification"] == {"ok": False, "at": health["at"]}
    assert ready.json()["checks"]["ledger"].startswith("verification failed")
    assert "ledger" in ready.json()["failed"]
    assert "entry 300" not in ready.text
    assert str(health["detail"]) not in ready.text
    # Found altered: nothing signs for it any more, and no receipt is handed out from it.
    sizes = count_rows(container.engine, "ledger_checkpoint")
    with pytest.raises(TamperDetected, match=r"signing stopped: ledger verification failed"):
        container.checkpoints.sign(force=True)
    assert count_rows(container.engine, "ledger_checkpoint") == sizes
    with pytest.raises(TamperDetected, match="signing stopped"):
        receipts.export(CUSTOMERS[0])


def test_init_force_forgets_the_wiped_logs_record(settings: Settings, container: Container) -> None:
    _started(settings, container)
    initialise(settings, force=True)  # a new key and an empty log: the old record must go
    fresh = build(settings)
    try:
        notes = fresh.start("ops@example.com")
        assert notes[0].startswith("ledger verified: no entries since the last verified point")
    finally:
        fresh.close()
