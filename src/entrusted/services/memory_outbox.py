"""In-memory twin of the outbox repository, for fast service tests: it lives in the state of
a twin unit of work (registry or consent), so it commits or rolls back with the change."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from entrusted.domain.outbox import OutboxMessage, OutboxStatus, Topic
from entrusted.errors import Conflict


class InMemoryOutbox:
    def __init__(self, messages: dict[str, OutboxMessage]) -> None:
        self._m = messages

    def add(self, message: OutboxMessage) -> None:
        if message.id in self._m:
            raise Conflict(f"outbox message {message.id} already exists")
        self._m[message.id] = message

    def get(self, message_id: str) -> OutboxMessage | None:
        return self._m.get(message_id)

    def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        pending = [
            m
            for m in self._m.values()
            if m.status is OutboxStatus.PENDING
            and m.next_attempt_at is not None
            and m.next_attempt_at <= now
        ]
        return sorted(pending, key=lambda m: (m.next_attempt_at or now, m.id))[:limit]

    def update(self, message: OutboxMessage) -> None:
        self._m[message.id] = replace(message)

    def find(self, status: OutboxStatus | None, limit: int) -> list[OutboxMessage]:
        chosen = [m for m in self._m.values() if status is None or m.status is status]
        return sorted(chosen, key=lambda m: (m.created_at, m.id), reverse=True)[:limit]

    def counts(self) -> dict[OutboxStatus, int]:
        return {s: sum(1 for m in self._m.values() if m.status is s) for s in OutboxStatus}

    def prune(self, before: datetime) -> int:
        done = (OutboxStatus.SENT, OutboxStatus.VOID)
        old = [k for k, m in self._m.items() if m.status in done and m.created_at < before]
        for key in old:
            del self._m[key]
        return len(old)

    def times_since(self, topic: Topic, ref: str, since: datetime) -> list[datetime]:
        return sorted(
            m.created_at
            for m in self._m.values()
            if m.topic is topic and m.ref == ref and m.created_at >= since
        )
