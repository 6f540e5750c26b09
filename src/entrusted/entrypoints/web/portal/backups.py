"""My backups (`/portal/backups`): that backups of the customer's data exist, when each was
taken and when it will be (or was) destroyed (P15, P16) — `GET /v1/backups/mine`'s call.
The service lists the signed-in customer's own archives only; there is no id to ask for
another's."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from entrusted.entrypoints.web.portal import me
from entrusted.entrypoints.web.sessions import PORTAL, container_of, require

router = APIRouter()


@router.get("/backups")
def backups(request: Request) -> Response:
    actor = require(request, PORTAL)
    found = container_of(request).backups.access.for_customer(actor)
    ordered = sorted(found, key=lambda a: a.created_at, reverse=True)
    return me.page(request, actor, "portal/backups.html", {"backups": ordered})
