"""The disclosure desk in the console (P5): record a third party's request (answered with the
rule's refusal), register a Swiss court order with its document, propose a disclosure under
it, approve it as a second legal officer, and export it once — the calls `/v1/court-orders`
and `/v1/disclosures` make (`desk.orders`, `desk.disclosures`), each asking the gate and
ledgering. Roles other than legal get the refusal page; the proposer approving their own
disclosure gets `disclosure.self-approval`."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from entrusted.domain.disclosures import DataCategory
from entrusted.domain.policy import Action
from entrusted.entrypoints.web.console.names import staff_names
from entrusted.entrypoints.web.console.support import Token, blank, checked, id_list
from entrusted.entrypoints.web.forms import posted
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.security import PAGE_HEADERS
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require
from entrusted.services.court_orders import MAX_DOCUMENT, OrderForm, RequestForm

router = APIRouter()
Text = Annotated[str, Form(max_length=500)]
Ids = Annotated[str, Form(max_length=20_000)]
Categories = Annotated[list[str], Form(max_length=len(DataCategory))]
DESK = f"{CONSOLE.path}/disclosures"


@router.get("/disclosures")
def desk(request: Request) -> Response:
    actor = require(request, CONSOLE)
    c = container_of(request)
    disclosures = c.desk.disclosures.list(actor)
    staff = [d.requested_by for d in disclosures] + [d.approved_by for d in disclosures]
    context = {
        "disclosures": disclosures,
        "names": staff_names(c, staff),
        "orders": c.desk.orders.orders(actor),
        "requests": c.desk.orders.requests(actor),
        "categories": [k.value for k in DataCategory],
        "today": c.clock().date(),
    }
    return render(request, CONSOLE, "console/admin/disclosures.html", context)


@router.post("/disclosures/requests")
def record_request(
    request: Request, requester: Text = "", authority: Text = "", asked: Text = "",
    legal_basis: Text = "", customer_ids: Ids = "", csrf: Token = None,
) -> Response:  # fmt: skip
    actor = posted(request, CONSOLE, csrf)
    named = id_list(request, actor, Action.CREATE, "customer_id", customer_ids)
    form = RequestForm(requester, authority, asked, legal_basis, named)
    container_of(request).desk.orders.record_request(actor, form)
    return RedirectResponse(DESK, 303)


@router.post("/disclosures/orders")
async def register_order(
    request: Request,
    issued_on: Annotated[date, Form()],
    valid_until: Annotated[date, Form()],
    document: Annotated[UploadFile, File()],
    court: Annotated[str, Form(max_length=16)] = "",
    case_number: Annotated[str, Form(max_length=64)] = "",
    customer_ids: Ids = "",
    categories: Categories = [],  # noqa: B006 - FastAPI copies a form default
    notice_after: Annotated[date | None, Form()] = None,
    request_id: Annotated[str, Form(max_length=64)] = "",
    csrf: Token = None,
) -> Response:
    actor = posted(request, CONSOLE, csrf)
    named = id_list(request, actor, Action.CREATE, "customer_id", customer_ids)
    asked = blank(request_id)
    if asked:
        checked(request, actor, Action.CREATE, "third_party_request_id", asked)
    content = await document.read(MAX_DOCUMENT + 1)  # the service refuses one too large
    form = OrderForm(court, case_number, issued_on, valid_until, named, categories,
                     notice_after, None, asked)  # fmt: skip
    container_of(request).desk.orders.register_order(actor, form, content)
    return RedirectResponse(DESK, 303)


@router.post("/disclosures")
def propose(
    request: Request,
    order_id: Annotated[str, Form(max_length=64)] = "",
    customer_ids: Ids = "",
    categories: Categories = [],  # noqa: B006 - as above
    csrf: Token = None,
) -> Response:
    actor = posted(request, CONSOLE, csrf)
    checked(request, actor, Action.CREATE, "order_id", order_id.strip())
    named = id_list(request, actor, Action.CREATE, "customer_id", customer_ids)
    container_of(request).desk.disclosures.propose(actor, order_id.strip(), named, categories)
    return RedirectResponse(DESK, 303)


@router.post("/disclosures/{disclosure_id}/approve")
def approve(request: Request, disclosure_id: str, csrf: Token = None) -> Response:
    actor = posted(request, CONSOLE, csrf)
    checked(request, actor, Action.APPROVE, "disclosure_id", disclosure_id)
    container_of(request).desk.disclosures.approve(actor, disclosure_id)
    return RedirectResponse(DESK, 303)


@router.post("/disclosures/{disclosure_id}/export")
def export(request: Request, disclosure_id: str, csrf: Token = None) -> Response:
    """The export as a JSON download: produced once (a second export is a 409 page)."""
    actor = posted(request, CONSOLE, csrf)
    checked(request, actor, Action.EXPORT, "disclosure_id", disclosure_id)
    body = container_of(request).desk.disclosures.export(actor, disclosure_id)
    return Response(
        json.dumps(body, indent=2, default=str),
        media_type="application/json",
        headers={**PAGE_HEADERS,
                 "Content-Disposition": f'attachment; filename="{disclosure_id}.json"'},
    )  # fmt: skip
