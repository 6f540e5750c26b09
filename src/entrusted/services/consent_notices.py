"""What the customer is told about consent (P9, P11), by e-mail to the address on file: an
access request with its single-use approval link, the receipt of verbal consent with its
one-click "this was not me" link, and that a grant was given, first used and ended; on
resolution, a closing summary of what was accessed under the case, drawn from the ledger.

The request and the receipt must reach the customer before anything takes effect: they are
handed to the relay first, and only once it accepted them is the request or grant stored;
otherwise the caller gets the relay's error and nothing exists. The others are told after the
fact: the service queues them in the outbox (`services/outbox.py`) inside the transaction of
the change they report, and the worker renders them here at delivery and retries, so ending a
grant never waits for a mail relay and a notice is never silently lost.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping

import structlog

from entrusted.crypto.personal import data_key, open_customer, open_service
from entrusted.domain.audit import AuditEntry
from entrusted.domain.cases import AccessRequest, Case, Grant, GrantEnd, latest_end, scope_text
from entrusted.domain.mailings import MailPurpose
from entrusted.domain.outbox import OutboxMessage, Topic
from entrusted.domain.policy import ResourceKind
from entrusted.errors import EntrustedError
from entrusted.services.grant_steps import GrantSteps, OpenedName
from entrusted.services.messaging import MailSender
from entrusted.services.outbox import Letter, Renderer
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import ConsentUnitOfWorkFactory, CustomerEntries
from entrusted.services.registry import RegistryParts, load_customer

log = structlog.get_logger("entrusted.messages")

_HEADERS: Mapping[str, str] = {"Auto-Submitted": "auto-generated"}
_ACCESS_KINDS = {ResourceKind.MAILBOX_CONTENT.value, ResourceKind.FTP_SPACE.value}
# Notes that name a step (`ftp retr`, `ftp login`): id-only, so shown to the customer.
_STEP_NOTES = ("ftp ",)
# Unicode categories that print nothing or break the line: control, format, separators.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ENDED_BECAUSE = {
    GrantEnd.CASE_RESOLVED: "the support case was resolved",
    GrantEnd.REVOKED: "you withdrew it",
    GrantEnd.NOT_ME: "you told us the consent was not given by you",
    GrantEnd.USED: "its sessions were used",
    GrantEnd.EXPIRED: "its time ran out",
    GrantEnd.TRANSFERRED: "the contract was transferred to another holder",
    GrantEnd.CANCELLED: "the contract was cancelled",
    GrantEnd.STAFF_DISABLED: "the staff member it named no longer works with us",
    GrantEnd.ROLE_REMOVED: "the staff member it named no longer holds that role",
    GrantEnd.SERVICE_REMOVED: "the service was removed from your contract",  # issue 17
}


def _kind(grant_or_request: Grant | AccessRequest) -> str:
    return "mailbox" if grant_or_request.service_kind.value == "mailbox" else "FTP backup space"


class ConsentNotices:
    def __init__(
        self,
        registry: RegistryParts,
        mailer: MailSender,
        portal_url: str,
        ledger: CustomerEntries,
        steps: GrantSteps,
    ) -> None:
        self._p = registry
        self._mailer = mailer
        self._portal = portal_url.rstrip("/")
        self._ledger = ledger
        self._steps = steps

    # --- what a person reads -------------------------------------------------------------

    def address(self, customer_id: str) -> str:
        with self._p.uow() as uow:
            sealed = load_customer(uow, customer_id)
        return open_customer(self._p.keys(), sealed).email

    def service_name(self, contract_id: str, service_id: str) -> str:
        """A hosted service's name in clear (opened with its current holder's key), or its
        id if it is gone."""
        with self._p.uow() as uow:
            contract = uow.contracts.get(contract_id)
            if contract is None:
                return service_id
            holder = load_customer(uow, contract.holder_id)
        service = next((s for s in contract.services if s.id == service_id), None)
        if service is None:
            return service_id
        return open_service(data_key(self._p.keys(), holder), holder.id, service)

    def scope(self, grant: Grant) -> str:
        """A grant's scope in words, naming the service in clear (for the person; stored
        records name it by id)."""
        name = self.service_name(grant.contract_id, grant.service_id)
        return scope_text(
            grant.service_kind,
            name,
            grant.read_only,
            grant.max_sessions,
            grant.case_id,
            latest_end(grant.expires_at),
        )

    # --- messages that must arrive ---------------------------------------------------------

    def requested(self, request: AccessRequest, secret: str, words: str) -> None:
        """Raises Unavailable or InvalidInput when the message cannot be sent."""
        link = f"{self._portal}/access-requests/{request.id}#token={secret}"
        body = (
            f"Our support team asks for your permission, for support case {request.case_id}:\n\n"
            f"  {words}\n\n"
            f"Why: {request.justification}\n"
            f"Asked by staff member {request.staff_id}.\n\n"
            f"Approve or deny it here, after logging in (the link works once):\n{link}\n\n"
            f"If you do nothing, the request lapses at {request.expires_at:%Y-%m-%d %H:%M} UTC "
            "and nobody gets access. You can withdraw a permission at any time.\n"
        )
        subject = f"Support asks to access your {_kind(request)}"
        self._must_send(request.customer_id, subject, body, "access request", request.id)

    def receipt(self, grant: Grant, identified_by: str, words: str, secret: str) -> None:
        """The receipt of verbal consent; raises when it cannot be sent."""
        link = f"{self._portal}/not-me#token={secret}"
        body = (
            f"On {grant.created_at:%Y-%m-%d %H:%M} UTC you gave our support team, on the "
            f"phone, after identification by {identified_by}:\n\n  {words}\n\n"
            f"Recorded by staff member {grant.staff_id} (grant {grant.id}).\n\n"
            f"If this was not you, one click withdraws it at once and flags the case:\n{link}\n"
        )
        subject = f"Receipt: you allowed support into your {_kind(grant)}"
        self._must_send(grant.customer_id, subject, body, "verbal-consent receipt", grant.id)

    def _must_send(self, customer_id: str, subject: str, body: str, kind: str, ref: str) -> None:
        """Hand the message to the relay now; its error is the caller's (nothing exists yet)."""
        try:
            message_id = self._mailer.send(
                self.address(customer_id),
                subject,
                body,
                dict(_HEADERS),
                purpose=MailPurpose.SERVICE_NOTICE,
            )
        except EntrustedError as exc:
            log.warning("message.undeliverable", kind=kind, ref=ref, error=exc.message)
            raise
        log.info("message.sent", kind=kind, ref=ref, message_id=message_id)

    # --- messages after the fact (queued in the outbox, rendered at delivery) ------------

    def renderers(self, consent_uow: ConsentUnitOfWorkFactory) -> dict[Topic, Renderer]:
        """What the outbox worker calls to turn a queued notice into a letter; a grant or
        case that is gone leaves nothing to say (None)."""

        def grant_letter(build: Callable[[Grant], Letter]) -> Renderer:
            def render(message: OutboxMessage) -> Letter | None:
                with consent_uow() as uow:
                    grant = uow.grants.get(message.ref)
                return None if grant is None else build(grant)

            return render

        def summary(message: OutboxMessage) -> Letter | None:
            with consent_uow() as uow:
                case = uow.cases.get(message.ref)
            return None if case is None else self.closing_summary(case)

        return {
            Topic.GRANTED: grant_letter(self.granted),
            Topic.USED: grant_letter(self.used),
            Topic.ENDED: grant_letter(self.ended),
            Topic.CLOSING_SUMMARY: summary,
        }

    def _letter(self, customer_id: str, subject: str, body: str) -> Letter:
        return Letter(self.address(customer_id), subject, body, MailPurpose.SERVICE_NOTICE)

    def granted(self, grant: Grant) -> Letter:
        words = self.scope(grant)
        return self._letter(
            grant.customer_id,
            f"You allowed support into your {_kind(grant)}",
            f"You gave staff member {grant.staff_id} {words} (grant {grant.id}).\n"
            "You can withdraw it at any time from your account.\n",
        )

    def used(self, grant: Grant) -> Letter:
        name = self.service_name(grant.contract_id, grant.service_id)
        when = grant.first_used_at or grant.created_at
        return self._letter(
            grant.customer_id,
            f"Support is now in your {_kind(grant)}",
            f"Staff member {grant.staff_id} opened your {_kind(grant)} {name} at "
            f"{when:%Y-%m-%d %H:%M} UTC under grant {grant.id}, for case {grant.case_id}.\n",
        )

    def ended(self, grant: Grant) -> Letter:
        name = self.service_name(grant.contract_id, grant.service_id)
        why = _ENDED_BECAUSE[grant.end_reason] if grant.end_reason else "it ended"
        return self._letter(
            grant.customer_id,
            f"Support's access to your {_kind(grant)} has ended",
            f"Grant {grant.id} for your {_kind(grant)} {name} ended because {why}. "
            f"It was used for {grant.sessions_used} session(s).\n",
        )

    def closing_summary(self, case: Case) -> Letter:
        """What was accessed under the case, drawn from the ledger entries filed under the
        customer and naming the case (read at delivery, after the case's entries exist), and
        under each grant the names its steps touched (files downloaded, folders listed),
        which the ledger never holds: they are opened here, for the customer only."""
        entries = [
            AuditEntry.from_bytes(body)
            for _, body in self._ledger.entries_for_customer(
                case.customer_id, self._ledger.stored_size()
            )
        ]
        mine = [e for e in entries if e.refs.get("case") == case.id]
        lines = [
            _access_line(e, visible(self.service_name(case.contract_id, e.resource_id)))
            for e in mine
            if e.resource_kind in _ACCESS_KINDS
        ]
        grants = sorted({e.refs["grant"] for e in mine if "grant" in e.refs})
        accessed = "\n".join(lines) if lines else "  nothing: no staff member opened your data."
        opened = self._steps.opened(case.customer_id, grants)
        body = (
            f"Support case {case.id} ({case.subject}) is resolved; every permission given for "
            "it has ended.\n\nAccess to your mailbox or FTP space under this case, as our "
            f"audit ledger records it:\n{accessed}\n\n"
            f"Permissions involved: {', '.join(grants) or 'none'}.\n"
            f"{_opened_text(opened)}"
            "Your own ledger entries, with proofs, are in your data export.\n"
        )
        return self._letter(case.customer_id, f"Case {case.id} resolved: what was accessed", body)


def _access_line(e: AuditEntry, name: str) -> str:
    """One ledger entry in words. The step's command comes from its id-only note (`ftp retr`);
    a session's close, reported by the server, is labelled as such, not shown as an access."""
    when = f"{e.time:%Y-%m-%d %H:%M} UTC"
    if e.rule == Outcome.SESSION.value and e.decision == "allow":
        return f"  {when}  session closed on {name} (reported by {e.actor_id})"
    outcome = "allowed" if e.decision == "allow" else "refused"
    note = e.refs.get("note", "")
    step = f" ({note})" if note.startswith(_STEP_NOTES) else ""
    return f"  {when}  {e.actor_id} {e.action} {name}{step}: {outcome}"


def visible(text: str) -> str:
    """`text` with control and invisible formatting characters (NUL, bell, line breaks, a
    right-to-left override) written as escapes (`\\x00`, `\\u202e`), so the customer sees
    the name that was asked for rather than a blank, a cut line or reordered letters."""
    return "".join(
        (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        if unicodedata.category(ch) in _HIDDEN
        else ch
        for ch in text
    )


def _opened_text(opened: Mapping[str, list[OpenedName]]) -> str:
    """The names staff asked for, under each grant (empty when steps touched no names). The
    gate allowed each step; the file system may still have refused it (no such file)."""
    parts = []
    for grant_id, names in sorted(opened.items()):
        rows = "\n".join(
            f"  {n.at:%Y-%m-%d %H:%M} UTC  {n.command} {visible(n.name)}" for n in names
        )
        parts.append(
            f"\nFiles and folders asked for under permission {grant_id} (each step was "
            f"allowed; the file system may still have refused it, e.g. a name that does not "
            f"exist):\n{rows}\n"
        )
    return "".join(parts)
