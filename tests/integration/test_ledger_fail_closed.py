"""Fail closed: when the database cannot commit, every append raises `Unavailable`, nobody is
acknowledged, nothing is written, and the log is intact for when the database comes back."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from entrusted.adapters.db.engine import make_engine
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_verify import verify_ledger
from entrusted.adapters.db.ledger_writer import GroupCommitLedger
from entrusted.adapters.joblock import FileJobLock
from entrusted.adapters.ledger_record import LocalRecordFile
from entrusted.bootstrap import LEDGER_RECORD, Container
from entrusted.crypto.signing import load_signer
from entrusted.domain.audit import Receipt
from entrusted.errors import EntrustedError, Unavailable
from entrusted.services.ledger import CheckpointService
from tests.conftest import count_rows
from tests.integration.ledger_support import audit_entry, fill

pytestmark = pytest.mark.promise("P3", "P12")


def read_only_url(engine: sa.Engine) -> str:
    """The same database, opened so that every write fails at the database itself."""
    url = engine.url
    if engine.dialect.name == "sqlite":
        return f"sqlite:///file:{url.database}?mode=ro&uri=true"
    options = f"{url.query.get('options', '')} -cdefault_transaction_read_only=on".strip()
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


def test_every_append_fails_closed_on_an_unwritable_database(container: Container) -> None:
    fill(container, 300, (300,))
    before = count_rows(container.engine, "ledger_entry")
    engine = make_engine(read_only_url(container.engine))
    try:
        ledger = GroupCommitLedger(SqlLedgerStore(engine))
        ledger.start()  # reading (the start-up check) still works
        acknowledged: list[Receipt] = []
        errors: list[EntrustedError] = []

        def append(i: int) -> None:
            try:
                acknowledged.append(ledger.append(audit_entry(1000 + i, "cus_1")))
            except EntrustedError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=append, args=(i,)) for i in range(32)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        with pytest.raises(Unavailable, match="nothing was recorded"):
            ledger.append_many([audit_entry(2000, None), audit_entry(2001, "cus_2")])
        ledger.stop()
        assert acknowledged == []
        assert len(errors) == 32
        assert all(isinstance(e, Unavailable) for e in errors)
        key = load_signer(container.settings.effective_ledger_key_file)
        data = container.settings.data_dir
        signer = CheckpointService(
            ledger.store,
            key,
            container.clock,
            FileJobLock(data / "locks"),
            LocalRecordFile(data / LEDGER_RECORD, key),
        )
        with pytest.raises(Unavailable):
            signer.sign(force=True)
    finally:
        engine.dispose()
    assert count_rows(container.engine, "ledger_entry") == before
    # The writable process carries on where it was, and the log is whole.
    container.ledger.append(audit_entry(3000, "cus_3"))
    assert verify_ledger(container.engine, container.checkpoints.vkey).size == before + 1


def test_a_vanished_database_fails_closed(tmp_path: Path) -> None:
    """SQLite: the file (here, its directory) is gone; the append raises and acks nothing."""
    engine = make_engine(f"sqlite:///file:{tmp_path / 'gone' / 'x.db'}?mode=rw&uri=true")
    try:
        with pytest.raises(Unavailable, match="nothing was recorded"):
            SqlLedgerStore(engine).append_batch([(audit_entry(1, "cus_1").to_bytes(), "cus_1")])
    finally:
        engine.dispose()
