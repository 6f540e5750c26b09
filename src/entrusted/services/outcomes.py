"""The outcome catalogue: every id a service writes into the ledger's `rule` field for what
came of its work (as opposed to a decision of the rules), each citing the promises it serves,
and the one recorder every service ledgers them through.

Why a catalogue: an evidence report reads `PROMISES` to show which ledger entries prove which
promise, and a test forbids outcome-id literals anywhere else, so an id cannot drift between
the module that writes it and the report that reads it. The values are the ids the ledger has
always held, so existing entries keep their meaning.

Why one recorder: an outcome reports a change, so it is appended only *after* the change
committed (STYLE rule 4); a refusal changes nothing, so it is appended and then raised. Both
go through the gate's ledger append, which fails closed (`Unavailable`) when it cannot commit.

```python
outcomes = OutcomeRecorder(gate)
outcomes.refuse(actor, Action.APPROVE, resource, Outcome.LINK_SPENT, "link used", ctx)
outcomes.record(actor, Action.DELETE, resource, Outcome.GRANT_ENDED, "grant ended: used", ctx)
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, NoReturn

from entrusted.domain.audit import Receipt
from entrusted.domain.ids import INVALID_ID, IdKind, id_problem
from entrusted.domain.policy import Action, Actor, Decision, Effect, Resource, ResourceKind
from entrusted.errors import InvalidInput, NotFound, Refused

if TYPE_CHECKING:  # the gate imports this catalogue; only the recorder needs the gate
    from entrusted.services.gate import AccessContext, Gate


class Outcome(StrEnum):
    """What came of a service step; `promises` lists the promises (POLICY.md) it evidences."""

    INVALID_REQUEST = "gate.invalid-request"
    # the registry: identification, contracts, registration, exports
    IDENTIFICATION = "registry.identification"
    CONTRACT_HANDED_OVER = "registry.contract-handed-over"
    REGISTRAR_ONLY = "registry.registrar-only"
    NO_BULK_EXPORT = "registry.no-bulk-export"
    # a new contact e-mail address takes effect only through the link sent to it (P1, P2)
    EMAIL_CHANGED = "registry.email-changed"
    EMAIL_LINK_INVALID = "registry.email-link-invalid"
    EMAIL_LINK_EXPIRED = "registry.email-link-expired"
    EMAIL_TAKEN = "registry.email-taken"
    # support's look-ups of callers: no walking the customer file (P1, P2, P3)
    LOOKUP_NEEDS_REASON = "registry.lookup-needs-reason"
    LOOKUPS_THROTTLED = "registry.lookups-throttled"
    LOOKUP_VOLUME_ALERT = "registry.lookup-volume-alert"
    NOT_THE_IDENTIFIER = "registry.not-the-identifier"
    CODES_THROTTLED = "registry.identification-codes-throttled"
    IDENTIFICATION_CASE_REFUSED = "registry.identification-case-refused"
    POLICY_DEPLOYED = "policy.deploy"
    POLICY_DOCUMENT_PUBLISHED = "policy.document-published"  # a version of the public text
    # consent: access requests, verbal consent, grants and their sessions
    REQUEST = "consent.request"
    GRANTED = "consent.granted"
    GRANT_ENDED = "consent.grant-ended"
    SESSION = "consent.session"
    SESSIONS_SPENT = "consent.sessions-spent"
    CASE_RESOLVED = "consent.case-resolved"
    CASE_FLAGGED = "consent.case-flagged"
    CONTRACT_CHANGED_HANDS = "consent.contract-changed-hands"
    CONTRACT_CANCELLED = "consent.contract-cancelled"
    RESOURCE_NOT_IN_CONTRACT = "consent.resource-not-in-contract"
    IDENTIFICATION_STALE = "consent.identification-stale"
    IDENTIFICATION_USED = "consent.identification-used"
    RECEIPT_UNDELIVERABLE = "consent.receipt-undeliverable"
    NOT_THE_HOLDER = "consent.not-the-holder"
    NOT_THE_GRANTEE = "consent.not-the-grantee"
    LINK_INVALID = "consent.link-invalid"
    LINK_SPENT = "consent.link-spent"
    REQUEST_EXPIRED = "consent.request-expired"
    REQUEST_WITHDRAWN = "consent.request-withdrawn"
    UNKNOWN_ID = "consent.unknown-id"  # a grant, session or access request that does not exist
    # the mail server's staff login (P10, P11, P14)
    MAIL_HOOK_ONLY = "mail.hook-only"
    MAIL_NO_GRANT = "mail.no-grant"
    MAIL_STAFF_UNAUTHENTICATED = "mail.staff-unauthenticated"
    MAIL_UNKNOWN_TARGET = "mail.unknown-target"
    MAIL_METADATA_UNKNOWN = "mail.metadata-unknown-mailbox"  # support asked of no mailbox
    # the FTP backup space: customers in their own space, staff only under a grant (P9)
    FTP_SERVER_ONLY = "ftp.server-only"
    FTP_NO_GRANT = "ftp.no-grant"
    FTP_STAFF_UNAUTHENTICATED = "ftp.staff-unauthenticated"
    FTP_UNKNOWN_TARGET = "ftp.unknown-target"
    FTP_CUSTOMER_UNAUTHENTICATED = "ftp.customer-unauthenticated"
    FTP_READ_ONLY = "ftp.read-only"
    FTP_GRANT_GONE = "ftp.grant-gone"
    FTP_SPACE_GONE = "ftp.space-gone"
    FTP_PASSWORD_SET = "ftp.password-set"  # noqa: S105 - an outcome id, not a secret
    FTP_SIZES_UNKNOWN_SPACE = "ftp.sizes-unknown-space"  # support asked the sizes of no space
    # staff credentials (P8, P12)
    TOKENS_STAFF_ONLY = "staff.tokens-staff-only"
    CLI_CREDENTIAL_REFUSED = "staff.cli-credential-refused"
    # staff administration (P8, P12, P14)
    STAFF_ADDED = "staff.added"
    STAFF_DISABLED = "staff.disabled"
    STAFF_ROLES_CHANGED = "staff.roles-changed"
    STAFF_OWN_ROLES_REFUSED = "staff.own-roles-refused"  # nobody changes their own roles
    STAFF_OWN_DISABLE_REFUSED = "staff.own-disable-refused"  # nor disables their own account
    TOKEN_ISSUED = "staff.token-issued"  # noqa: S105 - an outcome id, not a secret
    TOKEN_REVOKED = "staff.token-revoked"  # noqa: S105
    TOTP_ENROLMENT_STARTED = "staff.totp-enrolment-started"
    TOTP_CONFIRMED = "staff.totp-confirmed"
    TOTP_CODE_REFUSED = "staff.totp-code-refused"
    TOTP_RESET = "staff.totp-reset"
    KEYS_ROTATED = "keys.rotated"
    # --- key backup, restore and signing-key rollover (issue 17 item 6; docs/keys.md) ---
    KEYS_BACKED_UP = "keys.backed-up"  # which key ids went into a backup file, never material
    KEYS_RESTORED = "keys.restored"  # which key ids a backup wrote back
    LEDGER_KEY_ROLLED = "ledger.signing-key-rolled"  # a new signing key, announced with its time
    # --- end key backup and rollover ---
    # the ledger's scheduled full verification (P3)
    LEDGER_VERIFIED = "ledger.verified"
    LEDGER_TAMPERED = "ledger.tampered"
    # backups: taken, restored by sysadmins, destroyed with their day's key (P15, P16)
    BACKUP_KEY_CREATED = "backups.key-created"
    BACKUP_TAKEN = "backups.taken"
    BACKUP_FAILED = "backups.failed"
    BACKUP_RESTORED = "backups.restored"
    BACKUP_TAMPERED = "backups.tampered"
    BACKUP_UNRESTORABLE = "backups.unrestorable"
    BACKUP_LIVE_REFUSED = "backups.live-refused"
    BACKUP_CASE_MISMATCH = "backups.case-mismatch"
    BACKUP_NOT_CUSTOMER = "backups.not-a-customer"
    BACKUP_KEY_DESTROYED = "backups.key-destroyed"
    BACKUP_DESTROYED = "backups.destroyed"
    # mailings: one purpose, own customers only, never for a third party (P6, P7)
    MAILING_COMPOSED = "mailings.composed"
    MAILING_SENT = "mailings.sent"
    MAILING_REFUSED = "mailings.refused"
    MAILING_OUTSIDE_AUDIENCE = "mailings.outside-audience"
    MAILING_UNSUBSCRIBED = "mailings.unsubscribed"
    # the disclosure desk: third-party requests, Swiss court orders, disclosures (P4, P5)
    DISCLOSURE_REQUEST_RECORDED = "disclosure.request-recorded"
    COURT_ORDER_REGISTERED = "disclosure.order-registered"
    COURT_ORDER_FOREIGN = "disclosure.order-foreign"
    COURT_ORDER_EXPIRED = "disclosure.order-expired"
    DISCLOSURE_NOT_COVERED = "disclosure.not-covered"
    DISCLOSURE_UNKNOWN_REFERENCE = "disclosure.unknown-reference"  # names no such record
    DISCLOSURE_ALREADY_EXPORTED = "disclosure.already-exported"  # same scope, same order
    DISCLOSURE_ALREADY_PROPOSED = "disclosure.already-proposed"  # pending/approved overlap
    DISCLOSURE_PROPOSED = "disclosure.proposed"
    DISCLOSURE_SELF_APPROVAL = "disclosure.self-approval"
    DISCLOSURE_APPROVED = "disclosure.approved"
    DISCLOSURE_NOT_APPROVED = "disclosure.not-approved"
    DISCLOSED = "disclosure.disclosed"
    DISCLOSURE_NOTICE_QUEUED = "disclosure.notice-queued"
    DISCLOSURE_NOTICE_DEFERRED = "disclosure.notice-deferred"
    DISCLOSURE_NOTICE_LIFTED = "disclosure.notice-lifted"
    # provisioning sync (issue 17): the hoster's system keeps the registry current (P1, P3)
    PROVISIONED = "provisioning.applied"  # created or updated, by the hoster's own ids
    PROVISIONING_REMOVED = "provisioning.removed"  # a service removed, a contract cancelled
    PROVISIONING_ONLY = "provisioning.provisioning-only"  # another actor on its routes
    # provisioning refusals (review of issue 17): every one ledgered, then 409 / 404 (P1)
    PROVISIONING_CONFLICT = "provisioning.conflict"  # contradicts the registry, or it moved
    PROVISIONING_NOT_FOUND = "provisioning.not-found"  # removes what was never provisioned
    # the evidence report (issue 19): one made at the console is on record too (P3, P14)
    EVIDENCE_REPORT_MADE = "evidence.report-made"
    # the pages (issue 18): a form posted without the token its own page carried (CSRF)
    FORM_FORGED = "web.form-forged"

    @property
    def promises(self) -> tuple[str, ...]:
        return PROMISES[self]


PROMISES: Mapping[Outcome, tuple[str, ...]] = {
    Outcome.INVALID_REQUEST: ("P3", "P12"),
    Outcome.IDENTIFICATION: ("P1", "P3"),
    Outcome.CONTRACT_HANDED_OVER: ("P1", "P3"),
    Outcome.REGISTRAR_ONLY: ("P2", "P12"),
    Outcome.NO_BULK_EXPORT: ("P4", "P3"),
    Outcome.EMAIL_CHANGED: ("P1", "P2"),
    Outcome.EMAIL_LINK_INVALID: ("P1", "P2"),
    Outcome.EMAIL_LINK_EXPIRED: ("P1", "P2"),
    Outcome.EMAIL_TAKEN: ("P1", "P2"),
    Outcome.LOOKUP_NEEDS_REASON: ("P1", "P3"),
    Outcome.LOOKUPS_THROTTLED: ("P1", "P2", "P3"),
    Outcome.LOOKUP_VOLUME_ALERT: ("P1", "P2", "P3"),
    Outcome.NOT_THE_IDENTIFIER: ("P1", "P3"),
    Outcome.CODES_THROTTLED: ("P1", "P2"),
    Outcome.IDENTIFICATION_CASE_REFUSED: ("P1", "P9"),
    Outcome.POLICY_DEPLOYED: ("P17", "P12"),
    Outcome.POLICY_DOCUMENT_PUBLISHED: ("P17", "P3"),
    Outcome.REQUEST: ("P10", "P11"),
    Outcome.GRANTED: ("P9", "P10", "P11"),
    Outcome.GRANT_ENDED: ("P11",),
    Outcome.SESSION: ("P11", "P3"),
    Outcome.SESSIONS_SPENT: ("P11",),
    Outcome.CASE_RESOLVED: ("P11",),
    Outcome.CASE_FLAGGED: ("P9",),
    Outcome.CONTRACT_CHANGED_HANDS: ("P1", "P11"),
    Outcome.CONTRACT_CANCELLED: ("P11",),
    Outcome.RESOURCE_NOT_IN_CONTRACT: ("P11",),
    Outcome.IDENTIFICATION_STALE: ("P1", "P9"),
    Outcome.IDENTIFICATION_USED: ("P9", "P11"),
    Outcome.RECEIPT_UNDELIVERABLE: ("P9",),
    Outcome.NOT_THE_HOLDER: ("P11",),
    Outcome.NOT_THE_GRANTEE: ("P8", "P11"),
    Outcome.LINK_INVALID: ("P11",),
    Outcome.LINK_SPENT: ("P11",),
    Outcome.REQUEST_EXPIRED: ("P11",),
    Outcome.REQUEST_WITHDRAWN: ("P11",),
    Outcome.UNKNOWN_ID: ("P3", "P11"),
    Outcome.MAIL_HOOK_ONLY: ("P10", "P12"),
    Outcome.MAIL_NO_GRANT: ("P10", "P11"),
    Outcome.MAIL_STAFF_UNAUTHENTICATED: ("P10", "P14"),
    Outcome.MAIL_UNKNOWN_TARGET: ("P10", "P3"),
    Outcome.MAIL_METADATA_UNKNOWN: ("P13", "P14"),
    Outcome.FTP_SERVER_ONLY: ("P9", "P12"),
    Outcome.FTP_NO_GRANT: ("P9", "P11"),
    Outcome.FTP_STAFF_UNAUTHENTICATED: ("P9", "P14"),
    Outcome.FTP_UNKNOWN_TARGET: ("P9", "P3"),
    Outcome.FTP_CUSTOMER_UNAUTHENTICATED: ("P9",),
    Outcome.FTP_READ_ONLY: ("P9", "P11"),
    Outcome.FTP_GRANT_GONE: ("P9", "P11"),
    Outcome.FTP_SPACE_GONE: ("P9", "P1"),
    Outcome.FTP_PASSWORD_SET: ("P9",),
    Outcome.FTP_SIZES_UNKNOWN_SPACE: ("P9", "P14"),
    Outcome.TOKENS_STAFF_ONLY: ("P8", "P12"),
    Outcome.CLI_CREDENTIAL_REFUSED: ("P3", "P12"),
    Outcome.STAFF_ADDED: ("P8", "P12"),
    Outcome.STAFF_DISABLED: ("P8", "P12"),
    Outcome.STAFF_ROLES_CHANGED: ("P8", "P12"),
    Outcome.STAFF_OWN_ROLES_REFUSED: ("P5", "P12"),
    Outcome.STAFF_OWN_DISABLE_REFUSED: ("P8", "P12"),
    Outcome.TOKEN_ISSUED: ("P8", "P14"),
    Outcome.TOKEN_REVOKED: ("P8", "P14"),
    Outcome.TOTP_ENROLMENT_STARTED: ("P8", "P14"),
    Outcome.TOTP_CONFIRMED: ("P8", "P14"),
    Outcome.TOTP_CODE_REFUSED: ("P8", "P14"),
    Outcome.TOTP_RESET: ("P8", "P14"),
    Outcome.KEYS_ROTATED: ("P2", "P14"),
    # key backup and rollover (issue 17 item 6)
    Outcome.KEYS_BACKED_UP: ("P2", "P3"),
    Outcome.KEYS_RESTORED: ("P2", "P3"),
    Outcome.LEDGER_KEY_ROLLED: ("P3",),
    Outcome.LEDGER_VERIFIED: ("P3",),
    Outcome.LEDGER_TAMPERED: ("P3",),
    Outcome.BACKUP_KEY_CREATED: ("P16",),
    Outcome.BACKUP_TAKEN: ("P15", "P16"),
    Outcome.BACKUP_FAILED: ("P15",),
    Outcome.BACKUP_RESTORED: ("P15", "P3"),
    Outcome.BACKUP_TAMPERED: ("P15", "P3"),
    Outcome.BACKUP_UNRESTORABLE: ("P15", "P16"),
    Outcome.BACKUP_LIVE_REFUSED: ("P15", "P2"),
    Outcome.BACKUP_CASE_MISMATCH: ("P15", "P3"),
    Outcome.BACKUP_NOT_CUSTOMER: ("P15",),
    Outcome.BACKUP_KEY_DESTROYED: ("P16",),
    Outcome.BACKUP_DESTROYED: ("P16",),
    Outcome.MAILING_COMPOSED: ("P6", "P7"),
    Outcome.MAILING_SENT: ("P6", "P7"),
    Outcome.MAILING_REFUSED: ("P6", "P7"),
    Outcome.MAILING_OUTSIDE_AUDIENCE: ("P6", "P7"),
    Outcome.MAILING_UNSUBSCRIBED: ("P7",),
    Outcome.DISCLOSURE_REQUEST_RECORDED: ("P5", "P3"),
    Outcome.COURT_ORDER_REGISTERED: ("P5",),
    Outcome.COURT_ORDER_FOREIGN: ("P5",),
    Outcome.COURT_ORDER_EXPIRED: ("P5",),
    Outcome.DISCLOSURE_NOT_COVERED: ("P4", "P5"),
    Outcome.DISCLOSURE_UNKNOWN_REFERENCE: ("P5", "P3"),
    Outcome.DISCLOSURE_ALREADY_EXPORTED: ("P5",),
    Outcome.DISCLOSURE_ALREADY_PROPOSED: ("P5",),
    Outcome.DISCLOSURE_PROPOSED: ("P5",),
    Outcome.DISCLOSURE_SELF_APPROVAL: ("P5", "P12"),
    Outcome.DISCLOSURE_APPROVED: ("P5",),
    Outcome.DISCLOSURE_NOT_APPROVED: ("P5",),
    Outcome.DISCLOSED: ("P5", "P3"),
    Outcome.DISCLOSURE_NOTICE_QUEUED: ("P5", "P3"),
    Outcome.DISCLOSURE_NOTICE_DEFERRED: ("P5",),
    Outcome.DISCLOSURE_NOTICE_LIFTED: ("P5",),
    # provisioning sync (issue 17)
    Outcome.PROVISIONED: ("P1", "P3"),
    Outcome.PROVISIONING_REMOVED: ("P1", "P3", "P11"),
    Outcome.PROVISIONING_ONLY: ("P8", "P12"),
    # provisioning refusals (review of issue 17)
    Outcome.PROVISIONING_CONFLICT: ("P1",),
    Outcome.PROVISIONING_NOT_FOUND: ("P1",),
    # the evidence report (issue 19)
    Outcome.EVIDENCE_REPORT_MADE: ("P3", "P14"),
    Outcome.FORM_FORGED: ("P2", "P14"),
}


@dataclass(frozen=True, slots=True)
class OutcomeRecorder:
    """Ledgers outcomes from the catalogue through the gate (see the module doc)."""

    gate: Gate

    def record(
        self,
        actor: Actor,
        action: Action,
        resource: Resource,
        outcome: Outcome,
        reason: str,
        context: AccessContext | None = None,
        *,
        allowed: bool = True,
    ) -> Receipt:
        """Ledger what came of a step; call it only once the change it reports committed
        (`allowed=False` for a step that failed but is not raised as a refusal)."""
        effect = Effect.PERMIT if allowed else Effect.FORBID
        decision = Decision(effect, outcome.value, reason)
        return self.gate.record_outcome(actor, action, resource, decision, context)

    def record_many(
        self,
        actor: Actor,
        changes: Sequence[tuple[Action, Resource, Outcome, str]],
        context: AccessContext | None = None,
    ) -> list[Receipt]:
        """`record` for many changes that committed together (action, resource, outcome,
        reason each), in one durable append (a provisioning import's thousands of rows)."""
        decided = [(a, r, Decision(Effect.PERMIT, o.value, why)) for a, r, o, why in changes]
        return self.gate.record_outcomes(actor, decided, context)

    def refuse(
        self,
        actor: Actor,
        action: Action,
        resource: Resource,
        outcome: Outcome,
        reason: str,
        context: AccessContext | None = None,
    ) -> NoReturn:
        """Ledger a refusal of the work itself, then raise it carrying the same reason."""
        denial = Decision(Effect.FORBID, outcome.value, reason)
        self.gate.record_outcome(actor, action, resource, denial, context)
        raise Refused(denial)

    def not_found(
        self, actor: Actor, action: Action, resource: Resource, outcome: Outcome, noun: str
    ) -> NoReturn:
        """Ledger a request for something that does not exist, then raise `NotFound` (404):
        asking after ids that are not there (probing for a grant, say) is a refusal like any
        other, so it is in the log. `resource` names the id asked for, which is well formed
        (the entrypoints check its shape first) and so may be ledgered as sent."""
        denial = Decision(Effect.FORBID, outcome.value, f"no {noun} {resource.id}")
        self.gate.record_outcome(actor, action, resource, denial)
        raise NotFound(noun, resource.id)

    def invalid_id(
        self, actor: Actor, action: Action, kind: ResourceKind, field: str, id_kind: IdKind
    ) -> NoReturn:
        """Ledger a request refused because `field` holds text that is no id of `id_kind`
        (`domain.ids`), then raise `InvalidInput`. The entry names the placeholder id
        `invalid`, never the text sent: it may be personal data (an e-mail address typed
        into an id field), and the ledger cannot forget."""
        problem = id_problem(id_kind)
        denial = Decision(Effect.FORBID, Outcome.INVALID_REQUEST.value, f"{field} {problem}")
        self.gate.record_outcome(actor, action, Resource(kind, INVALID_ID), denial)
        raise InvalidInput(field, problem)
