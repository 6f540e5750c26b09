"""Proof of promises: the evidence report of P1..P17 (issue 19), made from what the system
already knows.

For each promise of the policy document in force: the rules that implement it, the invariants
that protect it (re-proved now, as `entrusted policy check` does), the tests of the last run
that exercise it (from the test manifest), and live figures for the period: ledger figures,
each counted in one scan up to a signed checkpoint and recomputable by anyone holding the log
(`entrusted evidence verify`), and database figures (overdue backups, witnesses) read now.
What needs looking at comes first, as red flags (`services/evidence_flags.py`).

```python
evidence = EvidenceService(ledger, facts, ruleset, policy_text, read_manifest, clock, gate)
report = evidence.report(date(2026, 11, 1), date(2026, 12, 1))          # the operator
report = evidence.report_for(legal, date(2026, 11, 1), date(2026, 12, 1))  # gated: legal only
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import NoReturn, Protocol

from entrusted.domain.backups import Archive, ArchiveStatus, DayKey, is_due
from entrusted.domain.checkpoint import b64encode
from entrusted.domain.evidence import (
    PROMISE_IDS,
    BackupAge,
    CheckpointRef,
    EvidenceReport,
    Figure,
    PromiseEvidence,
    TestManifest,
)
from entrusted.domain.ids import INVALID_ID
from entrusted.domain.policy import Action, Actor, Decision, Effect, Resource, ResourceKind
from entrusted.domain.policy_analysis import RuleSet, check_invariants
from entrusted.domain.policy_document import sections
from entrusted.errors import InvalidInput
from entrusted.services.evidence_figures import (
    count,
    daily_access,
    figure_specs,
    reason_rules,
    tally,
)
from entrusted.services.evidence_flags import Findings, red_flags, test_evidence
from entrusted.services.gate import Gate
from entrusted.services.outcomes import Outcome, OutcomeRecorder

LAST_VERIFIED_FIGURE = "P3.verifications"
# The figures read from the provider's tables, not the log (`_database_figures`): the only
# keys `evidence verify` accepts with the source "database".
DATABASE_FIGURES = frozenset({"P3.checkpoints", "P3.witness_cosignatures", "P16.overdue"})
MAX_PERIOD_DAYS = 3660  # ten years: a longer period is a typing mistake, not a report


class Clock(Protocol):
    def __call__(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class SignedHead:
    """The checkpoint a report is computed against: entries [0, size) and the signed note."""

    size: int
    root: bytes
    note: str


@dataclass(frozen=True, slots=True)
class WitnessState:
    """One configured witness: what it last cosigned, when, and whether it objected."""

    name: str
    last_size: int
    last_cosigned_at: datetime | None
    halted_reason: str | None


@dataclass(frozen=True, slots=True)
class OutlivedGrant:
    """A grant still usable, or ended, after its case was resolved (P11)."""

    grant_id: str
    case_id: str
    resolved_at: datetime
    ended_at: datetime | None


class EvidenceLedger(Protocol):
    """The log as the report reads it (`adapters/db/evidence_store.py`)."""

    def signed_head(self) -> SignedHead:
        """A checkpoint covering every entry appended so far, signed now if need be."""
        ...

    def entry_chunks(self, size: int) -> Iterator[Sequence[bytes]]:
        """The bodies of entries [0, size), in order, a chunk at a time, in one snapshot."""
        ...


class EvidenceFacts(Protocol):
    """What the report reads from the provider's tables at report time."""

    def checkpoints_signed(self, since: datetime, until: datetime) -> int: ...
    def cosignatures(self, since: datetime, until: datetime) -> int: ...
    def witnesses(self) -> list[WitnessState]: ...
    def backup_days(self) -> list[DayKey]: ...
    def archives(self) -> list[Archive]: ...
    def grants_outliving_cases(self) -> list[OutlivedGrant]: ...


# Reads the test manifest: None when there is none; ValueError when it is not one.
ManifestReader = Callable[[], TestManifest | None]


def period(start: date, end: date) -> tuple[datetime, datetime]:
    """[start, end) as UTC instants; InvalidInput for an empty, reversed or absurd period."""
    if end <= start:
        raise InvalidInput("--to", f"the period must end after it starts ({start} .. {end})")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise InvalidInput("--to", f"a period of at most {MAX_PERIOD_DAYS} days")
    return (datetime.combine(start, time(0), UTC), datetime.combine(end, time(0), UTC))


def promise_texts(policy_text: str) -> dict[str, str]:
    """Each promise as the policy document states it: the titles of the sections citing it."""
    found: dict[str, list[str]] = {}
    for section in sections(policy_text):
        for p in section.promises:
            found.setdefault(p, []).append(section.title)
    return {p: "; ".join(titles) for p, titles in found.items()}


class EvidenceService:
    def __init__(
        self,
        ledger: EvidenceLedger,
        facts: EvidenceFacts,
        ruleset: RuleSet,
        policy_text: Callable[[], str],
        read_manifest: ManifestReader,
        clock: Clock,
        gate: Gate,
        retention_days: int = 7,
        test_source: str = "",
    ) -> None:
        self._ledger = ledger
        self._facts = facts
        self._ruleset = ruleset
        self._policy_text = policy_text
        self._read_manifest = read_manifest
        self._clock = clock
        self._gate = gate
        self._retention_days = retention_days
        self._test_source = test_source  # the manifest's path, named in the report

    def report_for(self, actor: Actor, start: date, end: date) -> EvidenceReport:
        """The report for a staff member: the rules decide (legal only), and the decision is
        ledgered, refusals included (`Refused` carries the rule)."""
        try:
            since, until = period(start, end)
        except InvalidInput as exc:  # refused before anything is read, and ledgered
            self.refuse_input(actor, exc)
        resource = Resource(ResourceKind.EVIDENCE_REPORT, f"{start}..{end}")
        self._gate.decide(actor, Action.READ, resource)
        return self._report(since, until)

    def report_between(
        self,
        actor: Actor,
        start_text: str | None,
        end_text: str | None,
        fields: tuple[str, str] = ("start", "end"),
    ) -> EvidenceReport:
        """`report_for` from the dates as typed (`YYYY-MM-DD`), for the API and the console
        alike: text that is not a date is refused and ledgered (`gate.invalid-request`, naming
        the field, never echoing the text) before anything is read. `fields` names the two
        dates as the caller's request does (the API's `from`/`to`)."""
        try:
            first, after = _day(start_text, fields[0]), _day(end_text, fields[1])
        except InvalidInput as exc:
            self.refuse_input(actor, exc)
        return self.report_for(actor, first, after)

    def refuse_input(self, actor: Actor, exc: InvalidInput) -> NoReturn:
        """Ledger a report request refused for its dates (`gate.invalid-request`, naming the
        field and the problem; the entry's resource is the placeholder id), then raise it:
        every decision is on record, refusals included, and nothing else is written."""
        denial = Decision(Effect.FORBID, Outcome.INVALID_REQUEST.value, str(exc))
        resource = Resource(ResourceKind.EVIDENCE_REPORT, INVALID_ID)
        self._gate.record_outcome(actor, Action.READ, resource, denial)
        raise exc

    def report(self, start: date, end: date, operator: Actor | None = None) -> EvidenceReport:
        """The report for the machine's operator (the CLI), who holds the database anyway;
        with `operator`, that it was made is ledgered afterwards (an outcome, not a decision:
        no rule stands between the operator and their own database)."""
        since, until = period(start, end)
        made = self._report(since, until)
        if operator is not None:
            resource = Resource(ResourceKind.EVIDENCE_REPORT, f"{start}..{end}")
            why = f"evidence report made at checkpoint size {made.checkpoint.size}"
            OutcomeRecorder(self._gate).record(
                operator, Action.READ, resource, Outcome.EVIDENCE_REPORT_MADE, why
            )
        return made

    def _report(self, since: datetime, until: datetime) -> EvidenceReport:
        now = self._clock()
        head = self._ledger.signed_head()
        specs = figure_specs(self._ruleset, since, until)
        found = tally(self._ledger.entry_chunks(head.size), reason_rules(specs))
        figures: dict[str, list[Figure]] = {p: [] for p in PROMISE_IDS}
        for spec in specs:
            value = count(spec.query, found)
            note = spec.note
            if spec.key == LAST_VERIFIED_FIGURE:  # when the newest one ran, in the whole log
                note = f"last full verification passed: {found.last_verified or 'never'}"
            figure = Figure(spec.key, spec.label, value, "ledger", spec.query, note)
            figures[figure.promise].append(figure)
        manifest, manifest_problem = self._manifest()
        days, archives = self._facts.backup_days(), self._facts.archives()
        overdue = [d for d in days if is_due(d, now)]
        for figure in self._database_figures(since, until, overdue):
            figures[figure.promise].append(figure)
        violations = check_invariants(self._ruleset)
        findings = Findings(
            violations=violations,
            manifest=manifest,
            manifest_problem=manifest_problem,
            overdue=overdue,
            figures=figures,
            witnesses=self._facts.witnesses(),
            head_size=head.size,
            outlived=self._facts.grants_outliving_cases(),
            now=now,
        )
        flags = red_flags(findings, self._ruleset)
        flagged = {f.promise for f in flags}
        texts = promise_texts(self._policy_text())
        violated = {v.invariant.id for v in violations}
        promises = []
        for p in PROMISE_IDS:
            rules = tuple(r.id for r in self._ruleset.rules if p in r.implements)
            invariants = tuple(
                (i.id, i.id not in violated) for i in self._ruleset.invariants if p in i.implements
            )
            promises.append(
                PromiseEvidence(
                    id=p,
                    text=texts.get(p, "(not stated by the policy document in force)"),
                    rules=rules,
                    invariants=invariants,
                    tests=test_evidence(manifest, p),
                    figures=tuple(figures[p]),
                    red=p in flagged or "*" in flagged,
                )
            )
        return EvidenceReport(
            period_from=since,
            period_to=until,
            generated=now,
            checkpoint=CheckpointRef(head.size, b64encode(head.root), head.note),
            test_run=None if manifest is None else manifest.summary(),
            red_flags=tuple(flags),
            promises=tuple(promises),
            daily_access=tuple(daily_access(found, since, until)),
            backup_ages=tuple(_ages(archives, now)),
            retention_days=self._retention_days,
            test_source=self._test_source,
        )

    def _manifest(self) -> tuple[TestManifest | None, str | None]:
        try:
            manifest = self._read_manifest()
        except ValueError as exc:
            return None, f"the test manifest is unreadable: {exc}"
        return manifest, None

    def _database_figures(
        self, since: datetime, until: datetime, overdue: list[DayKey]
    ) -> list[Figure]:
        f = self._facts
        return [
            Figure(
                "P3.checkpoints",
                "checkpoints signed",
                f.checkpoints_signed(since, until),
                "database",
                note="ledger_checkpoint rows signed in the period",
            ),
            Figure(
                "P3.witness_cosignatures",
                "witness cosignatures",
                f.cosignatures(since, until),
                "database",
                note="ledger_cosignature rows cosigned in the period",
            ),
            Figure(
                "P16.overdue",
                "day keys past their 7 days and not destroyed (must be 0)",
                len(overdue),
                "database",
                note="backup_day_key rows with destroy_after in the past, at report time",
            ),
        ]


def _day(value: str | None, field: str) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:  # the text sent is not echoed: the refusal is ledgered
        raise InvalidInput(field, "is not a date (YYYY-MM-DD)") from None


def _ages(archives: list[Archive], now: datetime) -> list[BackupAge]:
    """Each stored archive's age in days: until now, or until its key was destroyed."""
    ages = []
    for a in archives:
        if a.status in (ArchiveStatus.FAILED, ArchiveStatus.WRITING):
            continue
        end = a.destroyed_at or now
        days = (end - a.created_at).total_seconds() / 86400
        ages.append(BackupAge(a.id, round(days, 3), a.destroyed_at is not None))
    return ages
