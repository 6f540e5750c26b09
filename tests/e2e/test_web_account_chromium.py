"""The account pages in Debian's Chromium (issue 18): the customer signs in, reads each of her
account pages (axe-core finds no serious or critical fault, the CSP no violation), corrects
her contact address, and confirms it from the link's URL fragment, which the page's script
copies into the form and drops from the address bar. SQLite only: the same pages are tested
on both databases in test_web_account.py; this one proves the browser side."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import WORKER, Container
from entrusted.entrypoints.server import create_server_app
from tests.e2e.browser import axe_violations, csp_violations, describe, watch_problems
from tests.e2e.flow_world import ServedApp
from tests.e2e.test_web_account import ALICE, NEW, PAGES, register
from tests.e2e.web_support import CUSTOMER_PASSWORD, mails_to, token_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.promise("P1", "P2", "P9", "P15", "P16")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only (overrides the conftest's two databases): see the module's docstring."""
    return f"sqlite:///{tmp_path / 'entrusted.db'}"


@pytest.fixture
def served(container: Container) -> Iterator[str]:
    with TestClient(create_server_app(container=container)) as client:
        register(client, container, ALICE, "Alice", "alice-ftp")
    container.backups.runner.run(WORKER)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = ServedApp(container, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.stop()


def clean(page: Page, problems: list[str]) -> None:
    faults = axe_violations(page)
    assert faults == [], f"{page.url}\n{describe(faults)}"
    # console lines left out: Chromium logs the missing /favicon.ico as a console error
    found = [p for p in problems if not p.startswith("console ")] + csp_violations(page)
    assert found == [], page.url


def test_the_account_pages_in_a_browser(
    served: str, container: Container, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    problems = watch_problems(page)
    page.goto(f"{served}/portal/signin")
    page.fill("#email", ALICE)
    page.fill("#password", CUSTOMER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{served}/portal/")
    for path in PAGES:
        page.goto(served + path)
        assert page.locator("h1").count() == 1, path
        clean(page, problems)

    page.goto(f"{served}/portal/details")
    page.fill("#email", NEW)
    page.select_option("#language", "de")
    page.click("form[action='/portal/details'] button[type=submit]")
    page.wait_for_load_state()
    assert f"Link öffnen, den wir an {NEW} gesendet haben" in page.inner_text("main")
    clean(page, problems)

    (link,) = [m for m in mails_to(container, NEW) if "#token=" in m]
    page.goto(f"{served}/portal/email#token={token_in(link)}")
    assert page.input_value("input[name=token]") == token_in(link)
    assert "#" not in page.url  # the token left the address bar and the history
    clean(page, problems)
    page.click("form[action='/portal/email'] button[type=submit]")
    page.wait_for_load_state()
    assert "Kontaktadresse ist bestätigt" in page.inner_text("main")  # in her new language
    clean(page, problems)
    assert container.customer_auth.login(NEW, CUSTOMER_PASSWORD, "127.0.0.1").secret
