"""A new contact address on the in-memory twins: a newer request replaces an older one (whose
link is then void and whose token never opens), the notice to the old address goes out before
the link, and a correction naming the address in force asks for nothing."""

from __future__ import annotations

import pytest

from tests.refusals import refused_by
from tests.unit.registry_world import World, customer

pytestmark = pytest.mark.promise("P1", "P2")


@pytest.fixture
def world() -> World:
    return World()


def links(world: World, to: str) -> list[str]:
    bodies = [m.body for m in world.mailer.sent if m.to == to and "/email#token=" in m.body]
    return [b.split("#token=")[1].split()[0] for b in bodies]


def test_a_newer_request_replaces_the_older_link(world: World) -> None:
    alice = world.register()
    old = world.registry.details(customer(alice), alice).details.email
    world.registry.correct(customer(alice), alice, {"email": "first@example.net"})
    world.deliver()
    (first,) = links(world, "first@example.net")
    world.clock.advance(minutes=5)
    world.registry.correct(customer(alice), alice, {"email": "second@example.net"})
    report = world.deliver()
    assert (report.sent, report.void) == (2, 0)
    (second,) = links(world, "second@example.net")
    notices = [m for m in world.mailer.sent if m.to == old and "being changed" in m.subject]
    assert [next(w for w in m.body.split() if "***@" in w).rstrip(".") for m in notices] == [
        "f***@example.net",
        "s***@example.net",
    ]
    with refused_by("registry.email-link-invalid", ledger=world.ledger):
        world.registry.confirm_email(first)
    assert world.registry.details(customer(alice), alice).details.email == old
    assert world.registry.confirm_email(second) == alice
    assert world.decisions()[-1] == (alice, "update", "allow", "registry.email-changed")
    assert world.registry.details(customer(alice), alice).details.email == "second@example.net"


def test_a_queued_link_for_a_replaced_request_is_void(world: World) -> None:
    alice = world.register()
    world.deliver()
    world.registry.correct(customer(alice), alice, {"email": "first@example.net"})
    world.clock.advance(minutes=5)
    world.registry.correct(customer(alice), alice, {"email": "second@example.net"})
    report = world.deliver()  # the first request's notice and link name a replaced request
    assert (report.sent, report.void) == (2, 2)
    assert links(world, "first@example.net") == []


def test_the_address_in_force_asks_for_no_link(world: World) -> None:
    alice = world.register()
    world.deliver()
    sent = len(world.mailer.sent)
    email = world.registry.details(customer(alice), alice).details.email
    record = world.registry.correct(customer(alice), alice, {"email": email.upper()})
    assert record.details.email == email
    world.deliver()
    assert len(world.mailer.sent) == sent
    with refused_by("registry.email-link-invalid", ledger=world.ledger):
        world.registry.confirm_email("ente_nothing-pending")
