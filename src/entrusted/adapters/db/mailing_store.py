"""`services.mailing_ports` on SQL: mailings, their per-recipient deliveries, the opt-outs,
and the registry read as a set of customer ids.

Each method is its own short transaction: a send runs for minutes and must never hold
SQLite's one write lock (or a PostgreSQL row lock) while it talks to the relay. A claim is one
UPDATE guarded by `status = 'pending'`, so two runs of the same mailing never claim the same
recipient (on PostgreSQL the second waits for the first's rows and skips them on re-check).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.engine import is_sqlite
from entrusted.adapters.db.registry_store import _customer
from entrusted.domain.mailings import (
    Delivery,
    DeliveryStatus,
    Mailing,
    MailingStatus,
    MailPurpose,
    Progress,
)
from entrusted.domain.registry import ContractStatus, CustomerStatus, SealedCustomer
from entrusted.errors import Conflict, Unavailable
from entrusted.services.mailing_ports import DeliveryResult

_M = t.mailing.c
_D = t.mailing_delivery.c
_O = t.mailing_opt_out.c
_CHUNK = 500  # ids per IN (...) list: far below every driver's parameter limit


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _mailing(row: Any) -> Mailing:
    return Mailing(
        id=row.id,
        purpose=MailPurpose(row.purpose),
        subject=row.subject,
        body=row.body,
        created_by=row.created_by,
        created_at=row.created_at,
        status=MailingStatus(row.status),
        services=tuple(row.services.split()),
        recipients=row.recipients,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        mailing_id=row.mailing_id,
        seq=row.seq,
        customer_id=row.customer_id,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        message_id=row.message_id,
        error=row.error,
        sent_at=row.sent_at,
    )


class _Connected:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def _connect(self) -> sa.Connection:
        try:
            return self._engine.connect()
        except OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc.orig.__class__.__name__}") from None

    @contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        """One writing transaction. On SQLite it takes the write lock at BEGIN (IMMEDIATE),
        where the busy timeout waits, since a read that later writes cannot wait for it (see
        `adapters/db/uow.py`); contention that remains is `Unavailable`, nothing written."""
        with self._connect() as conn:
            if is_sqlite(self._engine):
                conn.execution_options(sqlite_begin="IMMEDIATE")
            try:
                with conn.begin():
                    yield conn
            except OperationalError as exc:
                detail = exc.orig.__class__.__name__
                raise Unavailable(f"database busy ({detail}); nothing was changed") from None


class SqlMailingStore(_Connected):
    def create(self, mailing: Mailing, recipients: Sequence[str]) -> None:
        rows = [
            {
                "mailing_id": mailing.id,
                "seq": seq,
                "customer_id": customer_id,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
            }
            for seq, customer_id in enumerate(recipients, start=1)
        ]
        try:
            with self._writing() as conn:
                conn.execute(
                    t.mailing.insert().values(
                        id=mailing.id,
                        purpose=mailing.purpose.value,
                        subject=mailing.subject,
                        body=mailing.body,
                        services=" ".join(mailing.services),
                        created_by=mailing.created_by,
                        created_at=mailing.created_at,
                        status=mailing.status.value,
                        recipients=len(rows),
                    )
                )
                if rows:
                    conn.execute(t.mailing_delivery.insert(), rows)
        except IntegrityError:
            raise Conflict(f"mailing {mailing.id} exists or names a recipient twice") from None

    def get(self, mailing_id: str) -> Mailing | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(t.mailing).where(_M.id == mailing_id)).first()
        return None if row is None else _mailing(row)

    def recent(self, limit: int) -> list[Mailing]:
        query = sa.select(t.mailing).order_by(_M.created_at.desc(), _M.id.desc()).limit(limit)
        with self._connect() as conn:
            return [_mailing(r) for r in conn.execute(query)]

    def recipients(self, mailing_id: str) -> list[str]:
        query = sa.select(_D.customer_id).where(_D.mailing_id == mailing_id).order_by(_D.seq)
        with self._connect() as conn:
            return list(conn.execute(query).scalars())

    def set_status(self, mailing_id: str, status: MailingStatus) -> None:
        with self._writing() as conn:
            conn.execute(t.mailing.update().where(_M.id == mailing_id).values(status=status.value))

    def claim(self, mailing_id: str, run_id: str, after: int, limit: int) -> list[Delivery]:
        pending = DeliveryStatus.PENDING.value
        # Seqs are taken in one query and then updated one batch at a time; the update
        # re-checks the status, so a row another run claimed meanwhile is not taken twice.
        seqs = (
            sa.select(_D.seq)
            .where(_D.mailing_id == mailing_id, _D.status == pending, _D.seq > after)
            .order_by(_D.seq)
            .limit(limit)
        )
        with self._writing() as conn:
            chosen = list(conn.execute(seqs).scalars())
            if not chosen:
                return []
            conn.execute(
                t.mailing_delivery.update()
                .where(_D.mailing_id == mailing_id, _D.status == pending, _D.seq.in_(chosen))
                .values(status=DeliveryStatus.SENDING.value, run_id=run_id)
            )
            mine = (
                sa.select(t.mailing_delivery)
                .where(
                    _D.mailing_id == mailing_id,
                    _D.run_id == run_id,
                    _D.status == DeliveryStatus.SENDING.value,
                    _D.seq.in_(chosen),
                )
                .order_by(_D.seq)
            )
            return [_delivery(r) for r in conn.execute(mine)]

    def release(self, mailing_id: str, run_id: str, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        with self._writing() as conn:
            conn.execute(
                t.mailing_delivery.update()
                .where(
                    _D.mailing_id == mailing_id,
                    _D.run_id == run_id,
                    _D.status == DeliveryStatus.SENDING.value,
                    _D.seq.in_(list(seqs)),
                )
                .values(status=DeliveryStatus.PENDING.value, run_id=None)
            )

    def set_unsubscribe(self, mailing_id: str, digests: Sequence[tuple[int, bytes]]) -> None:
        if not digests:
            return
        statement = (
            t.mailing_delivery.update()
            .where(_D.mailing_id == sa.bindparam("m"), _D.seq == sa.bindparam("s"))
            .values(unsubscribe_digest=sa.bindparam("d"))
        )
        with self._writing() as conn:
            conn.execute(statement, [{"m": mailing_id, "s": s, "d": d} for s, d in digests])

    def finish(self, mailing_id: str, results: Sequence[DeliveryResult], at: datetime) -> None:
        if not results:
            return
        statement = (
            t.mailing_delivery.update()
            .where(_D.mailing_id == sa.bindparam("m"), _D.seq == sa.bindparam("s"))
            .values(
                status=sa.bindparam("st"),
                attempts=_D.attempts + sa.bindparam("n"),
                message_id=sa.bindparam("mid"),
                error=sa.bindparam("err"),
                sent_at=sa.bindparam("at"),
                run_id=None,
            )
        )
        rows = [
            {
                "m": mailing_id,
                "s": r.seq,
                "st": r.status.value,
                # a delivery handed back untried (the relay went away first) was not attempted
                "n": 0 if r.status is DeliveryStatus.PENDING and r.error is None else 1,
                "mid": r.message_id,
                "err": None if r.error is None else r.error[:300],
                "at": at if r.status is DeliveryStatus.SENT else None,
            }
            for r in results
        ]
        with self._writing() as conn:
            conn.execute(statement, rows)

    def progress(self, mailing_id: str) -> Progress:
        query = (
            sa.select(_D.status, sa.func.count())
            .where(_D.mailing_id == mailing_id)
            .group_by(_D.status)
        )
        with self._connect() as conn:
            counts = {DeliveryStatus(s): n for s, n in conn.execute(query)}
        return Progress(
            total=sum(counts.values()),
            sent=counts.get(DeliveryStatus.SENT, 0),
            refused=counts.get(DeliveryStatus.REFUSED, 0),
            pending=counts.get(DeliveryStatus.PENDING, 0),
            unknown=counts.get(DeliveryStatus.SENDING, 0),
        )

    def problems(self, mailing_id: str, limit: int) -> list[Delivery]:
        query = (
            sa.select(t.mailing_delivery)
            .where(
                _D.mailing_id == mailing_id,
                sa.or_(
                    _D.status.in_([DeliveryStatus.REFUSED.value, DeliveryStatus.SENDING.value]),
                    sa.and_(_D.status == DeliveryStatus.PENDING.value, _D.error.is_not(None)),
                ),
            )
            .order_by(_D.seq)
            .limit(limit)
        )
        with self._connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def opt_out_by_digest(self, digest: bytes, at: datetime) -> tuple[str, bool] | None:
        query = sa.select(_D.customer_id).where(_D.unsubscribe_digest == digest)
        with self._writing() as conn:
            customer_id = conn.execute(query).scalar()
            if customer_id is None:
                return None
            # One statement decides who was first: two simultaneous first clicks on
            # PostgreSQL insert once, and the loser learns it was not new (no key conflict).
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            insert = (
                dialect.insert(t.mailing_opt_out)
                .values(customer_id=customer_id, at=at)
                .on_conflict_do_nothing(index_elements=[_O.customer_id])
                .returning(_O.customer_id)
            )
            newly = conn.execute(insert).first() is not None
        return str(customer_id), newly


class SqlCustomerAudience(_Connected):
    """The registry's customers as ids, for choosing a mailing's recipients."""

    def active(self) -> list[str]:
        c = t.customer.c
        query = (
            sa.select(c.id)
            .where(c.status == CustomerStatus.ACTIVE.value)
            .order_by(c.created_at, c.id)
        )
        with self._connect() as conn:
            return list(conn.execute(query).scalars())

    def opted_out(self) -> set[str]:
        with self._connect() as conn:
            return set(conn.execute(sa.select(_O.customer_id)).scalars())

    def holders_of(self, service_ids: Iterable[str]) -> dict[str, str]:
        s, k, c = t.hosted_service.c, t.contract.c, t.customer.c
        wanted = sorted(set(service_ids))
        found: dict[str, str] = {}
        with self._connect() as conn:
            for chunk in _chunks(wanted):
                query = (
                    sa.select(s.id, k.holder_id)
                    .join(t.contract, k.id == s.contract_id)
                    .join(t.customer, c.id == k.holder_id)
                    .where(
                        s.id.in_(chunk),
                        k.status == ContractStatus.ACTIVE.value,
                        c.status == CustomerStatus.ACTIVE.value,
                    )
                )
                found.update({row.id: row.holder_id for row in conn.execute(query)})
        return found

    def unknown(self, customer_ids: Iterable[str]) -> list[str]:
        return self._missing(customer_ids, CustomerStatus.ACTIVE)

    def strangers(self, customer_ids: Iterable[str]) -> list[str]:
        return self._missing(customer_ids, None)

    def _missing(self, customer_ids: Iterable[str], status: CustomerStatus | None) -> list[str]:
        """The ids with no customer row (in `status`, when given)."""
        wanted = sorted(set(customer_ids))
        c = t.customer.c
        known: set[str] = set()
        with self._connect() as conn:
            for chunk in _chunks(wanted):
                query = sa.select(c.id).where(c.id.in_(chunk))
                if status is not None:
                    query = query.where(c.status == status.value)
                known.update(conn.execute(query).scalars())
        return [i for i in wanted if i not in known]

    def sealed(self, customer_ids: Sequence[str]) -> list[SealedCustomer]:
        out: dict[str, SealedCustomer] = {}
        with self._connect() as conn:
            for chunk in _chunks(customer_ids):
                rows = conn.execute(sa.select(t.customer).where(t.customer.c.id.in_(chunk)))
                out.update({r.id: _customer(r._mapping) for r in rows})
        return [out[i] for i in customer_ids if i in out]
