"""Provisioning carries a customer's language and time zone (trial finding: a customer
provisioned in French got English mails), on SQLite and PostgreSQL.

- A record with `language` fr and `time_zone` Europe/Zurich creates the customer with them,
  read back through the registry's preferences, not from the sync's answer.
- An update changing only the language is detected (`updated`), applied, and ledgered as any
  provisioning change: the gate's `update` decision on the customer's details and a
  `provisioning.applied` outcome. A record leaving them out changes nothing stored.
- An unknown language or zone is refused 422 naming the field, ledgered
  `gate.invalid-request` without the text sent, and writes nothing (rows, stored
  preferences, one ledger entry)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.provisioning import Change
from entrusted.services.customer_preferences import Preferences
from entrusted.services.outcomes import Outcome
from entrusted.services.provisioning_forms import customer_item
from entrusted.services.registry_forms import Registration
from tests.conftest import count_rows
from tests.integration.test_provisioning import PROVISIONER, TABLES, client, provisioning
from tests.integration.test_registry_sql import ledgered

pytestmark = pytest.mark.promise("P1", "P3")
__all__ = ["client"]  # the fixture, imported to be found

ANNA = {"last_name": "Muster", "first_name": "Anna", "email": "anna@example.com"}
PATH = "/v1/provisioning/customers/K-1"


def test_language_and_zone_are_set_on_create_and_update_ledgered(
    container: Container, client: TestClient
) -> None:
    c, who = container, provisioning(container)
    body = {**ANNA, "language": "fr", "time_zone": "Europe/Zurich"}
    r = client.put(PATH, json=body, headers=who)
    assert (r.status_code, r.json()["change"]) == (201, "created"), r.text
    cus = r.json()["id"]
    assert c.registry.preferences(cus) == Preferences("fr", "Europe/Zurich")
    # The same record again, or one leaving them out: unchanged, nothing stored moves.
    for same in (body, ANNA, {**ANNA, "language": " ", "time_zone": None}):
        r = client.put(PATH, json=same, headers=who)
        assert (r.status_code, r.json()["change"]) == (200, "unchanged"), (same, r.text)
    assert c.registry.preferences(cus) == Preferences("fr", "Europe/Zurich")
    # Only the language changes: detected, applied, ledgered as every provisioning change.
    before = c.ledger_store.stored_size()
    r = client.put(PATH, json={**ANNA, "language": "DE"}, headers=who)
    assert (r.status_code, r.json()["change"]) == (200, "updated"), r.text
    assert c.registry.preferences(cus) == Preferences("de", "Europe/Zurich")
    new = ledgered(c)[before:]
    assert [(e.action, e.resource_kind, e.resource_id, e.decision) for e in new] == [
        ("update", "personal_details", cus, "allow"),
        ("update", "personal_details", cus, "allow"),
    ]
    assert new[1].rule == Outcome.PROVISIONED.value
    assert new[1].reason == "customer updated by provisioning"
    # The zone alone, in a batch through the service: the same.
    form = Registration(ANNA["last_name"], ANNA["first_name"], ANNA["email"],
                        time_zone="America/New_York")  # fmt: skip
    report = c.provisioning.sync(PROVISIONER, [customer_item(c.provisioning.contacts, "K-1", form)])
    assert report.rows[0].change is Change.UPDATED
    assert c.registry.preferences(cus) == Preferences("de", "America/New_York")
    assert ledgered(c)[-1].rule == Outcome.PROVISIONED.value
    # A name corrected with them left out keeps them.
    r = client.put(PATH, json={**ANNA, "last_name": "Neuname"}, headers=who)
    assert (r.status_code, r.json()["change"]) == (200, "updated"), r.text
    assert c.registry.preferences(cus) == Preferences("de", "America/New_York")


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        ({"language": "es"}, "language"),
        ({"time_zone": "Europe/Atlantis"}, "time_zone"),
        ({"language": "fr", "time_zone": "../etc/passwd"}, "time_zone"),
    ],
)
def test_a_bad_language_or_zone_is_refused_naming_it_and_writes_nothing(
    container: Container, client: TestClient, sent: dict[str, str], field: str
) -> None:
    c, who = container, provisioning(container)
    r = client.put(PATH, json={**ANNA, "language": "it"}, headers=who)
    assert r.status_code == 201, r.text
    cus = r.json()["id"]
    for path in (PATH, "/v1/provisioning/customers/K-2"):  # an update, then a create
        counts = {t: count_rows(c.engine, t) for t in TABLES}
        before = c.ledger_store.stored_size()
        email = ANNA["email"] if path == PATH else "ben@example.com"
        r = client.put(path, json={**ANNA, "email": email, **sent}, headers=who)
        assert (r.status_code, r.json().get("field")) == (422, field), r.text
        assert c.ledger_store.stored_size() == before + 1  # the refusal, nothing else
        last = ledgered(c)[-1]
        assert (last.decision, last.rule) == ("deny", Outcome.INVALID_REQUEST.value)
        assert field in last.reason
        assert sent[field] not in last.reason  # the field named, never the text sent
        assert {t: count_rows(c.engine, t) for t in TABLES} == counts
        assert c.registry.preferences(cus) == Preferences("it", None)
