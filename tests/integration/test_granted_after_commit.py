"""Verbal consent ledgers "granted" once its grant has committed (issue 10 loose end), on both
databases: the decision to create the grant comes first, then the grant, then the outcome
naming the consent, the agent and the grant, carrying the case."""

from __future__ import annotations

import pytest

from entrusted.bootstrap import Container
from entrusted.services.outcomes import Outcome
from tests.conftest import count_rows
from tests.integration.test_consent_sql import identify, register
from tests.integration.test_registry_sql import ledgered, staff

pytestmark = pytest.mark.promise("P3", "P11")


def test_verbal_consent_ledgers_granted_after_the_grant(container: Container) -> None:
    c = container
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Restore on the phone")
    identify(c, support, cus, case.id)
    consent, grant = c.verbal_consent.record(support, case.id, svc["ftp_space"], read_back=True)
    assert count_rows(c.engine, "consent_grant") == 1
    entries = ledgered(c)
    granted = [e for e in entries if e.rule == Outcome.GRANTED.value]
    assert len(granted) == 1
    last = granted[0]
    assert (last.decision, last.actor_id, last.owner) == ("allow", support.id, cus)
    assert consent.id in last.reason
    assert entries[-1] == last  # the newest entry: recorded after the commit
    assert (last.resource_id, last.refs.get("case")) == (grant.id, case.id)
