"""The property of issue 6, on the in-memory twins: random sequences of open / request /
approve / deny / verbal consent / revoke / "not me" / resolve / reopen / transfer / cancel /
use / end session / time passes / expiry job never allow access outside a live grant, and
every live grant works (see `consent_machine.py`). The SQL run is in
tests/integration/test_consent_sql.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.unit.consent_machine import ConsentMachine
from tests.unit.consent_model import Env
from tests.unit.consent_world import ConsentWorld
from tests.unit.registry_world import SUPPORT, SUPPORT2

pytestmark = pytest.mark.promise("P9", "P10", "P11")


def world_env(world: ConsentWorld) -> Env:
    def services_of(contract_id: str) -> dict[str, str]:
        with world.store.unit_of_work() as uow:
            contract = uow.contracts.get(contract_id)
        assert contract is not None
        return {s.kind.value: s.id for s in contract.services}

    return Env(
        world,
        world.verbal,
        world.clock,
        world.mailer,
        (SUPPORT, SUPPORT2),
        world.people,
        services_of,
    )


class InMemoryConsentMachine(ConsentMachine):
    def make_env(self) -> Env:
        return world_env(ConsentWorld())


def test_no_access_outside_a_live_grant() -> None:
    run_state_machine_as_test(
        InMemoryConsentMachine,
        settings=settings(
            max_examples=150,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
