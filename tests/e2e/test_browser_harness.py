"""The browser harness itself (issue 18), against a tiny stdlib server whose pages carry a strict
Content-Security-Policy like ours: axe-core finds nothing on an accessible page, names the rule
on a page with planted faults, still runs where the policy blocks inline script, and a failed
test leaves screenshots behind. Without these, a page test that reports "no violations" could be
a harness that never ran axe at all."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from tests.e2e.browser import (
    AXE_JS,
    axe_violations,
    csp_violations,
    describe,
    save_screenshots,
    watch_problems,
)
from tests.e2e.conftest import PAGES, pytest_runtest_makereport

if TYPE_CHECKING:
    from playwright.sync_api import Page

POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'"
HEAD = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{}</title>'
PAGES_SERVED = {
    "/good": HEAD.format("Accessible")
    + '<script src="/mark.js"></script></head><body><main><h1>Contact preferences</h1>'
    '<form><label for="email">Email</label><input id="email" type="email" name="email">'
    '<button type="submit">Save</button></form></main></body></html>',
    # Two faults axe rates critical: an image with no text alternative, an unlabelled input.
    "/bad": HEAD.format("Faulty")
    + '</head><body><main><h1>Contact preferences</h1><img src="/pixel.svg">'
    '<form><input type="text" name="nickname"><button type="submit">Save</button></form>'
    "</main></body></html>",
}
OTHER_FILES = {
    "/mark.js": ("text/javascript", 'document.documentElement.dataset.scripted = "yes";'),
    "/pixel.svg": (
        "image/svg+xml",
        '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>',
    ),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/favicon.ico":  # Chromium asks for one; a 404 is a console error
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
            return
        if self.path in PAGES_SERVED:
            kind, body = "text/html; charset=utf-8", PAGES_SERVED[self.path]
        elif self.path in OTHER_FILES:
            kind, body = OTHER_FILES[self.path]
        else:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        data = body.encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", POLICY)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """Quiet: the test output is for failures."""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The pages above on 127.0.0.1, a port the kernel picks (no race with another test)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_an_accessible_page_under_a_strict_policy_has_no_serious_violations(
    browser_page: Page, site: str
) -> None:
    problems = watch_problems(browser_page)
    response = browser_page.goto(site + "/good")
    assert response is not None
    assert response.headers["content-security-policy"] == POLICY
    # The page's own script ran ('self' allows it), so the page is as a user would see it.
    assert browser_page.evaluate("document.documentElement.dataset.scripted") == "yes"
    found = axe_violations(browser_page)
    assert found == [], describe(found)
    # Injecting axe did not trip the policy: no violation, no console error.
    assert problems + csp_violations(browser_page) == []


def test_the_policy_blocks_an_inline_script_tag_which_is_why_axe_goes_in_by_evaluate(
    browser_page: Page, site: str
) -> None:
    from playwright.sync_api import Error

    browser_page.goto(site + "/good")
    with pytest.raises(Error, match="Content Security Policy"):
        browser_page.add_script_tag(content="window.inlineRan = true;")
    assert browser_page.evaluate("window.inlineRan") is None


def test_planted_faults_are_reported_with_their_rule_ids(browser_page: Page, site: str) -> None:
    browser_page.goto(site + "/bad")
    found = axe_violations(browser_page)
    by_rule = {v["id"]: v for v in found}
    assert {"image-alt", "label"} <= by_rule.keys(), describe(found)
    assert by_rule["image-alt"]["impact"] == "critical"
    assert by_rule["image-alt"]["nodes"][0]["target"] == ["img"]
    assert all(v["impact"] in ("serious", "critical") for v in found)
    # A narrower filter narrows: neither planted fault is merely "minor".
    assert axe_violations(browser_page, impacts=("minor",)) == []


def test_save_screenshots_writes_png_html_and_url(
    browser_page: Page, site: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    browser_page.goto(site + "/good")
    directory = tmp_path_factory.mktemp("shots")
    saved = save_screenshots([browser_page], directory)
    assert len(saved) == 1
    assert saved[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "Contact preferences" in saved[0].with_suffix(".html").read_text(encoding="utf-8")
    assert saved[0].with_suffix(".url.txt").read_text(encoding="utf-8").strip() == site + "/good"


def test_the_failure_hook_photographs_every_open_page_and_names_the_path(
    request: pytest.FixtureRequest, new_page: Callable[..., Page], site: str
) -> None:
    new_page().goto(site + "/good")
    new_page().goto(site + "/bad")
    pages = request.node.stash[PAGES]
    failed = pytest.TestReport(
        request.node.nodeid, request.node.location, {}, "failed", "planted failure", "call"
    )
    # Drive the hook wrapper as pluggy does: run to its yield, send the report, take it back.
    hook = pytest_runtest_makereport(request.node, pytest.CallInfo.from_call(lambda: None, "call"))
    next(hook)
    with pytest.raises(StopIteration) as stopped:
        hook.send(failed)
    report = stopped.value.value
    assert report is failed
    assert sorted(p.name for p in pages.screenshots.glob("*.png")) == [
        f"page-01-127-0-0-1-{site.rsplit(':', 1)[1]}-good.png",
        f"page-02-127-0-0-1-{site.rsplit(':', 1)[1]}-bad.png",
    ]
    assert report.sections == [
        ("browser screenshots", f"2 screenshot(s), HTML and URL in {pages.screenshots}")
    ]


def test_the_vendored_axe_is_the_file_its_readme_describes() -> None:
    """An edit to the vendored script (or an update without its provenance) shows up here."""
    digest = hashlib.sha256(AXE_JS.read_bytes()).hexdigest()
    readme = (AXE_JS.parent / "README.md").read_text(encoding="utf-8")
    assert f"sha256 `{digest}`" in readme
    assert AXE_JS.read_text(encoding="utf-8").startswith("/*! axe v4.14.1")
    assert "axe-core 4.14.1" in readme
