"""Signing-key rollover on SQLite and PostgreSQL: checkpoints signed before, during and after
a rollover all verify against the published key list, the overlap checkpoint carries both
keys (so a witness that knows only the old key still cosigns it), a checkpoint signed by an
unlisted key fails verification, and the rollover is ledgered with the new public key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.ledger_verify import verify_ledger
from entrusted.adapters.witness_store import init_witness_dir, open_witness
from entrusted.bootstrap import Container, build, initialise
from entrusted.bootstrap.key_backup import roll_over
from entrusted.config import Settings
from entrusted.crypto.signing import NoteSigner, load_signer, verify_note
from entrusted.crypto.signing_keys import history_path
from entrusted.domain.audit import AuditEntry
from entrusted.domain.checkpoint import Checkpoint, parse_signed_note
from entrusted.domain.cosignature import AddCheckpoint
from entrusted.entrypoints.cli.context import EXIT_CODES
from entrusted.entrypoints.cli.main import app
from entrusted.errors import Conflict, InvalidInput, TamperDetected
from entrusted.services.outcomes import Outcome
from entrusted.services.witness import Witness, WitnessRefused
from tests.conftest import FakeClock
from tests.integration.ledger_support import disable_triggers, fill
from tests.integration.test_ledger_monitor import serving
from tests.unit.registry_world import OPERATOR

pytestmark = pytest.mark.promise("P3")

WIDE = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def _grow(c: Container, n: int) -> str:
    """Append `n` entries, sign, and return the stored note."""
    size = c.ledger_store.stored_size() + n
    fill(c, size, (size,))
    latest = c.ledger_store.latest_checkpoint()
    assert latest is not None
    assert latest.size == size
    return latest.note


def _witness_request(c: Container, old_size: int, note: str) -> str:
    size = verify_note(note, c.checkpoints.key_list).size
    proof = c.ledger_store.consistency_proof(old_size, size) if old_size else []
    return AddCheckpoint(old_size, tuple(proof), note).text()


def test_checkpoints_before_during_and_after_a_rollover_verify(
    container: Container, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    before = _grow(container, 40)
    old_vkey = container.checkpoints.vkey
    init_witness_dir(tmp_path / "witness", "witness.example.org/w1")
    witness, store = open_witness(tmp_path / "witness", clock)
    store.trust(old_vkey)  # a witness that knows only the old key
    witness.add_checkpoint(_witness_request(container, 0, before))

    rollover = roll_over(container, OPERATOR, clock() + timedelta(hours=1))
    [rolled] = [
        e
        for e in map(AuditEntry.from_bytes, container.ledger_store.entries(0, 10_000))
        if e.rule == Outcome.LEDGER_KEY_ROLLED.value
    ]
    assert rolled.actor_id == OPERATOR.id
    assert rollover.new_vkey in rolled.reason
    assert "PRIVATE" not in rolled.reason
    container.close()  # serve and worker restart after a rollover (docs/keys.md)

    c = build(settings, clock=clock)
    try:
        assert c.checkpoints.key_list.splitlines() == [old_vkey, rollover.new_vkey]
        during = _grow(c, 10)
        _, signatures = parse_signed_note(during)
        assert len(signatures) == 2  # co-signed by the old and the new key
        assert verify_note(during, old_vkey).size == verify_note(during, rollover.new_vkey).size
        # The old-key witness cosigns the overlap checkpoint; once trusted with the key list
        # it follows the log past the switch.
        size_before = verify_note(before, old_vkey).size
        assert witness.add_checkpoint(_witness_request(c, size_before, during))
        clock.advance(hours=2)
        after = _grow(c, 10)
        assert len(parse_signed_note(after)[1]) == 1
        with pytest.raises(TamperDetected, match="no signature by"):
            verify_note(after, old_vkey)
        size_during = verify_note(during, old_vkey).size
        with pytest.raises(WitnessRefused):
            witness.add_checkpoint(_witness_request(c, size_during, after))
        store.trust(c.checkpoints.key_list)
        assert witness.add_checkpoint(_witness_request(c, size_during, after))

        report = verify_ledger(c.engine, c.checkpoints.key_list)
        assert report.checkpoints == 3
        with pytest.raises(TamperDetected):
            verify_ledger(c.engine, old_vkey)  # the newest checkpoint is not the old key's
        assert c.start("test")  # start-up verifies the tail and the local record

        runner = CliRunner()
        options = ["--data-dir", str(settings.data_dir)]
        options += ["--database-url", settings.effective_database_url]
        verified = runner.invoke(app, [*options, "ledger", "verify"], env=WIDE)
        assert verified.exit_code == 0, verified.output
        # The first checkpoint the new key signed alone retired the old key at its size.
        size_after = verify_note(after, c.checkpoints.key_list).size
        retired = [f"{old_vkey} until={size_after}", rollover.new_vkey]
        with serving(settings) as url:
            published = httpx.get(f"{url}/keys").text
            assert published.splitlines() == retired
            assert httpx.get(f"{url}/vkey").text.strip() == rollover.new_vkey
        _a_leaked_old_key_cannot_sign_the_future(c, settings, witness, size_after)
    finally:
        c.close()


def _a_leaked_old_key_cannot_sign_the_future(
    c: Container, settings: Settings, witness: Witness, size_after: int
) -> None:
    """A checkpoint signed by the retired key alone: refused past its `until`, by the
    verifier, the witness and `ledger verify`; at or below it, still valid."""
    old = load_signer(settings.effective_ledger_key_file)
    at_until = Checkpoint(old.name, size_after, c.ledger_store.root_at(size_after))
    assert verify_note(old.sign_checkpoint(at_until), c.checkpoints.key_list) == at_until
    _grow(c, 5)
    latest = c.ledger_store.latest_checkpoint()
    assert latest is not None
    forged = old.sign_checkpoint(Checkpoint(old.name, latest.size, latest.root))
    with pytest.raises(TamperDetected, match=f"retired at size {size_after}"):
        verify_note(forged, c.checkpoints.key_list)
    proof = c.ledger_store.consistency_proof(size_after, latest.size)
    with pytest.raises(WitnessRefused, match="retired"):
        witness.add_checkpoint(AddCheckpoint(size_after, tuple(proof), forged).text())
    disable_triggers(c.engine)
    with c.engine.begin() as conn:
        conn.execute(
            t.ledger_checkpoint.update()
            .where(t.ledger_checkpoint.c.size == latest.size)
            .values(note=forged)
        )
    with pytest.raises(TamperDetected, match="retired"):
        verify_ledger(c.engine, c.checkpoints.key_list)
    options = ["--data-dir", str(settings.data_dir)]
    options += ["--database-url", settings.effective_database_url]
    verified = CliRunner().invoke(app, [*options, "ledger", "verify"], env=WIDE)
    assert verified.exit_code == EXIT_CODES[TamperDetected], verified.output


def test_a_checkpoint_by_an_unlisted_key_fails_verification(
    container: Container, clock: FakeClock
) -> None:
    _grow(container, 20)
    roll_over(container, OPERATOR, clock())
    latest = container.ledger_store.latest_checkpoint()
    assert latest is not None
    stranger = NoteSigner.generate(container.checkpoints.origin)
    forged = stranger.sign_checkpoint(Checkpoint(stranger.name, latest.size, latest.root))
    key_list = container.checkpoints.key_list
    with pytest.raises(TamperDetected, match="no signature by"):
        verify_note(forged, key_list)
    disable_triggers(container.engine)
    with container.engine.begin() as conn:
        conn.execute(t.ledger_checkpoint.update().values(note=forged))
    with pytest.raises(TamperDetected):
        verify_ledger(container.engine, key_list)


def test_new_signing_key_through_the_cli(container: Container, settings: Settings) -> None:
    _grow(container, 10)
    old_vkey = container.checkpoints.vkey
    container.ledger.stop()
    runner = CliRunner()
    options = ["--data-dir", str(settings.data_dir)]
    options += ["--database-url", settings.effective_database_url]

    def cli(*args: str) -> tuple[int, str]:
        out = runner.invoke(app, [*options, *args], env=WIDE)
        return out.exit_code, out.output

    code, out = cli("keys", "new-signing-key", "--from", "2020-01-01T00:00:00+00:00")
    assert code == EXIT_CODES[InvalidInput]
    assert "in the past" in out
    assert not history_path(settings.effective_ledger_key_file).exists()
    code, out = cli("keys", "new-signing-key", "--from", "next tuesday")
    assert code == EXIT_CODES[InvalidInput]
    code, out = cli("keys", "new-signing-key")  # default: both sign for a week
    assert code == 0, out
    assert "until then both keys sign" in out
    code, out = cli("keys", "new-signing-key", "--from", "now")
    assert code == EXIT_CODES[Conflict]
    assert "already announced" in out
    keys = sorted(p.name for p in settings.data_dir.glob("ledger*.key"))
    assert len(keys) == 2
    code, out = cli("ledger", "checkpoint")
    assert code == 0, out
    assert verify_note(out, old_vkey)  # the overlap: the old key still signs
    code, out = cli("ledger", "verify")
    assert code == 0, out
    with container.engine.connect() as conn:
        bodies = conn.execute(sa.select(t.ledger_entry.c.body)).scalars().all()
    entries = [AuditEntry.from_bytes(b) for b in bodies]
    rolled = [e for e in entries if e.rule == Outcome.LEDGER_KEY_ROLLED.value]
    assert [e.resource_id.split("/")[0] for e in rolled] == [
        "signing-key"
    ]  # refusals change nothing


def test_init_force_wipes_the_rolled_keys_with_the_log(
    container: Container, settings: Settings, clock: FakeClock
) -> None:
    roll_over(container, OPERATOR, clock())
    container.close()
    initialise(settings, force=True)
    assert not history_path(settings.effective_ledger_key_file).exists()
    assert list(settings.data_dir.glob("ledger-*")) == []
    c = build(settings, clock=clock)
    try:
        assert len(c.checkpoints.key_list.splitlines()) == 1
    finally:
        c.close()
