"""The registry wired by the composition root, on SQLite and PostgreSQL: nothing personal is
stored in clear (raw rows and database file bytes are searched), the refused bulk export and
every step of a transfer are in the durable ledger, the import is all-or-nothing, and the
unique e-mail index holds even when two registrations race."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from entrusted.adapters.db.registry_store import SqlCustomerRepository
from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.errors import Conflict, InvalidInput
from entrusted.services.gate import AccessContext
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.conftest import count_rows
from tests.refusals import default_denied, refused_by
from tests.unit.registry_world import OPERATOR, SIGNUP, People, customer

pytestmark = pytest.mark.promise("P1", "P2", "P4")

PASSWORD = "correct horse battery"
PEOPLE = [
    Registration(
        "Zwinglimeister",
        "Huldreich",
        "huldreich.zwingli@example.com",
        "044 000 01 01",
        "+41 79 000 01 02",
        (
            ServiceRequest("mailbox", "reformation@example.com"),
            ServiceRequest("website", "grossmuenster.example.org"),
        ),
    ),
    Registration("Bürgisser-Ödön", "Zoë", "zoe.buergisser@example.net", None, "079 000 02 02"),
    Registration("Wetterhorn", "Anneliese", "anneliese@example.org", "+41 44 000 03 03"),
]


def staff(c: Container, username: str, role: str) -> Actor:
    member = c.staff.add(username, "Staff Member", [role], PASSWORD)
    return Actor(ActorKind.STAFF, member.id, frozenset({Role(role)}))


def ledgered(c: Container) -> list[AuditEntry]:
    store = c.ledger_store
    return [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]


def needles() -> list[str]:
    out = []
    for p in PEOPLE:
        out += [p.last_name, p.first_name, p.email, p.email.split("@")[0]]
        out += [s.name for s in p.services]
    out += ["+41440000101", "0440000101", "+41790000102", "+41790000202", "+41440000303"]
    out += ["Bürgisser", "Zoë".lower(), "zoe.buergisser"]
    return out


def raw_rows(engine: sa.Engine) -> list[bytes]:
    cells: list[bytes] = []
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        cells.append(bytes(value))
                    elif value is not None:
                        cells.append(str(value).encode("utf-8"))
    return cells


def test_nothing_personal_is_stored_in_clear(container: Container, database_url: str) -> None:
    support = staff(container, "support1", "support")
    ids = [container.registry.register(SIGNUP, p).customer_id for p in PEOPLE]
    container.identification.start(support, ids[0], "email_code")
    container.registry.correct(customer(ids[2]), ids[2], {"mobile": "+41 79 000 03 04"})
    container.registry.find(support, email=PEOPLE[1].email, context=AccessContext(ticket="HD-1"))
    with refused_by("nobody-exports-the-customer-file", ledger=lambda: ledgered(container)[-1]):
        container.registry.export_all(support)
    cells = raw_rows(container.engine)
    blobs = [b"\n".join(cells)]
    if database_url.startswith("sqlite"):
        db = Path(database_url.removeprefix("sqlite:///"))
        blobs += [f.read_bytes() for f in db.parent.glob(db.name + "*")]
    for needle in [*needles(), "+41790000304"]:
        for variant in {needle, needle.lower(), needle.upper()}:
            for blob in blobs:
                assert variant.encode("utf-8") not in blob, f"{needle!r} stored in clear"
    # ...and yet everything reads back for the customer.
    record = container.registry.details(customer(ids[1]), ids[1])
    assert (record.details.last_name, record.details.mobile) == ("Bürgisser-Ödön", "+41790000202")


def test_bulk_export_refusal_is_in_the_durable_ledger(container: Container) -> None:
    container.registry.register(SIGNUP, PEOPLE[0])
    for role in ("support", "sysadmin", "legal", "communications", "other"):
        who = staff(container, f"{role[:5]}1", role)
        with refused_by("nobody-exports-the-customer-file", ledger=lambda: ledgered(container)[-1]):
            container.registry.export_all(who)
    refusals = [e for e in ledgered(container) if e.resource_kind == "customer_file"]
    assert len(refusals) == 5
    assert {(e.action, e.decision, e.rule) for e in refusals} == {
        ("export", "deny", "nobody-exports-the-customer-file")
    }


def test_transfer_on_sql(container: Container) -> None:
    support = staff(container, "support1", "support")
    done = container.registry.register(SIGNUP, PEOPLE[0])
    alice, contract = done.customer_id, str(done.contract_id)
    bob = container.registry.register(SIGNUP, PEOPLE[1]).customer_id
    started = container.identification.start(support, alice, "email_code")
    mailer = container.mailer
    code = mailer.sent[-1].body.split("code is ")[1][:6]  # type: ignore[attr-defined]
    container.identification.verify(support, started.id, code)
    result = container.contracts.transfer(support, contract, to_customer=bob)
    with default_denied(
        "customer to read contract", without="owns_resource", ledger=lambda: ledgered(container)[-1]
    ):
        container.contracts.get(customer(alice), contract)
    names = {s.name for s in container.contracts.get(customer(bob), contract).services}
    assert names == {"reformation@example.com", "grossmuenster.example.org"}
    entries = ledgered(container)
    handover = entries[result.handover_index]
    assert (entries[result.transfer.ledger_index].action, handover.action) == ("transfer",) * 2
    assert (handover.owner, handover.rule) == (bob, "registry.contract-handed-over")
    assert count_rows(container.engine, "contract_transfer") == 1
    # Identifying Alice gave no right over the contract once it became Bob's.
    with default_denied(
        "support to transfer contract",
        without="caller_identified",
        ledger=lambda: ledgered(container)[-1],
    ):
        container.contracts.transfer(support, contract, to_customer=alice)
    # Bob's own export carries the handover and every ledger entry filed under him.
    doc = container.registry.export_own(customer(bob), bob)
    assert result.handover_index in [e["index"] for e in doc["ledger_entries"]]


def test_import_is_all_or_nothing_on_sql(container: Container) -> None:
    people = People(seed=11)
    rows = []
    for _ in range(30):
        f = people.form()
        rows.append(
            {
                "last_name": f.last_name,
                "first_name": f.first_name,
                "email": f.email,
                "phone": f.phone,
                "mobile": f.mobile,
            }
        )
    bad = [dict(r) for r in rows]
    bad[20]["phone"] = "not a number"
    with pytest.raises(InvalidInput) as info:
        container.registry.import_customers(OPERATOR, bad)
    assert info.value.field == "row 22 phone"
    assert count_rows(container.engine, "customer") == 0
    ids = container.registry.import_customers(OPERATOR, rows, chunk=7)
    assert count_rows(container.engine, "customer") == 30
    again = container.registry.find(
        Actor(ActorKind.STAFF, staff(container, "s1", "support").id, frozenset({Role.SUPPORT})),
        email=rows[5]["email"],
        context=AccessContext(ticket="HD-2"),
    )
    assert [s.id for s in again] == [ids[5]]
    with pytest.raises(Conflict, match="row 2"):
        container.registry.import_customers(OPERATOR, rows[:3])
    assert count_rows(container.engine, "customer") == 30


def test_unique_email_index_holds_under_a_race(container: Container) -> None:
    container.registry.register(SIGNUP, PEOPLE[2])
    with container.engine.connect() as conn:
        existing = SqlCustomerRepository(conn).by_email_index(
            _email_idx(container, PEOPLE[2].email)
        )
    assert existing is not None
    twin = replace(existing, id="cus_racer")
    with container.engine.begin() as conn, pytest.raises(Conflict):
        SqlCustomerRepository(conn).add(twin)
    assert count_rows(container.engine, "customer") == 1


def _email_idx(c: Container, email: str) -> bytes:
    from entrusted.crypto.blind_index import email_index

    return email_index(c.registry_keys().index_key, email)
