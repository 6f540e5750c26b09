"""Liveness and readiness: is the process up, and can it reach its database?"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from entrusted import __version__
from entrusted.entrypoints.api.deps import ContainerDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and database readiness")
def healthz(c: ContainerDep) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "version": __version__, "database": "ok"}
    try:
        with c.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        body.update(status="degraded", database="unreachable")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
