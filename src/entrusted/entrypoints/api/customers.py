"""`/v1/customers`: registration, the customer's own record and export, support's summary and
search, customer credentials; and the bulk listing that is always refused (P4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from entrusted.domain.policy import Action
from entrusted.domain.registry import CustomerRecord
from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.registry_models import RegistrationIn, SummaryOut
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.services.gate import AccessContext
from entrusted.services.registry_lookup import CallerView

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class RegisteredOut(BaseModel):
    id: str
    contract_id: str | None
    password_link_queued: bool


class CustomerOut(BaseModel):
    id: str
    status: str
    created_at: datetime
    last_name: str
    first_name: str
    email: str
    phone: str | None
    mobile: str | None
    language: str | None = Field(description="en, fr, de or it; null: the default")
    time_zone: str | None = Field(description="IANA time zone; null: the default")


class CorrectionIn(StrictIn):
    """Only the fields given are changed; `null` removes a phone or mobile number."""

    last_name: str | None = Field(default=None, max_length=200)
    first_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    mobile: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=8, description="en, fr, de or it")
    time_zone: str | None = Field(default=None, max_length=64, description="IANA name")


class SearchIn(StrictIn):
    """A look-up names an open case or a helpdesk ticket (P1); both are ledgered."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    # a hosted mailbox address, a domain, the hoster's customer number (issue 17)
    mailbox: str | None = Field(default=None, max_length=320)
    domain: str | None = Field(default=None, max_length=253)
    customer_number: str | None = Field(default=None, max_length=64)
    case_id: str | None = Field(default=None, max_length=64)
    ticket: str | None = Field(default=None, max_length=64)


class CallerOut(BaseModel):
    """What support sees of a possible caller: hints to start an identification with, and
    `summary` (name and contracts) only once the caller is identified."""

    id: str
    identified: bool
    initials: str
    email_hint: str
    mobile_hint: str | None
    contract_ids: list[str]
    methods: list[str]
    summary: SummaryOut | None

    @classmethod
    def of(cls, view: CallerView) -> CallerOut:
        return cls(
            id=view.id,
            identified=view.identified,
            initials=view.initials,
            email_hint=view.email_hint,
            mobile_hint=view.mobile_hint,
            contract_ids=list(view.contract_ids),
            methods=[m.value for m in view.methods],
            summary=None if view.summary is None else SummaryOut.of(view.summary),
        )


class LinkIn(StrictIn):
    email: str = Field(max_length=320)


class PasswordIn(StrictIn):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class EmailTokenIn(StrictIn):
    token: str = Field(min_length=1, max_length=200)


class ConfirmedOut(BaseModel):
    id: str = Field(description="The customer whose contact address changed.")


class LoginIn(StrictIn):
    email: str = Field(max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class CustomerTokenOut(BaseModel):
    id: str
    token: str = Field(description="Shown once; store it now.")
    expires_at: datetime


def _out(record: CustomerRecord) -> CustomerOut:
    return CustomerOut(
        id=record.id,
        status=record.status.value,
        created_at=record.created_at,
        last_name=record.details.last_name,
        first_name=record.details.first_name,
        email=record.details.email,
        phone=record.details.phone,
        mobile=record.details.mobile,
        language=record.language,
        time_zone=record.time_zone,
    )


@router.post("", response_model=RegisteredOut, status_code=201, summary="Register a customer")
def register(body: RegistrationIn, who: ActorDep, c: ContainerDep) -> RegisteredOut:
    done = c.registry.register(who, body.form())
    return RegisteredOut(
        id=done.customer_id,
        contract_id=done.contract_id,
        password_link_queued=done.password_link_queued,
    )


@router.get("", summary="Bulk listing of customers: always refused and ledgered (P4)")
def list_all(who: ActorDep, c: ContainerDep) -> None:
    c.registry.export_all(who)


@router.post(
    "/search",
    response_model=list[CallerOut],
    summary="Find a caller by e-mail, phone, mailbox, domain or customer number",
)
def search(body: SearchIn, who: ActorDep, c: ContainerDep) -> list[CallerOut]:
    ids.check(c, who, Action.IDENTIFY, case_id=body.case_id)
    context = AccessContext(case_id=body.case_id, ticket=body.ticket)
    found = c.registry.find(
        who, email=body.email, phone=body.phone, context=context, mailbox=body.mailbox,
        domain=body.domain, customer_number=body.customer_number,
    )  # fmt: skip
    return [CallerOut.of(s) for s in found]


@router.post("/password-link", status_code=202, summary="Queue a new password link")
def password_link(body: LinkIn, c: ContainerDep) -> Response:
    c.customer_auth.request_link(body.email)
    return Response(status_code=202)


@router.post("/password", status_code=204, summary="Set a password with a link's token")
def set_password(body: PasswordIn, c: ContainerDep) -> Response:
    c.customer_auth.set_password(body.token, body.password)
    return Response(status_code=204)


@router.post(
    "/email-confirmation",
    response_model=ConfirmedOut,
    summary="Apply a new contact e-mail address with its link's token",
)
def confirm_email(body: EmailTokenIn, c: ContainerDep) -> ConfirmedOut:
    return ConfirmedOut(id=c.registry.confirm_email(body.token))


@router.post("/login", response_model=CustomerTokenOut, summary="A customer token for a password")
def login(body: LoginIn, request: Request, c: ContainerDep) -> CustomerTokenOut:
    address = request.client.host if request.client else "unknown"
    issued = c.customer_auth.login(body.email, body.password, address)
    return CustomerTokenOut(
        id=issued.session.id, token=issued.secret, expires_at=issued.session.expires_at
    )


@router.get("/{customer_id}", response_model=CustomerOut, summary="A customer's own record")
def read(customer_id: ids.CustomerId, who: ActorDep, c: ContainerDep) -> CustomerOut:
    return _out(c.registry.details(who, customer_id))


@router.patch(
    "/{customer_id}",
    response_model=CustomerOut,
    summary="Correct one's own details (a new e-mail address waits for its link)",
)
def correct(
    customer_id: ids.CustomerId, body: CorrectionIn, who: ActorDep, c: ContainerDep
) -> CustomerOut:
    changes = body.model_dump(exclude_unset=True)
    return _out(c.registry.correct(who, customer_id, changes))


@router.get(
    "/{customer_id}/summary",
    response_model=CallerOut,
    summary="A caller's hints for support; name and contracts once identified",
)
def summary(
    customer_id: ids.CustomerId,
    who: ActorDep,
    c: ContainerDep,
    case_id: ids.CaseQuery,
    ticket: Annotated[str | None, Query(max_length=64)] = None,
) -> CallerOut:
    context = AccessContext(case_id=case_id, ticket=ticket)
    return CallerOut.of(c.registry.summary(who, customer_id, context))


@router.get("/{customer_id}/export", summary="The customer's own data-access export")
def export(customer_id: ids.CustomerId, who: ActorDep, c: ContainerDep) -> dict[str, Any]:
    return c.registry.export_own(who, customer_id)
