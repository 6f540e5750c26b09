"""The outcome catalogue (issue 10 item 2): every outcome cites a promise, no module writes an
outcome id by hand, and the recorder ledgers a refusal before raising it with the same id."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from entrusted.domain.policy import Action, Resource, ResourceKind
from entrusted.errors import Refused
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import PROMISES, Outcome, OutcomeRecorder
from tests.unit.registry_world import SUPPORT, World

pytestmark = pytest.mark.promise("P3", "P12")

SRC = Path(__file__).resolve().parents[2] / "src" / "entrusted"
CATALOGUE = SRC / "services" / "outcomes.py"
PROMISE_IDS = {f"P{n}" for n in range(1, 18)}
# What an outcome id looks like: an area, a dot, a kebab-case step.
AREAS = "gate|registry|consent|mail|staff|keys|policy|ftp|backup|disclosure|mailing"
ID_SHAPE = re.compile(rf"^({AREAS})\.[a-z]+(-[a-z]+)*$")


def outcome_literals(source: str) -> list[str]:
    """String constants in `source` that are outcome ids (catalogued or shaped like one),
    docstrings excepted: prose may name an id, code must take it from the catalogue."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    known = {o.value for o in Outcome}
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and (node.value in known or ID_SHAPE.match(node.value))
    ]


def test_every_outcome_cites_a_known_promise() -> None:
    assert set(PROMISES) == set(Outcome)
    for outcome in Outcome:
        assert outcome.promises, f"{outcome.name} cites no promise"
        assert set(outcome.promises) <= PROMISE_IDS, outcome.name


def test_ids_are_unique_and_keep_their_ledger_values() -> None:
    values = [o.value for o in Outcome]
    assert len(values) == len(set(values))
    # Ids the ledger already holds must not change meaning or spelling.
    assert Outcome.CONTRACT_HANDED_OVER == "registry.contract-handed-over"
    assert Outcome.GRANTED == "consent.granted"
    assert Outcome.INVALID_REQUEST == "gate.invalid-request"


def test_no_service_or_entrypoint_writes_an_outcome_id_by_hand() -> None:
    """Services ledger outcomes, entrypoints turn them into answers: both take the ids from
    the catalogue. (Adapters name columns such as `staff.id`; the domain's outbox topics are
    message kinds, not ledger outcomes.)"""
    modules = [*(SRC / "services").rglob("*.py"), *(SRC / "entrypoints").rglob("*.py")]
    offenders = {
        str(path.relative_to(SRC)): found
        for path in sorted(modules)
        if path != CATALOGUE and (found := outcome_literals(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_literal_check_catches_a_planted_id() -> None:
    planted = 'def f():\n    """Refuses: `consent.link-spent`."""\n    return "consent.link-spent"'
    assert outcome_literals(planted) == ["consent.link-spent"]
    assert outcome_literals('RULE = "mail.brand-new-step"\n') == ["mail.brand-new-step"]
    assert outcome_literals('"""Mentions consent.link-spent in prose."""\n') == []


def test_refuse_ledgers_then_raises_with_the_same_outcome() -> None:
    world = World()
    resource = Resource(ResourceKind.CASE, "case_1", owner="cus_1")
    with pytest.raises(Refused) as caught:
        OutcomeRecorder(world.gate).refuse(
            SUPPORT,
            Action.UPDATE,
            resource,
            Outcome.CASE_RESOLVED,
            "case case_1 is resolved",
            AccessContext(case_id="case_1"),
        )
    assert caught.value.decision.rule_id == "consent.case-resolved"
    last = world.ledger.entries[-1]
    assert (last.decision, last.rule, last.reason, last.refs) == (
        "deny",
        "consent.case-resolved",
        "case case_1 is resolved",
        {"case": "case_1"},
    )


def test_record_ledgers_an_allow_or_a_failure() -> None:
    world = World()
    resource = Resource(ResourceKind.PERSONAL_DETAILS, "cus_1", owner="cus_1")
    recorder = OutcomeRecorder(world.gate)
    ok = recorder.record(SUPPORT, Action.IDENTIFY, resource, Outcome.IDENTIFICATION, "done")
    recorder.record(
        SUPPORT, Action.IDENTIFY, resource, Outcome.IDENTIFICATION, "wrong code", allowed=False
    )
    assert ok.index == len(world.ledger.entries) - 2
    assert [(e.decision, e.rule) for e in world.ledger.entries[-2:]] == [
        ("allow", "registry.identification"),
        ("deny", "registry.identification"),
    ]
