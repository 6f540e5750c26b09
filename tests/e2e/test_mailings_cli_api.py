"""Mailings through the API and the CLI, on SQLite and PostgreSQL (the directory transport:
each message a file): communications composes, sends and follows a mailing; a sponsor field,
an unknown purpose, a foreign sender and a stranger are refused and ledgered; support is
refused by the rules (403, exit 7); the one-click unsubscribe needs no login."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from entrusted.adapters.directory_transport import DirectoryMailer
from entrusted.bootstrap import Container
from entrusted.entrypoints.api.app import create_app
from entrusted.services.outcomes import Outcome
from tests.e2e.test_api_registry import signup, staff_token
from tests.e2e.test_cli_foundation import Cli, ok, refused
from tests.integration.test_registry_sql import ledgered
from tests.refusals import http_default_denied

TEXT = "Starting next month we offer managed DNS to every customer.\n"


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def register(client: TestClient, container: Container, n: int) -> list[str]:
    site = signup(container)
    out = []
    for i in range(n):
        form = {"last_name": "Muster", "first_name": f"Mia{i}", "email": f"mia{i}@example.com"}
        answer = client.post("/v1/customers", json=form, headers=site)
        assert answer.status_code == 201, answer.text
        out.append(answer.json()["id"])
    return out


def test_the_api_composes_sends_unsubscribes_and_refuses(
    client: TestClient, container: Container
) -> None:
    register(client, container, 3)
    carla = staff_token(container, "carla", "communications")
    draft = {"purpose": "new_service", "subject": "Managed DNS", "body": TEXT}
    made = client.post("/v1/mailings", json=draft, headers=carla)
    assert made.status_code == 201, made.text
    mailing_id = made.json()["id"]
    assert made.json()["recipients"] == 3
    sent = client.post(f"/v1/mailings/{mailing_id}/send", headers=carla)
    assert sent.status_code == 200, sent.text
    assert sent.json()["progress"]["sent"] == 3
    detail = client.get(f"/v1/mailings/{mailing_id}", headers=carla).json()
    assert (detail["status"], detail["problems"]) == ("done", [])
    assert [m["id"] for m in client.get("/v1/mailings", headers=carla).json()] == [mailing_id]

    mailer = container.mailer
    assert isinstance(mailer, DirectoryMailer)
    link = mailer.written()[-1].headers["List-Unsubscribe"]
    token = link.split("token=", 1)[1].rstrip(">")
    body = {"List-Unsubscribe": "One-Click"}
    gone = client.post(f"/v1/mailings/unsubscribe?token={token}", data=body)
    assert gone.status_code == 200, gone.text
    assert client.post("/v1/mailings/unsubscribe?token=" + "x" * 20).status_code == 422
    again = client.post("/v1/mailings", json=draft, headers=carla)
    assert again.json()["recipients"] == 2

    for bad, field in (
        ({**draft, "sponsor": "Partner AG"}, "sponsor"),
        ({**draft, "purpose": "newsletter"}, "purpose"),
        ({**draft, "purpose": None}, "purpose"),
        ({**draft, "sender": "ads@partner.example"}, "sender"),
    ):
        answer = client.post("/v1/mailings", json=bad, headers=carla)
        assert answer.status_code == 422, answer.text
        assert field in answer.text
        assert ledgered(container)[-1].rule == Outcome.MAILING_REFUSED.value
    assert client.post("/v1/mailings", json={**draft, "x": 1}, headers=carla).status_code == 422
    stranger = {**draft, "recipients": ["cus_00000000000000ff"]}
    http_default_denied(
        client.post("/v1/mailings", json=stranger, headers=carla),
        "communications to create mailing",
        "own_customer",
    )
    sam = staff_token(container, "sam", "support")
    http_default_denied(
        client.post("/v1/mailings", json=draft, headers=sam), "support to create mailing"
    )
    bad_id = client.get("/v1/mailings/anna@example.com", headers=carla)
    assert bad_id.status_code == 422


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("carla", "Carla Comms", "communications"))
    ok(cli.add_staff("sam", "Sam Support", "support"))
    return cli


def test_the_cli_composes_sends_and_shows(cli: Cli, tmp_path: Path) -> None:
    people = tmp_path / "customers.csv"
    with people.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["last_name", "first_name", "email", "phone", "mobile"])
        writer.writerow(["Meier", "Lea", "lea.meier@example.com", "044 000 30 01", ""])
        writer.writerow(["Keller", "Urs", "urs.keller@example.com", "044 000 30 02", ""])
    ok(cli("customers", "import", str(people)))
    text = tmp_path / "body.txt"
    text.write_text(TEXT, encoding="utf-8")
    args = ("--purpose", "terms_amendment", "--subject", "Terms", "--body-file", str(text))
    line = ok(cli("mailings", "compose", "--as", "carla", *args))
    mailing_id = line.split()[0]
    assert "2 recipients" in line
    sent = ok(cli("mailings", "send", mailing_id, "--as", "carla"))
    assert "2 sent, 0 refused, 0 pending" in sent
    assert "done" in ok(cli("mailings", "show", mailing_id, "--as", "carla"))
    assert mailing_id in ok(cli("mailings", "list", "--as", "carla"))
    refused(cli("mailings", "compose", "--as", "sam", *args), 7)
    wrong = ("--purpose", "partner_offer", "--subject", "S", "--body-file", str(text))
    assert "purpose" in refused(cli("mailings", "compose", "--as", "carla", *wrong), 2)
