"""The browser harness for the portal, console and evidence pages (issue 18): Debian's Chromium
driven by the Python playwright package, never a downloaded browser.

Why a module of its own: every page test needs the same four things and gets them wrong when
each writes them again: the launch flags and bounded timeouts, the "missing Chromium skips on a
laptop but fails under CI=true" rule, a screenshot of what the browser showed when a test
failed, and an accessibility check (the vendored axe-core, see vendor/README.md) that still
works on our pages, whose Content-Security-Policy allows no inline script.

The pytest side (fixtures and the failure hook) is in tests/e2e/conftest.py; this module holds
plain functions so a test that drives the browser itself can use them too:

    with chromium() as browser:
        pages = PageSet(tmp_path / "screenshots")
        page = pages.open(browser, extra_http_headers={"Authorization": "Bearer ..."})
        page.goto(url)
        assert axe_violations(page) == []

playwright is imported lazily: a developer without it still collects every other test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import require_module, require_service

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Request

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Long enough for a cold Chromium on a loaded CI runner, short enough that a page which never
# answers fails the test in seconds rather than hanging the suite.
TIMEOUT_MS = 15_000
AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"
SERIOUS = ("serious", "critical")

# Registered before any of the page's own content (add_init_script runs past the page's policy),
# so every CSP violation the page causes is recorded in window.__csp.
LISTEN_FOR_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


@contextmanager
def chromium() -> Iterator[Browser]:
    """The system Chromium, headless, closed on exit. Skips when Chromium or playwright is
    missing, and fails instead under CI=true (tests.conftest.require_service)."""
    require_service(CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK), f"Chromium at {CHROMIUM}")
    sync_api = require_module("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser: Browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageSet:
    """The pages one test opened, each in a fresh context (no cookies shared between tests),
    so that a failure can photograph all of them, popups included."""

    screenshots: Path
    contexts: list[BrowserContext] = field(default_factory=list)

    def open(self, browser: Browser, **context_options: Any) -> Page:
        """A new page in a new context; `context_options` go to `browser.new_context`
        (extra_http_headers, locale, viewport, ...). Every wait is bounded by TIMEOUT_MS."""
        context = browser.new_context(**context_options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return context.new_page()

    def pages(self) -> list[Page]:
        return [page for context in self.contexts for page in context.pages]

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


def save_screenshots(pages: Sequence[Page], directory: Path) -> list[Path]:
    """For each page still open: a full-page PNG, its HTML and its URL, under `directory`.
    Returns the PNG paths. A page that cannot be photographed (crashed, closed) gets a note
    instead: the artefacts are evidence for a failure and must not replace it with another."""
    from playwright.sync_api import Error

    directory.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    for number, page in enumerate(pages, start=1):
        stem = directory / f"page-{number:02d}-{_slug(page.url)}"
        stem.with_suffix(".url.txt").write_text(page.url + "\n", encoding="utf-8")
        try:
            stem.with_suffix(".html").write_text(page.content(), encoding="utf-8")
            png = stem.with_suffix(".png")
            page.screenshot(path=str(png), full_page=True)
            saved.append(png)
        except Error as exc:
            stem.with_suffix(".error.txt").write_text(f"{exc}\n", encoding="utf-8")
    return saved


def _slug(url: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", url.split("://", 1)[-1]).strip("-")[:60] or "blank"


def watch_problems(page: Page) -> list[str]:
    """A list that fills with what the page complains about: console errors and warnings,
    uncaught script errors, failed requests. Call before `goto`; read CSP violations with
    `csp_violations` after the page has loaded."""
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: _failed(problems, r))
    page.add_init_script(LISTEN_FOR_CSP)
    return problems


def _failed(problems: list[str], request: Request) -> None:
    """A failed request is a problem, except one the browser itself gave up on
    (`net::ERR_ABORTED`): Chromium cancels what a page is still loading (its stylesheet, the
    tab icon it asks for after the page) when the test moves on to the next page, the sooner
    the faster the server answers. What the server does wrong fails otherwise (a refused,
    reset or empty connection: `ERR_CONNECTION_*`, `ERR_EMPTY_RESPONSE`), a blocked load is
    a CSP violation (`csp_violations`), and an error status is an answer, not a failure."""
    failure = request.failure or ""
    if failure == "net::ERR_ABORTED":
        return
    problems.append(f"request failed: {request.url} ({failure})")


def csp_violations(page: Page) -> list[str]:
    """The CSP violations seen since `watch_problems` (a browser reports them a tick after
    the fact, hence the short wait)."""
    page.wait_for_timeout(200)
    found: list[str] = page.evaluate("window.__csp || []")
    return [f"CSP violation: {v}" for v in found]


@cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page: Page, impacts: Sequence[str] = SERIOUS) -> list[dict[str, Any]]:
    """axe-core's violations on the loaded page whose impact is in `impacts`, as axe reports
    them (id, impact, help, helpUrl, nodes[].target, ...). Top frame only.

    Injected with `page.evaluate`, not `page.add_script_tag`: add_script_tag inserts an inline
    <script>, which our pages' policy (script-src 'self' or 'none') blocks, and bypass_csp=True
    on the context would switch off the very policy the page tests check. evaluate runs through
    the DevTools protocol, which CSP does not govern (tested in test_browser_harness.py)."""
    if page.evaluate("typeof window.axe") == "undefined":
        # `void 0` so the script's last value (not serialisable) is not sent back.
        page.evaluate(_axe_source() + "\n;void 0")
    result: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [v for v in result if v.get("impact") in impacts]


def describe(violations: Sequence[dict[str, Any]]) -> str:
    """One line per violation for an assertion message: rule, impact, help and the elements."""
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(map(str, n["target"])) for n in v["nodes"])
        for v in violations
    )
