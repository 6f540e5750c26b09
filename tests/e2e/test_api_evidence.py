"""`GET /v1/evidence` (issue 19), on SQLite and PostgreSQL: legal gets the report in each
format, ledgered under the rule that allows it; support is refused by the rule that says so,
ledgered; bad dates are 422, ledgered as `gate.invalid-request` (the text sent not echoed);
a malformed request (unknown format, missing date) is 422 from the framework's validation
with nothing written; the HTML carries a policy as strict as the API's, naming its one
stylesheet by hash."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.evidence import EvidenceReport
from entrusted.domain.ids import INVALID_ID
from entrusted.entrypoints.api.app import create_app
from entrusted.services.outcomes import Outcome
from tests.e2e.test_api_registry import staff_token
from tests.integration.test_registry_sql import ledgered
from tests.refusals import http_refused

pytestmark = pytest.mark.promise("P3", "P14")

PERIOD = {"from": "2026-11-01", "to": "2026-12-01"}


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def test_legal_reads_the_report_in_every_format(client: TestClient, container: Container) -> None:
    legal = staff_token(container, "lea", "legal")
    r = client.get("/v1/evidence", params=PERIOD, headers=legal)
    assert r.status_code == 200, r.text
    report = EvidenceReport.from_json(r.json())
    assert [p.id for p in report.promises] == [f"P{n}" for n in range(1, 18)]
    last = ledgered(container)[-1]
    assert (last.decision, last.rule, last.resource_kind) == (
        "allow",
        "legal-reads-the-evidence-report",
        "evidence_report",
    )
    md = client.get("/v1/evidence", params={**PERIOD, "format": "md"}, headers=legal)
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# Evidence that the promises are kept")
    page = client.get("/v1/evidence", params={**PERIOD, "format": "html"}, headers=legal)
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'sha256-")
    assert page.text.count("<svg") == 2


def test_support_is_refused_by_the_rule_and_ledgered(
    client: TestClient, container: Container
) -> None:
    support = staff_token(container, "sam", "support")
    r = client.get("/v1/evidence", params=PERIOD, headers=support)
    http_refused(r, "evidence-report-is-for-legal")
    last = ledgered(container)[-1]
    assert (last.decision, last.rule, last.resource_kind) == (
        "deny",
        "evidence-report-is-for-legal",
        "evidence_report",
    )
    sysadmin = staff_token(container, "sid", "sysadmin")
    http_refused(
        client.get("/v1/evidence", params=PERIOD, headers=sysadmin),
        "evidence-report-is-for-legal",
    )
    assert client.get("/v1/evidence", params=PERIOD).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01", "to": "2026-12-01"}, "from: is not a date"),
        ({"from": "2026-12-01", "to": "2026-11-01"}, "--to: the period must end after"),
        ({"from": "yesterday", "to": "2026-12-01"}, "from: is not a date"),
        ({"from": "2026-11-01", "to": "someday"}, "to: is not a date"),
    ],
)
def test_bad_dates_are_422_and_ledgered_as_invalid_requests(
    client: TestClient, container: Container, params: dict[str, str], field: str
) -> None:
    legal = staff_token(container, "lea", "legal")
    size = container.ledger_store.stored_size()
    r = client.get("/v1/evidence", params=params, headers=legal)
    assert r.status_code == 422, r.text
    assert container.ledger_store.stored_size() == size + 1  # the refusal, nothing else
    last = ledgered(container)[-1]
    assert (last.decision, last.rule, last.resource_kind, last.resource_id) == (
        "deny",
        Outcome.INVALID_REQUEST.value,
        "evidence_report",
        INVALID_ID,
    )
    assert last.reason.startswith(field)
    assert "yesterday" not in last.reason  # the text sent is not echoed
    assert "someday" not in last.reason


@pytest.mark.parametrize(
    "params",
    [
        {**PERIOD, "format": "pdf"},
        {"from": "2026-11-01"},
    ],
)
def test_malformed_requests_are_422_and_write_nothing(
    client: TestClient, container: Container, params: dict[str, str]
) -> None:
    legal = staff_token(container, "lea", "legal")
    size = container.ledger_store.stored_size()
    r = client.get("/v1/evidence", params=params, headers=legal)
    assert r.status_code == 422, r.text
    assert container.ledger_store.stored_size() == size
