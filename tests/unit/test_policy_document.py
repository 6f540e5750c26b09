"""The public policy document (P17) on its in-memory twin and the shipped rules: the shipped
text states every promise, a version is parsed into sections, the version in force follows
the effective dates, bad drafts are refused before anything is written, only legal publishes
(the refusal names its rule and is ledgered), and a publication is ledgered by number and
hash, never text, and announced once through the event bus."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from entrusted.domain.policy import Action, Actor, ActorKind, Role
from entrusted.domain.policy_document import (
    PROMISE_IDS,
    PolicyVersion,
    check_draft,
    in_force,
    normalise,
    promises_stated,
    sections,
    text_sha256,
)
from entrusted.domain.policy_document_default import DEFAULT_TEXT
from entrusted.errors import Conflict, InvalidInput, Unavailable
from entrusted.services.events import EventBus, PolicyDocumentPublished
from entrusted.services.gate import Gate
from entrusted.services.memory import InMemoryLedger
from entrusted.services.memory_policy_document import InMemoryPolicyDocumentStore
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.policy_document import PolicyDocuments, RulesInForce
from tests.conftest import FakeClock
from tests.refusals import refused_by
from tests.unit.registry_world import ENGINE

pytestmark = pytest.mark.promise("P17")

LEGAL = Actor(ActorKind.STAFF, "stf_legal", frozenset({Role.LEGAL}))
TODAY = date(2026, 11, 27)
REST = ", ".join(f"P{n}" for n in range(1, 18) if n not in (15, 16))
# A version states every promise P1..P17 (the system keeps all of them).
NEW_TEXT = (
    f"Our privacy policy\n\n## Backups [P15, P16]\nKept one week.\n\n## The rest [{REST}]\nx\n"
)


TODAY_AT = datetime(2026, 11, 27, tzinfo=UTC)


def shipped(effective: date = TODAY) -> PolicyVersion:
    text = normalise(DEFAULT_TEXT)
    at = datetime(2026, 11, 27, tzinfo=UTC)
    return PolicyVersion(1, text, text_sha256(text), effective, "entrusted", "shipped", at)


def test_the_shipped_text_states_every_promise_in_its_own_sections() -> None:
    assert promises_stated(DEFAULT_TEXT) == set(PROMISE_IDS)
    found = sections(normalise(DEFAULT_TEXT))
    assert found[0].title == "How we look after the data you entrust to us"
    assert found[0].promises == ()
    assert all(s.paragraphs for s in found)
    assert all(s.promises for s in found[1:])


def test_sections_parse_titles_promise_ids_and_paragraphs() -> None:
    found = sections("Title\n\nintro line\n\n## Mail [P10, P11]\none\ntwo\n\nthree\n## Plain")
    assert [(s.title, s.promises, s.paragraphs) for s in found] == [
        ("Title", (), ("intro line",)),
        ("Mail", ("P10", "P11"), ("one two", "three")),
        ("Plain", (), ()),
    ]


def test_the_version_in_force_follows_effective_dates() -> None:
    v1 = shipped()
    v2 = PolicyVersion(2, "b\n", "x", date(2026, 12, 5), "stf_legal", "b", v1.published_at)
    assert in_force([], TODAY) is None
    assert in_force([v1, v2], TODAY) == v1
    assert in_force([v1, v2], date(2026, 12, 5)) == v2
    # a clock behind the installation still sees the first version: the page never goes blank
    assert in_force([v1, v2], date(2020, 1, 1)) == v1


@pytest.mark.parametrize(
    ("text", "effective", "summary", "field"),
    [
        ("", TODAY, "new", "text"),
        ("  \n\r\n ", TODAY, "new", "text"),
        ("ok\x00", TODAY, "new", "text"),
        ("ok\n## X [P18]\n", TODAY, "new", "text"),
        (NEW_TEXT, TODAY, "  ", "summary"),
        (NEW_TEXT, TODAY - timedelta(days=1), "new", "effective"),
        (DEFAULT_TEXT, TODAY, "the same words", "text"),
        # issue 16 item 3 (trial): a date years ahead froze every later publication
        (NEW_TEXT, TODAY + timedelta(days=367), "new", "effective"),
        (NEW_TEXT, date(9999, 12, 31), "new", "effective"),
        # a version that leaves a promise out promises less than the system keeps
        ("Our privacy policy\n\n## Backups [P15, P16]\nKept one week.\n", TODAY, "new", "text"),
        # ids that look like promises but are unknown, lower case or misplaced
        (NEW_TEXT + "### A [P18]\nx\n", TODAY, "new", "text"),
        (NEW_TEXT + "## A [p18]\nx\n", TODAY, "new", "text"),
        (NEW_TEXT + "## A [p3]\nx\n", TODAY, "new", "text"),
        (NEW_TEXT + "### A [P3]\nx\n", TODAY, "new", "text"),
        (NEW_TEXT + "## A [P3] and more\nx\n", TODAY, "new", "text"),
    ],
)
def test_bad_drafts_name_their_field(text: str, effective: date, summary: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_draft(text, effective, summary, TODAY, shipped())
    assert caught.value.field == field


def test_a_version_may_be_announced_up_to_366_days_ahead() -> None:
    draft = check_draft(NEW_TEXT, TODAY + timedelta(days=366), "new", TODAY, shipped())
    assert draft.effective == TODAY + timedelta(days=366)


def test_a_markdown_title_line_is_shown_without_its_hash() -> None:
    text = "# Our policy\n\nintro\n\n" + NEW_TEXT.split("\n", 1)[1]
    draft = check_draft(text, TODAY, "new", TODAY, shipped())
    version = PolicyVersion(2, draft.text, draft.sha256, TODAY, "stf_legal", "new", TODAY_AT)
    assert version.title == "Our policy"
    assert sections(draft.text)[0].title == "Our policy"


def test_a_version_cannot_take_effect_before_the_last_one() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_draft(NEW_TEXT, TODAY, "new", TODAY, shipped(TODAY + timedelta(days=3)))
    assert caught.value.field == "effective"


def world(
    fail_announcement: bool = False, store: InMemoryPolicyDocumentStore | None = None
) -> tuple[PolicyDocuments, InMemoryLedger, InMemoryPolicyDocumentStore, list[object]]:
    ledger, clock = InMemoryLedger(), FakeClock()
    gate = Gate(ENGINE, ledger, clock)
    store = store or InMemoryPolicyDocumentStore(shipped())
    events, heard = EventBus(), list[object]()
    events.subscribe(PolicyDocumentPublished, heard.append)
    if fail_announcement:

        def broken(_: PolicyDocumentPublished) -> None:
            raise Unavailable("the SMTP relay is down")

        events.subscribe(PolicyDocumentPublished, broken)
    docs = PolicyDocuments(
        store, gate, OutcomeRecorder(gate), clock, events, lambda: RulesInForce("ab" * 32)
    )
    return docs, ledger, store, heard


def test_legal_publishes_a_ledgered_version_announced_once() -> None:
    docs, ledger, store, heard = world()
    v2 = docs.publish(LEGAL, NEW_TEXT, TODAY + timedelta(days=10), "shorter")
    assert (v2.number, v2.author, v2.sha256) == (2, LEGAL.id, text_sha256(NEW_TEXT))
    assert heard == [PolicyDocumentPublished("2", TODAY + timedelta(days=10), "shorter", LEGAL)]
    decision, outcome = ledger.entries[-2:]
    assert (decision.rule, decision.action, decision.resource_id) == (
        "policy-document-is-published-by-legal", Action.PUBLISH.value, "2",
    )  # fmt: skip
    assert outcome.rule == Outcome.POLICY_DOCUMENT_PUBLISHED.value
    assert v2.sha256 in outcome.reason
    assert "Kept one week" not in str(ledger.entries)  # the ledger never holds the text
    # announced ahead: version 1 stays in force until the new one's day, both public
    page = docs.current()
    assert (page.version.number, [u.number for u in page.upcoming]) == (1, [2])
    assert docs.version(1) == store.rows[1]


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.SYSADMIN, Role.COMMUNICATIONS])
def test_only_legal_publishes(role: Role) -> None:
    docs, ledger, store, heard = world()
    staff = Actor(ActorKind.STAFF, "stf_other", frozenset({role}))
    with refused_by("only-legal-publishes-the-policy-document", ledger=ledger):
        docs.publish(staff, NEW_TEXT, TODAY, "mine")
    assert (len(store.rows), heard) == (1, [])


def test_bad_input_writes_nothing_at_all() -> None:
    docs, ledger, store, heard = world()
    with pytest.raises(InvalidInput):
        docs.publish(LEGAL, "", TODAY, "empty")
    # the rules' decision (asked first) is on record; no version, no publication, no notice
    assert [e.decision for e in ledger.entries] == ["allow"]
    assert (len(store.rows), heard) == (1, [])


def test_an_attempt_by_another_role_is_ledgered_whatever_its_text() -> None:
    """Trial finding: a support member's publication with a bad text was answered 422 and
    never ledgered; the rules are asked before the text is checked."""
    docs, ledger, store, _ = world()
    staff = Actor(ActorKind.STAFF, "stf_other", frozenset({Role.SUPPORT}))
    with refused_by("only-legal-publishes-the-policy-document", ledger=ledger):
        docs.publish(staff, "", TODAY, "empty")
    assert len(store.rows) == 1


def test_a_failed_announcement_says_the_version_is_published() -> None:
    docs, _, store, heard = world(fail_announcement=True)
    with pytest.raises(Unavailable, match="version 2 is published and ledgered"):
        docs.publish(LEGAL, NEW_TEXT, TODAY, "shorter")
    assert len(store.rows) == 2
    assert len(heard) == 1


class StaleStore(InMemoryPolicyDocumentStore):
    """Another process published version 2 after this one read the versions."""

    def versions(self) -> list[PolicyVersion]:
        return [self.rows[1]]


def test_a_racing_publication_of_the_same_number_is_a_conflict() -> None:
    stale = StaleStore(shipped())
    docs, ledger, _, heard = world(store=stale)
    stale.rows[2] = PolicyVersion(2, "x\n", "y", TODAY, "stf_legal", "first", datetime.now(UTC))
    with pytest.raises(Conflict, match="version 2 was published by someone else"):
        docs.publish(LEGAL, NEW_TEXT, TODAY, "second")
    assert stale.rows[2].summary == "first"
    last = ledger.entries[-1]
    assert (last.decision, last.rule) == ("deny", Outcome.POLICY_DOCUMENT_PUBLISHED.value)
    assert heard == []


def test_the_shipped_default_is_the_text_its_migration_installs() -> None:
    """Migration 0018 freezes the shipped text as version 1; if the default in
    domain/policy_document_default.py changes, a new migration must install it (as a new
    version), or fresh installs and upgraded ones would disagree about version 1."""
    import importlib

    from entrusted.domain.policy_document import normalise, text_sha256
    from entrusted.domain.policy_document_default import DEFAULT_TEXT

    frozen = importlib.import_module(
        "entrusted.adapters.db.migrations.versions.0018_policy_document"
    )
    assert normalise(DEFAULT_TEXT) == frozen.TEXT
    assert text_sha256(frozen.TEXT) == text_sha256(normalise(DEFAULT_TEXT))
