"""The evidence report in the console (P1..P17, issue 19): legal picks a period and reads
the report's HTML — `build_evidence(c).report_for`, as `GET /v1/evidence?format=html` calls
it: the gate lets legal read it, refuses (and ledgers) anyone else; bad dates are ledgered
as `gate.invalid-request` and answered 422. The report is self-contained and carries its own
CSP (its one inline stylesheet named by hash)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from entrusted.bootstrap.evidence import build_evidence
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.security import PAGE_HEADERS
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require
from entrusted.services.evidence_render import CSP, ReportFormat
from entrusted.services.evidence_render import render as render_report

router = APIRouter()
Day = Annotated[str | None, Query(max_length=10)]


@router.get("/evidence")
def evidence(request: Request, start: Day = None, end: Day = None) -> Response:
    actor = require(request, CONSOLE)
    c = container_of(request)
    if not start and not end:
        today = c.clock().date()
        context = {"start": today.replace(day=1), "end": today + timedelta(days=1)}
        return render(request, CONSOLE, "console/admin/evidence.html", context)
    # Dates that are not dates are ledgered as `gate.invalid-request`, then 422.
    report = build_evidence(c).report_between(actor, start, end)
    return Response(
        render_report(report, ReportFormat.HTML), media_type="text/html; charset=utf-8",
        headers={**PAGE_HEADERS, "Content-Security-Policy": CSP},
    )  # fmt: skip

