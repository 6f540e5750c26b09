"""The receipt check of My access history in Debian's Chromium (issue 18): the page's own script
(`/static/verify-receipt.js`, WebCrypto only) recomputes an entry's RFC 9162 leaf hash, walks
its audit path to the root, verifies the Ed25519 signatures of the receipt's checkpoint and of
the one published now, and proves the second extends the first; it says "ok" for a receipt
the server made, and "failed" for the same receipt with one byte of the entry changed, loaded
through the page's "check a receipt you saved" file input.

The oracle is independent of our Python verifier: the browser's own SHA-256 and Ed25519, and
the verdict the page writes into `#receipt-check[role=status]` (`data-result`). One real
uvicorn server on a free loopback port, on SQLite only: the pages and services are tested on
both databases by tests/e2e/test_web_history.py; this one costs a Chromium."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.entrypoints.server import create_server_app
from entrusted.services.receipts import ReceiptService
from tests.e2e.browser import axe_violations, csp_violations, watch_problems
from tests.e2e.web_support import CUSTOMER_PASSWORD, register_customer

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.promise("P3", "P14")

CARLA = "carla.chromium@example.com"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only (overrides the two-database fixture): once is enough for a browser test."""
    return f"sqlite:///{tmp_path / 'entrusted.db'}"


@pytest.fixture
def served(container: Container) -> Iterator[str]:
    """`create_server_app` under uvicorn in a thread, on a loopback socket bound first."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_server_app(container=container), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):  # bounded: 10 s
        if server.started:
            break
        threading.Event().wait(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/portal/signin?lang=en")
    page.fill("#email", CARLA)
    page.fill("#password", CUSTOMER_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/portal/")


def watched(page: Page) -> Callable[[], list[str]]:
    """Script errors, failed requests, answers of 400 or more and CSP violations on `page`.
    Console lines are left out: Chromium logs the /favicon.ico no page links to as an error;
    the answers themselves are watched instead, all but that one."""
    problems = watch_problems(page)
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    return lambda: [p for p in problems if not p.startswith("console ")] + csp_violations(page)


def verdict(page: Page) -> tuple[str | None, str]:
    page.wait_for_selector("#receipt-check[data-result=ok], #receipt-check[data-result=failed]")
    box = page.locator("#receipt-check[role=status]")
    return box.get_attribute("data-result"), box.inner_text()


def test_a_receipt_checks_out_in_chromium_and_a_tampered_one_fails(
    container: Container, served: str, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    with TestClient(create_server_app(container=container)) as client:
        register_customer(client, container, CARLA)
    container.checkpoints.sign()
    page = new_page()
    problems = watched(page)
    sign_in(page, served)
    page.goto(f"{served}/portal/history")
    assert page.locator("h1").inner_text() == "My access history"
    assert axe_violations(page) == []
    newest = page.locator("tr[data-index]").first
    index = newest.get_attribute("data-index")
    # the log grows between the receipt and the check (each view is ledgered): the script
    # must prove the published checkpoint extends the receipt's
    newest.locator("button[data-check-receipt]").click()
    result, text = verdict(page)
    assert result == "ok", text
    # in plain words what was checked, and what was not, in view; the figures folded away
    assert "This record is in our public log" in text
    assert "we publish today" in text
    assert "Not checked: the witnesses' cosignatures" in text
    assert "Log size in the receipt" not in text  # behind the <details>, closed
    technical = page.locator("#receipt-check-technical")
    assert technical.is_hidden() is False
    page.click("#receipt-check-technical summary")
    details = technical.inner_text()
    assert "Checked: each entry in the receipt is in the log" in details
    assert "Ed25519 signature" in details  # Chromium 156 verifies Ed25519 in WebCrypto
    assert re.search(r"Log size in the receipt: \d+\. Log size published today: \d+\.", details)
    assert "\u00d7" not in page.locator("#receipt-check").inner_text()  # no "(1 x 312 -> 312)"

    # the receipt as downloaded, one byte of the entry changed, checked through the file input
    with page.expect_download() as download:
        page.click(f"a[href='/portal/history/{index}/receipt']")
    saved = tmp_path / "receipt.json"
    download.value.save_as(saved)
    receipt = json.loads(saved.read_text(encoding="utf-8"))
    body = bytearray(base64.b64decode(receipt["entries"][0]["body"]))
    body[body.index(b'"decision":"') + 12] ^= 0x01  # "allow" -> "`llow": one bit, one byte
    receipt["entries"][0]["body"] = base64.b64encode(bytes(body)).decode()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(receipt), encoding="utf-8")

    page.set_input_files("#receipt-file", str(saved))
    result, text = verdict(page)
    assert result == "ok", text
    page.evaluate("document.getElementById('receipt-check').dataset.result = ''")
    page.set_input_files("#receipt-file", str(tampered))
    result, text = verdict(page)
    assert result == "failed", text
    assert f"entry {index} is not in the log" in text
    # her own views, several now, folded into one line that opens onto each, still accessible
    page.goto(f"{served}/portal/history")
    page.goto(f"{served}/portal/history")
    fold = page.locator("tr.own-views details")
    assert fold.count() == 1
    assert "You viewed your access history" in fold.locator("summary").inner_text()
    fold.locator("summary").click()
    assert fold.locator("tr[data-index]").count() >= 3
    assert axe_violations(page) == []
    assert problems() == []


def test_the_public_verify_page_checks_a_receipt_without_sign_in(
    container: Container, served: str, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    with TestClient(create_server_app(container=container)) as client:
        carla = register_customer(client, container, CARLA)
        container.checkpoints.sign()  # an earlier checkpoint, which the receipt proves extended
        r = client.post("/v1/customers/login", json={"email": CARLA, "password": CUSTOMER_PASSWORD})
        me = {"Authorization": f"Bearer {r.json()['token']}"}
        assert client.get(f"/v1/customers/{carla}", headers=me).status_code == 200
    # her whole receipt, as `entrusted ledger export --customer` writes it
    receipt = ReceiptService(container.ledger_store, container.checkpoints).export(carla)
    assert len(receipt["entries"]) > 1
    assert receipt["earlier_checkpoints"]
    saved = tmp_path / "full-receipt.json"
    saved.write_text(json.dumps(receipt), encoding="utf-8")
    page = new_page()
    problems = watched(page)
    page.goto(f"{served}/portal/verify?lang=en")
    assert axe_violations(page) == []
    page.set_input_files("#receipt-file", str(saved))
    result, text = verdict(page)
    assert result == "ok", text
    assert problems() == []
