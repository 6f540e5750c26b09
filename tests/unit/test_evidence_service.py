"""The evidence service over its in-memory twins (issue 19): a witness that refused, a rules
file that cites no promise for one of them, and an unreadable manifest each make the red flag
they should; the report's ledger figures are counted up to the head it names."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.audit import AuditEntry
from entrusted.domain.evidence import FlagKind, TestManifest
from entrusted.domain.policy_analysis import RuleSet
from entrusted.domain.policy_document_default import DEFAULT_TEXT
from entrusted.services.evidence import EvidenceService, WitnessState
from entrusted.services.gate import Gate
from entrusted.services.memory import InMemoryLedger
from entrusted.services.memory_evidence import InMemoryEvidenceFacts, InMemoryEvidenceLedger
from tests.conftest import FakeClock
from tests.unit.registry_world import ENGINE

pytestmark = pytest.mark.promise("P3", "P14")

RULES = load_rules(DEFAULT_RULES_PATH)
NOV = (date(2026, 11, 1), date(2026, 12, 1))


def entry(decision: str, when: datetime) -> AuditEntry:
    return AuditEntry(
        time=when,
        actor_kind="staff",
        actor_id="stf_1",
        action="read",
        resource_kind="ledger",
        resource_id="all",
        decision=decision,
        reason="r",
        nonce=secrets.token_bytes(32),
        rule="staff-audit-the-ledger",
    )


def service(
    facts: InMemoryEvidenceFacts,
    manifest: TestManifest | ValueError | None = None,
    rules: RuleSet = RULES,
) -> tuple[EvidenceService, InMemoryLedger]:
    clock = FakeClock()
    ledger = InMemoryLedger()

    def read() -> TestManifest | None:
        if isinstance(manifest, ValueError):
            raise manifest
        return manifest

    gate = Gate(ENGINE, ledger, clock)
    evidence = EvidenceService(
        InMemoryEvidenceLedger(ledger),
        facts,
        rules,
        lambda: DEFAULT_TEXT,
        read,
        clock,
        gate,
    )
    return evidence, ledger


def test_figures_count_up_to_the_head_and_flags_say_why() -> None:
    halted = WitnessState("w.example", 3, datetime(2026, 11, 20, tzinfo=UTC), "inconsistent")
    evidence, ledger = service(
        InMemoryEvidenceFacts(witness_states=[halted]), ValueError("bad json")
    )
    when = datetime(2026, 11, 20, tzinfo=UTC)
    ledger.append_many([entry("allow", when), entry("deny", when), entry("deny", when)])
    ledger.append(entry("allow", when - timedelta(days=40)))  # before the period
    report = evidence.report(*NOV)
    values = {f.key: f.value for f in report.figures()}
    assert (values["P3.entries"], values["P3.refusals"]) == (3, 2)
    assert report.checkpoint.size == 4
    kinds = {(f.promise, f.kind): f.detail for f in report.red_flags}
    assert "inconsistent" in kinds[("P3", FlagKind.WITNESS_SILENT)]
    assert "bad json" in kinds[("*", FlagKind.NO_TEST_RUN)]


def test_a_promise_with_no_evidence_is_red() -> None:
    bare = replace(
        RULES,
        rules=tuple(r for r in RULES.rules if "P13" not in r.implements),
        invariants=tuple(i for i in RULES.invariants if "P13" not in i.implements),
    )
    evidence, _ = service(InMemoryEvidenceFacts(), rules=bare)
    report = evidence.report(*NOV)
    assert ("P13", FlagKind.NO_EVIDENCE) in {(f.promise, f.kind) for f in report.red_flags}
    p13 = next(p for p in report.promises if p.id == "P13")
    assert p13.red
    assert (p13.rules, p13.invariants) == ((), ())
