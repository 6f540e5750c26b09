"""Policy decisions per second: Entrusted's compiled engine against cedarpy, regorus, pycasbin.

The request mix, the rules and the method are those of shared/research/anchors-policy.md §2:
100,000 canonical requests (seed 20240607, about 57.9% allow), every engine fed the same
pre-generated list in one process, 2,000 warm-up calls, then each decision timed end to end
(shaping the canonical request into the engine's input included) with `perf_counter_ns`, and
every answer checked against the generator's label. Peers are imported inside their functions
so this module loads without the `bench` extra; a peer that fails is reported, not fatal.

Entrusted runs the *shipped* rules file, not a toy copy: the mix only asks questions whose
answer is the same under §2's six rules and under `rules/default.yaml`, so the same labels hold.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.policy import (
    Action,
    Actor,
    ActorKind,
    Condition,
    Decision,
    Engine,
    Facts,
    Resource,
    ResourceKind,
    Role,
)

WARMUP = 2_000

Request = dict[str, Any]
Decider = Callable[[Request], bool]


# --- The mix (anchors-policy.md §2) ---------------------------------------------------------

SUPPORT = [f"support-{i}" for i in range(200)]
SYSADMINS = [f"sysadmin-{i}" for i in range(20)]
LEGAL = [f"legal-{i}" for i in range(50)]  # the "other staff (legal/DPO)" of §2
CUSTOMERS = [f"customer-{i}" for i in range(1_000)]
THIRD_PARTIES = [f"third-party-{i}" for i in range(50)]
# Mailbox i, personal data i, FTP space i belong to customer i; backups to nobody in particular.
OWNERS = {
    f"{prefix}-{i}": f"customer-{i}"
    for prefix in ("mailbox", "personal", "ftp")
    for i in range(1_000)
}

# (share %, scenario name); the allow shares add up to 58%.
MIX: list[tuple[float, str]] = [
    (25, "support_list_metadata"),
    (20, "support_read_grant"),
    (10, "support_read_near_miss"),
    (5, "support_read_no_grant"),
    (8, "sysadmin_restore"),
    (5, "support_restore"),
    (5, "legal_disclose_order"),
    (5, "legal_disclose_no_order"),
    (4, "sysadmin_disclose_order"),
    (5, "customer_read_mailbox"),
    (3, "third_party_export"),
    (5, "other_ftp_backup"),
]
OTHER_OPS = [  # "other operations on FtpSpace or Backup": denied by every engine and our rules
    ("support", "read", "FtpSpace"),
    ("sysadmin", "write", "FtpSpace"),
    ("sysadmin", "read", "Backup"),
    ("support", "export", "Backup"),
    ("legal", "restore", "Backup"),
    ("sysadmin", "list_metadata", "Backup"),
]


def _canonical(
    pid: str,
    role: str,
    action: str,
    rtype: str,
    rid: str,
    *,
    case_id: str | None = None,
    court_order: bool = False,
    grants: list[dict[str, str]] | None = None,
) -> Request:
    return {
        "principal": {"id": pid, "role": role},
        "action": action,
        "resource": {"type": rtype, "id": rid},
        "context": {
            "case_id": case_id,
            "court_order": court_order,
            "identity_verified": case_id is not None,
            "grants": grants or [],
        },
    }


def _support_read(rng: random.Random, scenario: str) -> Request:
    agent, mailbox = rng.choice(SUPPORT), f"mailbox-{rng.randrange(1_000)}"
    case = f"case-{rng.randrange(100_000)}"
    if scenario == "support_read_no_grant":
        return _canonical(
            agent, "support", "read", "Mailbox", mailbox, case_id=rng.choice([case, None])
        )
    match = {"agent": agent, "mailbox": mailbox, "case": case}
    grants = [
        {
            "agent": rng.choice(SUPPORT),
            "mailbox": f"mailbox-{rng.randrange(1_000)}",
            "case": f"case-{rng.randrange(100_000)}",
        }
        for _ in range(rng.randint(0, 2))
    ]
    grants = [g for g in grants if g != match]
    if scenario == "support_read_grant":
        grants.insert(rng.randrange(len(grants) + 1), match)
    else:  # a near miss: right on two of agent, mailbox and case, wrong on the third
        wrong = rng.choice(["agent", "mailbox", "case"])
        near = dict(match)
        near[wrong] = {
            "agent": f"support-{(SUPPORT.index(agent) + 1) % 200}",
            "mailbox": f"mailbox-{(int(mailbox.split('-')[1]) + 1) % 1_000}",
            "case": f"{case}-x",
        }[wrong]
        grants.insert(rng.randrange(len(grants) + 1), near)
    return _canonical(agent, "support", "read", "Mailbox", mailbox, case_id=case, grants=grants)


def _make(rng: random.Random, scenario: str) -> Request:
    n = rng.randrange(1_000)
    if scenario == "support_list_metadata":
        return _canonical(
            rng.choice(SUPPORT), "support", "list_metadata", "Mailbox", f"mailbox-{n}"
        )
    if scenario.startswith("support_read"):
        return _support_read(rng, scenario)
    if scenario == "sysadmin_restore":
        return _canonical(rng.choice(SYSADMINS), "sysadmin", "restore", "Backup", f"backup-{n}")
    if scenario == "support_restore":
        return _canonical(rng.choice(SUPPORT), "support", "restore", "Backup", f"backup-{n}")
    if scenario.startswith("legal_disclose"):
        return _canonical(
            rng.choice(LEGAL),
            "legal",
            "disclose",
            "PersonalData",
            f"personal-{n}",
            court_order=scenario == "legal_disclose_order",
        )
    if scenario == "sysadmin_disclose_order":
        return _canonical(
            rng.choice(SYSADMINS),
            "sysadmin",
            "disclose",
            "PersonalData",
            f"personal-{n}",
            court_order=True,
        )
    if scenario == "customer_read_mailbox":  # never the customer's own mailbox
        return _canonical(
            f"customer-{(n + 1 + rng.randrange(999)) % 1_000}",
            "customer",
            "read",
            "Mailbox",
            f"mailbox-{n}",
        )
    if scenario == "third_party_export":
        return _canonical(
            rng.choice(THIRD_PARTIES), "third_party", "export", "PersonalData", f"personal-{n}"
        )
    role, action, rtype = rng.choice(OTHER_OPS)
    pool = {"support": SUPPORT, "sysadmin": SYSADMINS, "legal": LEGAL}[role]
    prefix = "ftp" if rtype == "FtpSpace" else "backup"
    return _canonical(rng.choice(pool), role, action, rtype, f"{prefix}-{n}")


ALLOWED_SCENARIOS = frozenset(
    {"support_list_metadata", "support_read_grant", "sysadmin_restore", "legal_disclose_order"}
)


def generate_requests(requests: int, seed: int) -> tuple[list[Request], list[bool]]:
    """The mix and its expected labels; the same (requests, seed) gives the same list."""
    rng = random.Random(seed)
    weights = [w for w, _ in MIX]
    names = [s for _, s in MIX]
    scenarios = rng.choices(names, weights=weights, k=requests)
    return [_make(rng, s) for s in scenarios], [s in ALLOWED_SCENARIOS for s in scenarios]


# --- The engines ------------------------------------------------------------------------

_ACTIONS = {
    "read": Action.READ,
    "write": Action.UPDATE,
    "export": Action.EXPORT,
    "disclose": Action.DISCLOSE,
    "restore": Action.RESTORE,
    "list_metadata": Action.LIST_METADATA,
}
_KINDS = {
    "Mailbox": ResourceKind.MAILBOX_CONTENT,
    "PersonalData": ResourceKind.PERSONAL_DETAILS,
    "Backup": ResourceKind.BACKUP,
    "FtpSpace": ResourceKind.FTP_SPACE,
}
# Reading an FTP space is "entering" it in our vocabulary; listing a mailbox's metadata asks
# about the metadata resource, not the content.
_TARGETS = {(a, t): (act, _KINDS[t]) for a, act in _ACTIONS.items() for t in _KINDS}
_TARGETS["list_metadata", "Mailbox"] = (Action.LIST_METADATA, ResourceKind.MAILBOX_METADATA)
_TARGETS["read", "FtpSpace"] = (Action.ENTER, ResourceKind.FTP_SPACE)
_ROLES = {r.value: frozenset({r}) for r in Role}
_KIND_OF = {"customer": ActorKind.CUSTOMER, "third_party": ActorKind.THIRD_PARTY}


def entrusted_decider(engine: Engine | None = None) -> Decider:
    """Map the canonical request as the gate would: the actor as the staff directory hands it
    out (built once per principal, as cedarpy's entity store is), the resource with its owner
    from the registry (built per request), then resolve only the conditions a candidate rule
    uses (grants by key) and decide. `engine` defaults to one on the shipped rules."""
    engine = engine or Engine(load_rules(DEFAULT_RULES_PATH).rules)
    needed_for = engine.conditions_needed
    decide = engine.decide
    grant, court, identified = (
        Condition.ACTIVE_GRANT,
        Condition.COURT_ORDER,
        Condition.CALLER_IDENTIFIED,
    )
    staff, role_sets, kind_of, targets, owners = ActorKind.STAFF, _ROLES, _KIND_OF, _TARGETS, OWNERS
    directory: dict[tuple[str, str], Actor] = {}

    def actor_of(pid: str, role: str) -> Actor:
        roles = role_sets.get(role)
        actor = Actor(staff, pid, roles) if roles is not None else Actor(kind_of[role], pid)
        directory[pid, role] = actor
        return actor

    def decider(req: Request) -> bool:
        p, r, ctx = req["principal"], req["resource"], req["context"]
        pid, role = p["id"], p["role"]
        actor = directory.get((pid, role)) or actor_of(pid, role)
        action, kind = targets[req["action"], r["type"]]
        rid = r["id"]
        resource = Resource(kind, rid, owners.get(rid))
        needed = needed_for(actor, action, kind)
        if not needed:
            return decide(actor, action, resource).allowed
        held = []
        if grant in needed:
            case = ctx["case_id"]
            if case is not None:
                for g in ctx["grants"]:  # a loop, not any(generator): half the cost here
                    if g["agent"] == pid and g["mailbox"] == rid and g["case"] == case:
                        held.append(grant)
                        break
        if court in needed and ctx["court_order"]:
            held.append(court)
        if identified in needed and ctx["identity_verified"]:
            held.append(identified)
        return decide(actor, action, resource, frozenset(held)).allowed

    return decider


def _sibling(name: str) -> Any:
    """A helper module beside this file, loaded by path: `entrusted bench` runs benchmark
    scripts from their files, without a package to import from."""
    spec = importlib.util.spec_from_file_location(
        f"entrusted_bench_{name.strip('_')}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_peers = _sibling("_policy_peers")
regorus_decider = _peers.regorus_decider
regorus_bool_bug_present = _peers.regorus_bool_bug_present
casbin_decider = _peers.casbin_decider


def cedar_decider() -> Decider:
    return _peers.cedar_decider(
        {
            "support": SUPPORT,
            "sysadmin": SYSADMINS,
            "staff": LEGAL,
            "customer": CUSTOMERS,
            "third_party": THIRD_PARTIES,
        }
    )


# --- Measurement ------------------------------------------------------------------------


# (name in the result, distribution whose version is reported, builder). Plain tuples, not a
# dataclass: `entrusted bench` loads this file without registering it in sys.modules.
PEERS: list[tuple[str, str, Callable[[], Decider]]] = [
    ("entrusted", "entrusted", entrusted_decider),
    ("cedarpy", "cedarpy", cedar_decider),
    ("regorus", "celine-regorus", regorus_decider),
    ("pycasbin", "pycasbin", casbin_decider),
]


def _percentile(ordered: list[int], q: float) -> float:
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank] / 1_000


def measure(decider: Decider, mix: list[Request], labels: list[bool]) -> dict[str, float | int]:
    """Warm up, then time every decision end to end; count answers that differ from labels."""
    for req in mix[:WARMUP]:
        decider(req)
    clock = time.perf_counter_ns
    latencies = [0] * len(mix)
    answers = [False] * len(mix)
    start = clock()
    for i, req in enumerate(mix):
        t0 = clock()
        answers[i] = decider(req)
        latencies[i] = clock() - t0
    wall = clock() - start
    latencies.sort()
    return {
        "p50_us": round(_percentile(latencies, 0.50), 3),
        "p99_us": round(_percentile(latencies, 0.99), 3),
        "decisions_per_s": round(len(mix) / (wall / 1e9)),
        "mismatches": sum(1 for a, e in zip(answers, labels, strict=True) if a != e),
    }


class _Recording(Engine):
    """The engine, keeping each decision's typed arguments as the decider shaped them."""

    def __init__(self) -> None:
        super().__init__(load_rules(DEFAULT_RULES_PATH).rules)
        self.calls: list[tuple[Actor, Action, Resource, Facts]] = []

    def decide(
        self, actor: Actor, action: Action, resource: Resource, facts: Facts = frozenset()
    ) -> Decision:
        self.calls.append((actor, action, resource, facts))
        return super().decide(actor, action, resource, facts)


def decide_only_p50_us(mix: list[Request]) -> float:
    """p50 of `Engine.decide` alone over the mix, given each request already shaped into the
    typed actor, action, resource and facts (timed per call as `measure` does): the decision
    itself, beside the end-to-end figure that includes shaping the canonical request."""
    recording = _Recording()
    decider = entrusted_decider(recording)
    for req in mix:
        decider(req)
    decide = Engine(load_rules(DEFAULT_RULES_PATH).rules).decide
    calls = recording.calls
    for args in calls[:WARMUP]:
        decide(*args)
    clock = time.perf_counter_ns
    latencies = [0] * len(calls)
    for i, args in enumerate(calls):
        t0 = clock()
        decide(*args)
        latencies[i] = clock() - t0
    latencies.sort()
    return round(_percentile(latencies, 0.50), 3)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _gate_benchmark(quick: bool, database_url: str | None) -> Callable[[], dict[str, Any]]:
    """The audited gate (decision + durable ledger append) from `_gate.py` beside this file,
    per database: SQLite always, and the database at `database_url` too when it is another."""
    module = _sibling("_gate")
    per_client = 100 if quick else 400
    urls: dict[str, str | None] = {"sqlite": None}
    if database_url is not None:
        urls[make_url(database_url).get_backend_name()] = database_url
    return lambda: {
        name: dict(module.measure_gate(per_client=per_client, database_url=url))
        for name, url in urls.items()
    }


def run(
    requests: int = 100_000,
    seed: int = 20240607,
    *,
    quick: bool = False,
    database_url: str | None = None,
    extra: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run every engine on the same mix. `quick` shrinks the mix to 10,000 requests for a smoke
    run. The "gate" key measures 64 concurrent audited decisions per database (SQLite, and
    `database_url`'s), each beside its ledger's group commit and fsync floor; `extra` replaces
    that measurement (tests use it to stay fast). The floors (`_floors.py`) come first."""
    if extra is None:
        extra = _gate_benchmark(quick, database_url)
    if quick:
        requests = min(requests, 10_000)
    mix, labels = generate_requests(requests, seed)
    floors = _sibling("_floors").floors(database_url, quick)
    engines: dict[str, dict[str, Any]] = {}
    for name, distribution, build in PEERS:
        try:
            engines[name] = {**measure(build(), mix, labels), "version": _version(distribution)}
        except Exception as exc:  # a missing or broken peer is a result, not a crash
            engines[name] = {"error": f"{type(exc).__name__}: {exc}"}
    if "error" not in engines["entrusted"]:
        engines["entrusted"]["decide_only_p50_us"] = decide_only_p50_us(mix)
    result: dict[str, Any] = {"requests": requests, "engines": engines, **floors}
    if extra is not None:
        result["gate"] = extra()
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
