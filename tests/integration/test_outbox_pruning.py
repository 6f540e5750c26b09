"""The outbox forgets what it delivered (issue 10 loose end), on both databases: each
`outbox.deliver` pass deletes notices sent or void longer ago than `outbox_retention_s`, so the
blind index of a stranger's address (a password link asked for an address that is no
customer's) does not stay; failed and pending notices stay, and the hour the password-link
throttle counts is never pruned."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.bootstrap import Container
from entrusted.config import Settings
from entrusted.domain.outbox import OutboxStatus, Topic
from entrusted.errors import InvalidInput
from entrusted.services.outbox import OutboxService, queue
from entrusted.services.registry_forms import Registration
from tests.conftest import FakeClock
from tests.integration.test_concurrency import SIGNUP

pytestmark = pytest.mark.promise("P2")

TEN_MINUTES = timedelta(minutes=10)


def statuses(container: Container) -> list[tuple[str, str]]:
    with container.engine.connect() as conn:
        rows = conn.execute(sa.select(t.outbox.c.topic, t.outbox.c.status)).all()
    return sorted((topic, status) for topic, status in rows)


def test_delivered_notices_are_pruned_after_the_retention(
    container: Container, clock: FakeClock
) -> None:
    container.registry.register(
        SIGNUP, Registration(last_name="Example", first_name="Cleo", email="cleo@example.com")
    )
    container.customer_auth.request_link("stranger@example.net")  # no customer's address
    with container.uow() as uow:  # a notice the worker gave up on
        gave_up = queue(uow.outbox, Topic.GRANTED, "gnt_gone", clock())  # type: ignore[attr-defined]
        uow.outbox.update(replace(gave_up, status=OutboxStatus.FAILED))  # type: ignore[attr-defined]
        uow.commit()
    report = container.outbox.deliver()
    assert (report.sent, report.void, report.pruned) == (1, 1, 0)
    retention = container.settings.outbox_retention_s
    clock.advance(seconds=retention - 1)
    assert container.outbox.deliver().pruned == 0
    with container.uow() as uow:  # asked within the last hour: counted by the throttle
        queue(uow.outbox, Topic.PASSWORD_LINK_REQUEST, "00" * 32, clock())  # type: ignore[attr-defined]
        uow.commit()
    clock.advance(seconds=2)
    report = container.outbox.deliver()
    assert report.pruned == 2
    assert statuses(container) == [
        (Topic.GRANTED.value, OutboxStatus.FAILED.value),
        (Topic.PASSWORD_LINK_REQUEST.value, OutboxStatus.VOID.value),  # the new one, delivered
    ]
    assert "2 pruned" in str(report)


def test_retention_below_the_throttle_hour_is_refused(container: Container) -> None:
    with pytest.raises(ValueError, match="outbox_retention_s"):
        Settings(data_dir=container.settings.data_dir, outbox_retention_s=600)
    with pytest.raises(InvalidInput) as info:
        OutboxService(container.uow, container.mailer, container.clock, {}, retention=TEN_MINUTES)  # type: ignore[arg-type]
    assert info.value.field == "outbox_retention_s"
