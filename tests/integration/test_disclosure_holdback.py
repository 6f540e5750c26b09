"""A deferred disclosure is held back from the customer's own export (issue 16 item 1, P5), on
SQLite and PostgreSQL, through the API with the customer's own token.

While the court order forbids telling the customer, the entries the desk filed under them for
the disclosure are not in their export; once the worker lifts the deferral they are, and with
an order that forbids nothing they always are. The oracle is the ledger store itself: the
indexes of the entries filed under the customer that the desk appended, read directly, not
through the code under test. The log keeps every entry throughout."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from entrusted.adapters.directory_transport import DirectoryMailer
from entrusted.bootstrap import Container
from entrusted.bootstrap.disclosures import DISCLOSURE_LIFT_JOB
from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.entrypoints.api.app import create_app
from entrusted.services.court_orders import OrderForm
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from entrusted.services.registry_forms import ServiceRequest
from tests.conftest import FakeClock
from tests.integration.test_registry_sql import staff
from tests.unit.registry_world import SIGNUP, People

pytestmark = pytest.mark.promise("P5")

PASSWORD = "a long passphrase for the holdback tests"
DOCUMENT = b"%PDF-1.7 Bezirksgericht (fake, for tests)"


@dataclass
class World:
    c: Container
    client: TestClient
    clock: FakeClock
    emails: dict[str, str]  # customer id -> e-mail address
    legal: Actor
    legal2: Actor

    @property
    def today(self) -> date:
        return self.clock().date()

    def login(self, customer_id: str) -> dict[str, str]:
        r = self.client.post(
            "/v1/customers/login", json={"email": self.emails[customer_id], "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def exported(self, customer_id: str) -> set[int]:
        """The ledger indexes in the customer's own export, fetched with their own token."""
        r = self.client.get(f"/v1/customers/{customer_id}/export", headers=self.login(customer_id))
        assert r.status_code == 200, r.text
        return {item["index"] for item in r.json()["ledger_entries"]}

    def filed(self, customer_id: str, start: int = 0) -> set[int]:
        """The oracle: indexes of the entries filed under the customer, from the store."""
        store = self.c.ledger_store
        bodies = store.entries(start, store.stored_size())
        return {
            start + n
            for n, body in enumerate(bodies)
            if AuditEntry.from_bytes(body).owner == customer_id
        }

    def disclose(self, customers: list[str], notice_after: date | None) -> tuple[str, set[int]]:
        """Register an order, propose, approve, export; the disclosure and the indexes the
        desk appended under `customers[0]`."""
        order = self.c.desk.orders.register_order(
            self.legal,
            OrderForm(
                "CH-BE",
                "BJS 26 77",
                self.today - timedelta(days=1),
                self.today + timedelta(days=60),
                customers,
                ["personal_details", "contracts"],
                notice_after,
            ),
            DOCUMENT,
        )
        proposed = self.c.desk.disclosures.propose(self.legal, order.id)
        self.c.desk.disclosures.approve(self.legal2, proposed.id)
        before = self.c.ledger_store.stored_size()
        self.c.desk.disclosures.export(self.legal, proposed.id)
        return proposed.id, self.filed(customers[0], before)


@pytest.fixture
def world(container: Container, clock: FakeClock) -> Iterator[World]:
    people = People(seed=1616)
    emails: dict[str, str] = {}
    for n in range(2):
        form = people.form(services=(ServiceRequest("mailbox", f"held{n}@example.com"),))
        emails[container.registry.register(SIGNUP, form).customer_id] = form.email.lower()
    container.outbox.deliver()  # the password links
    mailer = container.mailer
    assert isinstance(mailer, DirectoryMailer)
    with TestClient(create_app(container=container)) as client:
        for address in emails.values():
            body = next(m.body for m in reversed(mailer.sent) if m.to == address)
            token = body.split("#token=")[1].split()[0]
            r = client.post("/v1/customers/password", json={"token": token, "password": PASSWORD})
            assert r.status_code == 204, r.text
        yield World(
            container,
            client,
            clock,
            emails,
            staff(container, "legal1", "legal"),
            staff(container, "legal2", "legal"),
        )


def test_a_deferred_disclosure_is_held_back_until_lifted(world: World) -> None:
    a, other = list(world.emails)
    did, desk_entries = world.disclose([a], notice_after=world.today + timedelta(days=20))
    entries = {
        i: AuditEntry.from_bytes(world.c.ledger_store.entries(i, i + 1)[0]) for i in desk_entries
    }
    # The desk filed the disclose decisions and the deferral under the customer, naming it.
    assert {(e.action, e.resource_kind) for e in entries.values()} == {
        ("disclose", "personal_details"),
        ("disclose", "contract"),
        ("update", "personal_details"),
    }
    assert {e.refs["disclosure"] for e in entries.values()} == {did}
    assert Outcome.DISCLOSURE_NOTICE_DEFERRED in {e.rule for e in entries.values()}

    shown = world.exported(a)
    assert not shown & desk_entries
    # Nothing else is held back: every other entry filed under the customer is there.
    assert shown == world.filed(a) - desk_entries
    assert world.exported(other) == world.filed(other)  # another customer: unaffected
    # Still held back the day the order allows it, until the lift tells the customer.
    world.clock.advance(days=20)
    assert not world.exported(a) & desk_entries

    job = next(j for j in world.c.jobs if j.name == DISCLOSURE_LIFT_JOB)
    assert (job.run() or "").startswith("1 ")
    shown = world.exported(a)
    assert desk_entries <= shown
    assert shown == world.filed(a)


def test_a_disclosure_the_customer_may_be_told_of_is_always_shown(world: World) -> None:
    a, _ = list(world.emails)
    _, desk_entries = world.disclose([a], notice_after=None)
    assert len(desk_entries) == 3  # personal details, the contract, the queued notice
    shown = world.exported(a)
    assert desk_entries <= shown
    assert shown == world.filed(a)
    # A notice_after already past forbids nothing either.
    _, more = world.disclose([a], notice_after=world.today)
    assert more <= world.exported(a)


def test_before_the_export_commits_a_gagged_orders_entries_are_held_back(world: World) -> None:
    """The export's decisions are ledgered before its status commits (and stay ledgered if it
    fails midway): while the order forbids telling the customer, they are held back too."""
    a, _ = list(world.emails)
    c = world.c
    gagged = c.desk.orders.register_order(
        world.legal,
        OrderForm(
            "CH-GE",
            "P/1/2026",
            world.today,
            world.today + timedelta(days=9),
            [a],
            ["personal_details"],
            world.today + timedelta(days=5),
        ),
        DOCUMENT,
    )
    open_order = c.desk.orders.register_order(
        world.legal,
        OrderForm(
            "CH-GE",
            "P/2/2026",
            world.today,
            world.today + timedelta(days=9),
            [a],
            ["personal_details"],
        ),
        DOCUMENT,
    )
    mine = Resource(ResourceKind.PERSONAL_DETAILS, a, owner=a)
    held: set[int] = set()
    told: set[int] = set()
    for order, into in ((gagged, held), (open_order, told)):
        d = c.desk.disclosures.propose(world.legal, order.id)
        c.desk.disclosures.approve(world.legal2, d.id)
        before = c.ledger_store.stored_size()
        c.gate.decide(
            world.legal,
            Action.DISCLOSE,
            mine,
            AccessContext(court_order_id=order.id, disclosure_id=d.id),
        )
        # An entry naming the gagged order but no disclosure is about it all the same.
        c.gate.decide(world.legal, Action.DISCLOSE, mine, AccessContext(court_order_id=order.id))
        into.update(world.filed(a, before))
    assert len(held) == len(told) == 2
    shown = world.exported(a)
    assert not shown & held
    assert told <= shown


def test_the_history_reads_the_hold_back_and_the_registry_in_one_unit(world: World) -> None:
    """`for_customer_with` (the history page's one read) withholds exactly what
    `for_customer` does, and hands back what it read from the registry in that same unit."""
    a, other = list(world.emails)
    did, desk_entries = world.disclose([a], notice_after=world.today + timedelta(days=20))
    held = world.c.desk.held_back
    withheld, record = held.for_customer_with(a, lambda uow: uow.customers.get(a))
    assert withheld == held.for_customer(a)
    assert withheld is not None
    assert withheld.disclosures == frozenset({did})
    assert record is not None
    assert record.id == a
    bodies = {i: world.c.ledger_store.entries(i, i + 1)[0] for i in world.filed(a)}
    assert {i for i, b in bodies.items() if withheld(b)} == desk_entries
    nothing, theirs = held.for_customer_with(other, lambda uow: uow.customers.get(other))
    assert nothing is None
    assert theirs is not None
    assert theirs.id == other
