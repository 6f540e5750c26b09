"""API: audited endpoints beside a bare endpoint of the same app, under one load (issue 13
item 4, issue 18).

What a user of the HTTP API pays for the audit: `entrusted serve` runs as a real subprocess on a
free loopback port (one uvicorn process, its worker on), and `wrk` (a C load generator, so the
client is not what limits the figure on two cores) drives, one after the other with the same
connections and duration, each through a Lua script that sets the request and counts the
answers by status:

- **bare**: `GET /healthz`, the liveness answer of the same app (no database, no gate), the
  floor of what one request through this app's stack costs;
- **gate**: `POST /v1/gate/mail-login` as Dovecot's hook asks it (the `mail_hook` service
  token, a staff login with the right password to a hosted mailbox): the mailbox by blind
  index, the staff password (cached after the first argon2, as in production), the grants,
  the gate's refusal (rule `mailbox-closed-to-staff`), ledgered durably. The refused path
  (no grant) is the one that can be loaded: a grant allows at most 20 logins (P11).
  `gate_ledger_rules` counts the appended entries by rule: the outcome is read from the
  ledger, not assumed;
- **record gate**: `GET /v1/customers/{id}` with the customer's own token: token look-up, one
  gate decision and one durable ledger append per request, then the decrypted record;
- **portal page**: `GET /portal/history` at low concurrency for a customer owning `entries`
  (10,000) ledger entries, signed in through `/portal/signin` (see `_portal.py` for how the
  entries are made); each view is itself ledgered, so the count grows during the run.

`ledger_entries_added` counts the ledger's growth during the record-gate run, independently of
wrk, so a run whose requests were not audited (or not answered) shows. `targets`: the mail gate
at least half the bare rate, the history page's p99 at most 100 ms. The fake people use
example.com addresses and +41 44 000 numbers.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from entrusted.bootstrap import scratch_installation
from entrusted.domain.audit import AuditEntry

_load = runpy.run_path(str(Path(__file__).with_name("load.py")))  # the serve harness
_portal = runpy.run_path(str(Path(__file__).with_name("_portal.py")))
_floors = runpy.run_path(str(Path(__file__).with_name("_floors.py")))
CONNECTIONS = 32
PASSWORD = _load["PASSWORD"]
GATE_PATH = "/v1/gate/mail-login"
REFUSED_TARGET = "box1@example.net"  # customer 1's mailbox: staff 0 holds no grant on it
GATE_RULE = "mailbox-closed-to-staff"  # the rule that refuses a login without a grant
HISTORY_ENTRIES = 10_000
PAGE_CONNECTIONS = 4  # a few customers reading their history at once, not a crowd
PAGE_SECONDS = 5
GATE_VS_BARE_TARGET = 0.5
PAGE_P99_TARGET_MS = 100.0
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
    statuses: dict[str, int] = {}
    for code, count in re.findall(r"^status (\d+) (\d+)$", output, re.M):
        statuses[code] = statuses.get(code, 0) + int(count)
    found["statuses"] = dict(sorted(statuses.items()))
    return found


_LUA = """wrk.method = "{method}"
wrk.body = {body}
{headers}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {{}} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      io.write(string.format("status %d %d\\n", status, n))
    end
  end
end
"""


def _lua_string(text: str) -> str:
    """A Lua long-bracket literal (no escapes to get wrong); refuses text that would end it."""
    if "]==]" in text or "\n" in text:
        raise ValueError("not a one-line value for the wrk script")
    return f"[==[{text}]==]"


def wrk_script(
    directory: Path, name: str, method: str, headers: dict[str, str], body: str | None = None
) -> Path:
    """A wrk Lua script sending one request and counting the answers' statuses (wrk itself
    only says "non-2xx or 3xx": a 403 refusal, a 303 to the sign-in page and a 500 look
    alike). `done` prints `status CODE COUNT` lines that `parse_wrk` reads."""
    # `[ [==[` with a space: `[[` would open a long string, not index the table
    lines = [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    text = _LUA.format(
        method=method,
        body="nil" if body is None else _lua_string(body),
        headers="\n".join(lines),
    )
    path = directory / f"{name}.lua"
    path.write_text(text)
    return path


def _wrk_command(url: str, script: Path, seconds: int, connections: int) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian package `wrk`; .ci/run installs it)")
    threads = min(2, connections)
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    return [*command, "--timeout", "30s", "-s", str(script), url]


def _wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, Any]:
    return _wrk_all([url], script, seconds, connections)[0]


def _wrk_all(urls: list[str], script: Path, seconds: int, connections: int) -> list[dict[str, Any]]:
    """One wrk per URL, all at once, the connections split between them."""
    share = max(1, connections // len(urls))
    runs = [
        subprocess.Popen(
            _wrk_command(url, script, seconds, share),
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


def _warm(base: str, headers: dict[str, str], login: dict[str, str]) -> None:
    """One login before the load, answered as the load's will be: the serve process then
    holds the staff password in its cache (`mail_password_cache_s`), as it does for anyone
    who logged in within five minutes; otherwise the first N concurrent requests each pay
    argon2 at once, which is a cold start, not the gate's steady cost."""
    r = httpx.post(base + GATE_PATH, json=login, headers=headers, timeout=60)
    if r.status_code != 403 or GATE_RULE not in r.text:
        raise RuntimeError(f"the mail gate answered {r.status_code}: {r.text[:300]}")


def _ledger_rules(c: Any, start: int) -> dict[str, int]:
    """The rule or outcome id of each entry appended since `start`: what the gate decided,
    read from the ledger itself rather than from the HTTP status."""
    store = c.ledger_store
    bodies = store.entries(start, store.stored_size())
    rules = Counter(AuditEntry.from_bytes(b).rule or "-" for b in bodies)
    return dict(sorted(rules.items()))


def run(
    database_url: str | None = None,
    quick: bool = False,
    seconds: int | None = None,
    connections: int = CONNECTIONS,
    entries: int = HISTORY_ENTRIES,
) -> dict[str, Any]:
    duration = seconds if seconds is not None else (3 if quick else 10)
    page_seconds = min(duration, PAGE_SECONDS)
    floors = _floors["floors"](database_url, quick)  # the same run's floors, taken first
    with (
        _load["_settings_env"](_load["SCRATCH_SETTINGS"]),
        scratch_installation(database_url) as c,
        tempfile.TemporaryDirectory(prefix="entrusted-api-bench-") as tmp,
    ):
        fixture = _load["_prepare"](c, 1, 2)  # staff 0 holds a grant on customer 0's mailbox
        customer_id, email, token = fixture.customers[0]
        staff = fixture.staff[0][0]
        hook = c.staff.issue_service_token("mail_hook", "api benchmark").secret
        _portal["mail_logins"](c, _portal["mail_hook"](), staff, PASSWORD)
        owned = _portal["seed"](c, customer_id, entries)
        work = Path(tmp)
        gate_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {hook}"}
        login = {"target": REFUSED_TARGET, "staff": staff, "password": PASSWORD,
                 "remote_ip": "127.0.0.1"}  # fmt: skip
        scripts = {
            "bare": wrk_script(work, "bare", "GET", {}),
            "gate": wrk_script(work, "gate", "POST", gate_headers, json.dumps(login)),
            "record": wrk_script(work, "record", "GET", {"Authorization": f"Bearer {token}"}),
        }
        log_path = work / "serve.log"
        port = _load["_free_port"]()
        base = f"http://127.0.0.1:{port}"
        own = f"/v1/customers/{customer_id}"
        two: dict[str, Any] = {}
        with log_path.open("wb") as log:
            proc = _load["_serve"](c, port, log)
            try:
                _load["_wait_ready"](proc, base, log_path)
                bare = _wrk(base + "/healthz", scripts["bare"], duration, connections)
                _warm(base, gate_headers, login)
                before = c.ledger_store.stored_size()
                gate = _wrk(base + GATE_PATH, scripts["gate"], duration, connections)
                gate_rules = _ledger_rules(c, before)
                before = _entries(c.engine)
                record = _wrk(base + own, scripts["record"], duration, connections)
                added = _entries(c.engine) - before
                cookie = _portal["sign_in"](base, email, PASSWORD)
                scripts["page"] = wrk_script(
                    work, "page", "GET", {"Cookie": f"entrusted_portal={cookie}"}
                )
                page = _wrk(
                    base + "/portal/history", scripts["page"], page_seconds, PAGE_CONNECTIONS
                )
                if c.engine.dialect.name == "postgresql":
                    two = _two_instances(
                        c, base + own, scripts["record"], duration, connections, log
                    )
            finally:
                _load["_stop"](proc)
        server_log = log_path.read_text(errors="replace")
        if two:
            two["two_vs_one"] = round(two["two_instances_gate_rps"] / record["rps"], 3)
        # four places: with the bare floor near 2,000/s the ratio is a few hundredths
        gate_vs_bare = round(gate["rps"] / bare["rps"], 4) if bare["rps"] else 0.0
        return two | floors | {
            "backend": c.engine.dialect.name,
            "connections": connections,
            "seconds": duration,
            "load_average": round(os.getloadavg()[0], 2),
            "bare_rps": bare["rps"],
            "bare_p50_ms": bare["p50_ms"],
            "bare_p99_ms": bare["p99_ms"],
            "gate_endpoint": "POST " + GATE_PATH,
            # A grant allows at most `grant_max_sessions` (<= 20) logins, so only the refused
            # path can be loaded for seconds: the staff password is right (checked, cached as
            # in production), the mailbox is hosted, and without a grant the gate's rules
            # refuse, ledgered (P10, P11): 403 to the hook.
            "gate_outcome": f"refused by rule {GATE_RULE} (right password, no grant)",
            "gate_rps": gate["rps"],
            "gate_vs_bare": gate_vs_bare,
            "gate_p50_ms": gate["p50_ms"],
            "gate_p99_ms": gate["p99_ms"],
            "gate_requests": gate["requests"],
            "gate_statuses": gate["statuses"],
            "gate_ledger_rules": gate_rules,
            "record_gate_endpoint": "GET /v1/customers/{id} (the customer's own token)",
            "record_gate_rps": record["rps"],
            "record_gate_p50_ms": record["p50_ms"],
            "record_gate_p99_ms": record["p99_ms"],
            "record_gate_requests": record["requests"],
            # the worker's checkpoints add a few entries of their own beside one per request
            "ledger_entries_added": added,
            "portal_page": "GET /portal/history (signed in, the newest page)",
            "portal_entries": owned,
            "portal_page_connections": PAGE_CONNECTIONS,
            "portal_page_seconds": page_seconds,
            "portal_page_requests": page["requests"],
            "portal_page_rps": page["rps"],
            "portal_page_p50_ms": page["p50_ms"],
            "portal_page_p99_ms": page["p99_ms"],
            "portal_page_statuses": page["statuses"],
            "non_2xx": bare["non_2xx"] + record["non_2xx"] + page["non_2xx"],
            "socket_errors": sum(r["socket_errors"] for r in (bare, gate, record, page)),
            "server_tracebacks": server_log.count("Traceback (most recent call last)"),
            "targets": {
                "gate_vs_bare_at_least_0_5": gate_vs_bare >= GATE_VS_BARE_TARGET,
                "portal_page_p99_at_most_100_ms": page["p99_ms"] <= PAGE_P99_TARGET_MS,
            },
        }


def _two_instances(
    c: Any, url: str, script: Path, seconds: int, connections: int, log: Any
) -> dict[str, Any]:
    """Issue 13 item 3: a second `serve` on the same PostgreSQL database, both loaded at once
    with the same connections in all; the sum of their audited decisions per second."""
    port = _load["_free_port"]()
    second = f"http://127.0.0.1:{port}"
    proc = _load["_serve"](c, port, log)
    try:
        _load["_wait_ready"](proc, second, Path(log.name))
        first = url.split("/v1/", 1)[0]
        runs = _wrk_all([url, url.replace(first, second)], script, seconds, connections)
    finally:
        _load["_stop"](proc)
    return {
        "two_instances_gate_rps": round(sum(r["rps"] for r in runs), 1),
        "two_instances_non_2xx": sum(r["non_2xx"] for r in runs),
    }
