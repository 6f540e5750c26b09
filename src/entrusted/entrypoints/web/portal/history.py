"""My access history (`/portal/history`): every ledgered access to the signed-in customer's
data, allowed and refused, by support case, a page at a time; a case's closing summary; and a
receipt per entry to download and check (in the browser by `/static/verify-receipt.js`, or
offline with `entrusted ledger verify-receipt`). The service decides and ledgers each view."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.security import PAGE_HEADERS
from entrusted.entrypoints.web.sessions import PORTAL, container_of, require
from entrusted.services.customer_preferences import Preferences

router = APIRouter()
MAX_INDEX = 2**62  # far above any log; larger is no entry (422, never an overflow)


@router.get("/history")
def history(
    request: Request, before: Annotated[int | None, Query(ge=1, le=MAX_INDEX)] = None
) -> Response:
    actor = require(request, PORTAL)
    page = container_of(request).history.page(actor, before)
    mine = Preferences(page.language, page.time_zone)  # read with the page: not read again
    return render(request, PORTAL, "portal/history.html", {"page": page}, preferences=mine)


@router.get("/history/cases/{case_id}")
def case(request: Request, case_id: Annotated[str, Path(max_length=64)]) -> Response:
    actor = require(request, PORTAL)
    found = container_of(request).history.case(actor, case_id)
    mine = Preferences(found.language, found.time_zone)
    return render(request, PORTAL, "portal/history_case.html", {"found": found}, preferences=mine)


@router.get("/history/{index}/receipt")
def receipt(request: Request, index: Annotated[int, Path(ge=0, le=MAX_INDEX)]) -> Response:
    """The entry's receipt as a JSON attachment (entrusted-receipt/v1, one entry)."""
    actor = require(request, PORTAL)
    body = container_of(request).history.receipt(actor, index)
    headers = {
        **PAGE_HEADERS,
        "Content-Disposition": f'attachment; filename="receipt-{index}.json"',
    }
    return Response(
        json.dumps(body, indent=1) + "\n", media_type="application/json", headers=headers
    )
