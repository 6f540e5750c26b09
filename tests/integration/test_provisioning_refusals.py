"""Review of issue 17, on SQLite and PostgreSQL: provisioning's races and refusals.

- Two identical PUTs of the same external id at once (threads released together by a
  Barrier) never give a 500: one creates, the other finds it unchanged or is refused 409
  (`provisioning.conflict`, ledgered), and exactly one mapping row exists.
- Every refusal by the registry's state is ledgered with its outcome: a duplicate e-mail, a
  hosted name taken, a contract with another holder, a cancelled contract, a registry
  changed between the decision and the write (409), removing what was never provisioned
  (404).
- A cancellation ends the contract's grants with the change itself: a contract hook failing
  after the commit leaves no grant live."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.bootstrap.provisioning import provisioning_uow
from entrusted.domain.cases import GrantEnd
from entrusted.domain.policy import Actor
from entrusted.domain.provisioning import Change, ContractCancellation, CustomerItem, Item
from entrusted.entrypoints.api.app import create_app
from entrusted.errors import Conflict
from entrusted.services.gate import Gate
from entrusted.services.outcomes import Outcome
from entrusted.services.provisioning import ProvisioningParts, ProvisioningService
from entrusted.services.provisioning_ports import CHANGED
from entrusted.services.registry_forms import validate_details
from tests.conftest import FakeClock, count_rows
from tests.integration.test_consent_sql import WHY, link
from tests.integration.test_provisioning import PROVISIONER, provisioning
from tests.integration.test_registry_sql import ledgered, staff
from tests.unit.registry_world import People, customer

pytestmark = pytest.mark.promise("P1", "P3", "P11")

ROUNDS = 6
CONFLICT, NOT_FOUND = Outcome.PROVISIONING_CONFLICT.value, Outcome.PROVISIONING_NOT_FOUND.value


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def refusals(c: Container, rule: str) -> int:
    return sum(e.decision == "deny" and e.rule == rule for e in ledgered(c))


def at_once(client: TestClient, path: str, body: dict[str, Any], who: dict[str, str]) -> list[int]:
    """The same PUT from two threads released together; their statuses, sorted. A raised
    exception (a 500 the client re-raises) fails the test with it."""
    start, statuses, errors = threading.Barrier(2), [], []

    def put() -> None:
        start.wait()
        try:
            statuses.append(client.put(path, json=body, headers=who).status_code)
        except Exception as exc:  # reported below, with its type
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return sorted(statuses)


def test_two_identical_puts_at_once_create_once_and_never_fail(
    container: Container, client: TestClient
) -> None:
    c, who, people = container, provisioning(container), People(seed=71)
    refused_before = refusals(c, CONFLICT)
    lost = 0
    for r in range(1, ROUNDS + 1):
        form = people.form()
        calls = [
            (f"/v1/provisioning/customers/K-{r}", "provisioned_customer",
             {"last_name": form.last_name, "first_name": form.first_name, "email": form.email}),
            (f"/v1/provisioning/contracts/C-{r}", "provisioned_contract", {"customer": f"K-{r}"}),
            (f"/v1/provisioning/contracts/C-{r}/services/M", "provisioned_service",
             {"kind": "mailbox", "name": f"box{r}@example.org"}),
        ]  # fmt: skip
        for path, table, body in calls:
            got = at_once(client, path, body, who)
            assert got in ([200, 201], [201, 409]), (path, got)
            lost += got == [201, 409]
            assert count_rows(c.engine, table) == r, (path, table)
    # Each loser's refusal is ledgered after its allow decision: the record says what happened.
    assert refusals(c, CONFLICT) - refused_before == lost


def test_every_refusal_by_the_registry_is_ledgered(
    container: Container, client: TestClient
) -> None:
    c, who = container, provisioning(container)
    anna = {"last_name": "Muster", "first_name": "Anna", "email": "anna@example.com"}
    ben = {"last_name": "Beispiel", "first_name": "Ben", "email": "ben@example.com"}
    setup = [
        ("/v1/provisioning/customers/K-1", anna),
        ("/v1/provisioning/customers/K-2", ben),
        ("/v1/provisioning/contracts/C-1", {"customer": "K-1"}),
        ("/v1/provisioning/contracts/C-3", {"customer": "K-1"}),
        ("/v1/provisioning/contracts/C-1/services/M", {"kind": "mailbox",
                                                      "name": "shop@example.org"}),
    ]  # fmt: skip
    for path, body in setup:
        assert client.put(path, json=body, headers=who).status_code == 201, path
    assert client.delete("/v1/provisioning/contracts/C-3", headers=who).status_code == 200
    tables = ("customer", "contract", "hosted_service", "provisioned_contract", "consent_grant")
    counts = {t: count_rows(c.engine, t) for t in tables}
    refused: list[tuple[str, str, dict[str, str] | None, int, str]] = [
        ("put", "/v1/provisioning/customers/K-9", {**ben, "last_name": "Other"}, 409, CONFLICT),
        ("put", "/v1/provisioning/contracts/C-2/services/M",
         {"kind": "mailbox", "name": "shop@example.org"}, 422, Outcome.INVALID_REQUEST.value),
        ("put", "/v1/provisioning/contracts/C-3/services/M",
         {"kind": "mailbox", "name": "new@example.org"}, 409, CONFLICT),  # cancelled
        ("put", "/v1/provisioning/contracts/C-1", {"customer": "K-2"}, 409, CONFLICT),
        ("put", "/v1/provisioning/contracts/C-3", {"customer": "K-1"}, 409, CONFLICT),
        ("delete", "/v1/provisioning/contracts/C-404", None, 404, NOT_FOUND),
        ("delete", "/v1/provisioning/contracts/C-1/services/X", None, 404, NOT_FOUND),
    ]  # fmt: skip
    for method, path, body, status, rule in refused:
        before = c.ledger_store.stored_size()
        r = client.request(method, path, json=body, headers=who)
        assert r.status_code == status, (path, r.text)
        last = ledgered(c)[-1]
        assert (last.decision, last.rule) == ("deny", rule), (path, last)
        assert c.ledger_store.stored_size() == before + 1, path  # the refusal, nothing else
        assert "C-404" not in last.reason
        assert "example" not in last.reason
    # A hosted name another contract holds: C-2 first, then its mailbox clashes with C-1's.
    assert client.put("/v1/provisioning/contracts/C-2", json={"customer": "K-2"},
                      headers=who).status_code == 201  # fmt: skip
    counts["contract"] += 1
    counts["provisioned_contract"] += 1
    r = client.put("/v1/provisioning/contracts/C-2/services/M", headers=who,
                   json={"kind": "mailbox", "name": "shop@example.org"})  # fmt: skip
    assert r.status_code == 409, r.text
    assert ledgered(c)[-1].rule == CONFLICT
    assert {t: count_rows(c.engine, t) for t in tables} == counts


class MeddlingGate:
    """The real gate, except that while it decides a batch the provisioning system's other
    call registers the same customer: the registry moves between decision and write."""

    def __init__(self, gate: Gate, meddle: Any) -> None:
        self._gate, self._meddle = gate, meddle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gate, name)

    def decide_many(self, *args: Any, **kwargs: Any) -> Any:
        decided = self._gate.decide_many(*args, **kwargs)
        if self._meddle is not None:
            meddle, self._meddle = self._meddle, None
            meddle()
        return decided


def service_with(
    c: Container, clock: FakeClock, gate: Any = None, hooks: Any = ()
) -> ProvisioningService:
    """A provisioning service on the container's database and gate, with collaborators the
    test chooses (a gate that meddles, contract hooks that fail)."""
    parts = ProvisioningParts(
        provisioning_uow(c.engine),
        provisioning_uow(c.engine, read_only=True),
        gate or c.gate,
        c.registry_keys,
        c.provisioning.contacts,
        clock,
    )
    return ProvisioningService(parts, c.grants, hooks)


def test_a_registry_changed_meanwhile_is_refused_ledgered(
    container: Container, clock: FakeClock
) -> None:
    c = container
    form = People(seed=5).form()
    items: list[Item] = [CustomerItem("K-1", validate_details(c.provisioning.contacts, form))]
    service = service_with(
        c, clock, MeddlingGate(c.gate, lambda: c.provisioning.sync(PROVISIONER, items))
    )
    with pytest.raises(Conflict, match="changed meanwhile"):
        service.sync(PROVISIONER, items)
    last = ledgered(c)[-1]
    assert (last.decision, last.rule, last.reason) == ("deny", CONFLICT, CHANGED)
    assert count_rows(c.engine, "provisioned_customer") == 1  # the other call's, only
    assert service.sync(PROVISIONER, items).rows[0].change is Change.UNCHANGED


def test_a_cancellation_ends_its_grants_even_when_a_hook_fails(
    container: Container, client: TestClient, clock: FakeClock
) -> None:
    c, who = container, provisioning(container)
    body = {"last_name": "Muster", "first_name": "Anna", "email": "anna@example.com"}
    ids = {}
    for path, json in [
        ("/v1/provisioning/customers/K-1", body),
        ("/v1/provisioning/contracts/C-1", {"customer": "K-1"}),
        ("/v1/provisioning/contracts/C-1/services/M", {"kind": "mailbox",
                                                      "name": "shop@example.org"}),
    ]:  # fmt: skip
        r = client.put(path, json=json, headers=who)
        assert r.status_code == 201, r.text
        ids[path.rsplit("/", 1)[1]] = r.json()["id"]
    support = staff(c, "sam", "support")
    case = c.cases.open(support, ids["C-1"], "Webmail error")
    granted = c.consent.approve(
        customer(ids["K-1"]), c.consent.request(support, case.id, ids["M"], WHY).id, link(c)
    )
    pending = c.consent.request(support, case.id, ids["M"], WHY)

    def failing(_actor: Actor, _contract: str, _change: str) -> None:
        raise RuntimeError("the hook's own service is down")

    cancel: list[Item] = [ContractCancellation("C-1")]
    with pytest.raises(RuntimeError):
        service_with(c, clock, hooks=[failing]).sync(PROVISIONER, cancel)
    ended = c.grants.get(support, granted.id)
    assert ended.end_reason is GrantEnd.CANCELLED
    entries = ledgered(c)
    assert any(
        e.rule == Outcome.GRANT_ENDED.value and e.refs.get("grant") == granted.id for e in entries
    )
    assert any(e.rule == Outcome.REQUEST.value and e.resource_id == pending.id for e in entries)
    # Sent again: unchanged, and nothing is left to end.
    again = c.provisioning.sync(PROVISIONER, cancel)
    assert again.rows[0].change is Change.UNCHANGED
    assert c.grants.get(support, granted.id).ended_at == ended.ended_at
