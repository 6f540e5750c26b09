"""The peer engines of the policy benchmark: cedarpy, regorus and pycasbin, each deciding the
mix of anchors-policy.md §2 under the same six rules, fed the way its binding is fastest and
still correct. Peers are imported inside their functions, so this loads without the `bench`
extra; `policy.py` loads this file by path, as `entrusted bench` loads benchmark scripts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Request = dict[str, Any]
Decider = Callable[[Request], bool]


CEDAR_POLICIES = """
permit(principal in Role::"support", action == Action::"list_metadata", resource is Mailbox);
permit(principal in Role::"support", action == Action::"read", resource is Mailbox)
  when { context has case_id &&
         context.grants.contains({agent: principal, mailbox: resource, case: context.case_id}) };
permit(principal in Role::"sysadmin", action == Action::"restore", resource is Backup);
forbid(principal in Role::"support", action == Action::"restore", resource is Backup);
permit(principal in Role::"staff", action == Action::"disclose", resource is PersonalData)
  when { context.court_order };
forbid(principal, action == Action::"disclose", resource is PersonalData)
  unless { context.court_order };
"""


def cedar_decider(groups: dict[str, list[str]]) -> Decider:
    """cedarpy with PolicySet and Entities handles (User -> Role edges), grants in context as
    entity references, a missing case id omitted (Cedar has no null). `groups` maps each role
    to its members: the population of the mix."""
    import cedarpy

    entities: list[dict[str, Any]] = [
        {"uid": {"type": "Role", "id": g}, "attrs": {}, "parents": []} for g in groups
    ]
    entities += [
        {"uid": {"type": "User", "id": uid}, "attrs": {}, "parents": [{"type": "Role", "id": g}]}
        for g, members in groups.items()
        for uid in members
    ]
    policies = cedarpy.PolicySet.from_str(CEDAR_POLICIES)
    store = cedarpy.Entities.from_json_str(json.dumps(entities))
    is_authorized = cedarpy.is_authorized

    def decider(req: Request) -> bool:
        ctx = req["context"]
        context: dict[str, Any] = {
            "court_order": ctx["court_order"],
            "identity_verified": ctx["identity_verified"],
            "grants": [
                {
                    "agent": {"__entity": {"type": "User", "id": g["agent"]}},
                    "mailbox": {"__entity": {"type": "Mailbox", "id": g["mailbox"]}},
                    "case": g["case"],
                }
                for g in ctx["grants"]
            ],
        }
        if ctx["case_id"] is not None:
            context["case_id"] = ctx["case_id"]
        request = {
            "principal": {"type": "User", "id": req["principal"]["id"]},
            "action": {"type": "Action", "id": req["action"]},
            "resource": req["resource"],
            "context": context,
        }
        return bool(is_authorized(request, policies, store).allowed)

    return decider


REGO_POLICY = """
package bench

default allow := false

allow if {
  permit
  not forbid
}

permit if {
  input.principal.role == "support"
  input.action == "list_metadata"
  input.resource.type == "Mailbox"
}

permit if {
  input.principal.role == "support"
  input.action == "read"
  input.resource.type == "Mailbox"
  some g in input.context.grants
  g.agent == input.principal.id
  g.mailbox == input.resource.id
  g.case == input.context.case_id
}

permit if {
  input.principal.role == "sysadmin"
  input.action == "restore"
  input.resource.type == "Backup"
}

permit if {
  input.principal.role == "legal"
  input.action == "disclose"
  input.resource.type == "PersonalData"
  input.context.court_order == true
}

forbid if {
  input.principal.role == "support"
  input.action == "restore"
  input.resource.type == "Backup"
}

forbid if {
  input.action == "disclose"
  input.resource.type == "PersonalData"
  not input.context.court_order
}
"""


def regorus_decider() -> Decider:
    """regorus with `set_input_json`: `set_input(dict)` turns Python bools into 1/0 (§4)."""
    import regorus

    engine = regorus.Engine()
    engine.add_policy("bench.rego", REGO_POLICY)
    dumps = json.dumps

    def decider(req: Request) -> bool:
        engine.set_input_json(dumps(req))
        return engine.eval_rule("data.bench.allow") is True

    return decider


def regorus_bool_bug_present() -> bool:
    """True while regorus' `set_input(dict)` still turns `True` into a number, so a fixed
    upstream is noticed (and the JSON detour can go)."""
    import regorus

    engine = regorus.Engine()
    engine.add_policy("flag.rego", "package flag\n\nok if input.flag == true\n")
    engine.set_input({"flag": True})
    return engine.eval_rule("data.flag.ok") is not True


CASBIN_MODEL = """
[request_definition]
r = sub, act, obj, ctx

[policy_definition]
p = role, act, otype, cond, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = (p.role == "*" || p.role == r.sub.role) && r.act == p.act && r.obj.type == p.otype \
&& cond(p.cond, r.sub, r.obj, r.ctx)
"""
CASBIN_POLICY = [
    ["support", "list_metadata", "Mailbox", "none", "allow"],
    ["support", "read", "Mailbox", "grant", "allow"],
    ["sysadmin", "restore", "Backup", "none", "allow"],
    ["support", "restore", "Backup", "none", "deny"],
    ["legal", "disclose", "PersonalData", "court_order", "allow"],
    ["*", "disclose", "PersonalData", "no_court_order", "deny"],
]


def _casbin_cond(name: str, sub: dict[str, Any], obj: dict[str, Any], ctx: dict[str, Any]) -> bool:
    if name == "grant":
        case = ctx["case_id"]
        return case is not None and any(
            g["agent"] == sub["id"] and g["mailbox"] == obj["id"] and g["case"] == case
            for g in ctx["grants"]
        )
    if name == "court_order":
        return bool(ctx["court_order"])
    if name == "no_court_order":
        return not ctx["court_order"]
    return True


def casbin_decider() -> Decider:
    """pycasbin Enforcer with a registered `cond()` function (its fastest faithful mode)."""
    import casbin

    model = casbin.model.Model()
    model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(model)
    enforcer.add_function("cond", _casbin_cond)
    for line in CASBIN_POLICY:
        enforcer.add_policy(*line)
    enforce = enforcer.enforce

    def decider(req: Request) -> bool:
        return bool(enforce(req["principal"], req["action"], req["resource"], req["context"]))

    return decider
