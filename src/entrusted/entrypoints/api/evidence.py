"""`GET /v1/evidence?from=&to=&format=`: the proof-of-promises report (issue 19), for legal.

The gate decides (the shipped rules let legal read the report, nobody else) and ledgers the
decision, refusals included, before anything is read; bad dates are ledgered as
`gate.invalid-request` and answered 422 (a missing date or an unknown format is refused by
the framework's validation before the route runs, as on every route). The HTML is
self-contained and carries its own CSP naming its one inline stylesheet by hash, as strict
as the API's default.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from entrusted.bootstrap.evidence import build_evidence
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.services.evidence_render import CSP, ReportFormat, render

router = APIRouter(prefix="/v1/evidence", tags=["evidence"])

MEDIA = {
    ReportFormat.JSON: "application/json",
    ReportFormat.MD: "text/markdown; charset=utf-8",
    ReportFormat.HTML: "text/html; charset=utf-8",
}


@router.get(
    "",
    summary="The evidence report of P1..P17 for a period (legal only): red flags first, then "
    "per promise its rules, invariants, tests and live figures",
    response_class=Response,
    responses={200: {"content": {m: {} for m in MEDIA.values()}}},
)
def evidence(
    c: ContainerDep,
    actor: ActorDep,
    start: Annotated[str, Query(alias="from", description="First day (YYYY-MM-DD, UTC)")],
    end: Annotated[str, Query(alias="to", description="Day after the last (YYYY-MM-DD, UTC)")],
    fmt: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.JSON,
) -> Response:
    # Dates that are not dates are ledgered as `gate.invalid-request`, then 422.
    report = build_evidence(c).report_between(actor, start, end, ("from", "to"))
    headers = {"Content-Security-Policy": CSP} if fmt is ReportFormat.HTML else {}
    return Response(render(report, fmt), media_type=MEDIA[fmt], headers=headers)
