"""The support look-up throttle is durable (issue 11 item 4 loose end), on both databases: its
window lives in the database, so a second process (a CLI command, another server, a restart)
counts the look-ups the first one admitted, and parallel look-ups never share one count. Each
refusal names `registry.lookups-throttled` and is the newest ledger entry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from entrusted.bootstrap import Container, build
from entrusted.config import Settings
from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.errors import RateLimited
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from entrusted.services.registry_forms import Registration
from tests.conftest import FakeClock, count_rows

pytestmark = pytest.mark.promise("P1", "P2")

SIGNUP = Actor(ActorKind.SERVICE, "signup")
PASSWORD = "correct horse battery"
TICKET = AccessContext(ticket="HD-4711")


def _setup(container: Container) -> tuple[Actor, str]:
    customer_id = container.registry.register(
        SIGNUP, Registration(last_name="Example", first_name="Cleo", email="cleo@example.com")
    ).customer_id
    member = container.staff.add("sam", "Sam Example", ["support"], PASSWORD)
    return Actor(ActorKind.STAFF, member.id, roles=frozenset({Role.SUPPORT})), customer_id


def _last(container: Container) -> AuditEntry:
    store = container.ledger_store
    return AuditEntry.from_bytes(store.entries(store.stored_size() - 1, store.stored_size())[0])


def test_a_second_process_counts_the_first_ones_lookups(
    container: Container, settings: Settings, clock: FakeClock
) -> None:
    support, customer_id = _setup(container)
    per_minute = settings.support_lookups_per_minute
    for _ in range(per_minute):
        container.registry.summary(support, customer_id, TICKET)
    second = build(settings, clock=clock)  # what a CLI command or another server builds
    try:
        with pytest.raises(RateLimited) as info:
            second.registry.summary(support, customer_id, TICKET)
        assert 1 <= info.value.retry_after_s <= 60
        last = _last(second)
        assert (last.decision, last.rule) == ("deny", Outcome.LOOKUPS_THROTTLED.value)
        assert last.actor_id == support.id
        clock.advance(seconds=61)
        second.registry.summary(support, customer_id, TICKET)
    finally:
        second.close()
    assert count_rows(container.engine, "support_lookup") == per_minute + 1
    clock.advance(hours=1)
    container.registry.summary(support, customer_id, TICKET)
    assert count_rows(container.engine, "support_lookup") == 1  # an hour's window, pruned


def test_parallel_lookups_never_exceed_the_limit(container: Container, settings: Settings) -> None:
    support, customer_id = _setup(container)
    per_minute = settings.support_lookups_per_minute

    def one(_: int) -> bool:
        try:
            container.registry.summary(support, customer_id, TICKET)
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        admitted = list(pool.map(one, range(per_minute + 8)))
    assert admitted.count(True) == per_minute
    assert count_rows(container.engine, "support_lookup") == per_minute
