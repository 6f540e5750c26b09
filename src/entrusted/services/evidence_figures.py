"""The ledger figures of the evidence report: which query counts what.

Every figure is counted from one scan of the log (`services/evidence_tally.py`): each entry
is decoded once into a small tally, and each figure's query is evaluated over the tally with
the same predicate `evidence verify` runs entry by entry.

Outcome ids come from the catalogue (`services/outcomes.py`), never from literals here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from entrusted.domain.evidence import DailyCount, LedgerQuery
from entrusted.domain.evidence_query import iso
from entrusted.domain.policy import Action, ActorKind, ResourceKind
from entrusted.domain.policy_analysis import RuleSet
from entrusted.services.evidence_tally import Tally, TallyKey, count, tally
from entrusted.services.outcomes import PROMISES, Outcome

__all__ = [
    "FigureSpec",
    "Tally",
    "TallyKey",
    "count",
    "daily_access",
    "figure_specs",
    "reason_rules",
    "tally",
]

ALLOW, DENY = frozenset({"allow"}), frozenset({"deny"})
# Customer data, as the daily-access chart shows it (staff accesses only).
CHART_KINDS = frozenset(
    {
        ResourceKind.MAILBOX_CONTENT,
        ResourceKind.MAILBOX_METADATA,
        ResourceKind.FTP_SPACE,
        ResourceKind.FTP_SPACE_METADATA,
        ResourceKind.BACKUP,
        ResourceKind.PERSONAL_DETAILS,
    }
)
# A staff member inside a mailbox or an FTP space: only ever under a grant (P9, P10, P11).
GRANTED_ACCESS = LedgerQuery(
    effects=ALLOW,
    actions=frozenset({Action.ENTER, Action.READ}),
    kinds=frozenset({ResourceKind.MAILBOX_CONTENT, ResourceKind.FTP_SPACE}),
    actor_kinds=frozenset({ActorKind.STAFF}),
)


@dataclass(frozen=True, slots=True)
class FigureSpec:
    """A ledger figure before it is counted."""

    key: str
    label: str
    query: LedgerQuery
    note: str = ""


def _o(*outcomes: Outcome) -> frozenset[str]:
    return frozenset(o.value for o in outcomes)


def _ended(why: str) -> frozenset[str]:
    """The reason `GrantService.announce_ended` writes for a grant ended `why`."""
    return frozenset({f"grant ended: {why}"})


def figure_specs(ruleset: RuleSet, since: datetime, until: datetime) -> list[FigureSpec]:
    """Every ledger figure of the report for the period [since, until)."""

    def q(**narrow: object) -> LedgerQuery:
        return LedgerQuery(since=since, until=until, **narrow)  # type: ignore[arg-type]  # the fields of LedgerQuery, by name

    # A staff member asking into a mailbox or an FTP space without a usable grant is refused
    # by the rules (`mailbox-closed-to-staff`, ...) or by an outcome (`mail.no-grant`,
    # `consent.sessions-spent`, ...): every such denial counts, whichever wrote it.
    refused_in = {
        "effects": DENY,
        "actions": GRANTED_ACCESS.actions,
        "actor_kinds": GRANTED_ACCESS.actor_kinds,
    }
    specs = [
        FigureSpec("P1.identifications", "callers identified", q(rules=_o(Outcome.IDENTIFICATION))),
        FigureSpec(
            "P1.contracts_handed_over",
            "contracts transferred",
            q(rules=_o(Outcome.CONTRACT_HANDED_OVER)),
        ),
        FigureSpec(
            "P2.personal_details_refused",
            "requests for personal details refused",
            q(effects=DENY, kinds=frozenset({ResourceKind.PERSONAL_DETAILS})),
        ),
        FigureSpec("P3.entries", "ledger entries in the period", q()),
        FigureSpec("P3.refusals", "refusals recorded", q(effects=DENY)),
        FigureSpec(
            "P3.verifications",
            "full ledger verifications passed",
            q(rules=_o(Outcome.LEDGER_VERIFIED), effects=ALLOW),
        ),
        FigureSpec(
            "P3.tamper_alerts",
            "tampering alerts (must be 0)",
            q(rules=_o(Outcome.LEDGER_TAMPERED)),
        ),
        FigureSpec(
            "P4.bulk_exports_refused",
            "bulk exports refused",
            q(rules=_o(Outcome.NO_BULK_EXPORT)),
        ),
        FigureSpec(
            "P4.customer_file_exported",
            "customer file exports allowed (must be 0)",
            q(effects=ALLOW, kinds=frozenset({ResourceKind.CUSTOMER_FILE})),
        ),
        FigureSpec(
            "P5.third_party_requests",
            "third-party requests recorded",
            q(rules=_o(Outcome.DISCLOSURE_REQUEST_RECORDED), effects=ALLOW),
        ),
        FigureSpec(
            "P5.refused",
            "disclosures refused (no covering Swiss court order)",
            q(
                rules=_o(
                    Outcome.DISCLOSURE_NOT_COVERED,
                    Outcome.COURT_ORDER_FOREIGN,
                    Outcome.COURT_ORDER_EXPIRED,
                    Outcome.DISCLOSURE_NOT_APPROVED,
                ),
                effects=DENY,
            ),
        ),
        FigureSpec(
            "P5.third_parties_refused",
            "third parties refused at the gate",
            q(effects=DENY, actor_kinds=frozenset({ActorKind.THIRD_PARTY})),
        ),
        FigureSpec(
            "P5.disclosed_under_order",
            "disclosures made under a court order",
            q(rules=_o(Outcome.DISCLOSED), effects=ALLOW),
        ),
        FigureSpec("P6.mailings_sent", "mailings sent", q(rules=_o(Outcome.MAILING_SENT))),
        FigureSpec(
            "P6.mailings_refused",
            "mailings refused (purpose or audience)",
            q(rules=_o(Outcome.MAILING_REFUSED, Outcome.MAILING_OUTSIDE_AUDIENCE)),
        ),
        FigureSpec(
            "P7.unsubscribed", "customers unsubscribed", q(rules=_o(Outcome.MAILING_UNSUBSCRIBED))
        ),
        FigureSpec(
            "P8.staff_refusals",
            "staff requests refused by the rules",
            q(effects=DENY, actor_kinds=frozenset({ActorKind.STAFF})),
        ),
        # Not logins: the FTP server asks the gate again for every command of a staff session
        # (`GrantEntry.step`, ledgered "ftp <verb>" in the note), and the tally does not read
        # notes, so the login and each command count alike.
        FigureSpec(
            "P9.ftp_operations_under_grant",
            "staff FTP operations under a grant (each login and each command)",
            q(
                effects=ALLOW,
                actions=frozenset({Action.ENTER}),
                kinds=frozenset({ResourceKind.FTP_SPACE}),
                actor_kinds=frozenset({ActorKind.STAFF}),
            ),
        ),
        FigureSpec(
            "P9.ftp_refused_without_grant",
            "staff FTP logins and reads refused (no usable grant)",
            q(**refused_in, kinds=frozenset({ResourceKind.FTP_SPACE})),
        ),
        FigureSpec(
            "P10.mailbox_entries_under_grant",
            "staff mailbox logins under a grant",
            q(
                effects=ALLOW,
                actions=frozenset({Action.ENTER, Action.READ}),
                kinds=frozenset({ResourceKind.MAILBOX_CONTENT}),
                actor_kinds=frozenset({ActorKind.STAFF}),
            ),
        ),
        FigureSpec(
            "P10.mailbox_refused",
            "staff mailbox logins and reads refused (no usable grant)",
            q(**refused_in, kinds=frozenset({ResourceKind.MAILBOX_CONTENT})),
        ),
        FigureSpec(
            "P11.grants_opened",
            "consent grants opened",
            q(rules=_o(Outcome.GRANTED), effects=ALLOW),
        ),
        FigureSpec(
            "P11.ended_by_resolution",
            "grants ended when their case was resolved",
            q(rules=_o(Outcome.GRANT_ENDED), reasons=_ended("case_resolved")),
        ),
        FigureSpec(
            "P11.ended_by_revocation",
            "grants revoked by the customer",
            q(rules=_o(Outcome.GRANT_ENDED), reasons=_ended("revoked")),
        ),
        FigureSpec(
            "P11.ended_by_backstop",
            "grants ended by the backstop timer",
            q(rules=_o(Outcome.GRANT_ENDED), reasons=_ended("expired")),
        ),
        FigureSpec(
            "P11.refused_without_grant",
            "staff logins and reads refused without a usable grant",
            q(**refused_in, kinds=GRANTED_ACCESS.kinds),
        ),
        FigureSpec(
            "P11.access_without_grant",
            "staff accesses allowed without a grant (must be 0)",
            q(**_fields(GRANTED_ACCESS), lacking_ref="grant"),
        ),
        FigureSpec(
            "P13.mailbox_metadata_views",
            "mailbox metadata views",
            q(
                effects=ALLOW,
                actions=frozenset({Action.LIST_METADATA}),
                kinds=frozenset({ResourceKind.MAILBOX_METADATA}),
            ),
        ),
        FigureSpec(
            "P14.monitor_uses",
            "uses of the mailbox monitor recorded (allowed or refused)",
            q(kinds=frozenset({ResourceKind.MAILBOX_METADATA})),
        ),
        FigureSpec(
            "P15.restores", "backups restored by sysadmins", q(rules=_o(Outcome.BACKUP_RESTORED))
        ),
        FigureSpec(
            "P15.backup_refusals",
            "backup requests refused",
            q(effects=DENY, kinds=frozenset({ResourceKind.BACKUP})),
        ),
        FigureSpec("P16.backups_made", "backups made", q(rules=_o(Outcome.BACKUP_TAKEN))),
        FigureSpec(
            "P16.destroyed_on_schedule",
            "day keys destroyed (with every backup they sealed)",
            q(rules=_o(Outcome.BACKUP_KEY_DESTROYED)),
        ),
        FigureSpec(
            "P17.versions_published",
            "policy document versions published",
            q(rules=_o(Outcome.POLICY_DOCUMENT_PUBLISHED)),
        ),
        FigureSpec(
            "P12.rules_deployed", "rules files deployed", q(rules=_o(Outcome.POLICY_DEPLOYED))
        ),
    ]
    return specs + _cited(ruleset, since, until)


def _fields(query: LedgerQuery) -> dict[str, object]:
    return {
        "effects": query.effects,
        "actions": query.actions,
        "kinds": query.kinds,
        "actor_kinds": query.actor_kinds,
    }


def _cited(ruleset: RuleSet, since: datetime, until: datetime) -> list[FigureSpec]:
    """Per promise, the entries decided by a rule or outcome that cites it: the catalogue and
    the rules file say which, so every promise has at least this figure."""
    by_promise: dict[str, set[str]] = {}
    for outcome, promises in PROMISES.items():
        for p in promises:
            by_promise.setdefault(p, set()).add(outcome.value)
    for rule in ruleset.rules:
        for p in rule.implements:
            by_promise.setdefault(p, set()).add(rule.id)
    return [
        FigureSpec(
            f"{p}.entries_citing",
            f"entries decided by a rule or outcome citing {p}",
            LedgerQuery(rules=frozenset(ids), since=since, until=until),
        )
        for p, ids in sorted(by_promise.items(), key=lambda kv: int(kv[0][1:]))
    ]


def reason_rules(specs: Iterable[FigureSpec]) -> frozenset[str]:
    """The rules whose reasons some query reads: only their entries keep a reason in the key."""
    found: set[str] = set()
    for spec in specs:
        if spec.query.reasons is not None:
            if spec.query.rules is None:
                raise ValueError(f"{spec.key}: a query on reasons must name its rules")
            found |= spec.query.rules
    return frozenset(found)


def daily_access(found: Tally, since: datetime, until: datetime) -> list[DailyCount]:
    """Staff accesses to customer data per day, by kind and decision (the report's chart)."""
    lo, hi = iso(since)[:10], iso(until - timedelta(microseconds=1))[:10]
    per: dict[tuple[str, str, str], int] = {}
    for (_, decision, _, kind, actor, _, day, _), n in found.counts.items():
        if actor == ActorKind.STAFF and kind in CHART_KINDS and lo <= day <= hi:
            key = (day, kind, decision)
            per[key] = per.get(key, 0) + n
    return [DailyCount(d, k, e, n) for (d, k, e), n in sorted(per.items())]
