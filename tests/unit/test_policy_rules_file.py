"""Loading rules files: the shipped file loads, and every bad input names its file and line."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.policy import PROMISES, Action, ActorKind, Condition, Effect, Role
from entrusted.domain.policy_analysis import InvariantKind
from entrusted.errors import InvalidInput

pytestmark = pytest.mark.promise("P12")

GOOD_RULE = """\
version: 1
rules:
  - id: support-reads-mail
    effect: permit
    who: [support]
    actions: [read]
    resources: [mailbox_content]
    when: [active_grant]
    implements: [P11]
    reason: consent for this case
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> InvalidInput:
    path = write(tmp_path, text)
    with pytest.raises(InvalidInput) as caught:
        load_rules(path)
    assert caught.value.field.startswith(f"{path}:")
    return caught.value


def line_of(error: InvalidInput) -> int:
    return int(error.field.rsplit(":", 1)[1])


def test_the_shipped_rules_load_and_carry_the_file_hash() -> None:
    ruleset = load_rules(DEFAULT_RULES_PATH)
    assert ruleset.sha256 == hashlib.sha256(DEFAULT_RULES_PATH.read_bytes()).hexdigest()
    assert len(ruleset.rules) >= 25
    assert len(ruleset.invariants) >= 5
    assert all(set(r.implements) <= PROMISES and r.reason and r.line > 0 for r in ruleset.rules)
    cited = {p for r in ruleset.rules for p in r.implements}
    cited |= {p for inv in ruleset.invariants for p in inv.implements}
    assert cited == PROMISES  # every promise is implemented by a rule or proved by an invariant
    kinds = {inv.kind for inv in ruleset.invariants}
    assert kinds == set(InvariantKind)


def test_a_good_rule_loads_with_its_line(tmp_path: Path) -> None:
    (r,) = load_rules(write(tmp_path, GOOD_RULE)).rules
    assert (r.id, r.effect, r.line) == ("support-reads-mail", Effect.PERMIT, 3)
    assert r.who == {Role.SUPPORT}
    assert r.when == {Condition.ACTIVE_GRANT}


def test_star_and_scalars_expand(tmp_path: Path) -> None:
    text = GOOD_RULE.replace("who: [support]", 'who: "*"').replace(
        "implements: [P11]", "implements: P11").replace("actions: [read]", 'actions: ["*"]')
    (r,) = load_rules(write(tmp_path, text)).rules
    assert r.who == set(ActorKind)
    assert r.actions == set(Action)
    assert r.implements == ("P11",)


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("who: [support]", "who: [support, janitor]", 5, "unknown role or actor kind 'janitor'"),
        ("actions: [read]", "actions: [read, peek]", 6, "unknown Action 'peek'"),
        ("resources: [mailbox_content]", "resources: [mailbox]", 7,
         "unknown ResourceKind 'mailbox'"),
        ("when: [active_grant]", "when: [consent]", 8, "unknown condition 'consent'"),
        ("resources: [mailbox_content]", "resources: [mailbox_content, backup]", 8,
         "condition active_grant cannot apply to backup"),
        ("implements: [P11]", "implements: [P11, P18]", 9, "unknown promise 'P18'"),
        ("reason: consent for this case", "reason: consent\n    colour: blue", 11,
         "unknown key 'colour'"),
        ("effect: permit", "effect: allow", 4, "must be permit or forbid"),
        ("who: [support]", "who: 3", 5, "must be a string"),
        ("reason: consent for this case", "reason: [a, b]", 10, "reason of rule"),
        ("  - id: support-reads-mail", "  - id: 12", 3, "id must be a string"),
        ("when: [active_grant]", "unless: [active_grant]", 8, "unless is only for forbids"),
        ("actions: [read]", "actions: []", 6, "at least one"),
        ("effect: permit", "effect: permit\n    effect: forbid", 5, "duplicate key 'effect'"),
        ("version: 1", "version: 2", 1, "version must be 1"),
    ],
)
def test_bad_rule_names_the_line(tmp_path: Path, old: str, new: str, line: int,
                                 words: str) -> None:
    assert old in GOOD_RULE
    error = refused(tmp_path, GOOD_RULE.replace(old, new))
    assert line_of(error) == line
    assert words in error.message


def test_missing_implements_names_the_rule(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD_RULE.replace("    implements: [P11]\n", ""))
    assert line_of(error) == 3
    assert "rule 'support-reads-mail' has no 'implements'" in error.message


def test_duplicate_rule_ids_name_the_second_rule(tmp_path: Path) -> None:
    second = GOOD_RULE.split("rules:\n", 1)[1]
    error = refused(tmp_path, GOOD_RULE + second)
    assert line_of(error) == 11
    assert "duplicate rule id 'support-reads-mail' (first at line 3)" in error.message


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD_RULE.replace("who: [support]", "who: [support"))
    assert "not valid YAML" in error.message
    assert line_of(error) in {5, 6}


def test_empty_and_missing_files(tmp_path: Path) -> None:
    assert "empty" in refused(tmp_path, "").message
    assert "has no rules" in refused(tmp_path, "version: 1\n").message
    assert "must be a mapping" in refused(tmp_path, "- a\n- b\n").message
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InvalidInput) as caught:
        load_rules(missing)
    assert caught.value.field == str(missing)


INVARIANT = """\
invariants:
  - id: support-no-backups
    implements: [P15]
    reason: backups are sysadmin only
    deny:
      who: [support]
      actions: [list, restore]
      resources: [backup]
"""


def test_invariants_load(tmp_path: Path) -> None:
    (inv,) = load_rules(write(tmp_path, GOOD_RULE + INVARIANT)).invariants
    assert (inv.id, inv.kind, inv.line) == ("support-no-backups", InvariantKind.DENY, 12)
    assert inv.actions == {Action.LIST, Action.RESTORE}


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("deny:", "forbid:", 15, "unknown key 'forbid'"),
        ("who: [support]", "who: [root]", 16, "unknown role or actor kind 'root'"),
        ("resources: [backup]", "colour: [blue]", 18, "unknown key 'colour'"),
        ("      resources: [backup]\n", "", 16, "must name who and resources"),
        ("implements: [P15]", "implements: [P0]", 13, "unknown promise 'P0'"),
        ("resources: [backup]", "resources: [backup]\n      conditions: [court_order]", 16,
         "conditions belong to requires invariants only"),
    ],
)
def test_bad_invariant_names_the_line(tmp_path: Path, old: str, new: str, line: int,
                                      words: str) -> None:
    assert old in INVARIANT
    error = refused(tmp_path, GOOD_RULE + INVARIANT.replace(old, new))
    assert line_of(error) == line
    assert words in error.message


def test_an_invariant_needs_exactly_one_kind(tmp_path: Path) -> None:
    text = GOOD_RULE + INVARIANT + "    only:\n      who: [sysadmin]\n      resources: [backup]\n"
    error = refused(tmp_path, text)
    assert line_of(error) == 12
    assert "exactly one of" in error.message
