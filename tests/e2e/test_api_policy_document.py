"""The public policy document over HTTP, on SQLite and PostgreSQL (P17): a fresh installation
serves the shipped text as version 1 at `/privacy` to anyone, with the running rules' hash
beside it; legal publishes version 2 and version 1 stays at `/privacy/versions/1`; support
and sysadmins are refused by the rule that says so, ledgered; bad input is 422 with nothing
written; the publication event fires once; and a consent records the version in force."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.api.app import create_app
from entrusted.services.events import PolicyDocumentPublished
from tests.conftest import FakeClock, count_rows
from tests.e2e.test_api_registry import staff_token
from tests.integration.test_consent_sql import identify, link, register
from tests.integration.test_registry_sql import staff
from tests.refusals import http_refused
from tests.unit.registry_world import customer

pytestmark = pytest.mark.promise("P17")

NEW_TEXT = (
    "Our privacy policy <script>alert(1)</script>\n\nIntro & more.\n\n"
    "## Backups [P15, P16]\nKept for one week, then destroyed.\n\n"
    f"## The rest [{', '.join(f'P{n}' for n in range(1, 18) if n not in (15, 16))}]\nAs kept.\n"
)


@pytest.fixture
def client(container: Container, clock: FakeClock) -> Iterator[TestClient]:
    # The shipped version takes effect on the day the schema was installed (today, UTC): the
    # test clock starts there so that a new version may take effect from "today" on.
    clock.now = datetime.combine(container.policy_documents.version(1).effective, time(12), UTC)
    with TestClient(create_app(container=container)) as c:
        yield c


def ledgered(c: Container) -> list[AuditEntry]:
    store = c.ledger_store
    return [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]


def heard(c: Container) -> list[PolicyDocumentPublished]:
    """Subscribe a listener to the container's bus, as the mailings area does."""
    events: list[PolicyDocumentPublished] = []
    c.policy_documents._events.subscribe(PolicyDocumentPublished, events.append)
    return events


def test_privacy_is_public_and_shows_the_text_and_the_rules(
    client: TestClient, container: Container
) -> None:
    r = client.get("/privacy")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "How we look after the data you entrust to us" in r.text
    assert "Backups <small>[P15, P16]</small>" in r.text
    assert container.ruleset.sha256 in r.text
    body = client.get("/v1/policy-document").json()
    assert body["version"]["number"] == 1
    assert body["version"]["promises"] == [f"P{n}" for n in range(1, 18)]
    assert body["rules"]["sha256"] == container.ruleset.sha256
    assert client.get("/privacy/versions/2").status_code == 404
    # issue 16 item 3 (trial): numbers never published are 404, as docs/api.md says, not 422
    for never in ("0", "99999999999999999999", "-1"):
        assert client.get(f"/privacy/versions/{never}").status_code == 404, never
        assert client.get(f"/v1/policy-document/versions/{never}").status_code == 404, never


def test_legal_publishes_version_2_and_version_1_stays_public(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    events = heard(container)
    legal = staff_token(container, "lena", "legal")
    today = clock().date()
    r = client.post(
        "/v1/policy-document/versions",
        json={"text": NEW_TEXT, "effective": today.isoformat(), "summary": "a shorter text"},
        headers=legal,
    )
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["number"] == 2
    assert [(e.version_id, e.effective, e.summary) for e in events] == [
        ("2", today, "a shorter text")
    ]
    page = client.get("/privacy").text
    assert "Our privacy policy &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert "Intro &amp; more." in page
    old = client.get("/privacy/versions/1")
    assert "How we look after the data you entrust to us" in old.text
    listing = client.get("/privacy/versions").text
    assert '/privacy/versions/1"' in listing
    assert '/privacy/versions/2"' in listing
    assert [v["number"] for v in client.get("/v1/policy-document/versions").json()] == [1, 2]
    # the mailings area may ledger its answer to the event after the publication
    published = next(
        e for e in reversed(ledgered(container)) if e.rule == "policy.document-published"
    )
    assert (published.rule, published.resource_kind, published.resource_id) == (
        "policy.document-published", "policy_document", "2",
    )  # fmt: skip
    assert v2["sha256"] in published.reason
    assert "Kept for one week" not in published.reason


@pytest.mark.parametrize("role", ["support", "sysadmin"])
def test_others_are_refused_by_the_rule_and_ledgered(
    client: TestClient, container: Container, clock: FakeClock, role: str
) -> None:
    events = heard(container)
    headers = staff_token(container, "pat", role)
    body = {"text": NEW_TEXT, "effective": clock().date().isoformat(), "summary": "mine"}
    r = client.post("/v1/policy-document/versions", json=body, headers=headers)
    http_refused(r, "only-legal-publishes-the-policy-document")
    last = ledgered(container)[-1]
    assert (last.decision, last.rule, last.action) == (
        "deny", "only-legal-publishes-the-policy-document", "publish",
    )  # fmt: skip
    assert count_rows(container.engine, "policy_document_version") == 1
    assert events == []


def test_a_markdown_title_line_is_the_page_title(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    legal = staff(container, "lena", "legal")
    text = "# Our policy\n\n" + NEW_TEXT.split("\n", 1)[1]
    container.policy_documents.publish(legal, text, clock().date(), "titled")
    page = client.get("/privacy").text
    assert "<title>Our policy</title>" in page
    assert "# Our policy" not in page


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "x\n## Y [P99]\n"}, "text"),
        ({"text": NEW_TEXT + "### Y [P18]\n"}, "text"),
        ({"text": "x\n## Mail [P10]\nclosed\n"}, "text"),  # leaves promises out
        ({"effective": "9999-12-31"}, "effective"),
        ({"summary": " "}, "summary"),
        ({"effective": "yesterday"}, "effective"),
        ({"effective": "past"}, "effective"),
    ],
)
def test_bad_input_is_422_and_writes_nothing(
    client: TestClient, container: Container, clock: FakeClock, change: dict[str, str], field: str
) -> None:
    events = heard(container)
    legal = staff_token(container, "lena", "legal")
    today = clock().date()
    body = {"text": NEW_TEXT, "effective": today.isoformat(), "summary": "ok", **change}
    if body["effective"] == "past":
        body["effective"] = (today - timedelta(days=1)).isoformat()
    size = container.ledger_store.stored_size()
    r = client.post("/v1/policy-document/versions", json=body, headers=legal)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert count_rows(container.engine, "policy_document_version") == 1
    # the rules are asked before the text is checked (an attempt by another role is ledgered
    # whatever its text): at most legal's allow is on record, no publication
    store = container.ledger_store
    added = [AuditEntry.from_bytes(b) for b in store.entries(size, store.stored_size())]
    assert [(e.decision, e.rule) for e in added] in (
        [],
        [("allow", "policy-document-is-published-by-legal")],
    )
    assert events == []


def test_a_consent_records_the_version_in_force(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    c = container
    legal = staff(c, "lena", "legal")
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Webmail error")
    req = c.consent.request(support, case.id, svc["mailbox"], "Mail is slow; I need to look.")
    by_link = c.consent.approve(customer(cus), req.id, link(c))
    assert by_link.policy_version == 1
    c.policy_documents.publish(legal, NEW_TEXT, clock().date(), "v2")
    identify(c, support, cus, case.id)
    _, verbal = c.verbal_consent.record(support, case.id, svc["ftp_space"], read_back=True)
    assert verbal.policy_version == 2
    with c.uow() as uow:
        stored = [uow.grants.get(g.id) for g in (by_link, verbal)]  # type: ignore[attr-defined]
    assert [g.policy_version for g in stored] == [1, 2]
    assert client.get("/privacy").status_code == 200
