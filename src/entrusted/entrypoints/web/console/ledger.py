"""The ledger and its witnesses in the console (P3, P14): size, latest checkpoint, the last
full verification and each witness's last cosignature (`bootstrap.ledger_status`, which asks
the gate: system administrators and legal audit the ledger; anyone else gets the refusal)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from entrusted.bootstrap.ledger_status import ledger_status
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require

router = APIRouter()


@router.get("/ledger")
def ledger(request: Request) -> Response:
    actor = require(request, CONSOLE)
    status = ledger_status(container_of(request), actor)
    return render(request, CONSOLE, "console/admin/ledger.html", {"status": status})
