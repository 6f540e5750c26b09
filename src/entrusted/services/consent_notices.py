"""What the customer is told about consent (P9, P11), by e-mail to the address on file: an
access request with its single-use approval link, the receipt of verbal consent with its
one-click "this was not me" link, and that a grant was given, first used and ended; on
resolution, a closing summary of what was accessed under the case, drawn from the ledger.
Each is written from its template (`templates/mail/`, through the `MailTemplates` port) in the
customer's language and time zone, naming staff by display name.

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
from datetime import datetime

import structlog

from entrusted.crypto.personal import data_key, open_customer, open_service
from entrusted.domain.audit import AuditEntry
from entrusted.domain.cases import AccessRequest, Case, Grant
from entrusted.domain.mailings import MailPurpose
from entrusted.domain.outbox import OutboxMessage, Topic
from entrusted.domain.policy import ResourceKind
from entrusted.errors import EntrustedError
from entrusted.services.grant_steps import GrantSteps
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
# A staff member's display name by id (None: no such member, e.g. a server reporting a
# session's close, which is then shown as the ledger records it).
StaffNames = Callable[[str], str | None]


def _kind(grant_or_request: Grant | AccessRequest) -> str:
    return grant_or_request.service_kind.value


class ConsentNotices:
    def __init__(
        self,
        registry: RegistryParts,
        mailer: MailSender,
        portal_url: str,
        ledger: CustomerEntries,
        steps: GrantSteps,
        staff_names: StaffNames,
    ) -> None:
        self._p = registry
        self._staff_names = staff_names
        self._mailer = mailer
        self._portal = portal_url.rstrip("/")
        self._ledger = ledger
        self._steps = steps

    # --- what a person reads -------------------------------------------------------------

    def address(self, customer_id: str) -> str:
        with self._p.uow() as uow:
            sealed = load_customer(uow, customer_id)
        return open_customer(self._p.keys(), sealed).email

    def staff(self, staff_id: str) -> str:
        """A staff member as the customer knows them: their display name, never an id (a
        member no longer on file, or an actor that is no person, shows as recorded)."""
        return self._staff_names(staff_id) or staff_id

    def write(self, customer_id: str, name: str, values: Mapping[str, object]) -> Letter:
        """Template `name` to the customer, in their language and time zone."""
        with self._p.uow() as uow:
            sealed = load_customer(uow, customer_id)
        written = self._p.templates().write(name, values, sealed.language, sealed.time_zone)
        email = open_customer(self._p.keys(), sealed).email
        return written.to(email, MailPurpose.SERVICE_NOTICE)

    def scope_values(
        self, of: Grant | AccessRequest, until: datetime | None, hours: int | None = None
    ) -> dict[str, object]:
        """A scope as template values (`_parts.txt` writes it in the reader's words)."""
        return {
            "kind": _kind(of),
            "name": self.service_name(of.contract_id, of.service_id),
            "read_only": of.read_only,
            "sessions": of.max_sessions if isinstance(of, Grant) else of.sessions,
            "case_id": of.case_id,
            "until": until,
            "hours": hours,
        }

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

    # --- messages that must arrive ---------------------------------------------------------

    def requested(self, request: AccessRequest, secret: str, hours: int) -> None:
        """Raises Unavailable or InvalidInput when the message cannot be sent. `hours`: how
        long a grant runs at most after approval (the request names no end yet)."""
        letter = self.write(
            request.customer_id,
            "access_request",
            {
                "kind": _kind(request),
                "case_id": request.case_id,
                "scope": self.scope_values(request, None, hours),
                "justification": request.justification,
                "staff": self.staff(request.staff_id),
                "link": f"{self._portal}/access-requests/{request.id}#token={secret}",
                "expires_at": request.expires_at,
            },
        )
        self._must_send(letter, "access request", request.id)

    def receipt(self, grant: Grant, identified_by: str, secret: str) -> None:
        """The receipt of verbal consent; raises when it cannot be sent."""
        letter = self.write(
            grant.customer_id,
            "consent_receipt",
            {
                "kind": _kind(grant),
                "created_at": grant.created_at,
                "identified_by": identified_by,
                "scope": self.scope_values(grant, grant.expires_at),
                "staff": self.staff(grant.staff_id),
                "grant_id": grant.id,
                "link": f"{self._portal}/not-me#token={secret}",
            },
        )
        self._must_send(letter, "verbal-consent receipt", grant.id)

    def _must_send(self, letter: Letter, kind: str, ref: str) -> None:
        """Hand the message to the relay now; its error is the caller's (nothing exists yet)."""
        try:
            message_id = self._mailer.send(
                letter.to,
                letter.subject,
                letter.body,
                dict(_HEADERS),
                purpose=letter.purpose,
                html=letter.html,
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

    def granted(self, grant: Grant) -> Letter:
        return self.write(
            grant.customer_id,
            Topic.GRANTED,
            {
                "kind": _kind(grant),
                "staff": self.staff(grant.staff_id),
                "scope": self.scope_values(grant, grant.expires_at),
                "grant_id": grant.id,
            },
        )

    def used(self, grant: Grant) -> Letter:
        return self.write(
            grant.customer_id,
            Topic.USED,
            {
                "kind": _kind(grant),
                "staff": self.staff(grant.staff_id),
                "name": self.service_name(grant.contract_id, grant.service_id),
                "when": grant.first_used_at or grant.created_at,
                "grant_id": grant.id,
                "case_id": grant.case_id,
            },
        )

    def ended(self, grant: Grant) -> Letter:
        return self.write(
            grant.customer_id,
            Topic.ENDED,
            {
                "kind": _kind(grant),
                "grant_id": grant.id,
                "name": self.service_name(grant.contract_id, grant.service_id),
                "reason": grant.end_reason.value if grant.end_reason else None,
                "sessions_used": grant.sessions_used,
            },
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
        rows = [
            self._access_row(e, visible(self.service_name(case.contract_id, e.resource_id)))
            for e in mine
            if e.resource_kind in _ACCESS_KINDS
        ]
        grants = sorted({e.refs["grant"] for e in mine if "grant" in e.refs})
        opened = self._steps.opened(case.customer_id, grants)
        return self.write(
            case.customer_id,
            Topic.CLOSING_SUMMARY,
            {
                "case_id": case.id,
                "case_subject": case.subject,
                "rows": rows,
                "grants": grants,
                "opened": [
                    {
                        "grant_id": grant_id,
                        "names": [
                            {"at": n.at, "command": n.command, "name": visible(n.name)}
                            for n in names
                        ],
                    }
                    for grant_id, names in sorted(opened.items())
                    if names
                ],
            },
        )

    def _access_row(self, e: AuditEntry, name: str) -> dict[str, object]:
        """One ledger entry as template values. The step's command comes from its id-only
        note (`ftp retr`); a session's close, reported by the server, is labelled as such,
        not shown as an access."""
        note = e.refs.get("note", "")
        return {
            "when": e.time,
            "session_closed": e.rule == Outcome.SESSION.value and e.decision == "allow",
            "allowed": e.decision == "allow",
            "actor": self.staff(e.actor_id),
            "action": e.action,
            "name": name,
            "step": f" ({note})" if note.startswith(_STEP_NOTES) else "",
        }


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
