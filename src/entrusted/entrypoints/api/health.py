"""Liveness and readiness: is the process up, can it reach its database, and are notices to
customers getting out (the outbox's pending and failed counts)?"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from entrusted import __version__
from entrusted.domain.outbox import OutboxStatus
from entrusted.entrypoints.api.deps import ContainerDep
from entrusted.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness, database readiness and the outbox's backlog")
def healthz(c: ContainerDep) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "version": __version__, "database": "ok"}
    try:
        counts = c.outbox.counts()  # reads the database: also its readiness check
    except (sa.exc.SQLAlchemyError, Unavailable):
        body.update(status="degraded", database="unreachable")
        return JSONResponse(body, status_code=503)
    # Notices owed to customers: pending ones wait for the worker; failed ones need an
    # operator (`entrusted outbox list --status failed`), so they mark the service degraded.
    body["outbox"] = {
        "pending": counts[OutboxStatus.PENDING],
        "failed": counts[OutboxStatus.FAILED],
    }
    if counts[OutboxStatus.FAILED]:
        body["status"] = "degraded"
    # The worker's last full verification of the ledger: a failure means tampering was found.
    body["ledger_verification"] = c.ledger_verification()
    if body["ledger_verification"]["ok"] is False:
        body["status"] = "degraded"
    # Backups past their 7 days and not yet destroyed (P16) are a broken promise: say so.
    overdue = c.backups.purge.status().overdue
    body["backups"] = {"overdue_days": [k.day.isoformat() for k in overdue]}
    if overdue:
        body["status"] = "degraded"
    return JSONResponse(body)

