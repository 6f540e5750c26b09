"""The public policy document (P17) as the composition root wires it: the SQL versions, the
gate for publishing, the event bus that announces a new version, and the rules in force (the
running file's SHA-256, with its recorded deployment when there is one)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from entrusted.adapters.db.policy_document_store import SqlPolicyDocumentStore
from entrusted.adapters.db.policy_store import SqlDeploymentStore
from entrusted.domain.policy_analysis import RuleSet
from entrusted.services.events import EventBus
from entrusted.services.gate import Gate
from entrusted.services.outcomes import OutcomeRecorder
from entrusted.services.policy_document import PolicyDocuments, RulesInForce


def build_policy_documents(
    engine: sa.Engine,
    gate: Gate,
    clock: Callable[[], datetime],
    events: EventBus,
    ruleset: RuleSet,
) -> PolicyDocuments:
    deployments = SqlDeploymentStore(engine)

    def rules_in_force() -> RulesInForce:
        last = deployments.latest()
        if last is None or last.sha256 != ruleset.sha256:
            return RulesInForce(ruleset.sha256)  # this file's deployment is not recorded yet
        return RulesInForce(ruleset.sha256, last.deployed_at, last.ledger_index)

    return PolicyDocuments(
        SqlPolicyDocumentStore(engine), gate, OutcomeRecorder(gate), clock, events, rules_in_force
    )
