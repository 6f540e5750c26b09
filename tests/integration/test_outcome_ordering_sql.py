"""Outcomes after commit on the real databases (issue 10 item 2): a trigger planted in SQLite
or PostgreSQL makes the grant's insert fail at commit time; the approval's decision is in the
ledger (fail closed), no `consent.granted` outcome is, and no grant exists."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from entrusted.bootstrap import Container
from tests.conftest import count_rows
from tests.integration.test_consent_sql import WHY, link, register
from tests.integration.test_registry_sql import ledgered, staff
from tests.unit.registry_world import customer

pytestmark = pytest.mark.promise("P3", "P11")

SQLITE_TRIGGER = (
    "CREATE TRIGGER planted BEFORE INSERT ON consent_grant "
    "BEGIN SELECT RAISE(ABORT, 'planted failure'); END"
)
PG_TRIGGER = (
    "CREATE FUNCTION planted() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'planted failure'; END $$",
    "CREATE TRIGGER planted BEFORE INSERT ON consent_grant FOR EACH ROW EXECUTE FUNCTION planted()",
)


def plant_failing_grant_insert(engine: sa.Engine) -> None:
    statements = (SQLITE_TRIGGER,) if engine.dialect.name == "sqlite" else PG_TRIGGER
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def test_a_grant_that_does_not_commit_is_not_ledgered_as_granted(container: Container) -> None:
    c = container
    sam = staff(c, "sam", "support")
    cus, contract, svc = register(c, 1)
    case = c.cases.open(sam, contract, "Webmail error")
    req = c.consent.request(sam, case.id, svc["mailbox"], WHY)
    token = link(c)
    plant_failing_grant_insert(c.engine)
    with pytest.raises(sa.exc.DBAPIError, match="planted failure"):
        c.consent.approve(customer(cus), req.id, token)
    entries = ledgered(c)
    assert (entries[-1].action, entries[-1].decision) == ("approve", "allow")
    assert "consent.granted" not in [e.rule for e in entries]
    assert count_rows(c.engine, "consent_grant") == 0
