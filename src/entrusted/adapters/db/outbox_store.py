"""The SQL outbox (domain/outbox.py): rows written inside the caller's transaction, read and
updated by the worker's `outbox.deliver` job (one instance at a time, under its job lock)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.domain.outbox import OutboxMessage, OutboxStatus, Topic

_O = t.outbox.c


def _message(row: sa.RowMapping) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        topic=Topic(row["topic"]),
        ref=row["ref"],
        created_at=row["created_at"],
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        sent_at=row["sent_at"],
        message_id=row["message_id"],
    )


class SqlOutboxRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._c = conn

    def add(self, message: OutboxMessage) -> None:
        self._c.execute(sa.insert(t.outbox).values(**asdict(message)))

    def get(self, message_id: str) -> OutboxMessage | None:
        row = self._c.execute(sa.select(t.outbox).where(_O.id == message_id)).mappings().first()
        return None if row is None else _message(row)

    def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        rows = self._c.execute(
            sa.select(t.outbox)
            .where(_O.status == OutboxStatus.PENDING.value, _O.next_attempt_at <= now)
            .order_by(_O.next_attempt_at, _O.id)
            .limit(limit)
        ).mappings()
        return [_message(r) for r in rows]

    def update(self, message: OutboxMessage) -> None:
        values = asdict(message)
        del values["id"]
        self._c.execute(sa.update(t.outbox).where(_O.id == message.id).values(**values))

    def find(self, status: OutboxStatus | None, limit: int) -> list[OutboxMessage]:
        query = sa.select(t.outbox).order_by(_O.created_at.desc(), _O.id).limit(limit)
        if status is not None:
            query = query.where(_O.status == status.value)
        return [_message(r) for r in self._c.execute(query).mappings()]

    def counts(self) -> dict[OutboxStatus, int]:
        rows = self._c.execute(sa.select(_O.status, sa.func.count()).group_by(_O.status))
        found = {OutboxStatus(status): int(n) for status, n in rows}
        return {s: found.get(s, 0) for s in OutboxStatus}

    def prune(self, before: datetime) -> int:
        done = (OutboxStatus.SENT.value, OutboxStatus.VOID.value)
        result = self._c.execute(
            sa.delete(t.outbox).where(_O.status.in_(done), _O.created_at < before)
        )
        return int(result.rowcount)

    def times_since(self, topic: Topic, ref: str, since: datetime) -> list[datetime]:
        """When each message of `topic` for `ref` was queued since `since`, oldest first."""
        found = self._c.execute(
            sa.select(_O.created_at)
            .where(_O.topic == topic.value, _O.ref == ref, _O.created_at >= since)
            .order_by(_O.created_at)
        ).scalars()
        return list(found)
