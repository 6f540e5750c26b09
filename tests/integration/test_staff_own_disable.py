"""Trial finding: the only sysadmin disabled their own account from the console with one
click and no way back but the operator's CLI. Nobody disables their own account; another
administrator (or the operator at the CLI) does, and that step names them in the ledger. On
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.services.outcomes import Outcome
from tests.integration.test_registry_sql import ledgered
from tests.refusals import refused_by

pytestmark = pytest.mark.promise("P8")

PASSWORD = "correct horse battery"


def _sysadmin(c: Container, username: str) -> Actor:
    member = c.staff.add(username, f"{username.title()} Admin", ["sysadmin"], PASSWORD)
    return Actor(ActorKind.STAFF, member.id, frozenset({Role.SYSADMIN}))


def test_nobody_disables_their_own_account(container: Container) -> None:
    c = container
    nuria = _sysadmin(c, "nuria")
    token = c.staff.issue_token("nuria", "console").secret  # by the operator
    with refused_by(Outcome.STAFF_OWN_DISABLE_REFUSED, ledger=lambda: ledgered(c)[-1]):
        c.staff.disable("nuria", by=nuria)
    assert c.staff.get("nuria").active
    assert c.staff.authenticate(token).id == nuria.id  # nothing revoked
    # another administrator may, and the ledger names them
    olga = _sysadmin(c, "olga")
    c.staff.disable("nuria", by=olga)
    assert not c.staff.get("nuria").active
    last = ledgered(c)[-1]
    assert (last.rule, last.actor_id, last.resource_id) == (
        Outcome.STAFF_DISABLED, olga.id, nuria.id
    )
