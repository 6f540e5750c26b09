"""Migration 0021 (issue 18): a customer registered before it keeps their row and gets NULL
language and time zone (the configured defaults); a downgrade drops both columns and keeps the
row; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from entrusted.adapters.db import migrate
from entrusted.adapters.db.engine import make_engine

ROW = {
    "id": "cus_before0021", "status": "active", "created_at": datetime.now(UTC),
    "kek_id": "k1", "wrapped_key": b"w" * 40, "last_name": b"l", "first_name": b"f",
    "email": b"e", "email_idx": b"i" * 32,
}  # fmt: skip


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("customer")}


def test_old_customers_get_the_defaults_and_a_downgrade_keeps_them(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0020")
    assert not {"language", "time_zone"} & _columns(engine)
    insert = sa.text(f"INSERT INTO customer ({', '.join(ROW)}) VALUES (:{', :'.join(ROW)})")
    with engine.begin() as conn:
        conn.execute(
            insert.bindparams(*(sa.bindparam(k, type_=sa.LargeBinary) for k in ROW
                                if isinstance(ROW[k], bytes))),
            ROW,
        )  # fmt: skip
    migrate.upgrade(engine, "0021")
    select = sa.text("SELECT language, time_zone FROM customer WHERE id = :id")
    with engine.connect() as conn:
        assert tuple(conn.execute(select, {"id": ROW["id"]}).one()) == (None, None)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE customer SET language = 'fr', time_zone = 'America/New_York'")
        )
    migrate.downgrade(engine, "0020")
    assert not {"language", "time_zone"} & _columns(engine)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM customer")).scalar_one()
    assert count == 1
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()
