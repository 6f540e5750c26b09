"""The evidence report in the console (P1..P17, issue 19): legal picks a period and reads
the report's HTML — `build_evidence(c).report_for`, as `GET /v1/evidence?format=html` calls
it: the gate lets legal read it, refuses (and ledgers) anyone else; bad dates are ledgered
as `gate.invalid-request` and answered 422. The report is self-contained and carries its own
CSP (its one inline stylesheet named by hash)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from entrusted.bootstrap.evidence import build_evidence
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.security import PAGE_HEADERS
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require
from entrusted.errors import InvalidInput
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
    service = build_evidence(c)
    try:
        first, after = _day(start, "start"), _day(end, "end")
    except InvalidInput as exc:  # ledgered as `gate.invalid-request`, then 422
        service.refuse_input(actor, exc)
    report = service.report_for(actor, first, after)
    return Response(
        render_report(report, ReportFormat.HTML), media_type="text/html; charset=utf-8",
        headers={**PAGE_HEADERS, "Content-Security-Policy": CSP},
    )  # fmt: skip


def _day(value: str | None, field: str) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:  # the text sent is not echoed: the refusal is ledgered
        raise InvalidInput(field, "is not a date (YYYY-MM-DD)") from None
