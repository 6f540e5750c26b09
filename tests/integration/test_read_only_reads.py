"""Pure reads of staff administration run in read-only units (issue 10 loose end): on SQLite
they never wait for the write lock, so listing staff, reading a member, their tokens or one
token answers at once while another connection holds the lock (a writing unit would wait at
BEGIN IMMEDIATE until the holder commits). SQLite only: PostgreSQL readers never wait for a
writer either way."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from entrusted.adapters.db import tables as t
from entrusted.bootstrap import build, initialise
from entrusted.config import Settings

pytestmark = pytest.mark.promise("P8")

PASSWORD = "correct horse battery"
HOLD_S = 3.0


def test_staff_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'entrusted.db'}",
        staff_totp_required=False,
        mail_transport="directory",
        sms_transport="directory",
    )
    initialise(settings)
    c = build(settings)
    try:
        c.staff.add("ana", "Ana Example", ["support"], PASSWORD)
        c.staff.issue_token("ana", "laptop")
        holding, release = threading.Event(), threading.Event()

        def hold_the_lock() -> None:
            with c.engine.begin() as conn:
                conn.execute(t.job_state.insert().values(name="holder", last_ok=True))
                holding.set()
                release.wait(HOLD_S)

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        holding.wait(timeout=10)
        reads: list[Callable[[], object]] = [
            c.staff.list_members,
            lambda: c.staff.get("ana"),
            lambda: c.staff.tokens("ana"),
        ]
        took = []
        for read in reads:
            start = time.monotonic()
            read()
            took.append(time.monotonic() - start)
        release.set()
        holder.join()
        assert max(took) < HOLD_S / 3, took
    finally:
        c.close()
