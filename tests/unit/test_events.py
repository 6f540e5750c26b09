"""The event bus: every subscriber of an event's class runs, in order; one failing does not
stop the others, and its error still reaches the publisher."""

from __future__ import annotations

import pytest

from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.services.events import EventBus, StaffDisabled, StaffRolesRemoved

BY = Actor(ActorKind.SERVICE, "cli:ops@host")


def test_handlers_of_the_class_run_in_order_and_a_failure_is_raised_after_all() -> None:
    bus, seen = EventBus(), []

    def broken(event: StaffDisabled) -> None:
        seen.append(("broken", event.staff_id))
        raise RuntimeError("mail server down")

    bus.subscribe(StaffDisabled, broken)
    bus.subscribe(StaffDisabled, lambda e: seen.append(("grants", e.staff_id)))
    bus.subscribe(StaffRolesRemoved, lambda e: seen.append(("roles", e.staff_id)))
    with pytest.raises(RuntimeError, match="mail server down"):
        bus.publish(StaffDisabled("stf_1", BY))
    assert seen == [("broken", "stf_1"), ("grants", "stf_1")]
    bus.publish(StaffRolesRemoved("stf_2", frozenset({Role.SUPPORT}), BY))
    assert seen[-1] == ("roles", "stf_2")


def test_an_event_nobody_listens_to_is_a_no_op() -> None:
    EventBus().publish(StaffDisabled("stf_1", BY))
