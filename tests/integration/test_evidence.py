"""The evidence report (issue 19) on SQLite and PostgreSQL: its figures equal counts made here
from the raw ledger and database rows (not through the report's code), each seeded violation
shows up as a red flag, the report is for legal only (support refused by the rule, ledgered),
a bad period is refused and ledgered (`gate.invalid-request`) with nothing else written, the
test results name their unsigned source, the staff FTP figure counts operations, and the HTML
is well-formed with its charts."""

from __future__ import annotations

import html
import io
import json
import secrets
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH
from entrusted.bootstrap import Container, build
from entrusted.bootstrap.evidence import build_evidence
from entrusted.domain.audit import AuditEntry
from entrusted.domain.checkpoint import b64encode
from entrusted.domain.evidence import EvidenceReport, FlagKind
from entrusted.domain.ids import INVALID_ID
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.errors import InvalidInput
from entrusted.services.evidence_render import ReportFormat, render
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from tests.conftest import FakeClock
from tests.integration.ftp_world import FtpWorld, ftp_world
from tests.integration.test_consent_sql import WHY, link, register
from tests.integration.test_registry_sql import PASSWORD, ledgered, staff
from tests.refusals import refused_by
from tests.unit.registry_world import customer

pytestmark = pytest.mark.promise("P3", "P14", "P11", "P16")

__all__ = ["ftp_world"]  # the fixture, imported to be found

START, END = date(2026, 11, 1), date(2026, 12, 1)  # FakeClock's day lies inside


def raw_entries(c: Container) -> list[dict[str, Any]]:
    """The ledger's entries decoded here, with json alone, not with the report's code."""
    with c.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT body FROM ledger_entry ORDER BY idx")).all()
    return [json.loads(bytes(body)) for (body,) in rows]


def figure(report: EvidenceReport, key: str) -> int:
    return next(f.value for f in report.figures() if f.key == key)


def manifest(c: Container, tests: list[dict[str, Any]], **more: Any) -> None:
    data = {
        "format": "entrusted-test-manifest/1",
        "run_id": "run-1",
        "started": "2026-11-30T10:00:00+00:00",
        "finished": "2026-11-30T10:05:00+00:00",
        "commit": None,
        "tests": tests,
        **more,
    }
    path = c.settings.effective_evidence_test_manifest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def every_promise_passing() -> list[dict[str, Any]]:
    return [
        {"id": f"tests/x.py::test_p{n}", "promises": [f"P{n}"], "outcome": "passed"}
        for n in range(1, 18)
    ]


def grant_and_resolve(c: Container) -> tuple[str, str, Resource, Actor]:
    """A support case whose mailbox grant was used once, then ended by the case's resolution:
    the case, the grant, the mailbox and the support agent."""
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Webmail error")
    req = c.consent.request(support, case.id, svc["mailbox"], WHY)
    grant = c.consent.approve(customer(cus), req.id, link(c))
    box = Resource(ResourceKind.MAILBOX_CONTENT, svc["mailbox"], owner=cus)
    c.gate.decide(support, Action.READ, box, AccessContext(case.id, grant.id))
    c.cases.resolve(support, case.id)
    return case.id, grant.id, box, support


def test_figures_equal_independent_counts(container: Container) -> None:
    c = container
    case_id, _, box, support = grant_and_resolve(c)
    with refused_by("mailbox-closed-to-staff", ledger=lambda: ledgered(c)[-1]):
        c.gate.decide(support, Action.READ, box, AccessContext(case_id))
    manifest(c, every_promise_passing())
    report = build_evidence(c).report(START, END)
    entries = raw_entries(c)[: report.checkpoint.size]
    by_rule = lambda rule: sum(1 for e in entries if e["rule"] == rule)  # noqa: E731
    assert figure(report, "P3.entries") == len(entries) > 0
    assert figure(report, "P3.refusals") == sum(1 for e in entries if e["decision"] == "deny")
    assert figure(report, "P11.grants_opened") == by_rule("consent.granted") == 1
    ended = [e for e in entries if e["rule"] == "consent.grant-ended"]
    assert figure(report, "P11.ended_by_resolution") == len(ended) == 1
    assert ended[0]["reason"] == "grant ended: case_resolved"
    assert figure(report, "P11.ended_by_revocation") == 0
    assert figure(report, "P11.access_without_grant") == 0
    staff_reads = [
        e
        for e in entries
        if e["actor"]["kind"] == "staff"
        and e["resource"]["kind"] == "mailbox_content"
        and e["decision"] == "allow"
    ]
    assert figure(report, "P10.mailbox_entries_under_grant") == len(staff_reads) == 1
    refusals = [
        e
        for e in entries
        if e["actor"]["kind"] == "staff"
        and e["resource"]["kind"] in {"mailbox_content", "ftp_space"}
        and e["action"] in {"read", "enter"}
        and e["decision"] == "deny"
    ]
    assert figure(report, "P11.refused_without_grant") == len(refusals) >= 1
    with c.engine.connect() as conn:
        checkpoints = conn.execute(sa.text("SELECT count(*) FROM ledger_checkpoint")).scalar()
    assert figure(report, "P3.checkpoints") == checkpoints
    assert figure(report, "P16.overdue") == 0
    # every ledger figure names its query; the report carries the checkpoint it counted to
    assert all(f.query is not None for f in report.figures() if f.source == "ledger")
    root = c.ledger_store.root_at(report.checkpoint.size)
    assert report.checkpoint.root_hash == b64encode(root)
    assert report.checkpoint.root_hash in report.checkpoint.note
    assert EvidenceReport.from_json(json.loads(render(report, ReportFormat.JSON))) == report
    # a clean installation with every promise tested raises no red flag
    assert report.red_flags == ()


def test_seeded_violations_are_red_flags(container: Container, tmp_path: Path) -> None:
    c = container
    assert isinstance(c.clock, FakeClock)
    case_id, grant_id, box, support = grant_and_resolve(c)
    now = c.clock()
    with c.engine.begin() as conn:
        # an overdue backup: a day key past its week, still there
        conn.execute(
            sa.text(
                "INSERT INTO backup_day (day, key_id, commitment, created_at, destroy_after, "
                "evidence_recorded) VALUES (:day, 'k1', :commit, :created, :after, :no)"
            ),
            {
                "day": (now - timedelta(days=9)).date(),
                "commit": "0" * 64,
                "created": now - timedelta(days=9),
                "after": now - timedelta(days=2),
                "no": False,
            },
        )
        # a witness that stopped cosigning: it never cosigned while the log grew
        conn.execute(
            sa.text("INSERT INTO ledger_witness (witness, size) VALUES ('witness.example', 0)")
        )
        # a grant that outlived its case: the resolution did not end it
        conn.execute(
            sa.text("UPDATE consent_grant SET ended_at = NULL, end_reason = NULL WHERE id = :g"),
            {"g": grant_id},
        )
    # a staff access that no grant covers, written past the gate
    c.ledger.append(
        AuditEntry(
            time=now,
            actor_kind="staff",
            actor_id=support.id,
            action="read",
            resource_kind="mailbox_content",
            resource_id=box.id,
            decision="allow",
            reason="seeded",
            nonce=secrets.token_bytes(32),
        )
    )
    # a manifest missing a test (expected, not run) and with a failed one
    tests = every_promise_passing()
    tests[10]["outcome"] = "failed"  # P11
    gone = {"id": "tests/x.py::test_p16_gone", "promises": ["P16"]}
    manifest(c, tests, expected=[gone])
    # a rules file that lets support restore backups
    rules = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    loose = tmp_path / "loose.yaml"
    loose.write_text(
        rules.replace(
            "  - id: support-never-touches-backups\n    effect: forbid\n",
            "  - id: support-never-touches-backups\n    effect: permit\n",
        ),
        encoding="utf-8",
    )
    settings = c.settings.model_copy(update={"rules_file": loose})
    lax = build(settings, clock=c.clock)
    try:
        report = build_evidence(lax).report(START, END)
    finally:
        lax.close()
    kinds = {(f.promise, f.kind) for f in report.red_flags}
    assert ("P16", FlagKind.BACKUP_OVERDUE) in kinds
    assert ("P11", FlagKind.GRANT_OUTLIVED_CASE) in kinds
    assert ("P11", FlagKind.ACCESS_WITHOUT_GRANT) in kinds
    assert ("P11", FlagKind.TEST_FAILED) in kinds
    assert ("P16", FlagKind.TEST_MISSING) in kinds
    assert ("P15", FlagKind.INVARIANT_FAILED) in kinds
    assert ("P3", FlagKind.WITNESS_SILENT) in kinds
    assert figure(report, "P16.overdue") == 1
    assert figure(report, "P11.access_without_grant") == 1
    details = " ".join(f.detail for f in report.red_flags)
    assert grant_id in details
    assert case_id in details
    assert "support-never-lists-or-restores-backups" in details
    p16 = next(p for p in report.promises if p.id == "P16")
    assert p16.red
    assert p16.tests.missing == ("tests/x.py::test_p16_gone",)


def test_no_manifest_is_a_red_flag(container: Container) -> None:
    report = build_evidence(container).report(START, END)
    assert report.test_run is None
    assert ("*", FlagKind.NO_TEST_RUN) in {(f.promise, f.kind) for f in report.red_flags}
    assert all(p.red for p in report.promises)


def test_legal_reads_the_report_support_is_refused(container: Container) -> None:
    c = container
    legal, support = staff(c, "lea", "legal"), staff(c, "sam", "support")
    evidence = build_evidence(c)
    report = evidence.report_for(legal, START, END)
    allowed = ledgered(c)[-1]
    assert (allowed.actor_id, allowed.decision, allowed.rule) == (
        legal.id,
        "allow",
        "legal-reads-the-evidence-report",
    )
    assert report.checkpoint.size > 0
    with refused_by("evidence-report-is-for-legal", ledger=lambda: ledgered(c)[-1]):
        evidence.report_for(support, START, END)


def test_bad_dates_are_refused_ledgered_and_nothing_else_is_written(
    container: Container,
) -> None:
    c = container
    legal = staff(c, "lea", "legal")
    size = c.ledger_store.stored_size()
    with pytest.raises(InvalidInput, match="must end after it starts"):
        build_evidence(c).report_for(legal, date(2026, 12, 1), date(2026, 11, 1))
    assert c.ledger_store.stored_size() == size + 1  # the refusal, and nothing else
    last = ledgered(c)[-1]
    assert (last.actor_id, last.decision, last.rule, last.resource_kind, last.resource_id) == (
        legal.id,
        "deny",
        Outcome.INVALID_REQUEST.value,
        "evidence_report",
        INVALID_ID,
    )
    assert "must end after it starts" in last.reason


def test_the_test_results_say_where_they_came_from(container: Container) -> None:
    c = container
    path = c.settings.effective_evidence_test_manifest
    manifest(c, every_promise_passing())
    report = build_evidence(c).report(START, END)
    line = f"test results: from {path}, run run-1, not authenticated"
    assert report.test_label() == line
    for fmt in ReportFormat:
        text = render(report, fmt)
        assert line in (text if fmt is not ReportFormat.HTML else html.unescape(text)), fmt
    assert json.loads(render(report, ReportFormat.JSON))["test_results"] == line
    path.unlink()
    none = build_evidence(c).report(START, END)
    assert none.test_label() == f"test results: none read from {path}"


@pytest.mark.promise("P9")
def test_staff_ftp_figure_counts_each_operation_under_a_grant(ftp_world: FtpWorld) -> None:
    """The FTP server asks the gate again for each command of a staff session, so the figure
    is named for operations (the login and each command), and equals that count made here."""
    w = ftp_world
    sam = staff(w.c, "sam", "support")
    who = w.customer(1)
    mine = w.login(who.name, who.password)
    mine.storbinary("STOR db.sql", io.BytesIO(b"dump"))
    mine.quit()
    w.grant(sam, who, read_only=True)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    assert ftp.nlst() == ["db.sql"]
    ftp.retrbinary("RETR db.sql", io.BytesIO().write)
    ftp.quit()
    report = build_evidence(w.c).report(START, END)
    entries = raw_entries(w.c)[: report.checkpoint.size]
    operations = [
        e
        for e in entries
        if e["actor"]["kind"] == "staff"
        and e["resource"]["kind"] == "ftp_space"
        and e["action"] == "enter"
        and e["decision"] == "allow"
    ]
    logins = [e for e in operations if not e["refs"].get("note", "").startswith("ftp ")]
    assert len(logins) == 1
    assert len(operations) >= 3  # the login, the listing and the download
    assert figure(report, "P9.ftp_operations_under_grant") == len(operations)
    label = next(f.label for f in report.figures() if f.key == "P9.ftp_operations_under_grant")
    assert label == "staff FTP operations under a grant (each login and each command)"
    assert not any(f.key == "P9.ftp_entries_under_grant" for f in report.figures())


def test_html_is_well_formed_with_its_charts(container: Container) -> None:
    c = container
    grant_and_resolve(c)
    page = render(build_evidence(c).report(START, END), ReportFormat.HTML)
    tree = ElementTree.fromstring(page.split("\n", 1)[1])  # after the doctype
    svgs = tree.findall(".//{http://www.w3.org/2000/svg}svg")
    assert len(svgs) == 2
    assert "<script" not in page
    assert "http://" not in page.replace("http://www.w3.org/", "")  # no network reference
    assert "Red flags" in page
    assert "P11.grants_opened" in page
