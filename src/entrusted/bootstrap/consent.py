"""Consent as the composition root wires it: the notices to customers, the policy documents
(whose version a grant cites), the consent parts with their limits, grants, contracts (a
change ends the consent they carried), cases and verbal consent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.bootstrap.policy_document import build_policy_documents
from entrusted.bootstrap.registry import Registry
from entrusted.bootstrap.wiring import Wiring
from entrusted.domain.policy_analysis import RuleSet
from entrusted.services.cases import CaseService
from entrusted.services.consent import ConsentService
from entrusted.services.consent_notices import ConsentNotices
from entrusted.services.consent_parts import ConsentLimits, ConsentParts
from entrusted.services.contracts import ContractService
from entrusted.services.events import EventBus
from entrusted.services.gate import Gate
from entrusted.services.grants import GrantService
from entrusted.services.messaging import MailSender
from entrusted.services.policy_document import PolicyDocuments
from entrusted.services.verbal_consent import VerbalConsentService


@dataclass(frozen=True, slots=True)
class Consent:
    notices: ConsentNotices
    policy_documents: PolicyDocuments
    parts: ConsentParts
    grants: GrantService
    consent: ConsentService
    contracts: ContractService
    cases: CaseService
    verbal_consent: VerbalConsentService


def consent_limits(w: Wiring) -> ConsentLimits:
    settings = w.settings
    return ConsentLimits(
        request_ttl=timedelta(seconds=settings.access_request_ttl_s),
        grant_max_duration=timedelta(seconds=settings.grant_max_duration_s),
        max_sessions=settings.grant_max_sessions,
        identification_valid=timedelta(seconds=settings.identification_valid_s),
    )


def staff_names(w: Wiring) -> Callable[[str], str | None]:
    """A staff member's display name by id, as mails to customers name them."""

    def name(staff_id: str) -> str | None:
        with w.reader() as uow:
            member = uow.staff.get(staff_id)
        return None if member is None else member.display_name

    return name


def build_consent(
    w: Wiring,
    gate: Gate,
    ruleset: RuleSet,
    registry: Registry,
    mailer: MailSender,
    store: SqlLedgerStore,
    events: EventBus,
) -> Consent:
    engine: sa.Engine = w.engine
    notices = ConsentNotices(
        registry.parts,
        mailer,
        w.settings.portal_url,
        store,
        registry.grant_steps,
        staff_names(w),
    )
    policy_documents = build_policy_documents(engine, gate, w.clock, events, ruleset)
    parts = ConsentParts(
        registry.parts,
        w.consent_uow,
        notices,
        consent_limits(w),
        policy_version=policy_documents.in_force_at,
        readers=w.consent_reader,
    )
    grants = GrantService(parts, events)
    consent = ConsentService(parts, grants)
    contracts = ContractService(registry.parts, registry.customer_auth)
    contracts.after_change.append(consent.contract_changed)
    return Consent(
        notices=notices,
        policy_documents=policy_documents,
        parts=parts,
        grants=grants,
        consent=consent,
        contracts=contracts,
        cases=CaseService(parts, grants),
        verbal_consent=VerbalConsentService(parts, grants),
    )
