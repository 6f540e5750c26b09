"""`/v1/court-orders` and `/v1/disclosures`: the disclosure desk (P4, P5). Legal records
third-party requests (each answered with a ledgered refusal) and registers Swiss court orders;
a disclosure under an order is proposed by one legal officer, approved by another and exported
once, holding exactly what the order covers. Every answer, allowed or refused, is ledgered."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from entrusted.domain.disclosures import MAX_CUSTOMERS, CourtOrder, Disclosure, ThirdPartyRequest
from entrusted.domain.policy import Action
from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.errors import InvalidInput
from entrusted.services.court_orders import OrderForm, RequestForm

orders_router = APIRouter(prefix="/v1/court-orders", tags=["disclosures"])
router = APIRouter(prefix="/v1/disclosures", tags=["disclosures"])

Customers = Annotated[list[str], Field(max_length=MAX_CUSTOMERS)]


class RequestIn(StrictIn):
    requester: str = Field(min_length=1, max_length=500, description="Who asks.")
    authority: str = Field(min_length=1, max_length=500, description="For which authority.")
    asked: str = Field(min_length=1, max_length=500, description="What is asked for.")
    legal_basis: str = Field(min_length=1, max_length=500, description="Legal basis.")
    customer_ids: Customers = Field(default_factory=list)


class RequestOut(BaseModel):
    id: str
    requester: str
    authority: str
    asked: str
    legal_basis: str
    customer_ids: list[str]
    recorded_by: str
    received_at: datetime
    answer: str = Field(description="The answer given: a refusal without a court order (P5).")

    @classmethod
    def of(cls, r: ThirdPartyRequest) -> RequestOut:
        return cls(
            id=r.id, requester=r.requester, authority=r.authority, asked=r.asked,
            legal_basis=r.legal_basis, customer_ids=list(r.customer_ids),
            recorded_by=r.recorded_by, received_at=r.received_at, answer=r.answer,
        )


class OrderIn(StrictIn):
    court: str = Field(
        min_length=1, max_length=16,
        description="CH-BGer, CH-BStGer, CH-BVGer, CH-BPatGer or CH-<canton code>, e.g. CH-ZH.",
    )
    case_number: str = Field(min_length=1, max_length=64)
    issued_on: date
    valid_until: date
    customer_ids: Customers = Field(min_length=1)
    categories: list[str] = Field(
        min_length=1, max_length=4,
        description="personal_details, contracts, identifications, transfers",
    )
    notice_after: date | None = Field(
        default=None, description="The order forbids telling the customer before this day."
    )
    document_base64: str = Field(min_length=1, description="The order's file, base64.")
    document_sha256: str | None = Field(
        default=None, description="When given, the document must have this SHA-256."
    )
    request_id: str | None = Field(default=None, description="The request it answers (tpr_…).")


class OrderOut(BaseModel):
    id: str
    court: str
    case_number: str
    issued_on: date
    valid_until: date
    customer_ids: list[str]
    categories: list[str]
    document_sha256: str
    notice_after: date | None
    registered_by: str
    registered_at: datetime
    request_id: str | None

    @classmethod
    def of(cls, o: CourtOrder) -> OrderOut:
        return cls(
            id=o.id, court=o.court, case_number=o.case_number, issued_on=o.issued_on,
            valid_until=o.valid_until, customer_ids=list(o.customer_ids),
            categories=sorted(c.value for c in o.categories),
            document_sha256=o.document_sha256, notice_after=o.notice_after,
            registered_by=o.registered_by, registered_at=o.registered_at,
            request_id=o.request_id,
        )


class DisclosureIn(StrictIn):
    order_id: str = Field(description="The court order (cor_…).")
    customer_ids: Customers = Field(
        default_factory=list, description="Default: every customer the order names."
    )
    categories: list[str] = Field(
        default_factory=list, max_length=4, description="Default: all the order covers."
    )


class DisclosureOut(BaseModel):
    id: str
    order_id: str
    customer_ids: list[str]
    categories: list[str]
    status: str = Field(description="pending, approved or disclosed")
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    disclosed_at: datetime | None
    notice: str = Field(description="none, queued, or deferred (until notice_after)")
    notice_after: date | None

    @classmethod
    def of(cls, d: Disclosure) -> DisclosureOut:
        return cls(
            id=d.id, order_id=d.order_id, customer_ids=list(d.customer_ids),
            categories=sorted(c.value for c in d.categories), status=d.status.value,
            requested_by=d.requested_by, requested_at=d.requested_at,
            approved_by=d.approved_by, approved_at=d.approved_at,
            disclosed_at=d.disclosed_at, notice=d.notice.value, notice_after=d.notice_after,
        )


def _order_id(
    who: ActorDep, c: ContainerDep,
    order_id: Annotated[str, Path(description="`cor_0000000000000000`-shaped")],
) -> str:
    ids.check(c, who, Action.READ, order_id=order_id)
    return order_id


def _disclosure_id(
    request: Request, who: ActorDep, c: ContainerDep,
    disclosure_id: Annotated[str, Path(description="`dsc_0000000000000000`-shaped")],
) -> str:
    action = Action.READ if request.method == "GET" else Action.APPROVE
    ids.check(c, who, action, disclosure_id=disclosure_id)
    return disclosure_id


OrderId = Annotated[str, Depends(_order_id)]
DisclosureId = Annotated[str, Depends(_disclosure_id)]


@orders_router.post("/requests", response_model=RequestOut, status_code=201,
                    summary="Record a third-party request (answered with a refusal)")
def record_request(body: RequestIn, who: ActorDep, c: ContainerDep) -> RequestOut:
    for cid in body.customer_ids:
        ids.check(c, who, Action.CREATE, customer_id=cid)
    form = RequestForm(body.requester, body.authority, body.asked, body.legal_basis,
                       body.customer_ids)
    return RequestOut.of(c.desk.orders.record_request(who, form))


@orders_router.get("/requests", response_model=list[RequestOut],
                   summary="Recorded third-party requests (legal)")
def list_requests(who: ActorDep, c: ContainerDep) -> list[RequestOut]:
    return [RequestOut.of(r) for r in c.desk.orders.requests(who)]


@orders_router.post("", response_model=OrderOut, status_code=201,
                    summary="Register a Swiss court order (legal)")
def register(body: OrderIn, who: ActorDep, c: ContainerDep) -> OrderOut:
    for cid in body.customer_ids:
        ids.check(c, who, Action.CREATE, customer_id=cid)
    ids.check(c, who, Action.CREATE, third_party_request_id=body.request_id)
    try:
        document = base64.b64decode(body.document_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("document_base64", "is not base64") from None
    form = OrderForm(
        body.court, body.case_number, body.issued_on, body.valid_until, body.customer_ids,
        body.categories, body.notice_after, body.document_sha256, body.request_id,
    )
    return OrderOut.of(c.desk.orders.register_order(who, form, document))


@orders_router.get("", response_model=list[OrderOut], summary="Registered court orders (legal)")
def list_orders(who: ActorDep, c: ContainerDep) -> list[OrderOut]:
    return [OrderOut.of(o) for o in c.desk.orders.orders(who)]


@orders_router.get("/{order_id}", response_model=OrderOut, summary="One court order (legal)")
def get_order(order_id: OrderId, who: ActorDep, c: ContainerDep) -> OrderOut:
    return OrderOut.of(c.desk.orders.order(who, order_id))


@router.post("", response_model=DisclosureOut, status_code=201,
             summary="Propose a disclosure under a court order (legal)")
def propose(body: DisclosureIn, who: ActorDep, c: ContainerDep) -> DisclosureOut:
    ids.check(c, who, Action.CREATE, order_id=body.order_id)
    for cid in body.customer_ids:
        ids.check(c, who, Action.CREATE, customer_id=cid)
    return DisclosureOut.of(
        c.desk.disclosures.propose(who, body.order_id, body.customer_ids, body.categories)
    )


@router.get("", response_model=list[DisclosureOut], summary="Disclosures (legal)")
def list_disclosures(who: ActorDep, c: ContainerDep) -> list[DisclosureOut]:
    return [DisclosureOut.of(d) for d in c.desk.disclosures.list(who)]


@router.get("/{disclosure_id}", response_model=DisclosureOut, summary="One disclosure (legal)")
def get_disclosure(disclosure_id: DisclosureId, who: ActorDep, c: ContainerDep) -> DisclosureOut:
    return DisclosureOut.of(c.desk.disclosures.get(who, disclosure_id))


@router.post("/{disclosure_id}/approve", response_model=DisclosureOut,
             summary="Approve a disclosure (a second legal officer)")
def approve(disclosure_id: DisclosureId, who: ActorDep, c: ContainerDep) -> DisclosureOut:
    return DisclosureOut.of(c.desk.disclosures.approve(who, disclosure_id))


@router.post("/{disclosure_id}/export", summary="Export an approved disclosure, once")
def export(disclosure_id: DisclosureId, who: ActorDep, c: ContainerDep) -> dict[str, Any]:
    return c.desk.disclosures.export(who, disclosure_id)
