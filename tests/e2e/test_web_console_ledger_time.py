"""Review finding: `/console/ledger` showed the last full verification as a raw UTC ISO stamp,
where every other console time is shown in the console's zone (the `when` filter); it now
shows it like them, naming the zone. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from fastapi.testclient import TestClient

from entrusted.bootstrap import LEDGER_VERIFY_JOB, Container
from entrusted.entrypoints.server import create_server_app
from tests.e2e.console_support import agent

pytestmark = pytest.mark.promise("P3", "P14")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_server_app(container=container)) as c:
        yield c


def verified_text(page: str) -> str:
    cell = page.split('id="ledger-verified"', maxsplit=1)[1].split(">", maxsplit=1)[1]
    return cell.split("</dd>", maxsplit=1)[0]


def test_the_last_verification_is_shown_in_the_consoles_zone_naming_it(
    client: TestClient, container: Container
) -> None:
    agent(client, container, "ada", "sysadmin")
    assert verified_text(client.get("/console/ledger").text) == "not run yet"
    job = next(j for j in container.jobs if j.name == LEDGER_VERIFY_JOB)
    assert container.worker().run_job(job).ok
    stamp = str(container.ledger_verification()["at"])
    zone = container.settings.default_time_zone
    shown = format_datetime(
        datetime.fromisoformat(stamp), "medium", tzinfo=ZoneInfo(zone), locale="en"
    )
    text = verified_text(client.get("/console/ledger").text)
    assert text == f"passed ({shown} {zone})"
    assert stamp[:10] not in text  # no ISO date (2026-12-01) left on the page
