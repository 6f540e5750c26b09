"""The ledger and its witnesses in the console (P3, P14): size, latest checkpoint, the last
full verification and each witness's last cosignature (`services.ledger_status`, which asks
the gate: system administrators and legal audit the ledger; anyone else gets the refusal)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require

router = APIRouter()


@router.get("/ledger")
def ledger(request: Request) -> Response:
    actor = require(request, CONSOLE)
    status = container_of(request).ledger_status.status(actor)
    return render(request, CONSOLE, "console/admin/ledger.html", {"status": status})
