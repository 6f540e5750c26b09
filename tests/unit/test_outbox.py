"""The outbox on in-memory twins: backoff doubles up to its cap, a notice is queued only with
a committed change, a renderer with nothing to say voids it, and an unknown topic is a
visible failure, never a silent drop."""

from __future__ import annotations

from datetime import timedelta

import pytest

from entrusted.domain.mailings import MailPurpose
from entrusted.domain.outbox import Backoff, OutboxMessage, OutboxStatus, Topic
from entrusted.services.memory_mail import InMemoryMailer
from entrusted.services.memory_registry import InMemoryRegistry
from entrusted.services.outbox import Letter, OutboxService, queue
from tests.conftest import FakeClock

pytestmark = pytest.mark.promise("P7")


def test_backoff_doubles_and_is_capped() -> None:
    b = Backoff(base=timedelta(seconds=30), cap=timedelta(minutes=5), max_attempts=4)
    assert [b.after(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [30, 60, 120, 240, 300]
    assert not b.gives_up(3)
    assert b.gives_up(4)


def test_only_a_committed_change_queues_its_notice() -> None:
    store, clock = InMemoryRegistry(), FakeClock()
    with store.unit_of_work() as uow:
        queue(uow.outbox, Topic.ENDED, "gnt_rolled_back", clock())
    with store.unit_of_work() as uow:
        queue(uow.outbox, Topic.ENDED, "gnt_committed", clock())
        uow.commit()
    assert [m.ref for m in store.state.outbox.values()] == ["gnt_committed"]


def test_void_and_unknown_topics() -> None:
    store, clock, mailer = InMemoryRegistry(), FakeClock(), InMemoryMailer()

    def render(message: OutboxMessage) -> Letter | None:
        if message.ref == "gone":
            return None
        return Letter("a@example.com", "Hi", "Body\n", MailPurpose.SERVICE_NOTICE)

    outbox = OutboxService(
        store.unit_of_work, mailer, clock, {Topic.ENDED: render}, Backoff(max_attempts=1)
    )
    with store.unit_of_work() as uow:
        for topic, ref in ((Topic.ENDED, "gone"), (Topic.ENDED, "here"), (Topic.USED, "x")):
            queue(uow.outbox, topic, ref, clock())
        uow.commit()
    report = outbox.deliver()
    assert (report.sent, report.void, report.failed) == (1, 1, 1)
    (failed,) = outbox.list(OutboxStatus.FAILED)
    assert failed.topic is Topic.USED
    assert failed.last_error is not None
    assert "no renderer" in failed.last_error
    assert [m.to for m in mailer.sent] == ["a@example.com"]
