"""Alembic migrations: upgrade, downgrade to nothing, upgrade again, on both databases; and
the migrated schema matches the tables the code uses; third-party requests from before 0019
are kept as legacy text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from entrusted.adapters.db import migrate
from entrusted.adapters.db.engine import make_engine
from entrusted.adapters.db.tables import metadata
from entrusted.crypto.documents import open_text, seal_text
from entrusted.crypto.envelope import Keyring, MasterKey


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_migrated_schema_matches_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_requests_from_before_0019_are_kept_as_legacy_text(database_url: str) -> None:
    """0019 has no key: a request's texts recorded before it are kept as `0x00 || text`, read
    as they are; a downgrade gives them back as text, and refuses while a sealed one exists."""
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0018")
    row = {"id": "tpr_legacy", "requester": "Det. Old", "authority": "Kapo",
           "asked": "all data of old@example.org", "legal_basis": "StPO 265",
           "customer_ids": "[]", "recorded_by": "stf_x", "received_at": datetime.now(UTC),
           "answer": "refused"}  # fmt: skip
    cols = ", ".join(row)
    insert = sa.text(f"INSERT INTO third_party_request ({cols}) VALUES (:{', :'.join(row)})")
    select = sa.text("SELECT requester, asked FROM third_party_request ORDER BY id")
    with engine.begin() as conn:
        conn.execute(insert, row)
    migrate.upgrade(engine)
    ring = Keyring(MasterKey.generate())
    with engine.connect() as conn:
        requester, asked = (bytes(v) for v in conn.execute(select).one())
    assert asked == b"\x00all data of old@example.org"
    assert open_text(ring, "tpr_legacy", "asked", asked) == "all data of old@example.org"
    assert open_text(ring, "tpr_legacy", "requester", requester) == "Det. Old"
    migrate.downgrade(engine, "0018")
    with engine.connect() as conn:
        assert tuple(conn.execute(select).one()) == ("Det. Old", "all data of old@example.org")
    migrate.upgrade(engine)
    sealed = {f: seal_text(ring, "tpr_sealed", f, "x") for f in ("requester", "asked")}
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO third_party_request ({cols}) VALUES (:{', :'.join(row)})"
            ).bindparams(sa.bindparam("requester", type_=sa.LargeBinary),
                         sa.bindparam("asked", type_=sa.LargeBinary)),
            {**row, "id": "tpr_sealed", **sealed},
        )  # fmt: skip
    with pytest.raises(RuntimeError, match="tpr_sealed holds sealed texts"):
        migrate.downgrade(engine, "0018")
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()
