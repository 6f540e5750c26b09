"""The evidence page in a real browser (issue 19): the installed `entrusted serve` on a loopback
port answers legal's `GET /v1/evidence?format=html` with its Content-Security-Policy, and the
system Chromium (driven by playwright, no browser download) renders it with no console error,
no page error and no CSP violation, its two SVG charts laid out at a non-zero size.

Serving it through the real server is the point: the policy header is what would block the
page's one inline stylesheet if its hash were wrong, and only a browser says so. The browser
comes from the harness (tests/e2e/browser.py): a failure leaves a screenshot of the page under
the test's tmp_path/screenshots/."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser import csp_violations, watch_problems
from tests.e2e.test_cli_foundation import PASSWORD
from tests.e2e.test_serve import (  # noqa: F401 - env is a fixture
    DIRECTORY_TRANSPORTS,
    ENTRUSTED,
    _read,
    env,
    free_port,
    run,
    stop,
    wait_for_health,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.promise("P3", "P14")

TODAY = datetime.now(UTC).date()
PERIOD = (
    f"from={(TODAY - timedelta(days=7)).isoformat()}&to={(TODAY + timedelta(days=1)).isoformat()}"
)


def _manifest(path: Path) -> Path:
    """A test run on record (one passed, one failed), so the page has tests and a red flag."""
    now = datetime.now(UTC).isoformat()
    path.write_text(
        json.dumps(
            {
                "format": "entrusted-test-manifest/1",
                "run_id": "chromium-run",
                "started": now,
                "finished": now,
                "commit": None,
                "tests": [
                    {"id": "tests/a.py::test_kept", "promises": ["P11"], "outcome": "passed"},
                    {"id": "tests/a.py::test_broken", "promises": ["P16"], "outcome": "failed"},
                ],
            }
        ),
        encoding="utf-8",
    )
    return path


def _legal_token(environ: dict[str, str], data: Path) -> str:
    """A legal staff member and a personal token for them, made as an operator would."""
    added = subprocess.run(
        [str(ENTRUSTED), "--data-dir", str(data), "staff", "add", "lena", "--name",
         "Lena Legal", "--role", "legal", "--password-stdin"],
        env=environ, input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    made = run(environ, "--data-dir", str(data), "staff", "token", "lena", "--label", "chromium")
    assert made.returncode == 0, made.stdout + made.stderr
    tokens = [w for w in made.stdout.split() if len(w) >= 32 and w.isprintable()]
    assert tokens, made.stdout
    return tokens[-1]


@pytest.mark.slow
def test_the_served_evidence_page_renders_in_chromium_without_errors(
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
    new_page: Callable[..., Page],
) -> None:
    data = tmp_path / "data"
    environ = {
        **env,
        **DIRECTORY_TRANSPORTS,
        "ENTRUSTED_EVIDENCE_TEST_MANIFEST": str(_manifest(tmp_path / "manifest.json")),
    }
    init = run(environ, "--data-dir", str(data), "init")
    assert init.returncode == 0, init.stderr
    token = _legal_token(environ, data)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ENTRUSTED), "--data-dir", str(data), "serve", "--port", str(port), "--no-worker"],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_health(proc, base + "/healthz", log_path)
            page = new_page(extra_http_headers={"Authorization": f"Bearer {token}"})
            seen = _render(page, f"{base}/v1/evidence?{PERIOD}&format=html")
        finally:
            stop(proc)
    assert seen["status"] == 200, _read(log_path)
    assert seen["csp"].startswith("default-src 'none'; style-src 'sha256-"), seen["csp"]
    assert seen["problems"] == [], seen["problems"]
    boxes = seen["charts"]
    assert len(boxes) >= 2, boxes  # accesses per day, backup age (and any chart added later)
    assert all(b is not None and b["width"] > 0 and b["height"] > 0 for b in boxes), boxes
    # The stylesheet the policy allows by hash was applied: the red flags are drawn in red.
    assert seen["styled"], "the page's stylesheet did not apply"


def _render(page: Page, url: str) -> dict[str, Any]:
    """Open `url` in the page (legal's token in its headers); what the browser said and laid
    out. The page stays open, so a failed assertion gets its screenshot."""
    problems = watch_problems(page)
    response = page.goto(url, wait_until="load")
    assert response is not None
    problems.extend(csp_violations(page))
    return {
        "status": response.status,
        "csp": response.headers.get("content-security-policy", ""),
        "problems": problems,
        "charts": [svg.bounding_box() for svg in page.locator("svg").all()],
        "styled": page.evaluate(_FLAG_IS_RED),
    }


# True when the red flags are drawn in the stylesheet's red (#b71c1c): the page's one inline
# stylesheet, allowed by its hash alone, took effect.
_FLAG_IS_RED = """
() => [...document.querySelectorAll(".flags li")].some(
  (el) => getComputedStyle(el).color === "rgb(183, 28, 28)")
"""
