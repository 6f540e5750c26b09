"""The disclosure desk's tables (migration 0016; request texts sealed since 0019) and a unit
of work that adds them to the registry's, so a disclosure and the customer's notice in the
outbox commit together."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Self

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.crypto.documents import SealedDocument
from entrusted.domain.disclosures import (
    CourtOrder,
    DataCategory,
    Disclosure,
    DisclosureStatus,
    NoticeState,
    ThirdPartyRequest,
)
from entrusted.services.ports import (
    SEALED_REQUEST_FIELDS,
    DisclosureRepository,
    RequestTextOpener,
)

_ORDER_FIELDS = [c for c in t.court_order.c if c.name not in ("kek_id", "wrapped_key", "document")]


def _ids(value: str) -> tuple[str, ...]:
    return tuple(json.loads(value))


def _categories(value: str) -> frozenset[DataCategory]:
    return frozenset(DataCategory(v) for v in json.loads(value))


def _dump_categories(values: frozenset[DataCategory]) -> str:
    return json.dumps(sorted(c.value for c in values))


def _request(row: Any, open_text: RequestTextOpener) -> ThirdPartyRequest:
    m = row._mapping
    texts = {f: open_text(m["id"], f, bytes(m[f])) for f in SEALED_REQUEST_FIELDS}
    return ThirdPartyRequest(
        m["id"], texts["requester"], m["authority"], texts["asked"], m["legal_basis"],
        _ids(m["customer_ids"]), m["recorded_by"], m["received_at"], m["answer"],
    )


def _order(row: Any) -> CourtOrder:
    m = row._mapping
    return CourtOrder(
        m["id"], m["court"], m["case_number"], m["issued_on"], m["valid_until"],
        _ids(m["customer_ids"]), _categories(m["categories"]), m["document_sha256"],
        m["notice_after"], m["registered_by"], m["registered_at"], m["request_id"],
    )


def _disclosure(row: Any) -> Disclosure:
    m = row._mapping
    return Disclosure(
        m["id"], m["order_id"], _ids(m["customer_ids"]), _categories(m["categories"]),
        m["requested_by"], m["requested_at"], DisclosureStatus(m["status"]), m["approved_by"],
        m["approved_at"], m["disclosed_at"], NoticeState(m["notice"]), m["notice_after"],
    )


def _disclosure_row(d: Disclosure) -> dict[str, Any]:
    return {
        "id": d.id,
        "order_id": d.order_id,
        "customer_ids": json.dumps(list(d.customer_ids)),
        "categories": _dump_categories(d.categories),
        "requested_by": d.requested_by,
        "requested_at": d.requested_at,
        "status": d.status.value,
        "approved_by": d.approved_by,
        "approved_at": d.approved_at,
        "disclosed_at": d.disclosed_at,
        "notice": d.notice.value,
        "notice_after": d.notice_after,
    }


class SqlDisclosureRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._c = conn

    def add_request(self, request: ThirdPartyRequest, sealed: dict[str, bytes]) -> None:
        """Store `request`; its `SEALED_REQUEST_FIELDS` only as `sealed` gives them (never
        the request's own texts: a missing one is a bug, not a reason to store them in clear)."""
        r = request
        self._c.execute(
            t.third_party_request.insert().values(
                id=r.id, authority=r.authority, legal_basis=r.legal_basis,
                customer_ids=json.dumps(list(r.customer_ids)), recorded_by=r.recorded_by,
                received_at=r.received_at, answer=r.answer,
                **{f: sealed[f] for f in SEALED_REQUEST_FIELDS},
            )
        )

    def has_request(self, request_id: str) -> bool:
        tbl = t.third_party_request
        q = sa.select(tbl.c.id).where(tbl.c.id == request_id)
        return self._c.execute(q).first() is not None

    def requests(self, limit: int, open_text: RequestTextOpener) -> list[ThirdPartyRequest]:
        tbl = t.third_party_request
        q = tbl.select().order_by(tbl.c.received_at.desc(), tbl.c.id).limit(limit)
        return [_request(r, open_text) for r in self._c.execute(q)]

    def add_order(self, order: CourtOrder, document: SealedDocument) -> None:
        o = order
        self._c.execute(
            t.court_order.insert().values(
                id=o.id, court=o.court, case_number=o.case_number, issued_on=o.issued_on,
                valid_until=o.valid_until, customer_ids=json.dumps(list(o.customer_ids)),
                categories=_dump_categories(o.categories), document_sha256=o.document_sha256,
                notice_after=o.notice_after, registered_by=o.registered_by,
                registered_at=o.registered_at, request_id=o.request_id,
                kek_id=document.kek_id, wrapped_key=document.wrapped_key,
                document=document.blob,
            )
        )

    def get_order(self, order_id: str) -> CourtOrder | None:
        q = sa.select(*_ORDER_FIELDS).where(t.court_order.c.id == order_id)
        row = self._c.execute(q).first()
        return None if row is None else _order(row)

    def document(self, order_id: str) -> SealedDocument | None:
        c = t.court_order.c
        q = sa.select(c.kek_id, c.wrapped_key, c.document, c.document_sha256).where(
            c.id == order_id
        )
        row = self._c.execute(q).first()
        if row is None:
            return None
        return SealedDocument(row.kek_id, bytes(row.wrapped_key), bytes(row.document),
                              row.document_sha256)

    def orders(self, limit: int) -> list[CourtOrder]:
        c = t.court_order.c
        q = sa.select(*_ORDER_FIELDS).order_by(c.registered_at.desc(), c.id).limit(limit)
        return [_order(r) for r in self._c.execute(q)]

    def add(self, disclosure: Disclosure) -> None:
        self._c.execute(t.disclosure.insert().values(**_disclosure_row(disclosure)))

    def get(self, disclosure_id: str) -> Disclosure | None:
        row = self._c.execute(
            t.disclosure.select().where(t.disclosure.c.id == disclosure_id)
        ).first()
        return None if row is None else _disclosure(row)

    def update(
        self, disclosure: Disclosure, expect: DisclosureStatus | NoticeState | None = None
    ) -> bool:
        """Write `disclosure`; with `expect`, only if the stored status (or notice state) is
        still that one (two approvals, exports or lifts racing: one wins, on either database).
        Whether it was written."""
        values = _disclosure_row(disclosure)
        del values["id"]
        c = t.disclosure.c
        where = [c.id == disclosure.id]
        if isinstance(expect, DisclosureStatus):
            where.append(c.status == expect.value)
        elif isinstance(expect, NoticeState):
            where.append(c.notice == expect.value)
        done = self._c.execute(t.disclosure.update().where(*where).values(**values))
        return done.rowcount == 1

    def find(self, limit: int) -> list[Disclosure]:
        c = t.disclosure.c
        q = t.disclosure.select().order_by(c.requested_at.desc(), c.id).limit(limit)
        return [_disclosure(r) for r in self._c.execute(q)]

    def deferred_until(self, today: date) -> list[Disclosure]:
        """Deferred notices whose day has come (`notice_after` on or before `today`)."""
        c = t.disclosure.c
        q = (
            t.disclosure.select()
            .where(c.notice == NoticeState.DEFERRED.value, c.notice_after <= today)
            .order_by(c.notice_after, c.id)
        )
        return [_disclosure(r) for r in self._c.execute(q)]

    def under_order(self, order_id: str, *, lock: bool = False) -> list[Disclosure]:
        """Every disclosure resting on one court order, oldest first. With `lock`, the order's
        row is locked first (`FOR UPDATE` on PostgreSQL; SQLite has one writer at a time), so
        two transactions checking and changing the order's disclosures run one after the
        other: two proposals or exports of the same data cannot both see none."""
        if lock:
            o = t.court_order.c
            self._c.execute(sa.select(o.id).where(o.id == order_id).with_for_update())
        c = t.disclosure.c
        q = t.disclosure.select().where(c.order_id == order_id).order_by(c.requested_at, c.id)
        return [_disclosure(r) for r in self._c.execute(q)]

    def untold(self, customer_id: str) -> list[Disclosure]:
        """Disclosures naming `customer_id` whose notice is not queued (not exported yet, or
        deferred): what the customer's own views may have to hold back. The ids are a JSON
        list; the LIKE (escaped) narrows, the exact test decides."""
        c = t.disclosure.c
        q = t.disclosure.select().where(
            c.notice != NoticeState.QUEUED.value,
            c.customer_ids.contains(json.dumps(customer_id), autoescape=True),
        ).order_by(c.id)
        found = [_disclosure(r) for r in self._c.execute(q)]
        return [d for d in found if customer_id in d.customer_ids]


class SqlDisclosureUnitOfWork(SqlUnitOfWork):
    """`SqlUnitOfWork` with `disclosures` bound to the same transaction."""

    def __enter__(self) -> Self:
        super().__enter__()
        self.disclosures: DisclosureRepository = SqlDisclosureRepository(self.connection)
        return self
