"""How the rules are managed: a rules file runs only if its invariants hold, and every change
of the running rules is a ledger entry naming the old and new file hashes, what permissions
the change adds or removes, and who deployed it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Engine
from entrusted.domain.policy_analysis import RuleSet, check_invariants, diff
from entrusted.domain.policy_deployment import Deployment
from entrusted.errors import Conflict
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import Clock, Ledger


class DeploymentStore(Protocol):
    def latest(self) -> Deployment | None: ...
    def add(self, deployment: Deployment) -> None: ...


def require_invariants(ruleset: RuleSet, engine: Engine) -> None:
    """Refuse to run rules that break a stated invariant (the server will not start)."""
    violations = check_invariants(ruleset, engine)
    if violations:
        lines = "; ".join(
            f"{v.invariant.id}: {v.message} (rules: {', '.join(v.rule_ids) or 'none'})"
            for v in violations[:5]
        )
        raise Conflict(
            f"rules file {ruleset.source or '(inline)'} violates {len(violations)} "
            f"invariant check(s): {lines}"
        )


class RulesDeployment:
    def __init__(
        self,
        store: DeploymentStore,
        ledger: Ledger,
        clock: Clock,
        parse: Callable[[bytes, str], RuleSet],
        nonce: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._clock = clock
        self._parse = parse
        self._nonce = nonce

    def record(self, ruleset: RuleSet, rules_bytes: bytes, deployed_by: str) -> Deployment | None:
        """Ledger the rules now running if they differ from the last deployment; None if not."""
        last = self._store.latest()
        if last is not None and last.sha256 == ruleset.sha256:
            return None
        if last is None:
            counts = f"{len(ruleset.rules)} rules, {len(ruleset.invariants)} invariants"
            summary = f"first deployment: {counts}"
        else:
            changes = diff(self._parse(last.rules, last.source).rules, ruleset.rules)
            added = sum(1 for c in changes if c.change.value == "added")
            shown = "; ".join(c.describe() for c in changes[:8])
            summary = f"{added} permission(s) added, {len(changes) - added} removed" + (
                f": {shown}" if shown else ""
            )
        now = self._clock()
        refs = {"new_sha256": ruleset.sha256[:64]}
        if last is not None:
            refs["old_sha256"] = last.sha256
        receipt = self._ledger.append(
            AuditEntry(
                time=now,
                actor_kind="operator",
                actor_id=deployed_by[:64],
                action="publish",
                resource_kind="policy_rules",
                resource_id=ruleset.sha256[:16],
                decision="allow",
                rule=Outcome.POLICY_DEPLOYED.value,
                reason=summary[:2000],
                refs=refs,
                nonce=self._nonce(32),
            )
        )
        deployment = Deployment(
            sha256=ruleset.sha256,
            rules=rules_bytes,
            source=ruleset.source,
            deployed_by=deployed_by,
            deployed_at=now,
            summary=summary,
            ledger_index=receipt.index,
        )
        self._store.add(deployment)
        return deployment
