"""The ledger and its witnesses in the console (P3, P14): size, latest checkpoint, the last
full verification and each witness's last cosignature (`services.ledger_status`, which asks
the gate: system administrators and legal audit the ledger; anyone else gets the refusal)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require

router = APIRouter()


@router.get("/ledger")
def ledger(request: Request) -> Response:
    actor = require(request, CONSOLE)
    status = container_of(request).ledger_status.status(actor)
    context = {"status": status, "verified_at": _moment(status.verified_at)}
    return render(request, CONSOLE, "console/admin/ledger.html", context)


def _moment(stamp: str | None) -> datetime | None:
    """The verification's time as a moment the page shows in the console's zone like every
    other time: the health figure carries it as an ISO stamp (UTC when it names no zone)."""
    if stamp is None:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None  # not a time: the page says when it cannot, rather than a 500
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
