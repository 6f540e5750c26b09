"""The gate's grant probe (a fast path) answers as its slow definition, on SQLite and
PostgreSQL: `GrantProbe` says yes exactly when `grants.matching` finds a row, and the
`active_grant` resolver with the probe decides as the resolver without it, through a grant's
life (none, approved, spent, ended) and for the neighbours that must not match (another staff
member, service or case). A planted probe that always says no is caught by the same check."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from entrusted.adapters.db.grant_probe import GrantProbe
from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor, Resource, ResourceKind
from entrusted.services.gate import AccessContext
from entrusted.services.grants import ActiveGrant
from tests.integration.test_consent_sql import WHY, link, register
from tests.integration.test_registry_sql import staff
from tests.unit.registry_world import customer

pytestmark = pytest.mark.promise("P9", "P10")

Ask = tuple[Actor, Resource, AccessContext]


def questions(
    staffs: list[Actor], boxes: list[Resource], cases: list[str], grant_id: str | None
) -> Iterator[Ask]:
    for actor in staffs:
        for box in boxes:
            for case_id in cases:
                yield actor, box, AccessContext(case_id=case_id)
                if grant_id is not None:
                    yield actor, box, AccessContext(case_id=case_id, grant_id=grant_id)


Resolver = Callable[[Actor, Resource, AccessContext], bool]


def answers(resolver: Resolver, asks: list[Ask]) -> list[bool]:
    return [resolver(actor, box, ctx) for actor, box, ctx in asks]


def test_the_probe_and_the_resolver_answer_as_their_definitions(container: Container) -> None:
    c = container
    probe = GrantProbe(c.engine)

    def reader() -> SqlUnitOfWork:
        return SqlUnitOfWork(c.engine, read_only=True)

    slow = ActiveGrant(reader, reader, c.clock)
    fast = ActiveGrant(reader, reader, c.clock, probe)
    planted = ActiveGrant(reader, reader, c.clock, lambda *_: False)
    support, other = staff(c, "sam", "support"), staff(c, "sue", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Webmail error")
    spare = c.cases.open(support, ctr, "Another question")
    boxes = [
        Resource(ResourceKind.MAILBOX_CONTENT, svc["mailbox"], owner=cus),
        Resource(ResourceKind.FTP_SPACE, svc["ftp_space"], owner=cus),
    ]
    checked = 0

    def agree(grant_id: str | None, expect_any: bool) -> None:
        nonlocal checked
        asks = list(questions([support, other], boxes, [case.id, spare.id], grant_id))
        with reader() as uow:
            defined = [
                bool(uow.grants.matching(a.id, r.id, ctx.case_id or "")) for a, r, ctx in asks
            ]
        assert [probe(a.id, r.id, ctx.case_id or "") for a, r, ctx in asks] == defined
        wanted = answers(slow, asks)
        assert answers(fast, asks) == wanted
        assert any(wanted) is expect_any
        checked += len(asks)

    agree(None, expect_any=False)  # no grant yet: every answer is no
    req = c.consent.request(support, case.id, svc["mailbox"], WHY)
    grant = c.consent.approve(customer(cus), req.id, link(c))
    agree(grant.id, expect_any=True)  # exactly the grantee, mailbox and case
    # The planted fast path (always "no row") disagrees with the definition here.
    asks = list(questions([support], boxes[:1], [case.id], grant.id))
    assert answers(planted, asks) != answers(slow, asks)
    use = c.grants.use(support, grant.id)
    agree(grant.id, expect_any=True)  # spent, its session still open
    c.grants.end_session(support, use.session.id)
    agree(grant.id, expect_any=False)  # ended: the row is closed
    assert checked == 4 * 16 - 8  # the first round has no grant id to name


def test_the_probe_keeps_no_transaction_open_and_closes_with_the_engine(
    container: Container,
) -> None:
    """The probe's own connections read in autocommit (no snapshot held between probes, no
    lock kept from writers) and are closed when the engine is disposed, as the pool's are."""
    probe = GrantProbe(container.engine)
    assert probe("stf_nobody", "mbx_nothing", "case_none") is False
    assert probe("stf_nobody", "mbx_nothing", "case_none") is False  # the same connection
    assert probe._free.qsize() == 1
    (_, cur) = probe._free.get_nowait()
    probe._free.put((_, cur))
    driver = cur.connection
    if container.engine.dialect.name == "sqlite":
        assert driver.in_transaction is False
    else:
        import psycopg

        assert driver.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
    container.engine.dispose()
    assert probe._free.empty()
    assert probe._open == 0
    if container.engine.dialect.name == "sqlite":
        import sqlite3

        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            driver.execute("SELECT 1")
    else:
        assert driver.closed
