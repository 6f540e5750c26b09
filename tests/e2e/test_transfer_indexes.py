"""A contract handover shows both of its ledger entries (issue 10 loose end), over HTTP and the
CLI, on SQLite and PostgreSQL: the gate's decision, filed under the old holder before anything
changed, and the handover itself, filed under the new holder once the transfer committed."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.services.outcomes import Outcome
from tests.e2e.test_api_registry import ALICE, BOB, client, signup, staff_token
from tests.e2e.test_cli_foundation import Cli, ok

pytestmark = pytest.mark.promise("P1", "P3")

__all__ = ["client"]  # the fixture, imported for pytest


def entries(container: Container) -> list[AuditEntry]:
    store = container.ledger_store
    return [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]


def test_api_transfer_answers_the_decision_and_the_handover(
    client: TestClient, container: Container
) -> None:
    alice_reg = client.post("/v1/customers", json=ALICE, headers=signup(container)).json()
    alice, contract = alice_reg["id"], alice_reg["contract_id"]
    support = staff_token(container, "support1", "support")
    body = {"customer_id": alice, "method": "sms_code"}
    ident = client.post("/v1/identifications", json=body, headers=support).json()["id"]
    code = container.sms.sent[-1].text.split("code is ")[1][:6]  # type: ignore[attr-defined]
    client.post(f"/v1/identifications/{ident}/verify", json={"code": code}, headers=support)
    r = client.post(f"/v1/contracts/{contract}/transfer", json={"new_holder": BOB}, headers=support)
    assert r.status_code == 200, r.text
    moved = r.json()
    ledger = entries(container)
    decision, handover = ledger[moved["ledger_index"]], ledger[moved["handover_index"]]
    assert (decision.action, decision.decision, decision.owner) == ("transfer", "allow", alice)
    assert (handover.rule, handover.owner) == (
        Outcome.CONTRACT_HANDED_OVER.value,
        moved["to_customer"],
    )
    assert moved["ledger_index"] < moved["handover_index"]


def test_cli_transfer_prints_the_decision_and_the_handover(
    database_url: str, tmp_path: Path
) -> None:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("sam", "Sam Support", "support"))
    add = ("customers", "add", "--last-name", "Beispiel", "--first-name", "Ada")
    mobile = ("--mobile", "+41 79 000 55 55", "--mailbox", "ada@example.org")
    out = ok(cli(*add, "--email", "ada@example.com", *mobile))
    ada, contract = out.split()[1].rstrip(","), out.split("contract ")[1].split(";")[0]
    add = ("customers", "add", "--last-name", "Muster", "--first-name", "Max")
    out = ok(cli(*add, "--email", "max@example.com"))
    max_ = out.split()[1].rstrip(";")
    out = ok(cli("customers", "identify", ada, "--method", "sms_code", "--as", "sam"))
    ident = out.split("customers verify ")[1].split()[0]
    with cli.container() as c:
        code = c.sms.sent[-1].text.split("code is ")[1][:6]  # type: ignore[attr-defined]
    ok(cli("customers", "verify", ident, code, "--as", "sam"))
    line = " ".join(ok(cli("contracts", "transfer", contract, "--to", max_, "--as", "sam")).split())
    decision = int(line.split("decision ledger #")[1].split(",")[0])
    handover = int(line.split("handover ledger #")[1].split(")")[0])
    with cli.container() as c:
        ledger = entries(c)
    assert (ledger[decision].action, ledger[decision].owner) == ("transfer", ada)
    assert (ledger[handover].rule, ledger[handover].owner) == (
        Outcome.CONTRACT_HANDED_OVER.value,
        max_,
    )
