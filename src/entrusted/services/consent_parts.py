"""What the case, consent and grant services share: their collaborators, their limits, and the
recorder through which they refuse a step the rules allowed but the state of the case does not
(a resolved case, a resource outside the contract, a spent link): ledgered as an outcome from
the catalogue (`services/outcomes.py`), then raised."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from entrusted.crypto.secrets import token_digest
from entrusted.domain.cases import RESOURCE_OF, Case
from entrusted.domain.policy import Action, Actor, Resource
from entrusted.domain.registry import ContractStatus, StoredContract, StoredService
from entrusted.errors import InvalidInput, NotFound
from entrusted.services.consent_notices import ConsentNotices
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.ports import Clock, ConsentUnitOfWork, ConsentUnitOfWorkFactory
from entrusted.services.registry import RegistryParts

APPROVAL_TOKEN_PREFIX = "enta_"  # noqa: S105 - a public prefix, not a secret
NOT_ME_TOKEN_PREFIX = "entn_"  # noqa: S105


@dataclass(frozen=True, slots=True)
class ConsentLimits:
    """How long an unanswered request waits, the backstop a grant never outlives, the most
    sessions one grant may allow (clients that open several connections), and how recent an
    identification must be for verbal consent (the `caller_identified` resolver's window)."""

    request_ttl: timedelta = timedelta(hours=12)
    grant_max_duration: timedelta = timedelta(hours=8)
    max_sessions: int = 3
    identification_valid: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class ConsentParts:
    registry: RegistryParts
    uow: ConsentUnitOfWorkFactory
    notices: ConsentNotices
    limits: ConsentLimits = field(default_factory=ConsentLimits)
    # The number of the public policy document version in force at a time (P17), recorded on
    # each grant; bootstrap wires `PolicyDocuments.in_force_at`, service tests may leave it.
    policy_version: Callable[[datetime], int | None] = lambda _at: None
    # Units that only read: on SQLite they take no write lock. A writing unit begins with
    # BEGIN IMMEDIATE, so a read in one (a login's grants) queued behind every ledger commit
    # and SQLite's busy handler slept between tries. None: `uow` reads too.
    readers: ConsentUnitOfWorkFactory | None = None

    def read(self) -> ConsentUnitOfWork:
        """A unit for reading only (never commit in it)."""
        return (self.readers or self.uow)()

    @property
    def gate(self) -> Gate:
        return self.registry.gate

    @property
    def clock(self) -> Clock:
        return self.registry.clock

    @property
    def outcomes(self) -> OutcomeRecorder:
        return self.registry.outcomes

    def ids(self, prefix: str) -> str:
        return self.registry.ids(prefix)

    def contract(self, contract_id: str) -> StoredContract | None:
        with self.registry.uow() as uow:
            return uow.contracts.get(contract_id)


def new_secret(prefix: str) -> tuple[str, bytes]:
    """A single-use link token for an e-mail, and the digest that is all we keep of it."""
    secret = prefix + secrets.token_urlsafe(32)
    return secret, token_digest(secret)


def load_case(uow: ConsentUnitOfWork, case_id: str) -> Case:
    found = uow.cases.get(case_id)
    if found is None:
        raise NotFound("case", case_id)
    return found


def consentable_service(
    p: ConsentParts,
    actor: Actor,
    action: Action,
    resource: Resource,
    context: AccessContext,
    case: Case,
    service_id: str,
) -> StoredService:
    """The hosted service consent may be asked or given for on `case`, or a ledgered refusal:
    the case must be open and not disowned, its contract still held by the case's customer
    and active, and the service one of that contract's mailboxes or FTP spaces."""
    if not case.open:
        p.outcomes.refuse(
            actor,
            action,
            resource,
            Outcome.CASE_RESOLVED,
            f"case {case.id} is resolved; consent never outlives its case",
            context,
        )
    contract = p.contract(case.contract_id)
    if contract is None or contract.holder_id != case.customer_id:
        p.outcomes.refuse(
            actor,
            action,
            resource,
            Outcome.CONTRACT_CHANGED_HANDS,
            f"contract {case.contract_id} is no longer held by the customer of case {case.id}",
            context,
        )
    if contract.status is ContractStatus.CANCELLED:
        p.outcomes.refuse(
            actor,
            action,
            resource,
            Outcome.CONTRACT_CANCELLED,
            f"contract {contract.id} is cancelled",
            context,
        )
    service = next((s for s in contract.services if s.id == service_id), None)
    if service is None:
        p.outcomes.refuse(
            actor,
            action,
            resource,
            Outcome.RESOURCE_NOT_IN_CONTRACT,
            f"{service_id} is not a hosted service of contract {contract.id}, "
            f"the contract of case {case.id}",
            context,
        )
    if service.kind not in RESOURCE_OF:
        raise InvalidInput("service_id", "only a mailbox or an FTP space needs consent")
    return service
