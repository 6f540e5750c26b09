"""Issue 17 item 1: the test plays the hoster's provisioning system, on SQLite and PostgreSQL.

1,000 customers with a mailbox and an FTP space each are upserted (the first ones through the
HTTP API with the provisioning token, the rest through the service in batches), then
repeated (nothing changes, and the answer says so), renamed, a mailbox with an open grant is
removed (the grant ends, ledgered) and a contract cancelled; then the registry matches an
oracle the test kept itself. Refusals: another actor's token is refused by
`provisioning.provisioning-only` and ledgered; bad ids, kinds and missing fields are 422 with
nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.crypto.personal import open_contract, open_customer
from entrusted.domain.cases import GrantEnd
from entrusted.domain.policy import Actor, ActorKind
from entrusted.domain.provisioning import (
    Change,
    ContractItem,
    CustomerItem,
    Item,
    ServiceItem,
)
from entrusted.domain.registry import ContractStatus, ServiceKind
from entrusted.entrypoints.api.app import create_app
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import ContactNormaliser
from entrusted.services.registry_forms import Registration, validate_details
from tests.conftest import count_rows
from tests.e2e.test_api_registry import bearer, staff_token
from tests.integration.test_consent_sql import WHY, link
from tests.integration.test_registry_sql import ledgered, staff
from tests.unit.registry_world import People, customer

pytestmark = pytest.mark.promise("P1", "P3", "P11")

TOTAL = 1000
BY_API = 40  # customers sent one call at a time over HTTP; the rest in batches
BATCH = 240
PROVISIONER = Actor(ActorKind.SERVICE, "provisioning")
TABLES = ("customer", "contract", "hosted_service", "provisioned_customer", "provisioned_service")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def provisioning(c: Container) -> dict[str, str]:
    return bearer(c.staff.issue_service_token("provisioning", "hoster").secret)


@dataclass
class Oracle:
    """What the registry must hold, by the hoster's ids, kept apart from the code under test."""

    people: dict[str, Registration] = field(default_factory=dict)
    holder: dict[str, str] = field(default_factory=dict)  # contract number -> customer number
    cancelled: set[str] = field(default_factory=set)
    services: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # hoster id -> our id, as answered


def mailbox(n: int, version: int = 0) -> str:
    return f"box{n}{'-v' + str(version) if version else ''}@example.org"


def world(n: int, form: Registration, oracle: Oracle, contacts: ContactNormaliser) -> list[Item]:
    """Customer K-n with contract C-n, a mailbox M-n and an FTP space F-n, as items."""
    oracle.people[f"K-{n}"] = form
    oracle.holder[f"C-{n}"] = f"K-{n}"
    oracle.services[f"C-{n}"] = {
        f"M-{n}": ("mailbox", mailbox(n)),
        f"F-{n}": ("ftp_space", f"space{n}"),
    }
    return [
        CustomerItem(f"K-{n}", validate_details(contacts, form)),
        ContractItem(f"C-{n}", f"K-{n}"),
        ServiceItem(f"C-{n}", f"M-{n}", ServiceKind.MAILBOX, mailbox(n)),
        ServiceItem(f"C-{n}", f"F-{n}", ServiceKind.FTP_SPACE, f"space{n}"),
    ]


def put_all(client: TestClient, who: dict[str, str], n: int, form: Registration) -> None:
    body = {"last_name": form.last_name, "first_name": form.first_name, "email": form.email,
            "phone": form.phone, "mobile": form.mobile}  # fmt: skip
    calls = [
        (f"/v1/provisioning/customers/K-{n}", body),
        (f"/v1/provisioning/contracts/C-{n}", {"customer": f"K-{n}"}),
        (f"/v1/provisioning/contracts/C-{n}/services/M-{n}", {"kind": "mailbox",
                                                               "name": mailbox(n)}),
        (f"/v1/provisioning/contracts/C-{n}/services/F-{n}", {"kind": "ftp_space",
                                                               "name": f"space{n}"}),
    ]  # fmt: skip
    for path, json in calls:
        r = client.put(path, json=json, headers=who)
        assert r.status_code == 201, r.text
        assert r.json()["change"] == "created"


def matches(c: Container, oracle: Oracle) -> None:
    """Every provisioned customer, contract and service is as the oracle says, and nothing
    else is on file."""
    keys = c.registry_keys()
    assert count_rows(c.engine, "customer") == len(oracle.people)
    assert count_rows(c.engine, "contract") == len(oracle.holder)
    with c.uow() as uow:
        for number, form in oracle.people.items():
            sealed = uow.customers.get(oracle.ids[number])  # type: ignore[attr-defined]
            assert open_customer(keys, sealed) == validate_details(c.provisioning.contacts, form)
        for number, holder in oracle.holder.items():
            contract = uow.contracts.get(oracle.ids[number])  # type: ignore[attr-defined]
            assert contract.holder_id == oracle.ids[holder]
            want = ContractStatus.CANCELLED if number in oracle.cancelled else ContractStatus.ACTIVE
            assert contract.status is want
            owner = uow.customers.get(contract.holder_id)  # type: ignore[attr-defined]
            view = open_contract(keys, owner, contract)
            got = {s.id: (s.kind.value, s.name) for s in view.services}
            listed = oracle.services[number].items()
            assert got == {oracle.ids[f"{number}/{k}"]: v for k, v in listed}


def test_the_provisioning_system_keeps_the_registry_current(
    container: Container, client: TestClient
) -> None:
    c = container
    contacts = c.provisioning.contacts
    who = provisioning(c)
    people, oracle = People(seed=17), Oracle()
    forms = {n: people.form() for n in range(1, TOTAL + 1)}
    for n in range(1, BY_API + 1):
        world(n, forms[n], oracle, contacts)
        put_all(client, who, n, forms[n])
    items: list[Item] = []
    for n in range(BY_API + 1, TOTAL + 1):
        items += world(n, forms[n], oracle, contacts)
    for start in range(0, len(items), BATCH):
        report = c.provisioning.sync(PROVISIONER, items[start : start + BATCH])
        assert {r.change for r in report.rows} == {Change.CREATED}
    # Our ids, by the hoster's, read back by a repeated sync: everything is unchanged.
    everything = [i for n in range(1, TOTAL + 1) for i in world(n, forms[n], Oracle(), contacts)]
    before = c.ledger_store.stored_size()
    again = c.provisioning.sync(PROVISIONER, everything)
    assert again.counts()[Change.UNCHANGED] == len(everything)
    assert c.ledger_store.stored_size() - before == len(everything)  # decisions, no outcomes
    for item, row in zip(everything, again.rows, strict=True):
        key = row.external_id
        if isinstance(item, ServiceItem):
            key = f"{item.contract}/{item.number}"
        oracle.ids[key] = row.id
    # A repeated identical PUT: 200 "unchanged", and only its decision in the ledger.
    before = c.ledger_store.stored_size()
    r = client.put("/v1/provisioning/contracts/C-3", json={"customer": "K-3"}, headers=who)
    assert (r.status_code, r.json()["change"]) == (200, "unchanged")
    assert c.ledger_store.stored_size() == before + 1
    # Renames keep the service's id: some over HTTP, some in a batch.
    for n in range(1, 11):
        r = client.put(f"/v1/provisioning/contracts/C-{n}/services/M-{n}",
                       json={"kind": "mailbox", "name": mailbox(n, 2)}, headers=who)  # fmt: skip
        assert (r.status_code, r.json()["change"]) == (200, "updated"), r.text
        assert r.json()["id"] == oracle.ids[f"C-{n}/M-{n}"]
        oracle.services[f"C-{n}"][f"M-{n}"] = ("mailbox", mailbox(n, 2))
    renames = [ServiceItem(f"C-{n}", f"M-{n}", ServiceKind.MAILBOX, mailbox(n, 3))
               for n in range(500, 520)]  # fmt: skip
    for n in range(500, 520):
        oracle.services[f"C-{n}"][f"M-{n}"] = ("mailbox", mailbox(n, 3))
    renamed = c.provisioning.sync(PROVISIONER, renames)
    assert [r.id for r in renamed.rows] == [oracle.ids[f"C-{n}/M-{n}"] for n in range(500, 520)]
    # A customer's name corrected by the hoster; their contact channels are theirs: a new
    # e-mail address (or a dropped phone number) from provisioning is refused, nothing written
    # (trial finding: a provisioning token could take an account over by its password link).
    renamed_person = Registration(
        "Neuname", forms[5].first_name, forms[5].email, forms[5].phone, forms[5].mobile
    )
    body = {"last_name": "Neuname", "first_name": forms[5].first_name, "email": forms[5].email,
            "phone": forms[5].phone, "mobile": forms[5].mobile}  # fmt: skip
    r = client.put("/v1/provisioning/customers/K-5", headers=who, json=body)
    assert (r.status_code, r.json()["change"]) == (200, "updated"), r.text
    oracle.people["K-5"] = renamed_person
    for changed in ({**body, "email": "k5.new@example.com"}, {**body, "mobile": None}):
        r = client.put("/v1/provisioning/customers/K-5", headers=who, json=changed)
        assert r.status_code == 409, r.text
        assert "changed by the customer" in r.json()["detail"]
    # A mailbox with an open grant is removed: the grant ends, ledgered as grants end.
    support = staff(c, "sam", "support")
    cus, ctr, box = oracle.ids["K-7"], oracle.ids["C-7"], oracle.ids["C-7/M-7"]
    case = c.cases.open(support, ctr, "Webmail error")
    request = c.consent.request(support, case.id, box, WHY)
    grant = c.consent.approve(customer(cus), request.id, link(c))
    r = client.delete("/v1/provisioning/contracts/C-7/services/M-7", headers=who)
    assert (r.status_code, r.json()["change"]) == (200, "removed"), r.text
    _, removed_name = oracle.services["C-7"].pop("M-7")
    # The removed mailbox's name stays taken: its Maildir is not destroyed by the removal, so
    # hosting it for another customer would hand them the previous holder's mail.
    r = client.put("/v1/provisioning/contracts/C-8/services/M-7b", headers=who,
                   json={"kind": "mailbox", "name": removed_name})  # fmt: skip
    assert r.status_code == 409, r.text
    ended = c.grants.get(support, grant.id)
    assert ended.end_reason is GrantEnd.SERVICE_REMOVED
    # The customer's notice of the end is delivered, and the case still reads.
    assert c.outbox.deliver().failed == 0
    assert [g.id for g in c.cases.get(support, case.id).grants] == [grant.id]
    entries = ledgered(c)
    assert any(
        e.rule == Outcome.GRANT_ENDED.value and e.refs.get("grant") == grant.id for e in entries
    )
    assert any(
        e.rule == Outcome.PROVISIONING_REMOVED.value and e.resource_id == box for e in entries
    )
    again = client.delete("/v1/provisioning/contracts/C-7/services/M-7", headers=who)
    assert again.status_code == 404
    # The mailbox's address is free again: another contract may host it.
    r = client.put("/v1/provisioning/contracts/C-8/services/M-x",
                   json={"kind": "mailbox", "name": mailbox(7)}, headers=who)  # fmt: skip
    assert r.status_code == 201, r.text
    oracle.ids["C-8/M-x"] = r.json()["id"]
    oracle.services["C-8"]["M-x"] = ("mailbox", mailbox(7))
    # A cancelled contract; a repeated cancellation changes nothing.
    r = client.delete("/v1/provisioning/contracts/C-9", headers=who)
    assert (r.status_code, r.json()["change"]) == (200, "removed")
    oracle.cancelled.add("C-9")
    r = client.delete("/v1/provisioning/contracts/C-9", headers=who)
    assert (r.status_code, r.json()["change"]) == (200, "unchanged")
    matches(c, oracle)
    # The ledger names ids only: no name or address the provisioning system sent.
    text = b"".join(c.ledger_store.entries(0, c.ledger_store.stored_size()))
    for needle in (forms[1].email, forms[1].last_name, mailbox(2), "K-1", "C-1/M-1"):
        assert needle.encode() not in text


def test_other_actors_and_bad_input_are_refused_ledgered_and_write_nothing(
    container: Container, client: TestClient
) -> None:
    c = container
    body = {"last_name": "Muster", "first_name": "Anna", "email": "anna@example.com"}
    for who in (staff_token(c, "sam", "support"),
                bearer(c.staff.issue_service_token("signup", "site").secret)):  # fmt: skip
        r = client.put("/v1/provisioning/customers/K-1", json=body, headers=who)
        assert (r.status_code, r.json()["rule"]) == (403, Outcome.PROVISIONING_ONLY.value)
        last = ledgered(c)[-1]
        assert (last.decision, last.rule) == ("deny", Outcome.PROVISIONING_ONLY.value)
    who = provisioning(c)
    assert client.put("/v1/provisioning/customers/K-1", json=body, headers=who).status_code == 201
    assert client.put("/v1/provisioning/contracts/C-1", json={"customer": "K-1"},
                      headers=who).status_code == 201  # fmt: skip
    counts = {t: count_rows(c.engine, t) for t in TABLES}
    bad = [
        ("/v1/provisioning/customers/K%201", body, "external_id"),
        ("/v1/provisioning/customers/K-2", {**body, "email": "not an address"}, "email"),
        ("/v1/provisioning/contracts/C-2", {"customer": "K-404"}, "customer"),
        ("/v1/provisioning/contracts/C-1/services/S-1", {"kind": "printer", "name": "x"}, "kind"),
        ("/v1/provisioning/contracts/C-1/services/S-1", {"kind": "mailbox", "name": "x"}, "name"),
        ("/v1/provisioning/contracts/C-404/services/S-1", {"kind": "domain",
                                                         "name": "example.org"}, "contract"),
    ]  # fmt: skip
    for path, json, field_ in bad:
        before = c.ledger_store.stored_size()
        r = client.put(path, json=json, headers=who)
        assert (r.status_code, r.json().get("field")) == (422, field_), r.text
        last = ledgered(c)[-1]
        assert last.decision == "deny", path
        assert c.ledger_store.stored_size() > before, (path, r.text, last)
    missing = client.put("/v1/provisioning/customers/K-3", json={"last_name": "X"}, headers=who)
    assert missing.status_code == 422
    assert {t: count_rows(c.engine, t) for t in TABLES} == counts


def test_the_demo_step_syncs_renames_and_removes(container: Container) -> None:
    from faker import Faker

    from entrusted.entrypoints.cli.demo_provisioning import provisioning_step

    c = container
    c.staff.add("demo.support", "Demo Support", ["support"], "correct horse battery")
    provisioning_step(c, Faker())
    assert count_rows(c.engine, "provisioned_customer") == 3
    entries = ledgered(c)
    assert entries[-1].rule == Outcome.PROVISIONING_ONLY.value
    assert sum(e.rule == Outcome.PROVISIONING_REMOVED.value for e in entries) == 1


def test_support_finds_a_caller_by_mailbox_domain_and_customer_number(
    container: Container, client: TestClient
) -> None:
    c = container
    who = provisioning(c)
    body = {"last_name": "Muster", "first_name": "Anna", "email": "anna@example.com"}
    calls = [
        ("/v1/provisioning/customers/K-77", body),
        ("/v1/provisioning/contracts/C-77", {"customer": "K-77"}),
        ("/v1/provisioning/contracts/C-77/services/m", {"kind": "mailbox",
                                                       "name": "shop@example.org"}),
        ("/v1/provisioning/contracts/C-77/services/d", {"kind": "domain", "name": "example.org"}),
    ]  # fmt: skip
    for path, json in calls:
        assert client.put(path, json=json, headers=who).status_code == 201
    cus = client.put(calls[0][0], json=body, headers=who).json()["id"]
    support = staff_token(c, "sam", "support")
    asked = [{"mailbox": "Shop@Example.org"}, {"domain": "EXAMPLE.org."},
             {"customer_number": "K-77"}]  # fmt: skip
    for query in asked:
        r = client.post("/v1/customers/search", json={**query, "ticket": "HD-1"}, headers=support)
        assert r.status_code == 200, r.text
        assert [v["id"] for v in r.json()] == [cus]
        assert r.json()[0]["summary"] is None  # masked until the caller is identified
        last = [e for e in ledgered(c) if e.resource_id.startswith("lookup:")][-1]
        assert last.resource_id == f"lookup:{next(iter(query))}"
        assert "K-77" not in last.reason
        assert "example.org" not in str(last.refs)
    # The same reason rule as every look-up: none given is refused, ledgered.
    r = client.post("/v1/customers/search", json={"domain": "example.org"}, headers=support)
    assert (r.status_code, r.json()["rule"]) == (403, Outcome.LOOKUP_NEEDS_REASON.value)
    assert ledgered(c)[-1].rule == Outcome.LOOKUP_NEEDS_REASON.value
    # Nobody holds these: an empty answer, not an error.
    for query in ({"customer_number": "K-78"}, {"mailbox": "other@example.org"}):
        r = client.post("/v1/customers/search", json={**query, "ticket": "HD-1"}, headers=support)
        assert (r.status_code, r.json()) == (200, [])
    # Two ways at once, or a bad domain: 422.
    both = {"domain": "example.org", "customer_number": "K-77", "ticket": "HD-1"}
    assert client.post("/v1/customers/search", json=both, headers=support).status_code == 422
    bad = {"domain": "not a domain", "ticket": "HD-1"}
    assert client.post("/v1/customers/search", json=bad, headers=support).status_code == 422
    # The same throttle: the 11th look-up within a minute is refused, ledgered.
    for _ in range(4):
        client.post("/v1/customers/search", json={"domain": "example.org", "ticket": "HD-1"},
                    headers=support)  # fmt: skip
    r = client.post("/v1/customers/search", json={"domain": "example.org", "ticket": "HD-1"},
                    headers=support)  # fmt: skip
    assert r.status_code == 429, r.text
    assert ledgered(c)[-1].rule == Outcome.LOOKUPS_THROTTLED.value
