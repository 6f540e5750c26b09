"""`entrusted evidence verify` against the real API under uvicorn on a loopback port, on SQLite
and PostgreSQL (issue 19): a report made by `entrusted evidence` verifies, every ledger figure
recounted from the entry bundles with legal's token; a report whose figure was edited fails
naming that figure, one whose checkpoint root was edited fails on the signature's word; the
entries need a token the log's rules let read them, and never travel in clear text off
loopback. The figures are rebuilt from the report's period, not read from it: a figure
flipped to the database source, a query edited with its value, a red flag deleted, a chart
row edited each fail naming what differs; what the log cannot confirm is listed as NOT
verified."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from entrusted.bootstrap import Container
from entrusted.bootstrap.evidence import build_evidence
from entrusted.domain.audit import AuditEntry
from entrusted.domain.checkpoint import b64encode
from entrusted.entrypoints.api.app import create_app
from entrusted.entrypoints.cli.context import EXIT_CODES
from entrusted.entrypoints.cli.main import app
from entrusted.errors import AuthenticationFailed, InvalidInput, Refused, TamperDetected
from entrusted.services.outcomes import Outcome
from tests.integration.ledger_support import fill

pytestmark = pytest.mark.promise("P3", "P14")

WIDE = {"COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb"}
PASSWORD = "correct horse battery"
SIZE = 700  # with the 70 varied entries: three full entry bundles and a partial one


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def log_url(container: Container) -> Iterator[str]:
    """The container's API on a free loopback port; the log's tiles URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container=container), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1/ledger"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _varied(container: Container) -> None:
    """Entries of the shapes the report's figures look for, on several days of the month, so
    the recount is compared on more than one kind of entry."""
    staff = {"actor_kind": "staff", "actor_id": "stf_1", "actor_roles": ("support",)}
    ended = {
        "actor_kind": "system",
        "actor_id": "worker",
        "action": "end",
        "resource_kind": "grant",
        "decision": "allow",
        "rule": Outcome.GRANT_ENDED.value,
        "refs": {"case": "cas_1", "grant": "grt_1"},
    }
    shapes: list[dict[str, Any]] = [
        {**ended, "reason": "grant ended: case_resolved"},
        {**ended, "reason": "grant ended: revoked"},
        {**ended, "reason": "grant ended: expired"},
        {
            **staff,
            "action": "enter",
            "resource_kind": "mailbox_content",
            "decision": "allow",
            "rule": "support-enter-mailbox-under-grant",
            "reason": "under the customer's grant",
            "refs": {"grant": "grt_1"},
        },
        {
            **staff,
            "action": "enter",
            "resource_kind": "ftp_space",
            "decision": "allow",
            "rule": "support-enter-ftp-under-grant",
            "reason": 'under a grant "quoted"',  # an escape: the tally's slow path
        },
        {
            **staff,
            "action": "enter",
            "resource_kind": "mailbox_content",
            "decision": "deny",
            "rule": Outcome.MAIL_NO_GRANT.value,
            "reason": "no live grant",
        },
        {
            "actor_kind": "third_party",
            "actor_id": "tp_1",
            "action": "read",
            "resource_kind": "personal_details",
            "decision": "deny",
            "rule": None,
            "reason": "no rule allows it",
        },
    ]
    container.ledger.append_many(
        [
            AuditEntry(
                time=datetime(2026, 11, 2 + (i % 25), 8, i % 60, tzinfo=UTC),
                resource_id=f"res_{i}",
                owner="cus_1",
                nonce=bytes([i % 256]) * 32,
                **shapes[i % len(shapes)],
            )
            for i in range(70)
        ]
    )


@pytest.fixture
def report(container: Container, tmp_path: Path) -> dict[str, Any]:
    fill(container, SIZE, (300,))
    _varied(container)
    made = build_evidence(container).report(date(2026, 11, 1), date(2026, 12, 1))
    data: dict[str, Any] = made.to_json()
    return data


def _token(container: Container, tmp_path: Path, role: str) -> Path:
    container.staff.add(f"{role}-1", role.title(), [role], PASSWORD)
    secret = container.staff.login(f"{role}-1", PASSWORD, None, "127.0.0.1").secret
    path = tmp_path / f"{role}.token"
    path.write_text(secret + "\n", encoding="utf-8")
    return path


def _verify(tmp_path: Path, data: dict[str, Any], url: str, *more: str) -> tuple[int, str]:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["evidence", "verify", str(path), "--against", url, *more], env=WIDE
    )
    return result.exit_code, " ".join(result.output.split())


def _figure(data: dict[str, Any], key: str) -> dict[str, Any]:
    found = [f for p in data["promises"] for f in p["figures"] if f["key"] == key]
    assert len(found) == 1, key
    return found[0]


def test_a_report_verifies_figure_by_figure(
    container: Container, report: dict[str, Any], log_url: str, tmp_path: Path
) -> None:
    token = _token(container, tmp_path, "legal")
    for key in (
        "P13.mailbox_metadata_views",
        "P11.ended_by_resolution",
        "P11.access_without_grant",
        "P10.mailbox_refused",
        "P5.third_parties_refused",
    ):
        assert _figure(report, key)["value"] > 0, key  # something to recount
    code, out = _verify(tmp_path, report, log_url, "--token-file", str(token))
    assert code == 0, out
    ledger = sum(1 for p in report["promises"] for f in p["figures"] if f["source"] == "ledger")
    database = sum(1 for p in report["promises"] for f in p["figures"] if f["source"] != "ledger")
    assert f"all {ledger} ledger figures match" in out
    assert f"{database} database figures not recomputable from the log" in out
    assert "P16.overdue (" in out
    assert "not recomputable from the log" in out
    # The verifier's own reads were ledgered after the report: the log grew, and still extends
    # the report's checkpoint.
    assert f"checkpoint size {report['checkpoint']['size']} verified" in out
    assert "the key list the log serves" in out


def test_an_edited_figure_fails_naming_it(
    container: Container, report: dict[str, Any], log_url: str, tmp_path: Path
) -> None:
    token = _token(container, tmp_path, "legal")
    _figure(report, "P13.mailbox_metadata_views")["value"] += 1
    _figure(report, "P3.refusals")["value"] = 0
    code, out = _verify(tmp_path, report, log_url, "--token-file", str(token))
    assert code == EXIT_CODES[TamperDetected], out
    assert "figures that do not match the log: P3.refusals, P13.mailbox_metadata_views" in out
    assert "P3.entries (" in out  # the others are still listed, as matching


def test_an_edited_checkpoint_root_fails(
    container: Container, report: dict[str, Any], log_url: str, tmp_path: Path
) -> None:
    token = _token(container, tmp_path, "legal")
    report["checkpoint"]["root_hash"] = b64encode(bytes(32))
    code, out = _verify(tmp_path, report, log_url, "--token-file", str(token))
    assert code == EXIT_CODES[TamperDetected], out
    assert "but its signed note says size" in out


def test_a_forged_checkpoint_note_fails_its_signature(
    container: Container, report: dict[str, Any], log_url: str, tmp_path: Path
) -> None:
    token = _token(container, tmp_path, "legal")
    note = report["checkpoint"]["note"]
    root = report["checkpoint"]["root_hash"]
    report["checkpoint"]["note"] = note.replace(root, b64encode(bytes(32)), 1)
    report["checkpoint"]["root_hash"] = b64encode(bytes(32))
    code, out = _verify(tmp_path, report, log_url, "--token-file", str(token))
    assert code == EXIT_CODES[TamperDetected], out
    assert "bad signature" in out


def test_the_entries_need_a_token_the_rules_allow(
    container: Container, report: dict[str, Any], log_url: str, tmp_path: Path
) -> None:
    code, out = _verify(tmp_path, report, log_url)
    assert code == EXIT_CODES[AuthenticationFailed], out
    assert "--token-file" in out
    support = _token(container, tmp_path, "support")
    code, out = _verify(tmp_path, report, log_url, "--token-file", str(support))
    assert code == EXIT_CODES[Refused], out
    assert "refused" in out


def test_a_pinned_key_of_another_log_fails(
    container: Container, report: dict[str, Any], log_url: str, tmp_path: Path
) -> None:
    from entrusted.crypto.signing import NoteSigner

    token = _token(container, tmp_path, "legal")
    other = NoteSigner.generate(container.checkpoints.origin).vkey
    code, out = _verify(tmp_path, report, log_url, "--token-file", str(token), "--key", other)
    assert code == EXIT_CODES[TamperDetected], out
    code, out = _verify(
        tmp_path, report, log_url, "--token-file", str(token), "--key", container.checkpoints.vkey
    )
    assert code == 0, out
    assert "the key given" in out


def test_what_is_not_a_report_is_bad_input(log_url: str, tmp_path: Path) -> None:
    code, out = _verify(tmp_path, {"format": "something else"}, log_url)
    assert code == EXIT_CODES[InvalidInput], out
    assert "is not an evidence report" in out


def _access_without_grant(container: Container) -> None:
    """A staff read of a mailbox naming no grant, written past the gate: the red flag the
    log alone decides (P11.access_without_grant must be 0)."""
    container.ledger.append(
        AuditEntry(
            time=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
            actor_kind="staff",
            actor_id="stf_9",
            action="read",
            resource_kind="mailbox_content",
            resource_id="svc_9",
            owner="cus_9",
            decision="allow",
            reason="seeded",
            nonce=bytes([7]) * 32,
        )
    )


def test_a_figure_flipped_to_the_database_source_fails_naming_it(
    container: Container, report: dict[str, Any], log_url: str, tmp_path: Path
) -> None:
    token = _token(container, tmp_path, "legal")
    flipped = _figure(report, "P3.refusals")
    flipped["source"] = "database"
    flipped["value"] = 0
    code, out = _verify(tmp_path, report, log_url, "--token-file", str(token))
    assert code == EXIT_CODES[TamperDetected], out
    assert "figures that do not match the log: P3.refusals" in out
    assert "P3.refusals (refusals recorded): 0, but the report gives it as a database figure" in out


def test_a_query_edited_with_its_value_fails_naming_it(
    container: Container, report: dict[str, Any], log_url: str, tmp_path: Path
) -> None:
    token = _token(container, tmp_path, "legal")
    edited = _figure(report, "P11.access_without_grant")
    edited["query"]["rules"] = ["no-such-rule"]  # counts nothing, so 0 "recomputes"
    edited["value"] = 0
    code, out = _verify(tmp_path, report, log_url, "--token-file", str(token))
    assert code == EXIT_CODES[TamperDetected], out
    assert "figures that do not match the log: P11.access_without_grant" in out
    assert "its query is not the report's" in out


def test_a_deleted_ledger_red_flag_fails(
    container: Container, log_url: str, tmp_path: Path
) -> None:
    fill(container, 10, ())
    _access_without_grant(container)
    data: dict[str, Any] = (
        build_evidence(container).report(date(2026, 11, 1), date(2026, 12, 1)).to_json()
    )
    token = _token(container, tmp_path, "legal")
    code, out = _verify(tmp_path, data, log_url, "--token-file", str(token))
    assert code == 0, out  # the honest report, flag included, verifies
    kept = [f for f in data["red_flags"] if f["kind"] != "access-without-grant"]
    assert len(kept) == len(data["red_flags"]) - 1
    data["red_flags"] = kept
    code, out = _verify(tmp_path, data, log_url, "--token-file", str(token))
    assert code == EXIT_CODES[TamperDetected], out
    assert "red flag missing from the report: P11 access-without-grant" in out
    assert "1 other differences" in out


def test_an_edited_chart_row_fails(
    container: Container, report: dict[str, Any], log_url: str, tmp_path: Path
) -> None:
    token = _token(container, tmp_path, "legal")
    rows = report["charts"]["daily_access"]
    assert rows
    rows[0][3] += 5
    code, out = _verify(tmp_path, report, log_url, "--token-file", str(token))
    assert code == EXIT_CODES[TamperDetected], out
    assert "the daily-access chart differs from the log" in out


def test_what_is_not_verified_is_said(
    container: Container, report: dict[str, Any], log_url: str, tmp_path: Path
) -> None:
    token = _token(container, tmp_path, "legal")
    code, out = _verify(tmp_path, report, log_url, "--token-file", str(token))
    assert code == 0, out
    assert "NOT verified: database figures (P16.overdue, P3.checkpoints, " in out
    assert "NOT verified: test results: none read from " in out
    assert "the test manifest is a file nothing signs" in out
    assert "NOT verified: red flags other than must-be-zero figures" in out


@pytest.mark.parametrize(
    "url",
    [
        "http://audit.example.com/v1/ledger",
        "http://10.0.0.1/v1/ledger",
        "http://127.0.0.1.example.com/v1/ledger",
        "http://127.0.0.1@audit.example.com/v1/ledger",
    ],
)
def test_a_token_is_never_sent_in_clear_off_loopback(
    container: Container, report: dict[str, Any], tmp_path: Path, url: str
) -> None:
    token = _token(container, tmp_path, "legal")
    code, out = _verify(tmp_path, report, url, "--token-file", str(token))
    assert code == EXIT_CODES[InvalidInput] == 2, out
    assert "a bearer token is sent only over https://" in out


def test_loopback_names_may_carry_a_token() -> None:
    from entrusted.domain.hosts import token_may_travel

    for url in (
        "https://audit.example.com/v1/ledger",
        "http://127.0.0.1:8080/v1/ledger",
        "http://127.9.9.9/v1/ledger",
        "http://[::1]:8080/v1/ledger",
        "http://localhost/v1/ledger",
    ):
        assert token_may_travel(url), url
    for url in ("http://example.com/", "ftp://127.0.0.1/", "http://[::2]/", "http:///x"):
        assert not token_may_travel(url), url
