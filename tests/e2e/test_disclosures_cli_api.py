"""The disclosure desk through the API and the CLI, on SQLite and PostgreSQL: legal records a
request (answered with the rule's refusal), a foreign order is a 403 naming
`disclosure.order-foreign`, the proposer approving their own disclosure and an export before
a second approval are refused by their outcomes, ids of the wrong shape are 422, and the
export after a second legal officer's approval holds only the covered categories."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.api.app import create_app
from entrusted.services.outcomes import Outcome
from tests.conftest import FakeClock
from tests.e2e.test_api_id_shapes import database_text
from tests.e2e.test_api_registry import staff_token
from tests.e2e.test_cli_foundation import Cli, ok, refused
from tests.refusals import http_default_denied, http_refused
from tests.unit.registry_world import SIGNUP, People

pytestmark = pytest.mark.promise("P4", "P5")

DOCUMENT = b"%PDF-1.7 Obergericht des Kantons Zuerich, Beschluss (fake, for tests)"


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def test_the_api_desk(client: TestClient, container: Container, clock: FakeClock) -> None:
    people = People(seed=61)
    a, other = (container.registry.register(SIGNUP, people.form()).customer_id for _ in "ab")
    lena = staff_token(container, "lena", "legal")
    lara = staff_token(container, "lara", "legal")
    sam = staff_token(container, "sam", "support")
    asked = {"requester": "Det. Example", "authority": "Kantonspolizei", "asked": "records",
             "legal_basis": "StPO 265", "customer_ids": [a]}
    answer = client.post("/v1/court-orders/requests", json=asked, headers=lena)
    assert answer.status_code == 201, answer.text
    assert "third parties never act on our data" in answer.json()["answer"]
    # A request naming a customer's address: sealed in the database, legal reads it back.
    address = people.form().email
    naming = {**asked, "asked": f"all data of {address}"}
    assert client.post("/v1/court-orders/requests", json=naming, headers=lena).status_code == 201
    assert address not in database_text(container.engine)
    listed = client.get("/v1/court-orders/requests", headers=lena)
    assert listed.status_code == 200, listed.text
    assert f"all data of {address}" in {r["asked"] for r in listed.json()}
    http_default_denied(client.get("/v1/court-orders/requests", headers=sam),
                        "support to list disclosure")
    today = clock().date()
    order = {
        "court": "DE-BGH", "case_number": "I ZR 1/26",
        "issued_on": str(today - timedelta(days=1)), "valid_until": str(today + timedelta(days=9)),
        "customer_ids": [a], "categories": ["personal_details"],
        "document_base64": base64.b64encode(DOCUMENT).decode(),
    }
    http_refused(client.post("/v1/court-orders", json=order, headers=lena),
                 Outcome.COURT_ORDER_FOREIGN)
    http_default_denied(client.post("/v1/court-orders", json={**order, "court": "CH-ZH"},
                                    headers=sam), "support to create disclosure")
    bad = client.post("/v1/court-orders", json={**order, "customer_ids": ["a@example.com"]},
                      headers=lena)
    assert bad.status_code == 422
    assert "a@example.com" not in bad.text
    made = client.post("/v1/court-orders", json={**order, "court": "CH-ZH"}, headers=lena)
    assert made.status_code == 201, made.text
    assert made.json()["document_sha256"] == hashlib.sha256(DOCUMENT).hexdigest()
    order_id = made.json()["id"]
    assert client.get(f"/v1/court-orders/{order_id}", headers=lena).json()["court"] == "CH-ZH"
    http_refused(client.post("/v1/disclosures", json={"order_id": order_id,
                                                      "customer_ids": [other]}, headers=lena),
                 Outcome.DISCLOSURE_NOT_COVERED)
    proposed = client.post("/v1/disclosures", json={"order_id": order_id}, headers=lena)
    assert proposed.status_code == 201, proposed.text
    did = proposed.json()["id"]
    http_refused(client.post(f"/v1/disclosures/{did}/export", headers=lena),
                 Outcome.DISCLOSURE_NOT_APPROVED)
    http_refused(client.post(f"/v1/disclosures/{did}/approve", headers=lena),
                 Outcome.DISCLOSURE_SELF_APPROVAL)
    assert client.post("/v1/disclosures/dsc_nothex/approve", headers=lara).status_code == 422
    approved = client.post(f"/v1/disclosures/{did}/approve", headers=lara)
    assert approved.json()["status"] == "approved", approved.text
    export = client.post(f"/v1/disclosures/{did}/export", headers=lena)
    assert export.status_code == 200, export.text
    assert [set(c) for c in export.json()["customers"]] == [{"id", "personal_details"}]
    assert client.post(f"/v1/disclosures/{did}/export", headers=lena).status_code == 409
    listed = client.get("/v1/disclosures", headers=lena).json()
    assert [(d["id"], d["status"], d["notice"]) for d in listed] == [(did, "disclosed", "queued")]


def test_the_cli_desk(database_url: str, tmp_path: Path) -> None:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("lena", "Lena Legal", "legal"))
    ok(cli.add_staff("lara", "Lara Legal", "legal"))
    with cli.container() as c:
        customer = c.registry.register(SIGNUP, People(seed=62).form()).customer_id
        today = c.clock().date()
    assert "answer: " in ok(cli("disclosures", "request", "--as", "lena", "--requester", "X",
                                "--authority", "Y", "--asked", "Z", "--legal-basis", "W"))
    doc = tmp_path / "order.pdf"
    doc.write_bytes(DOCUMENT)
    common = ["--as", "lena", "--case-number", "1B_1/2026", "--issued-on", str(today),
              "--valid-until", str(today + timedelta(days=5)), "--document", str(doc),
              "--customer", customer, "--category", "contracts"]
    assert "not a Swiss court" in refused(
        cli("disclosures", "register-order", "--court", "FR-CASS", *common), 7
    )
    # A device (no size to check) or a pipe as the document: refused, never read (exit 2).
    fifo = tmp_path / "order.fifo"
    os.mkfifo(fifo)
    for odd in ("/dev/zero", str(fifo)):
        args = [odd if a == str(doc) else a for a in common]
        assert "not a regular file" in refused(
            cli("disclosures", "register-order", "--court", "CH-BGer", *args), 2
        )
    out = ok(cli("disclosures", "register-order", "--court", "CH-BGer", *common))
    order_id = out.split()[2]
    assert hashlib.sha256(DOCUMENT).hexdigest() in out
    out = ok(cli("disclosures", "propose", "--as", "lena", "--order", order_id))
    did = out.split()[1]
    assert "cannot also approve" in refused(cli("disclosures", "approve", did, "--as", "lena"), 7)
    target = tmp_path / "export.json"
    assert "second approver" in refused(
        cli("disclosures", "export", did, "--as", "lena", "--out", str(target)), 7
    )
    assert not target.exists()
    ok(cli("disclosures", "approve", did, "--as", "lara"))
    nowhere = tmp_path / "no-such-dir" / "x.json"
    assert "cannot create" in refused(
        cli("disclosures", "export", did, "--as", "lena", "--out", str(nowhere)), 2
    )
    ok(cli("disclosures", "export", did, "--as", "lena", "--out", str(target)))
    data = json.loads(target.read_text(encoding="utf-8"))
    assert [set(c) for c in data["customers"]] == [{"id", "contracts"}]
    assert target.stat().st_mode & 0o077 == 0
    assert "disclosed" in ok(cli("disclosures", "list", "--as", "lena"))
    assert "0 deferred" in ok(cli("disclosures", "lift"))


def test_the_receipt_holds_back_a_deferred_disclosure(database_url: str, tmp_path: Path) -> None:
    """`ledger export --customer` builds the receipt handed to the customer: a disclosure whose
    notice the order defers is not in it (a told one is), and the receipt still verifies. The
    oracle is the ledger store, read directly; the log keeps every entry."""
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("lena", "Lena Legal", "legal"))
    ok(cli.add_staff("lara", "Lara Legal", "legal"))
    people = People(seed=63)
    with cli.container() as c:
        gagged, told = (c.registry.register(SIGNUP, people.form()).customer_id for _ in "ab")
        today = c.clock().date()
    doc = tmp_path / "order.pdf"
    doc.write_bytes(DOCUMENT)
    desk: dict[str, set[int]] = {}
    for customer, gag in ((gagged, ["--notice-after", str(today + timedelta(days=9))]),
                          (told, [])):
        out = ok(cli("disclosures", "register-order", "--as", "lena", "--court", "CH-TI",
                     "--case-number", "17.2026.5", "--issued-on", str(today), "--valid-until",
                     str(today + timedelta(days=30)), "--document", str(doc), "--customer",
                     customer, "--category", "personal_details", *gag))
        did = ok(cli("disclosures", "propose", "--as", "lena", "--order", out.split()[2]))
        did = did.split()[1]
        ok(cli("disclosures", "approve", did, "--as", "lara"))
        with cli.container() as c:
            before = c.ledger_store.stored_size()
        ok(cli("disclosures", "export", did, "--as", "lena", "--out", str(tmp_path / did)))
        with cli.container() as c:
            bodies = c.ledger_store.entries(before, c.ledger_store.stored_size())
        desk[customer] = {before + n for n, b in enumerate(bodies)
                          if AuditEntry.from_bytes(b).owner == customer}
        assert len(desk[customer]) == 2  # the disclose decision and the notice outcome
    for customer in (gagged, told):
        receipt = tmp_path / f"receipt-{customer}.json"
        ok(cli("ledger", "export", "--customer", customer, "--output", str(receipt)))
        indexes = {e["index"] for e in json.loads(receipt.read_text())["entries"]}
        if customer == gagged:
            assert indexes
            assert not indexes & desk[customer]
        else:
            assert desk[customer] <= indexes
        with cli.container() as c:
            key = f"{c.settings.effective_ledger_key_file}.pub"
        ok(cli("ledger", "verify-receipt", str(receipt), "--key", key))
