"""The evidence page in a real browser (issue 19): the installed `entrusted serve` on a loopback
port answers legal's `GET /v1/evidence?format=html` with its Content-Security-Policy, and the
system Chromium (driven by playwright, no browser download) renders it with no console error,
no page error and no CSP violation, its two SVG charts laid out at a non-zero size.

Serving it through the real server is the point: the policy header is what would block the
page's one inline stylesheet if its hash were wrong, and only a browser says so. A failure
leaves a screenshot beside the test's tmp_path for a look."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_module, require_service
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

pytestmark = pytest.mark.promise("P3", "P14")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TODAY = datetime.now(UTC).date()
PERIOD = (
    f"from={(TODAY - timedelta(days=7)).isoformat()}&to={(TODAY + timedelta(days=1)).isoformat()}"
)
# Registered before any of the page's own content: the page runs no script of its own (its
# policy allows none), so this is the only listener, and playwright injects it past the policy.
LISTEN_FOR_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


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
) -> None:
    require_service(CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK), f"Chromium at {CHROMIUM}")
    sync_api = require_module("playwright.sync_api")
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
            seen = _render(sync_api, f"{base}/v1/evidence?{PERIOD}&format=html", token, tmp_path)
        finally:
            stop(proc)
    assert seen["status"] == 200, _read(log_path)
    assert seen["csp"].startswith("default-src 'none'; style-src 'sha256-"), seen["csp"]
    assert seen["problems"] == [], f"{seen['problems']} (screenshot: {seen['screenshot']})"
    boxes = seen["charts"]
    assert len(boxes) >= 2, boxes  # accesses per day, backup age (and any chart added later)
    assert all(b is not None and b["width"] > 0 and b["height"] > 0 for b in boxes), boxes
    # The stylesheet the policy allows by hash was applied: the red flags are drawn in red.
    assert seen["styled"], f"the page's stylesheet did not apply (screenshot: {seen['screenshot']})"


def _render(sync_api: Any, url: str, token: str, tmp_path: Path) -> dict[str, Any]:
    """Open `url` as legal in headless Chromium; what the browser said and laid out. A
    screenshot is saved under tmp_path whenever anything is amiss."""
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {token}"})
            page = context.new_page()
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.add_init_script(LISTEN_FOR_CSP)
            response = page.goto(url, wait_until="load")
            assert response is not None
            page.wait_for_timeout(200)  # violations are reported as events, a tick later
            problems.extend(f"CSP violation: {v}" for v in page.evaluate("window.__csp || []"))
            charts = [svg.bounding_box() for svg in page.locator("svg").all()]
            styled = page.evaluate(_FLAG_IS_RED)
            shot = tmp_path / "evidence.png"
            if problems or not styled or len(charts) < 2:
                page.screenshot(path=str(shot), full_page=True)
            return {
                "status": response.status,
                "csp": response.headers.get("content-security-policy", ""),
                "problems": problems,
                "charts": charts,
                "styled": styled,
                "screenshot": shot,
            }
        finally:
            browser.close()


# True when the red flags are drawn in the stylesheet's red (#b71c1c): the page's one inline
# stylesheet, allowed by its hash alone, took effect.
_FLAG_IS_RED = """
() => [...document.querySelectorAll(".flags li")].some(
  (el) => getComputedStyle(el).color === "rgb(183, 28, 28)")
"""
