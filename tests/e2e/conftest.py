"""Browser fixtures for the page tests (issue 18); the machinery is in tests/e2e/browser.py.

    def test_page(browser_page: Page, ...) -> None:         # one page, fresh context
    def test_pages(new_page: Callable[..., Page]) -> None:  # new_page(extra_http_headers=...)

One Chromium per test module (launching is most of a browser test's cost); each test gets fresh
contexts. When a test fails, every page it still has open is photographed (PNG, HTML, URL) under
its tmp_path/screenshots/ and the path is printed in the failure report."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser import PageSet, chromium, save_screenshots

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PAGES = pytest.StashKey[PageSet]()
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, and photograph the open pages of a test that
    failed, now, while they still show what went wrong (teardown closes them)."""
    rep = yield
    item.stash.setdefault(REPORTS, {})[rep.when] = rep
    pages = item.stash.get(PAGES, None)
    if rep.failed and rep.when in ("setup", "call") and pages is not None:
        try:
            saved = save_screenshots(pages.pages(), pages.screenshots)
            note = f"{len(saved)} screenshot(s), HTML and URL in {pages.screenshots}"
        except Exception as exc:  # the artefacts must never replace the test's own failure
            note = f"could not save screenshots to {pages.screenshots}: {exc!r}"
        rep.sections.append(("browser screenshots", note))
    return rep


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Browser]:
    """The module's Chromium (tests.e2e.browser.chromium): skips without it, fails under CI."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def new_page(
    request: pytest.FixtureRequest, chromium_browser: Browser, tmp_path: Path
) -> Iterator[Callable[..., Page]]:
    """`new_page(**context_options)`: a page in a fresh context, watched by the failure hook."""
    pages = PageSet(tmp_path / "screenshots")
    request.node.stash[PAGES] = pages

    def open_page(**context_options: Any) -> Page:
        return pages.open(chromium_browser, **context_options)

    try:
        yield open_page
    finally:
        pages.close()


@pytest.fixture
def browser_page(new_page: Callable[..., Page]) -> Page:
    """One page in a fresh context with default options."""
    return new_page()
