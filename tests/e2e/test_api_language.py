"""The customer's language and time zone over HTTP (issue 18), on SQLite and PostgreSQL:
given at registration they pick the password link's language (plain text and HTML, written
by the directory transport); the customer corrects them with PATCH; a bad one is a 422 naming
the field and writes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from tests.conftest import count_rows
from tests.e2e.test_api_registry import ALICE, bearer, client, signup

__all__ = ["client"]  # the fixture, imported to be found

PASSPHRASE = "alice's long passphrase"


def test_registration_language_reaches_the_mail_and_the_customer_changes_it(
    client: TestClient, container: Container
) -> None:
    site = signup(container)
    body = {**ALICE, "language": "it", "time_zone": "Europe/Rome"}
    alice = client.post("/v1/customers", json=body, headers=site).json()["id"]
    container.outbox.deliver()
    mail = container.mailer.sent[-1]  # type: ignore[attr-defined]
    assert mail.subject == "Imposti la Sua password"
    assert "Imposti qui la password del Suo conto cliente" in mail.body
    assert mail.html is not None
    assert '<html lang="it">' in mail.html
    token = mail.body.split("#token=")[1].split()[0]
    assert token in mail.html
    client.post("/v1/customers/password", json={"token": token, "password": PASSPHRASE})
    r = client.post("/v1/customers/login", json={"email": ALICE["email"], "password": PASSPHRASE})
    me = bearer(r.json()["token"])
    record = client.get(f"/v1/customers/{alice}", headers=me).json()
    assert (record["language"], record["time_zone"]) == ("it", "Europe/Rome")
    for change, field in (({"language": "rm"}, "language"), ({"time_zone": "Rome"}, "time_zone")):
        r = client.patch(f"/v1/customers/{alice}", json=change, headers=me)
        assert r.status_code == 422
        assert r.json()["field"] == field
    r = client.patch(f"/v1/customers/{alice}", json={"language": "DE"}, headers=me)
    assert (r.json()["language"], r.json()["time_zone"]) == ("de", "Europe/Rome")
    record = client.get(f"/v1/customers/{alice}", headers=me).json()
    assert record["language"] == "de"


@pytest.mark.parametrize(
    ("change", "field"),
    [({"language": "en-GB"}, "language"), ({"time_zone": "Europe/Nowhere"}, "time_zone")],
)
def test_a_bad_language_or_zone_at_registration_is_a_422_naming_it(
    client: TestClient, container: Container, change: dict[str, str], field: str
) -> None:
    r = client.post("/v1/customers", json={**ALICE, **change}, headers=signup(container))
    assert r.status_code == 422
    assert r.json()["field"] == field
    assert count_rows(container.engine, "customer") == 0
