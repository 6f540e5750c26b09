"""SQL repositories of caller identifications and customer sessions (P1): code digests and
token digests only, never a code or a token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.domain.registry import (
    CustomerSession,
    Identification,
    IdentificationMethod,
    IdentificationOutcome,
)


def _opt(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _identification(row: sa.RowMapping) -> Identification:
    return Identification(
        id=row["id"],
        customer_id=row["customer_id"],
        method=IdentificationMethod(row["method"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        outcome=IdentificationOutcome(row["outcome"]),
        attempts=int(row["attempts"]),
        staff_id=row["staff_id"],
        contract_id=row["contract_id"],
        case_id=row["case_id"],
        completed_at=row["completed_at"],
    )


# Asked by every support look-up (the caller-identified condition), built once.
_VERIFIED_SINCE = (
    sa.select(t.identification)
    .where(
        t.identification.c.customer_id == sa.bindparam("v"),
        t.identification.c.completed_at >= sa.bindparam("since"),
        t.identification.c.outcome == IdentificationOutcome.VERIFIED.value,
    )
    .order_by(t.identification.c.completed_at)
)
# Every customer request asks this: built once, with a bound parameter.
_SESSION_BY_DIGEST = sa.select(t.customer_session).where(
    t.customer_session.c.token_hash == sa.bindparam("v")
)

class SqlIdentificationRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def add(self, identification: Identification, code_digest: bytes | None) -> None:
        i = identification
        self._conn.execute(
            t.identification.insert().values(
                id=i.id,
                customer_id=i.customer_id,
                contract_id=i.contract_id,
                case_id=i.case_id,
                method=i.method.value,
                code_hash=code_digest,
                attempts=i.attempts,
                created_at=i.created_at,
                expires_at=i.expires_at,
                outcome=i.outcome.value,
                staff_id=i.staff_id,
                completed_at=i.completed_at,
            )
        )

    def get(self, identification_id: str) -> Identification | None:
        row = (
            self._conn.execute(
                sa.select(t.identification).where(t.identification.c.id == identification_id)
            )
            .mappings()
            .first()
        )
        return None if row is None else _identification(row)

    def code_digest(self, identification_id: str) -> bytes | None:
        value = self._conn.execute(
            sa.select(t.identification.c.code_hash).where(
                t.identification.c.id == identification_id
            )
        ).scalar_one_or_none()
        return _opt(value)

    def update(self, identification: Identification) -> None:
        i = identification
        self._conn.execute(
            t.identification.update()
            .where(t.identification.c.id == i.id)
            .values(attempts=i.attempts, outcome=i.outcome.value, completed_at=i.completed_at)
        )

    def verified_since(self, customer_id: str, since: datetime) -> list[Identification]:
        rows = self._conn.execute(_VERIFIED_SINCE, {"v": customer_id, "since": since})
        return [_identification(r) for r in rows.mappings()]

    def for_customer(self, customer_id: str) -> list[Identification]:
        c = t.identification.c
        rows = self._conn.execute(
            sa.select(t.identification)
            .where(c.customer_id == customer_id)
            .order_by(c.created_at, c.id)
        ).mappings()
        return [_identification(r) for r in rows]


class SqlCustomerSessionRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def add(self, session: CustomerSession, digest: bytes) -> None:
        self._conn.execute(
            t.customer_session.insert().values(
                id=session.id,
                token_hash=digest,
                customer_id=session.customer_id,
                created_at=session.created_at,
                expires_at=session.expires_at,
                revoked_at=session.revoked_at,
            )
        )

    def revoke_all_for_customer(self, customer_id: str, at: datetime) -> int:
        """Revoke every live session of a customer (a password reset); returns how many."""
        s = t.customer_session.c
        done = self._conn.execute(
            t.customer_session.update()
            .where(s.customer_id == customer_id, s.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return int(done.rowcount)

    def revoke_digest(self, digest: bytes, at: datetime) -> bool:
        """Revoke the one session this token digest names (signing out); False if none."""
        s = t.customer_session.c
        done = self._conn.execute(
            t.customer_session.update()
            .where(s.token_hash == digest, s.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(done.rowcount)

    def by_digest(self, digest: bytes) -> CustomerSession | None:
        row = self._conn.execute(_SESSION_BY_DIGEST, {"v": digest}).mappings().first()
        if row is None:
            return None
        return CustomerSession(
            id=row["id"],
            customer_id=row["customer_id"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
        )
