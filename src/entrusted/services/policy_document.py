"""The public policy document (P17): every version stays public, the version in force is shown
beside the hash of the rules that enforce it, and a new version is published by legal only,
ledgered by number and SHA-256 (never its text), then announced to every customer through
the `PolicyDocumentPublished` event (the mailings area answers it with a `terms_amendment`
mailing, P7).

Reading is not ledgered and passes no gate: the document is public by promise (the rules'
`policy-document-is-public`), it is no customer data, and an entry per page view would let
anyone on the Internet grow the ledger at will.

```python
docs = PolicyDocuments(store, gate, outcomes, clock, events, rules_in_force)
docs.current().version.number                       # 1 on a fresh installation
docs.publish(legal, text, date(2027, 1, 1), "clearer wording on backups")
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.domain.policy_document import PolicyVersion, check_draft, in_force, upcoming
from entrusted.errors import Conflict, EntrustedError, NotFound, Unavailable
from entrusted.services.events import EventBus, PolicyDocumentPublished
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.ports import Clock

MAX_VERSION_NUMBER = 1_000_000


class PolicyDocumentStore(Protocol):
    """The stored versions; `add` raises `Conflict` if the number is taken (a racing publish)."""

    def versions(self) -> list[PolicyVersion]: ...
    def get(self, number: int) -> PolicyVersion | None: ...
    def add(self, version: PolicyVersion) -> None: ...


@dataclass(frozen=True, slots=True)
class RulesInForce:
    """The rules file this process enforces (its SHA-256) and, when the deployment of exactly
    that file is recorded, when it was deployed and the ledger entry that says so."""

    sha256: str
    deployed_at: datetime | None = None
    ledger_index: int | None = None


@dataclass(frozen=True, slots=True)
class PolicyPage:
    """What `/privacy` shows: the version in force, the rules beside it, what is announced."""

    version: PolicyVersion
    rules: RulesInForce
    upcoming: tuple[PolicyVersion, ...]
    latest_number: int


class PolicyDocuments:
    def __init__(
        self,
        store: PolicyDocumentStore,
        gate: Gate,
        outcomes: OutcomeRecorder,
        clock: Clock,
        events: EventBus,
        rules: Callable[[], RulesInForce],
    ) -> None:
        self._store = store
        self._gate = gate
        self._outcomes = outcomes
        self._clock = clock
        self._events = events
        self._rules = rules

    def current(self) -> PolicyPage:
        """The version in force today, for anyone (no actor: the document is public)."""
        versions = self._store.versions()
        today = self._clock().date()
        found = in_force(versions, today)
        if found is None:  # only a database never migrated to 0018 lacks the shipped version
            raise NotFound("policy document version", "current")
        return PolicyPage(
            found, self._rules(), tuple(upcoming(versions, today)), versions[-1].number
        )

    def versions(self) -> list[PolicyVersion]:
        return self._store.versions()

    def version(self, number: int) -> PolicyVersion:
        # A number outside what a store column holds was never published: not found, and
        # never a database error (PostgreSQL refuses a bind beyond its integer range).
        found = self._store.get(number) if 1 <= number <= MAX_VERSION_NUMBER else None
        if found is None:
            raise NotFound("policy document version", number)
        return found

    def in_force_at(self, at: datetime) -> int | None:
        """The number of the version in force at `at`: what a consent or an approval records."""
        found = in_force(self._store.versions(), at.date())
        return None if found is None else found.number

    def publish(self, actor: Actor, text: str, effective: date, summary: str) -> PolicyVersion:
        """Publish a new version (legal only). The rules are asked first (so an attempt by
        anyone else is ledgered whatever its text), then bad input is refused; nothing is
        written unless both pass, and the publication is ledgered after the write."""
        versions = self._store.versions()
        latest = versions[-1] if versions else None
        now = self._clock()
        number = 1 if latest is None else latest.number + 1
        resource = Resource(ResourceKind.POLICY_DOCUMENT, str(number))
        ctx = AccessContext(note=f"publish version {number}")
        self._gate.decide(actor, Action.PUBLISH, resource, ctx)
        draft = check_draft(text, effective, summary, now.date(), latest)
        version = PolicyVersion(
            number, draft.text, draft.sha256, draft.effective, actor.id, draft.summary, now
        )
        try:
            self._store.add(version)
        except Conflict:
            reason = f"version {number} was published by someone else meanwhile; nothing stored"
            self._outcomes.record(
                actor, Action.PUBLISH, resource, Outcome.POLICY_DOCUMENT_PUBLISHED, reason, ctx,
                allowed=False,
            )  # fmt: skip
            raise Conflict(reason) from None
        reason = (
            f"published version {number} (sha256 {version.sha256}), "
            f"effective {version.effective.isoformat()}"
        )
        self._outcomes.record(
            actor, Action.PUBLISH, resource, Outcome.POLICY_DOCUMENT_PUBLISHED, reason, ctx
        )
        event = PolicyDocumentPublished(version.version_id, effective, version.summary, actor)
        try:
            self._events.publish(event)
        except EntrustedError as exc:
            raise Unavailable(
                f"version {number} is published and ledgered, but announcing it to customers "
                f"failed ({exc.message}); send the terms_amendment mailing again"
            ) from None
        return version
