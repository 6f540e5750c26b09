"""Load a YAML rules file into domain rules and invariants, or say exactly what is wrong.

The file is composed into YAML nodes rather than loaded into dicts, so every error can name the
file and the line of the offending item (`InvalidInput.field` is "path:line"). Nothing is
guessed: unknown keys, unknown names, wrong types, duplicate keys or ids, and a condition used on
a resource kind it cannot apply to are all refused, because a policy that loads "mostly" is a
policy nobody can reason about.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import NoReturn, TypeVar

import yaml

from entrusted.domain.policy import (
    PROMISES,
    Action,
    ActorKind,
    Condition,
    Effect,
    Obligation,
    Principal,
    ResourceKind,
    Role,
    Rule,
    Service,
    scope_problem,
)
from entrusted.domain.policy_analysis import Invariant, InvariantKind, RuleSet
from entrusted.errors import InvalidInput

__all__ = ["DEFAULT_RULES_PATH", "load_rules", "parse_rules"]

DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "rules" / "default.yaml"

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_E = TypeVar("_E", bound=StrEnum)
_Pairs = dict[str, tuple[yaml.Node, yaml.Node]]

_RULE_KEYS = frozenset(
    {"id", "effect", "who", "actions", "resources", "when", "unless", "obligations",
     "implements", "reason"}
)
_RULE_REQUIRED = ("id", "effect", "who", "actions", "resources", "implements", "reason")
_INVARIANT_KEYS = frozenset({"id", "implements", "reason"} | {k.value for k in InvariantKind})
_TARGET_KEYS = frozenset({"who", "actions", "resources", "conditions", "among"})


def load_rules(path: Path) -> RuleSet:
    """Read and validate a rules file; the RuleSet carries the sha256 of its exact bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(str(path), f"cannot read the rules file: {exc.strerror}") from exc
    return parse_rules(data, str(path))


def parse_rules(data: bytes, source: str) -> RuleSet:
    """Validate rules-file bytes; `source` names the file in every error."""
    return _Reader(source).ruleset(data)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: yaml.Node | None, message: str) -> NoReturn:
        line = node.start_mark.line + 1 if node is not None else 1
        raise InvalidInput(f"{self.source}:{line}", message)

    def ruleset(self, data: bytes) -> RuleSet:
        try:
            root = yaml.compose(data, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            raise InvalidInput(f"{self.source}:{line}", f"not valid YAML: {exc.problem}") from exc
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{self.source}:1", f"not valid YAML: {exc}") from exc
        if root is None:
            self.fail(None, "the rules file is empty")
        top = self.mapping(root, "the rules file", frozenset({"version", "rules", "invariants"}))
        if "version" in top:
            node = top["version"][1]
            if node.tag != _INT or node.value != "1":
                self.fail(node, "version must be 1")
        if "rules" not in top:
            self.fail(root, "the rules file has no rules")
        rules = self.rules(top["rules"][1])
        invariants = self.invariants(top["invariants"][1]) if "invariants" in top else ()
        return RuleSet(rules, invariants, hashlib.sha256(data).hexdigest(), self.source)

    def mapping(self, node: yaml.Node, what: str, allowed: frozenset[str]) -> _Pairs:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping")
        pairs: _Pairs = {}
        for key, value in node.value:
            name = self.string(key, f"a key of {what}")
            if name in pairs:
                self.fail(key, f"duplicate key {name!r} in {what}")
            if name not in allowed:
                self.fail(key, f"unknown key {name!r} in {what} "
                          f"(expected one of: {', '.join(sorted(allowed))})")
            pairs[name] = (key, value)
        return pairs

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"{what} must be a list")
        return list(node.value)

    def string(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
            self.fail(node, f"{what} must be a string")
        text = str(node.value).strip()
        if not text:
            self.fail(node, f"{what} must not be empty")
        return text

    def items(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node]]:
        """A list of names; a single scalar counts as a one-item list (`implements: P11`)."""
        nodes = [node] if isinstance(node, yaml.ScalarNode) else self.sequence(node, what)
        if not nodes:
            self.fail(node, f"{what} must name at least one item")
        return [(self.string(n, f"each item of {what}"), n) for n in nodes]

    def names(self, node: yaml.Node, what: str, enum: type[_E]) -> frozenset[_E]:
        out: set[_E] = set()
        for name, item in self.items(node, what):
            if name == "*":
                out.update(enum)
            elif name in enum._value2member_map_:
                out.add(enum(name))
            else:
                known = ", ".join(m.value for m in enum)
                self.fail(item, f"unknown {enum.__name__} {name!r} in {what} (known: {known})")
        return frozenset(out)

    def principals(self, node: yaml.Node, what: str) -> frozenset[Principal]:
        out: set[Principal] = set()
        for name, item in self.items(node, what):
            if name == "*":
                out.update(ActorKind)
            elif name in Role._value2member_map_:
                out.add(Role(name))
            elif name in ActorKind._value2member_map_:
                out.add(ActorKind(name))
            elif name in Service._value2member_map_:
                out.add(Service(name))
            else:
                known = ", ".join([*Role, *ActorKind, *Service])
                self.fail(item, f"unknown role or actor kind {name!r} in {what} "
                          f"(known: {known}, *)")
        return frozenset(out)

    def promises(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        out: list[str] = []
        for name, item in self.items(node, what):
            if name not in PROMISES:
                self.fail(item, f"unknown promise {name!r} in {what} (expected P1..P17)")
            out.append(name)
        return tuple(out)

    def conditions(self, node: yaml.Node, what: str,
                   kinds: Iterable[ResourceKind] | None) -> frozenset[Condition]:
        out: set[Condition] = set()
        for name, item in self.items(node, what):
            if name not in Condition._value2member_map_:
                known = ", ".join(Condition)
                self.fail(item, f"unknown condition {name!r} in {what} (known: {known})")
            condition = Condition(name)
            problem = scope_problem(condition, kinds) if kinds is not None else None
            if problem:
                self.fail(item, problem)
            out.add(condition)
        return frozenset(out)

    def rules(self, node: yaml.Node) -> tuple[Rule, ...]:
        seen: dict[str, int] = {}
        rules: list[Rule] = []
        for item in self.sequence(node, "rules"):
            rule = self.rule(item)
            if rule.id in seen:
                self.fail(item, f"duplicate rule id {rule.id!r} (first at line {seen[rule.id]})")
            seen[rule.id] = rule.line
            rules.append(rule)
        return tuple(rules)

    def rule(self, node: yaml.Node) -> Rule:
        f = self.mapping(node, "a rule", _RULE_KEYS)
        label = f"rule {self.string(f['id'][1], 'id')!r}" if "id" in f else "a rule"
        for key in _RULE_REQUIRED:
            if key not in f:
                self.fail(node, f"{label} has no {key!r}")
        rule_id = self.string(f["id"][1], "id")
        effect_name = self.string(f["effect"][1], f"effect of {label}")
        if effect_name not in Effect._value2member_map_:
            self.fail(f["effect"][1], f"effect of {label} must be permit or forbid")
        effect = Effect(effect_name)
        resources = self.names(f["resources"][1], f"resources of {label}", ResourceKind)
        when = (self.conditions(f["when"][1], f"when of {label}", resources)
                if "when" in f else frozenset[Condition]())
        unless = frozenset[Condition]()
        if "unless" in f:
            if effect is Effect.PERMIT:
                self.fail(f["unless"][0], f"{label}: unless is only for forbids; "
                          "put the condition in when")
            unless = self.conditions(f["unless"][1], f"unless of {label}", resources)
        obligations = (tuple(sorted(self.names(f["obligations"][1], f"obligations of {label}",
                                               Obligation)))
                       if "obligations" in f else ())
        who = self.principals(f["who"][1], f"who of {label}")
        actions = self.names(f["actions"][1], f"actions of {label}", Action)
        implements = self.promises(f["implements"][1], f"implements of {label}")
        reason = self.string(f["reason"][1], f"reason of {label}")
        try:
            return Rule(rule_id, effect, who, actions, resources, implements, reason, when,
                        unless, obligations, line=node.start_mark.line + 1)
        except InvalidInput as exc:  # the domain's own checks, now with a line number
            self.fail(node, exc.message)

    def invariants(self, node: yaml.Node) -> tuple[Invariant, ...]:
        seen: dict[str, int] = {}
        out: list[Invariant] = []
        for item in self.sequence(node, "invariants"):
            inv = self.invariant(item)
            if inv.id in seen:
                self.fail(item, f"duplicate invariant id {inv.id!r} "
                          f"(first at line {seen[inv.id]})")
            seen[inv.id] = inv.line
            out.append(inv)
        return tuple(out)

    def invariant(self, node: yaml.Node) -> Invariant:
        f = self.mapping(node, "an invariant", _INVARIANT_KEYS)
        label = f"invariant {self.string(f['id'][1], 'id')!r}" if "id" in f else "an invariant"
        for key in ("id", "implements", "reason"):
            if key not in f:
                self.fail(node, f"{label} has no {key!r}")
        kinds = [k for k in InvariantKind if k.value in f]
        if len(kinds) != 1:
            self.fail(node, f"{label} needs exactly one of: "
                      f"{', '.join(k.value for k in InvariantKind)}")
        kind = kinds[0]
        body = self.mapping(f[kind.value][1], f"the {kind.value} of {label}", _TARGET_KEYS)
        if "who" not in body or "resources" not in body:
            self.fail(f[kind.value][1], f"{label} must name who and resources")
        if ("conditions" in body) != (kind is InvariantKind.REQUIRES):
            self.fail(f[kind.value][1], "conditions belong to requires invariants only")
        if "among" in body and kind is not InvariantKind.ONLY:
            self.fail(body["among"][0], "among belongs to only invariants")
        where = f"{kind.value} of {label}"
        return Invariant(
            id=self.string(f["id"][1], "id"),
            kind=kind,
            who=self.principals(body["who"][1], f"who of {where}"),
            actions=(self.names(body["actions"][1], f"actions of {where}", Action)
                     if "actions" in body else frozenset(Action)),
            resources=self.names(body["resources"][1], f"resources of {where}", ResourceKind),
            implements=self.promises(f["implements"][1], f"implements of {label}"),
            reason=self.string(f["reason"][1], f"reason of {label}"),
            conditions=(self.conditions(body["conditions"][1], f"conditions of {where}", None)
                        if "conditions" in body else frozenset()),
            among=(self.principals(body["among"][1], f"among of {where}")
                   if "among" in body else frozenset(ActorKind)),
            line=node.start_mark.line + 1,
        )
