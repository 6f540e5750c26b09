"""Customer credentials on in-memory twins: the e-mailed one-time password link, login to a
customer token, rate limiting; and the all-or-nothing import of customers."""

from __future__ import annotations

import pytest

from entrusted.domain.outbox import Topic
from entrusted.domain.policy import ActorKind
from entrusted.errors import AuthenticationFailed, Conflict, InvalidInput, RateLimited
from tests.refusals import refused_by
from tests.unit.registry_world import OPERATOR, SIGNUP, SUPPORT, World

pytestmark = pytest.mark.promise("P1", "P2")

PASSWORD = "a long customer passphrase"


@pytest.fixture
def world() -> World:
    return World()


def link_token(world: World) -> str:
    """The token of the newest password link, once the worker delivered the outbox."""
    world.deliver()
    return world.mailer.sent[-1].body.split("#token=")[1].split()[0]


def test_link_sets_the_password_once_and_login_yields_a_customer_actor(world: World) -> None:
    form = world.people.form()
    alice = world.registry.register(SIGNUP, form).customer_id
    token = link_token(world)
    with pytest.raises(InvalidInput):
        world.auth.set_password(token, "short")
    assert world.auth.set_password(token, PASSWORD) == alice
    with pytest.raises(AuthenticationFailed):
        world.auth.set_password(token, PASSWORD)  # used up
    issued = world.auth.login(form.email.upper(), PASSWORD, "192.0.2.1")
    assert issued.secret.startswith("entc_")
    actor = world.auth.authenticate(issued.secret)
    assert (actor.kind, actor.id) == (ActorKind.CUSTOMER, alice)
    world.clock.advance(hours=13)
    with pytest.raises(AuthenticationFailed):
        world.auth.authenticate(issued.secret)


def test_expired_link_and_wrong_password_fail_and_failures_are_limited(world: World) -> None:
    form = world.people.form()
    world.registry.register(SIGNUP, form)
    token = link_token(world)
    world.clock.advance(hours=49)
    with pytest.raises(AuthenticationFailed):
        world.auth.set_password(token, PASSWORD)
    world.auth.request_link(form.email)
    world.auth.set_password(link_token(world), PASSWORD)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            world.auth.login(form.email, "wrong password!", "192.0.2.1")
    with pytest.raises(RateLimited):
        world.auth.login(form.email, PASSWORD, "192.0.2.1")
    # The failure log holds no address: only a key derived from its blind index.
    assert all("@" not in account for account, _, _ in world.store.state.failures)


def test_link_requests_do_not_reveal_who_is_a_customer(world: World) -> None:
    form = world.people.form()
    world.registry.register(SIGNUP, form)
    world.deliver()
    customers_before = dict(world.store.state.customers), dict(world.store.state.password_tokens)
    world.auth.request_link(form.email)
    world.auth.request_link("nobody@example.com")
    world.auth.request_link("not an address")
    # Inside the request: the same single outbox row for a customer and a stranger, nothing
    # read back about the customer, nothing sent, no token written.
    queued = sorted(m.topic.value for m in world.store.state.outbox.values() if m.attempts == 0)
    assert queued == [Topic.PASSWORD_LINK_REQUEST.value] * 2
    assert len(world.mailer.sent) == 1
    assert (dict(world.store.state.customers), dict(world.store.state.password_tokens)) == (
        customers_before
    )
    report = world.deliver()  # the worker resolves the addresses
    assert (report.sent, report.void) == (1, 1)
    assert world.mailer.sent[-1].to == form.email
    with pytest.raises(AuthenticationFailed):
        world.auth.login("nobody@example.com", PASSWORD, "192.0.2.1")


def test_link_requests_are_throttled_per_address_whoever_owns_it(world: World) -> None:
    form = world.people.form()
    world.registry.register(SIGNUP, form)
    for address in (form.email, "nobody@example.com"):
        for _ in range(3):
            world.auth.request_link(address)
        with pytest.raises(RateLimited) as caught:
            world.auth.request_link(address.upper())  # the same address, differently typed
        assert caught.value.retry_after_s == 3600
    world.auth.request_link("somebody.else@example.com")  # another address is not held back
    world.clock.advance(hours=1, seconds=1)
    world.auth.request_link(form.email)  # an hour later it is allowed again


def rows(world: World, count: int) -> list[dict[str, str | None]]:
    out = []
    for _ in range(count):
        f = world.people.form()
        out.append(
            {
                "last_name": f.last_name,
                "first_name": f.first_name,
                "email": f.email,
                "phone": f.phone,
                "mobile": f.mobile or "",
            }
        )
    return out


def test_import_registers_every_row_in_one_ledger_append(world: World) -> None:
    progress: list[tuple[str, int, int]] = []
    ids = world.registry.import_customers(
        OPERATOR, rows(world, 5), lambda *a: progress.append(a), chunk=2
    )
    assert len(ids) == len(set(ids)) == 5
    assert set(world.store.state.customers) == set(ids)
    assert world.store.commits == 1
    assert [e.owner for e in world.ledger.entries] == ids
    assert progress[-1] == ("written", 5, 5)
    assert world.mailer.sent == []  # imported customers ask for their link later


@pytest.mark.parametrize(
    ("row", "change"),
    [
        (3, {"email": "broken"}),
        (0, {"mobile": "044 000 00 00"}),
        (2, {"last_name": ""}),
        (4, {"phone": "12"}),
        (1, {"first_name": None}),  # the column is missing from the row
    ],
)
def test_import_bad_row_names_row_and_field_and_writes_nothing(
    world: World, row: int, change: dict[str, str | None]
) -> None:
    data = rows(world, 5)
    ((name, value),) = change.items()
    if value is None:
        del data[row][name]
    else:
        data[row][name] = value
    with pytest.raises(InvalidInput) as info:
        world.registry.import_customers(OPERATOR, data)
    assert info.value.field == f"row {row + 2} {name}"  # the header is line 1
    assert world.store.commits == 0
    assert world.ledger.entries == []


def test_import_duplicates_are_refused_whole(world: World) -> None:
    data = rows(world, 4)
    data[3]["email"] = data[1]["email"]
    with pytest.raises(InvalidInput, match="same address as row 3") as info:
        world.registry.import_customers(OPERATOR, data)
    assert info.value.field == "row 5 email"
    existing = world.people.form()
    world.registry.register(SIGNUP, existing)
    data = rows(world, 3)
    data[2]["email"] = existing.email
    with pytest.raises(Conflict, match="row 4"):
        world.registry.import_customers(OPERATOR, data)
    assert len(world.store.state.customers) == 1


def test_import_by_staff_is_refused(world: World) -> None:
    with refused_by("registry.registrar-only", ledger=world.ledger):
        world.registry.import_customers(SUPPORT, rows(world, 2))
    assert world.store.state.customers == {}
