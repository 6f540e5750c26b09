"""Schemathesis over the whole OpenAPI document (issue 11), bounded: every operation gets a
few generated requests, anonymously, as a support agent and as the signup site, against the
real app on a real SQLite file. No answer may be a server error or break the documented
schema, status codes or content types (problem bodies included).

The operations are walked with Hypothesis directly rather than through schemathesis' pytest
plugin, which does not load under this pytest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from entrusted.bootstrap import Container, build, initialise
from entrusted.config import Settings
from entrusted.entrypoints.api.app import create_app
from tests.conftest import require_module

pytestmark = pytest.mark.promise("P12")

EXAMPLES = 6  # per operation and actor kind: bounded, the suite runs on two cores
Served = tuple[FastAPI, list[dict[str, str]]]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Settings(data_dir=tmp_path / "data", mail_transport="directory",
                 sms_transport="directory", staff_totp_required=False)
    initialise(s)
    container: Container = build(s)
    try:
        container.staff.add("sam", "Sam", ["support"], "a long test passphrase")
        agent = container.staff.issue_token("sam", "schemathesis").secret
        site = container.staff.issue_service_token("signup", "schemathesis").secret
        yield create_app(container=container), [
            {}, {"Authorization": f"Bearer {agent}"}, {"Authorization": f"Bearer {site}"},
        ]
    finally:
        container.close()


@pytest.mark.slow
def test_no_server_error_and_no_schema_violation(served: Served) -> None:
    schemathesis = require_module("schemathesis")
    checks = require_module("schemathesis.checks")
    openapi_checks = require_module("schemathesis.specs.openapi.checks")
    used = [
        checks.not_a_server_error,
        openapi_checks.status_code_conformance,
        openapi_checks.content_type_conformance,
        openapi_checks.response_schema_conformance,
    ]
    app, actors = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40  # the whole document, not a corner of it

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            for headers in actors:
                case.call_and_validate(headers=headers, checks=used)

        run()
