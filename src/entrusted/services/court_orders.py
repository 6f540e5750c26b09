"""The front of the disclosure desk (P4, P5): third-party requests, recorded and refused, and
the Swiss court orders legal registers; plus the gate's `court_order` resolver.

A request from outside (police, an authority, a lawyer) is recorded by legal with who asks,
for which authority, what and on which legal basis, and answered at once by the rules: a
third party never acts on our data (`third-parties-never-act-directly`), so the answer is a
refusal, ledgered, whose reason is what legal tells the requester. Its `requester` and
`asked`, which often name a customer, are stored sealed (P2) and opened only in legal's list
of requests. Only a court order changes that, and only for what it names: an order is
registered by legal with its Swiss court, case number, dates, the customers and data
categories it covers and its document (sealed; its SHA-256 kept in clear). A foreign or
expired order is refused with the reason, ledgered.

```python
request = desk.record_request(legal, RequestForm("Det. Muster", "Kantonspolizei", ...))
order = desk.register_order(legal, OrderForm("CH-ZH", "GG260001", ...), pdf_bytes)
```
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from entrusted.crypto.documents import open_text, seal_document, seal_text
from entrusted.crypto.envelope import Keyring
from entrusted.crypto.personal import RegistryKeys
from entrusted.crypto.secrets import new_id
from entrusted.domain.disclosures import (
    EARLIEST_ISSUED,
    MAX_CUSTOMERS,
    MAX_ORDER_SPAN_DAYS,
    MAX_TEXT,
    CourtOrder,
    ThirdPartyRequest,
    canonical_court,
    case_number_problem,
    categories_of,
    court_problem,
    sha256_problem,
)
from entrusted.domain.ids import IdKind, id_problem, is_id
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.errors import InvalidInput, NotFound, Refused, Unavailable
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.outbox import MailTemplates
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.ports import (
    SEALED_REQUEST_FIELDS,
    Clock,
    DisclosureUnitOfWorkFactory,
)

MAX_DOCUMENT = 20 << 20  # 20 MiB: a scanned order, not an archive
MAX_LIST = 500


@dataclass(frozen=True)
class DisclosureParts:
    """What the desk works with; built once by the composition root (`keys` is a provider,
    so commands that never seal a document or open a record need no key file)."""

    uow: DisclosureUnitOfWorkFactory
    gate: Gate
    keys: Callable[[], RegistryKeys]
    clock: Clock
    ids: Callable[[str], str] = new_id
    mails: MailTemplates | None = None  # how the customer's notice is written

    @property
    def outcomes(self) -> OutcomeRecorder:
        return OutcomeRecorder(self.gate)

    def keyring(self) -> Keyring:
        """The registry's keyring; a key file that is missing or unreadable is the server's
        trouble, not the caller's input: `Unavailable` (503), asked before the gate."""
        try:
            return self.keys().keyring
        except InvalidInput:
            raise Unavailable(
                "the registry's keys cannot be loaded; the operator must check the key files"
            ) from None

    def today(self) -> date:
        return self.clock().date()


@dataclass(frozen=True, slots=True)
class RequestForm:
    requester: str
    authority: str
    asked: str
    legal_basis: str
    customer_ids: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class OrderForm:
    court: str
    case_number: str
    issued_on: date
    valid_until: date
    customer_ids: Sequence[str]
    categories: Sequence[str]
    notice_after: date | None = None  # the customer may not be told before this day
    document_sha256: str | None = None  # when given, the document must have it
    request_id: str | None = None


def disclosure_resource(any_id: str) -> Resource:
    return Resource(ResourceKind.DISCLOSURE, any_id)


def _text(field: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_TEXT or not value.isprintable():
        raise InvalidInput(field, f"is 1-{MAX_TEXT} printable characters")
    return value


def checked_customers(ids: Sequence[str], *, required: bool) -> tuple[str, ...]:
    if required and not ids:
        raise InvalidInput("customer_ids", "name at least one customer")
    if len(ids) > MAX_CUSTOMERS:
        raise InvalidInput("customer_ids", f"at most {MAX_CUSTOMERS} customers")
    for value in ids:
        if not is_id(IdKind.CUSTOMER, value):
            raise InvalidInput("customer_ids", id_problem(IdKind.CUSTOMER))
    return tuple(dict.fromkeys(ids))


class CourtOrders:
    """Records third-party requests and registers court orders (see the module doc)."""

    def __init__(self, parts: DisclosureParts) -> None:
        self._p = parts

    def record_request(self, actor: Actor, form: RequestForm) -> ThirdPartyRequest:
        """Record a request from outside and answer it: refused, ledgered, with the reason.
        The form is checked before the gate (bad input writes nothing and ledgers nothing); a
        customer id that names nobody is `404` with a refusal ledgered after the allow."""
        p = self._p
        request_id = p.ids(IdKind.THIRD_PARTY_REQUEST.value)
        fields = {
            name: _text(name, getattr(form, name))
            for name in ("requester", "authority", "asked", "legal_basis")
        }
        customers = checked_customers(form.customer_ids, required=False)
        resource = disclosure_resource(request_id)
        # The key first: without it nothing is recorded, and no allow stands alone (503).
        ring = p.keyring()
        p.gate.decide(actor, Action.CREATE, resource)
        self._known(actor, resource, customers, None)
        # Sealed before the third party is answered.
        sealed = {f: seal_text(ring, request_id, f, fields[f]) for f in SEALED_REQUEST_FIELDS}
        # The request is put to the rules as what it is: a third party asking for data.
        asker = Actor(ActorKind.THIRD_PARTY, request_id)
        try:
            p.gate.decide(asker, Action.DISCLOSE, resource)
        except Refused as refused:
            answer = refused.decision.reason
        else:  # only under rules that broke the invariants at start-up; still refused
            p.outcomes.refuse(asker, Action.DISCLOSE, resource,
                              Outcome.DISCLOSURE_REQUEST_RECORDED, "refused without a court order")
        request = ThirdPartyRequest(
            request_id, fields["requester"], fields["authority"], fields["asked"],
            fields["legal_basis"], customers, actor.id, p.clock(), answer[:MAX_TEXT],
        )
        with p.uow() as uow:
            uow.disclosures.add_request(request, sealed)
            uow.commit()
        p.outcomes.record(
            actor, Action.CREATE, resource,
            Outcome.DISCLOSURE_REQUEST_RECORDED, f"third-party request recorded; answer: {answer}",
        )
        return request

    def _known(
        self, actor: Actor, resource: Resource, customers: Sequence[str], request_id: str | None
    ) -> None:
        """After the gate allowed a step: every customer (and the request) it names exists,
        or a refusal is ledgered beside the allow and `NotFound` raised (no allow stands
        alone for a record that never came to be)."""
        p = self._p
        with p.uow() as uow:
            missing: tuple[str, str] | None = next(
                (("customer", c) for c in customers if uow.customers.get(c) is None), None
            )
            unknown_request = (
                request_id is not None and not uow.disclosures.has_request(request_id)
            )
            if missing is None and unknown_request:
                missing = ("third-party request", str(request_id))
        if missing is not None:
            p.outcomes.record(
                actor, Action.CREATE, resource, Outcome.DISCLOSURE_UNKNOWN_REFERENCE,
                f"no {missing[0]} {missing[1]}; nothing recorded", allowed=False,
            )
            raise NotFound(*missing)

    def register_order(self, actor: Actor, form: OrderForm, document: bytes) -> CourtOrder:
        """Register a Swiss court order; a foreign or expired one is refused, ledgered."""
        p = self._p
        order_id = p.ids(IdKind.COURT_ORDER.value)
        resource = disclosure_resource(order_id)
        # Everything that needs no decision is checked first: bad input writes and ledgers
        # nothing. What fails after the gate's allow is ledgered as a refusal beside it.
        order = self._validated(actor, order_id, form, document)
        ring = p.keyring()  # before the gate: a missing key ledgers no allow (503)
        p.gate.decide(actor, Action.CREATE, resource)
        court = court_problem(order.court)
        if court is not None:
            p.outcomes.refuse(actor, Action.CREATE, resource, Outcome.COURT_ORDER_FOREIGN, court)
        if order.expired_on(p.today()):
            p.outcomes.refuse(
                actor, Action.CREATE, resource, Outcome.COURT_ORDER_EXPIRED,
                f"the order expired on {order.valid_until.isoformat()}; an expired order is "
                "not followed",
            )
        self._known(actor, resource, order.customer_ids, form.request_id)
        sealed = seal_document(ring, order_id, document)
        with p.uow() as uow:
            uow.disclosures.add_order(order, sealed)
            uow.commit()
        p.outcomes.record(
            actor, Action.CREATE, resource, Outcome.COURT_ORDER_REGISTERED,
            f"court order of {order.court}, case {order.case_number}, registered for "
            f"{len(order.customer_ids)} customer(s) until {order.valid_until.isoformat()}",
            AccessContext(court_order_id=order_id, note=order.document_sha256),
        )
        return order

    def _validated(
        self, actor: Actor, order_id: str, form: OrderForm, document: bytes
    ) -> CourtOrder:
        court = canonical_court(form.court)
        if not court or len(court) > 16 or not court.isprintable():
            raise InvalidInput("court", "is a court code like CH-BGer or CH-ZH")
        number = form.case_number.strip()
        if (problem := case_number_problem(number)) is not None:
            raise InvalidInput("case_number", problem)
        if form.issued_on < EARLIEST_ISSUED:
            raise InvalidInput("issued_on", f"is before {EARLIEST_ISSUED.isoformat()}")
        if form.issued_on > self._p.today():
            raise InvalidInput("issued_on", "is in the future")
        if form.valid_until < form.issued_on:
            raise InvalidInput("valid_until", "is before the day the order was issued")
        latest = form.issued_on + timedelta(days=MAX_ORDER_SPAN_DAYS)
        if form.valid_until > latest:
            raise InvalidInput(
                "valid_until", f"is more than ten years after issued_on (at most {latest})"
            )
        if form.notice_after is not None and form.notice_after < form.issued_on:
            raise InvalidInput("notice_after", "is before the day the order was issued")
        if form.notice_after is not None and form.notice_after > latest:
            raise InvalidInput(
                "notice_after", f"is more than ten years after issued_on (at most {latest})"
            )
        try:
            categories = categories_of(form.categories)
        except ValueError as exc:
            raise InvalidInput("categories", str(exc)) from None
        if not categories:
            raise InvalidInput("categories", "name at least one data category")
        if not document or len(document) > MAX_DOCUMENT:
            raise InvalidInput(
                "document", f"is the order's file, 1 byte to {MAX_DOCUMENT >> 20} MiB"
            )
        digest = hashlib.sha256(document).hexdigest()
        if form.document_sha256 is not None:
            if (problem := sha256_problem(form.document_sha256)) is not None:
                raise InvalidInput("document_sha256", problem)
            if form.document_sha256 != digest:
                raise InvalidInput("document_sha256", "does not match the document sent")
        if form.request_id is not None and not is_id(IdKind.THIRD_PARTY_REQUEST, form.request_id):
            raise InvalidInput("request_id", id_problem(IdKind.THIRD_PARTY_REQUEST))
        return CourtOrder(
            order_id, court, number, form.issued_on, form.valid_until,
            checked_customers(form.customer_ids, required=True), categories, digest,
            form.notice_after, actor.id, self._p.clock(), form.request_id,
        )

    # --- reading the desk's records ------------------------------------------------------

    def requests(self, actor: Actor, limit: int = 50) -> list[ThirdPartyRequest]:
        """The recorded requests, their sealed texts opened: this list (legal's, past the
        gate) is the one place they are shown."""
        ring = self._p.keyring()  # before the gate: a missing key ledgers no allow
        self._p.gate.decide(actor, Action.LIST, disclosure_resource("requests"))

        def opened(request_id: str, field: str, blob: bytes) -> str:
            return open_text(ring, request_id, field, blob)

        with self._p.uow() as uow:
            return uow.disclosures.requests(max(1, min(limit, MAX_LIST)), opened)

    def orders(self, actor: Actor, limit: int = 50) -> list[CourtOrder]:
        self._p.gate.decide(actor, Action.LIST, disclosure_resource("orders"))
        with self._p.uow() as uow:
            return uow.disclosures.orders(max(1, min(limit, MAX_LIST)))

    def order(self, actor: Actor, order_id: str) -> CourtOrder:
        self._p.gate.decide(actor, Action.READ, disclosure_resource(order_id))
        with self._p.uow() as uow:
            found = uow.disclosures.get_order(order_id)
        if found is None:
            raise NotFound("court order", order_id)
        return found


class CourtOrderCovers:
    """The gate's `court_order` resolver: the request names a registered order
    (`AccessContext.court_order_id`) that is in force today, from a Swiss court, and names
    the resource's owner. What the order covers *within* that customer's data is the
    `scope_to_court_order` obligation, enforced by `services/disclosures.py`."""

    def __init__(self, uow: DisclosureUnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def __call__(self, actor: Actor, resource: Resource, context: AccessContext) -> bool:
        if context.court_order_id is None or resource.owner is None:
            return False
        with self._uow() as uow:
            order = uow.disclosures.get_order(context.court_order_id)
        return (
            order is not None
            and order.in_force_on(self._clock().date())
            and order.covers(resource.owner)
        )
