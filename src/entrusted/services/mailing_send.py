"""Sending a composed mailing (P6, P7): resumable, one delivery record per recipient, and no
recipient mailed twice.

A run claims a batch of pending deliveries (marking them `sending` under its run id), hands
the batch to the mail port over one connection, and records what the relay said in one
transaction: `sent` with the Message-ID, `refused` for a recipient or message the relay
refused for good (or a message that could not be built), `pending` again for a temporary
failure. When the relay goes away midway the run stops; what it did not confirm stays
pending, and sending the mailing again resumes with exactly those.
A delivery left `sending` by a run that died between the relay's answer and its record is
*unknown*: it is listed and never sent again, since it may have been delivered.

Every message carries `Auto-Submitted: auto-generated`, the purpose (`X-Entrusted-Purpose`,
set by the mail port) and a `Feedback-ID` naming the mailing; a new-service message also
carries a one-click unsubscribe (RFC 8058) whose token is stored only as its SHA-256.
The ledger gets the gate's decision before the first message and, after the run, the counts.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from email.utils import parseaddr

from entrusted.crypto.envelope import decrypt_field
from entrusted.crypto.personal import RegistryKeys, data_key
from entrusted.domain.mailings import (
    Delivery,
    DeliveryStatus,
    Mailing,
    MailingStatus,
    MailPurpose,
    Progress,
)
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.domain.registry import CustomerStatus
from entrusted.errors import InvalidInput, NotFound, Unavailable
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.mailing_ports import CustomerAudience, DeliveryResult, MailingStore
from entrusted.services.mailings import mailing_resource, require_mailing_id
from entrusted.services.messaging import Handed, MailSender, Outgoing
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.ports import Clock

BATCH = 200
ProgressHook = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class SendReport:
    mailing_id: str
    progress: Progress
    stopped: str | None  # why the run ended early (the relay went away), or None
    problems: tuple[Delivery, ...]


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class MailingSender:
    def __init__(
        self,
        gate: Gate,
        store: MailingStore,
        audience: CustomerAudience,
        keys: Callable[[], RegistryKeys],
        mailer: MailSender,
        clock: Clock,
        provider_sender: str,
        unsubscribe_url: str,
        batch: int = BATCH,
    ) -> None:
        self._gate = gate
        self._outcomes = OutcomeRecorder(gate)
        self._store = store
        self._audience = audience
        self._keys = keys
        self._mailer = mailer
        self._clock = clock
        self._domain = parseaddr(provider_sender)[1].rpartition("@")[2] or "localhost"
        self._unsubscribe_url = unsubscribe_url
        self._batch = max(1, batch)

    def send(
        self, actor: Actor, mailing_id: str, on_progress: ProgressHook | None = None
    ) -> SendReport:
        """Send (or resume) a mailing; returns the counts, and what went wrong."""
        require_mailing_id(self._gate, actor, Action.MAIL, mailing_id)
        mailing = self._store.get(mailing_id)
        resource = mailing_resource(mailing_id)
        if mailing is None:
            # Who may follow mailings learns there is no such one (404, ledgered as the
            # outcome); anyone else is refused by the gate as for any mailing.
            self._gate.decide(actor, Action.READ, resource)
            self._outcomes.record(
                actor, Action.MAIL, resource, Outcome.MAILING_REFUSED,
                "mailing refused: no such mailing", allowed=False,
            )  # fmt: skip
            raise NotFound("mailing", mailing_id)
        context = AccessContext(mailing_purpose=mailing.purpose.value)
        self._gate.decide(actor, Action.MAIL, resource, context)
        try:
            keys = self._keys()  # before anything is claimed: a missing key strands nothing
            self._store.set_status(mailing_id, MailingStatus.SENDING)
            stopped = self._run(mailing, keys, on_progress)
        except Exception as exc:
            self._failed(actor, mailing, context, exc)
            raise
        progress = self._store.progress(mailing_id)
        status = MailingStatus.DONE if progress.finished else MailingStatus.INCOMPLETE
        self._store.set_status(mailing_id, status)
        self._outcomes.record(
            actor,
            Action.MAIL,
            resource,
            Outcome.MAILING_SENT,
            f"mailing {mailing_id} ({mailing.purpose.value}): {progress.sent} sent, "
            f"{progress.refused} refused, {progress.pending} pending, "
            f"{progress.unknown} unknown of {progress.total}"
            + ("; the relay went away, resumable" if stopped else ""),
            context,
            allowed=stopped is None,
        )
        problems = tuple(self._store.problems(mailing_id, 1000))
        return SendReport(mailing_id, progress, stopped, problems)

    def _failed(
        self, actor: Actor, mailing: Mailing, context: AccessContext, exc: Exception
    ) -> None:
        """The run raised (a key file missing, the database busy, the transport down): what
        it claimed and did not hand to the relay is pending again (see `_run`); the mailing
        is incomplete and the allow gets its outcome, a `deny` naming the failure, recorded
        after those commits. The caller then answers 503 / exit 8, and a send resumes."""
        # If the database itself failed, the status may stay `sending`; a resume fixes it.
        with suppress(Unavailable):
            self._store.set_status(mailing.id, MailingStatus.INCOMPLETE)
        self._outcomes.record(
            actor,
            Action.MAIL,
            mailing_resource(mailing.id),
            Outcome.MAILING_SENT,
            f"mailing {mailing.id} ({mailing.purpose.value}): the run failed "
            f"({type(exc).__name__}); what it had not sent is pending, resumable",
            context,
            allowed=False,
        )

    def _run(
        self, mailing: Mailing, keys: RegistryKeys, on_progress: ProgressHook | None
    ) -> str | None:
        run_id = secrets.token_hex(8)
        after = 0
        while True:
            claimed = self._store.claim(mailing.id, run_id, after, self._batch)
            if not claimed:
                return None
            after = claimed[-1].seq
            try:
                messages, results = self._messages(mailing, keys, claimed)
                sendable = [d for d in claimed if d.seq in messages]
                batch = self._mailer.send_many(
                    [messages[d.seq] for d in sendable], purpose=mailing.purpose
                )
            except BaseException:
                # Nothing of this batch reached the relay's answer: back to pending, no
                # attempt counted. (A failure recording the answers, below, leaves them
                # `sending`: they may have been delivered, so they are unknown, never resent.)
                # If the database failed too, they stay `sending`: unknown, never resent.
                with suppress(Unavailable):
                    self._store.release(mailing.id, run_id, [d.seq for d in claimed])
                raise
            for delivery, handed in zip(sendable, batch.handed, strict=False):
                results.append(_result(delivery, handed))
            for delivery in sendable[len(batch.handed) :]:
                results.append(DeliveryResult(delivery.seq, DeliveryStatus.PENDING))
            self._store.finish(mailing.id, results, self._clock())
            if on_progress is not None:
                on_progress(self._store.progress(mailing.id))
            if batch.stopped is not None:
                return batch.stopped

    def _messages(
        self, mailing: Mailing, keys: RegistryKeys, claimed: list[Delivery]
    ) -> tuple[dict[int, Outgoing], list[DeliveryResult]]:
        """Each claimed delivery's message. Who is no longer a customer, or (for a
        new-service mailing) opted out since composing, is refused and not mailed."""
        sealed = {c.id: c for c in self._audience.sealed([d.customer_id for d in claimed])}
        opted_out = (
            self._audience.opted_out() if mailing.purpose is MailPurpose.NEW_SERVICE else set()
        )
        digests: list[tuple[int, bytes]] = []
        messages: dict[int, Outgoing] = {}
        results: list[DeliveryResult] = []
        for d in claimed:
            customer = sealed.get(d.customer_id)
            why = (
                "no customer" if customer is None
                else "no longer a customer" if customer.status is not CustomerStatus.ACTIVE
                else "opted out" if customer.id in opted_out
                else None
            )  # fmt: skip
            if why is not None or customer is None:
                results.append(DeliveryResult(d.seq, DeliveryStatus.REFUSED, None, why))
                continue
            to = decrypt_field(data_key(keys, customer), customer.id, "email", customer.email)
            headers = {
                "Auto-Submitted": "auto-generated",
                "Feedback-ID": f"{mailing.id}:{mailing.purpose.value}:mailing:{self._domain}",
            }
            if mailing.purpose is MailPurpose.NEW_SERVICE:
                token = secrets.token_urlsafe(24)
                digests.append((d.seq, token_digest(token)))
                headers["List-Unsubscribe"] = f"<{self._unsubscribe_url}?token={token}>"
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            messages[d.seq] = Outgoing(to, mailing.subject, mailing.body, headers)
        # Stored before anything is sent, so a link in a delivered message always works.
        self._store.set_unsubscribe(mailing.id, digests)
        return messages, results

    def unsubscribe(self, token: str) -> None:
        """RFC 8058 one-click unsubscribe from new-service mailings; no login, the token is
        the proof. InvalidInput for a token that is no one's (nothing is said about whom).
        Only the opt-out itself is ledgered: a replayed link changes nothing and adds nothing."""
        if not 16 <= len(token) <= 128 or not token.isascii():
            raise InvalidInput("token", "is not an unsubscribe token")
        found = self._store.opt_out_by_digest(token_digest(token), self._clock())
        if found is None:
            raise InvalidInput("token", "is not an unsubscribe token")
        customer_id, newly = found
        if not newly:
            return  # a replayed link (or a second click): same answer, nothing new to ledger
        self._outcomes.record(
            Actor(ActorKind.CUSTOMER, customer_id),
            Action.UPDATE,
            Resource(ResourceKind.MAILING, "opt-out", owner=customer_id),
            Outcome.MAILING_UNSUBSCRIBED,
            "opted out of new-service mailings (one-click unsubscribe)",
            AccessContext(mailing_purpose=MailPurpose.NEW_SERVICE.value),
        )


def _result(delivery: Delivery, handed: Handed) -> DeliveryResult:
    if handed.message_id is not None:
        return DeliveryResult(delivery.seq, DeliveryStatus.SENT, handed.message_id)
    if handed.in_flight:
        # The relay had the whole message when the connection dropped: it may have been
        # delivered, so it stays `sending` (unknown), listed and never sent again.
        return DeliveryResult(delivery.seq, DeliveryStatus.SENDING, None, handed.error)
    status = DeliveryStatus.REFUSED if handed.permanent else DeliveryStatus.PENDING
    return DeliveryResult(delivery.seq, status, None, handed.error or "not accepted")
