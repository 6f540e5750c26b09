"""Liveness and readiness, apart: `/healthz` says the process answers (no database, so a
restart is never triggered by a database outage), `/readyz` says whether this instance can do
its work — database, ledger verification, keys, SMTP relay, backup destruction on time — and
carries the figures operators read (the outbox's pending and failed notices)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from entrusted import __version__
from entrusted.entrypoints.api.deps import ContainerDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up (no database asked)")
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


@router.get(
    "/readyz",
    summary="Readiness: database, ledger verified, keys loaded, SMTP relay, backups on time",
    responses={
        503: {
            "description": "A check failed: `failed` names it, `checks` says why.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def readyz(c: ContainerDep) -> JSONResponse:
    report = c.observability.readiness()
    body = {"version": __version__, **report.answer()}
    return JSONResponse(body, status_code=503 if report.failed else 200)
