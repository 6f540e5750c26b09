"""API: an audited gate endpoint beside a bare endpoint of the same app, under one load (issue 13
item 4).

What a user of the HTTP API pays for the audit: `entrusted serve` runs as a real subprocess on a
free loopback port (one uvicorn process, its worker on), and `wrk` (a C load generator, so the
client is not what limits the figure on two cores) drives, one after the other with the same
connections and duration:

- **bare**: `GET /healthz`, the liveness answer of the same app (no database, no gate), the
  floor of what one request through this app's stack costs;
- **gate**: `GET /v1/customers/{id}` with the customer's own token: token look-up, one gate
  decision and one durable ledger append per request, then the decrypted record.

`ledger_entries_added` counts the ledger's growth during the gate run, independently of wrk, so a
run whose requests were not audited (or not answered) shows. Reported: `gate_rps`, `bare_rps`,
`gate_vs_bare`, p50/p99 of each, non-2xx answers and socket errors. The fake customer uses an
example.com address and a +41 44 000 number.
"""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from entrusted.bootstrap import scratch_installation

_load = runpy.run_path(str(Path(__file__).with_name("load.py")))  # the serve harness
CONNECTIONS = 32
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if found is None:
        raise RuntimeError(f"wrk printed a latency it does not document: {text!r}")
    number, unit = found.groups()
    return round(float(number) * _UNITS[unit], 2)


def parse_wrk(output: str) -> dict[str, Any]:
    """wrk's `--latency` report as numbers; a missing line is an error, never a zero."""
    found: dict[str, Any] = {}
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (rps and total and p50 and p99):
        raise RuntimeError("wrk printed no report:\n" + output)
    found["rps"] = round(float(rps.group(1)), 1)
    found["requests"] = int(total.group(1))
    found["p50_ms"] = _ms(p50.group(1))
    found["p99_ms"] = _ms(p99.group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    found["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    found["socket_errors"] = sum(int(g) for g in errors.groups()) if errors else 0
    return found


def _wrk_command(url: str, token: str | None, seconds: int, connections: int) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian package `wrk`; .ci/run installs it)")
    command = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    return [*command, url]


def _wrk(url: str, token: str | None, seconds: int, connections: int) -> dict[str, Any]:
    return _wrk_all([url], token, seconds, connections)[0]


def _wrk_all(
    urls: list[str], token: str | None, seconds: int, connections: int
) -> list[dict[str, Any]]:
    """One wrk per URL, all at once, the connections split between them."""
    share = max(1, connections // len(urls))
    runs = [
        subprocess.Popen(
            _wrk_command(url, token, seconds, share),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for url in urls
    ]
    return [parse_wrk(run.communicate(timeout=seconds + 60)[0]) for run in runs]


def _entries(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM ledger_entry")).scalar_one())


def run(
    database_url: str | None = None,
    quick: bool = False,
    seconds: int | None = None,
    connections: int = CONNECTIONS,
) -> dict[str, Any]:
    duration = seconds if seconds is not None else (3 if quick else 10)
    with (
        _load["_settings_env"](_load["SCRATCH_SETTINGS"]),
        scratch_installation(database_url) as c,
        tempfile.TemporaryDirectory(prefix="entrusted-api-bench-") as tmp,
    ):
        fixture = _load["_prepare"](c, 0, 1)
        customer_id, _, token = fixture.customers[0]
        log_path = Path(tmp) / "serve.log"
        port = _load["_free_port"]()
        base = f"http://127.0.0.1:{port}"
        own = f"/v1/customers/{customer_id}"
        two: dict[str, Any] = {}
        with log_path.open("wb") as log:
            proc = _load["_serve"](c, port, log)
            try:
                _load["_wait_ready"](proc, base, log_path)
                bare = _wrk(base + "/healthz", None, duration, connections)
                before = _entries(c.engine)
                gate = _wrk(base + own, token, duration, connections)
                added = _entries(c.engine) - before
                if c.engine.dialect.name == "postgresql":
                    two = _two_instances(c, base + own, token, duration, connections, log)
            finally:
                _load["_stop"](proc)
        server_log = log_path.read_text(errors="replace")
        if two:
            two["two_vs_one"] = round(two["two_instances_gate_rps"] / gate["rps"], 3)
        return two | {
            "backend": c.engine.dialect.name,
            "connections": connections,
            "seconds": duration,
            "bare_rps": bare["rps"],
            "gate_rps": gate["rps"],
            "gate_vs_bare": round(gate["rps"] / bare["rps"], 3) if bare["rps"] else 0.0,
            "bare_p50_ms": bare["p50_ms"],
            "bare_p99_ms": bare["p99_ms"],
            "gate_p50_ms": gate["p50_ms"],
            "gate_p99_ms": gate["p99_ms"],
            "gate_requests": gate["requests"],
            # the worker's checkpoints add a few entries of their own beside one per request
            "ledger_entries_added": added,
            "non_2xx": bare["non_2xx"] + gate["non_2xx"],
            "socket_errors": bare["socket_errors"] + gate["socket_errors"],
            "server_tracebacks": server_log.count("Traceback (most recent call last)"),
        }


def _two_instances(
    c: Any, url: str, token: str, seconds: int, connections: int, log: Any
) -> dict[str, Any]:
    """Issue 13 item 3: a second `serve` on the same PostgreSQL database, both loaded at once
    with the same connections in all; the sum of their audited decisions per second."""
    port = _load["_free_port"]()
    second = f"http://127.0.0.1:{port}"
    proc = _load["_serve"](c, port, log)
    try:
        _load["_wait_ready"](proc, second, Path(log.name))
        first = url.split("/v1/", 1)[0]
        runs = _wrk_all([url, url.replace(first, second)], token, seconds, connections)
    finally:
        _load["_stop"](proc)
    return {
        "two_instances_gate_rps": round(sum(r["rps"] for r in runs), 1),
        "two_instances_non_2xx": sum(r["non_2xx"] for r in runs),
    }
