"""Composing purpose-limited mailings (P6, P7), and the gate's two mailing conditions.

The `communications` role composes a mailing with exactly one purpose; the service, not the
caller, decides who it goes to:

* `incident`: exactly the holders of the services the incident names;
* `new_service`: every active customer who has not opted out (one click, RFC 8058);
* `terms_amendment`: every active customer.

A caller may narrow that audience to named customers, never widen it. Refused, and ledgered:
no purpose or any other purpose, a sender other than the provider, any sponsor or
third-party field (whatever its value), a subject or body `check_text` refuses (control and
format characters included), an unknown service (each a 422 after its refusal is in the
ledger), a recipient who is no customer of ours (the gate's `own_customer` condition fails:
403), a recipient outside the purpose's audience (403). The ledger holds the mailing id, its
purpose and counts, never the text or an address. Sending is `services/mailing_send.py`.

```python
mailing = mailings.compose(clerk, MailingDraft("incident", "Mail outage", text,
                                               services=("svc_0123456789abcdef",)))
report = sender.send(clerk, mailing.id)
```
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr

from entrusted.crypto.secrets import new_id
from entrusted.domain.ids import IdKind, is_id
from entrusted.domain.mailings import (
    MAILING_PURPOSES,
    MAX_SERVICES,
    Delivery,
    Mailing,
    MailPurpose,
    Progress,
    check_text,
    parse_mailing_purpose,
)
from entrusted.domain.policy import (
    Action,
    Actor,
    ActorKind,
    Resource,
    ResourceKind,
    Service,
    service_principal,
)
from entrusted.domain.registry import CustomerStatus
from entrusted.errors import InvalidInput, NotFound
from entrusted.services.events import PolicyDocumentPublished
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.mailing_ports import CustomerAudience, MailingStore
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.ports import Clock

MAX_LIST = 200
MAX_PROBLEMS = 1000


@dataclass(frozen=True, slots=True)
class MailingDraft:
    """A mailing as asked for. `third_party` holds any sponsor or third-party field the
    request named (it is refused); `sender`, when given, must be the provider's own."""

    purpose: str | None
    subject: str
    body: str
    services: tuple[str, ...] = ()
    recipients: tuple[str, ...] | None = None
    sender: str | None = None
    third_party: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MailingView:
    mailing: Mailing
    progress: Progress
    problems: tuple[Delivery, ...] = ()


@dataclass(frozen=True, slots=True)
class MailingBreakdown:
    """Whom a mailing reaches, as counts only: communications may not see who our customers
    are (no id, no address), only how many get it in which language and how many are left
    out and why. `languages` maps a language code ("" for none set: the site's default) to
    the recipients it goes to in that language; `excluded` maps a reason to a count."""

    languages: tuple[tuple[str, int], ...]
    excluded: tuple[tuple[str, int], ...]


def mailing_resource(mailing_id: str) -> Resource:
    return Resource(ResourceKind.MAILING, mailing_id)


def require_mailing_id(gate: Gate, actor: Actor, action: Action, mailing_id: str) -> None:
    """Refuse (ledgered, under the placeholder id) text that is no mailing id."""
    if not is_id(IdKind.MAILING, mailing_id):
        OutcomeRecorder(gate).invalid_id(
            actor, action, ResourceKind.MAILING, "mailing_id", IdKind.MAILING
        )


class MailingService:
    def __init__(
        self,
        gate: Gate,
        store: MailingStore,
        audience: CustomerAudience,
        clock: Clock,
        provider_sender: str,
        ids: Callable[[str], str] = new_id,
    ) -> None:
        self._gate = gate
        self._outcomes = OutcomeRecorder(gate)
        self._store = store
        self._audience = audience
        self._clock = clock
        self._provider = parseaddr(provider_sender)[1].lower()
        self._ids = ids

    def compose(self, actor: Actor, draft: MailingDraft) -> Mailing:
        """Fix the recipients and store the mailing; nothing is sent yet."""
        mailing_id = self._ids(IdKind.MAILING.value)
        resource = mailing_resource(mailing_id)
        purpose = self._checked(actor, resource, draft)
        recipients = self._recipients(actor, resource, purpose, draft)
        context = AccessContext(mailing_purpose=purpose.value, recipients=tuple(recipients))
        self._gate.decide(actor, Action.CREATE, resource, context)
        mailing = Mailing(
            id=mailing_id,
            purpose=purpose,
            subject=draft.subject,
            body=draft.body,
            created_by=actor.id,
            created_at=self._clock(),
            services=tuple(sorted(set(draft.services))),
            recipients=len(recipients),
        )
        self._store.create(mailing, recipients)
        self._outcomes.record(
            actor,
            Action.CREATE,
            resource,
            Outcome.MAILING_COMPOSED,
            f"mailing {mailing_id} ({purpose.value}) composed for {len(recipients)} recipients",
            AccessContext(mailing_purpose=purpose.value),
        )
        return mailing

    def announce_terms(self, actor: Actor, event: PolicyDocumentPublished) -> Mailing:
        """The `terms_amendment` mailing announcing a published policy document (P17)."""
        body = (
            "We have amended our data-protection policy and terms.\n\n"
            f"What changed: {event.summary}\n\n"
            f"The new version ({event.version_id}) takes effect on "
            f"{event.effective:%Y-%m-%d}. The current text is always public on our website, "
            "at /privacy, together with every earlier version.\n"
        )
        subject = f"Our policy changes on {event.effective:%Y-%m-%d}"
        return self.compose(actor, MailingDraft(MailPurpose.TERMS_AMENDMENT.value, subject, body))

    def view(self, actor: Actor, mailing_id: str) -> MailingView:
        mailing = self.get(actor, mailing_id)
        return MailingView(
            mailing,
            self._store.progress(mailing_id),
            tuple(self._store.problems(mailing_id, MAX_PROBLEMS)),
        )

    def preview(self, actor: Actor, mailing_id: str) -> tuple[MailingView, MailingBreakdown]:
        """The mailing's page: its view (the one ledgered read decision `view` asks for) and
        its breakdown, which needs no decision of its own since it tells less than the view."""
        found = self.view(actor, mailing_id)
        return found, self._breakdown(found.mailing)

    def _breakdown(self, mailing: Mailing) -> MailingBreakdown:
        """The reasons are the ones the send refuses a delivery for (`mailing_send.py`), as
        they stand now, so the counts say what a send started now would do. Who was left out
        at composing is not counted: a mailing keeps its recipients, not whether they were
        everyone or a selection, and counting every opted-out customer against a selection
        of one said "left out: 1" of people nobody had chosen (trial finding)."""
        recipients = self._store.recipients(mailing.id)
        sealed = self._audience.sealed(recipients)
        new_service = mailing.purpose is MailPurpose.NEW_SERVICE
        opted_out = self._audience.opted_out() if new_service else set()
        active = [c for c in sealed if c.status is CustomerStatus.ACTIVE]
        reached = [c for c in active if c.id not in opted_out]
        excluded = Counter(
            {
                "no customer": len(set(recipients) - {c.id for c in sealed}),
                "no longer a customer": len(sealed) - len(active),
                "opted out since composing": len(active) - len(reached),
            }
        )
        languages = Counter(c.language or "" for c in reached)
        return MailingBreakdown(
            tuple(sorted(languages.items())),
            tuple((why, n) for why, n in excluded.items() if n),
        )

    def get(self, actor: Actor, mailing_id: str) -> Mailing:
        """The mailing (a read of the gate: only communications sees mailings)."""
        require_mailing_id(self._gate, actor, Action.READ, mailing_id)
        self._gate.decide(actor, Action.READ, mailing_resource(mailing_id))
        mailing = self._store.get(mailing_id)
        if mailing is None:
            raise NotFound("mailing", mailing_id)
        return mailing

    def recent(self, actor: Actor, limit: int = 50) -> list[tuple[Mailing, Progress]]:
        self._gate.decide(actor, Action.LIST, Resource(ResourceKind.MAILING, "*"))
        found = self._store.recent(max(1, min(limit, MAX_LIST)))
        return [(m, self._store.progress(m.id)) for m in found]

    # --- the checks ------------------------------------------------------------------------

    def _refuse_invalid(
        self, actor: Actor, resource: Resource, field_name: str, message: str, purpose: str = ""
    ) -> InvalidInput:
        """Ledger the refusal, then hand back the 422 to raise."""
        safe = purpose if purpose in {p.value for p in MailPurpose} else ""
        self._outcomes.record(
            actor,
            Action.CREATE,
            resource,
            Outcome.MAILING_REFUSED,
            f"mailing refused: {field_name} {message}",
            AccessContext(mailing_purpose=safe or None),
            allowed=False,
        )
        return InvalidInput(field_name, message)

    def _checked(self, actor: Actor, resource: Resource, draft: MailingDraft) -> MailPurpose:
        named = sorted(draft.third_party)  # its presence refuses, whatever its value
        if named:
            raise self._refuse_invalid(
                actor,
                resource,
                named[0],
                "we never mail on behalf of a third party, nor have one mail for us (P6)",
            )
        try:
            purpose = parse_mailing_purpose(draft.purpose)
        except InvalidInput as exc:
            raise self._refuse_invalid(actor, resource, exc.field, _rule(exc)) from None
        if draft.sender is not None and parseaddr(draft.sender)[1].lower() != self._provider:
            raise self._refuse_invalid(
                actor, resource, "sender", "mailings are sent by the provider only", purpose
            )
        try:
            check_text(draft.subject, draft.body)
        except InvalidInput as exc:
            raise self._refuse_invalid(actor, resource, exc.field, _rule(exc), purpose) from None
        if purpose is MailPurpose.INCIDENT and not draft.services:
            raise self._refuse_invalid(
                actor, resource, "services", "an incident names the services it affects", purpose
            )
        if purpose is not MailPurpose.INCIDENT and draft.services:
            raise self._refuse_invalid(
                actor, resource, "services", "only an incident names services", purpose
            )
        if len(draft.services) > MAX_SERVICES:
            raise self._refuse_invalid(
                actor, resource, "services", f"at most {MAX_SERVICES} services", purpose
            )
        for sid in draft.services:
            if not is_id(IdKind.SERVICE, sid):
                self._outcomes.invalid_id(
                    actor, Action.CREATE, ResourceKind.MAILING, "services", IdKind.SERVICE
                )
        for cid in draft.recipients or ():
            if not is_id(IdKind.CUSTOMER, cid):
                self._outcomes.invalid_id(
                    actor, Action.CREATE, ResourceKind.MAILING, "recipients", IdKind.CUSTOMER
                )
        return purpose

    def _recipients(
        self, actor: Actor, resource: Resource, purpose: MailPurpose, draft: MailingDraft
    ) -> list[str]:
        """The purpose's audience, narrowed to the named recipients if any."""
        try:
            audience = self._audience_of(purpose, draft.services)
        except InvalidInput as exc:
            raise self._refuse_invalid(actor, resource, exc.field, _rule(exc), purpose) from None
        if draft.recipients is None:
            if not audience:
                raise self._refuse_invalid(
                    actor, resource, "recipients", "the mailing would reach nobody", purpose
                )
            return audience
        named = list(dict.fromkeys(draft.recipients))
        if not named:
            raise self._refuse_invalid(
                actor, resource, "recipients", "name at least one, or leave it out", purpose
            )
        if self._audience.unknown(named):
            # The gate decides (and ledgers) it: `own_customer` does not hold, so it refuses.
            context = AccessContext(mailing_purpose=purpose.value, recipients=tuple(named))
            self._gate.decide(actor, Action.CREATE, resource, context)
        outside = set(named) - set(audience)
        if outside:
            self._outcomes.refuse(
                actor,
                Action.CREATE,
                resource,
                Outcome.MAILING_OUTSIDE_AUDIENCE,
                f"{len(outside)} named recipients are outside the {purpose.value} audience",
                AccessContext(mailing_purpose=purpose.value),
            )
        return named

    def _audience_of(self, purpose: MailPurpose, services: tuple[str, ...]) -> list[str]:
        if purpose is MailPurpose.INCIDENT:
            holders = self._audience.holders_of(services)
            missing = sorted(set(services) - set(holders))
            if missing:
                raise InvalidInput(
                    "services", f"no active service {', '.join(missing[:5])} in the registry"
                )
            return sorted(set(holders.values()))
        everyone = self._audience.active()
        if purpose is MailPurpose.NEW_SERVICE:
            out = self._audience.opted_out()
            return [c for c in everyone if c not in out]
        return everyone


def _rule(exc: InvalidInput) -> str:
    """The rule an InvalidInput states, without the field name its message starts with."""
    return exc.message.removeprefix(f"{exc.field}: ")


@dataclass(frozen=True, slots=True)
class AllowedMailingPurpose:
    """The gate's `allowed_mailing_purpose` condition: the request names one of the three
    mailing purposes (P7). A transactional purpose is no mailing's. The worker only ever
    announces a published policy document, so for it only `terms_amendment` is allowed:
    its rule never lets it compose or send an incident or new-service mailing."""

    def __call__(self, actor: Actor, resource: Resource, context: AccessContext) -> bool:
        if actor.kind is ActorKind.SERVICE and service_principal(actor.id) is Service.WORKER:
            return context.mailing_purpose == MailPurpose.TERMS_AMENDMENT.value
        return context.mailing_purpose in {p.value for p in MAILING_PURPOSES}


@dataclass(frozen=True, slots=True)
class OwnCustomers:
    """The gate's `own_customer` condition (P6). On composing, every recipient named in the
    request is an active customer of ours. On sending (no recipients in the request), the
    stored mailing was composed to our own customers: every recipient is in the registry,
    active or closed since. A customer closed since composing does not block the mailing;
    the send refuses that one delivery ("no longer a customer") and sends the rest."""

    audience: CustomerAudience
    store: MailingStore

    def __call__(self, actor: Actor, resource: Resource, context: AccessContext) -> bool:
        if context.recipients:
            return not self.audience.unknown(context.recipients)
        stored = self.store.recipients(resource.id)
        return bool(stored) and not self.audience.strangers(stored)
