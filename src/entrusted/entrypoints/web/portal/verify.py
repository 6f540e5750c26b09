"""How to check our records yourself (`/portal/verify`, no sign-in): receipts, the log, a
monitor, a witness, with the exact commands; and the consistency proofs the in-browser check
of a saved receipt needs, public like the hash tiles they are computed from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.security import PAGE_HEADERS
from entrusted.entrypoints.web.sessions import PORTAL, container_of

router = APIRouter()
Size = Annotated[int, Query(ge=1, le=2**62)]


@router.get("/verify")
def verify(request: Request) -> Response:
    public = container_of(request).settings.public_url
    return render(
        request, PORTAL, "portal/verify.html", {"log_url": f"{public.rstrip('/')}/v1/ledger"}
    )


@router.get("/verify/consistency")
def consistency(request: Request, old: Size, new: Size) -> Response:
    """`{"old", "new", "proof"}`: an RFC 9162 consistency proof (base64 hashes) between two
    tree sizes up to the published checkpoint; the browser verifies it, so it need not trust
    us for it."""
    proof = container_of(request).history.consistency(old, new)
    return JSONResponse({"old": old, "new": new, "proof": proof}, headers=PAGE_HEADERS)
