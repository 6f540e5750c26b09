"""`/metrics`, `/healthz` and `/readyz` on SQLite and PostgreSQL: the decision counters equal
what the ledger holds (counted independently from its raw entries), the database figures equal
the tables, an overdue backup day shows and makes the instance unready, an unreachable database
is a 503 (never a 500), and no customer's id, name or address ever reaches a metric."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from faker import Faker
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from entrusted.adapters.db import tables as t
from entrusted.bootstrap import Container, build
from entrusted.config import Settings
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.entrypoints.api.app import create_app
from entrusted.errors import InvalidInput, Refused
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from tests.conftest import FakeClock
from tests.e2e.test_api_registry import signup

pytestmark = pytest.mark.promise("P3", "P16")
LOOPBACK = ("127.0.0.1", 50000)
ALLOWED_LABELS = {"effect", "rule", "job", "witness", "status", "le"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_cache_s": 0.0})  # every scrape reads afresh


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container), client=LOOPBACK) as c:
        yield c


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def ledger_tally(engine: sa.Engine, since: int) -> Counter[tuple[str, str]]:
    """The oracle: (decision, rule) of every entry from `since`, read as raw JSON rows."""
    e = t.ledger_entry.c
    with engine.connect() as conn:
        bodies = conn.execute(sa.select(e.body).where(e.idx >= since)).scalars().all()
    return Counter((raw["decision"], raw["rule"]) for raw in map(json.loads, bodies))


def decisions(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float],
) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    for (name, labels), value in samples.items():
        if name == "entrusted_decisions_total":
            as_dict = dict(labels)
            found[(as_dict["effect"], as_dict["rule"])] = int(value)
    return found


def test_decision_counters_equal_the_ledger(client: TestClient, container: Container) -> None:
    since = container.ledger_store.stored_size()
    member = container.staff.add("sam.support", "Sam Support", ["support"], "a long password 1")
    sam = Actor(ActorKind.STAFF, member.id, member.roles)
    metadata = Resource(ResourceKind.MAILBOX_METADATA, "mbx_1", owner="cus_1")
    content = Resource(ResourceKind.MAILBOX_CONTENT, "mbx_1", owner="cus_1")
    refused_rules = []
    for _ in range(3):
        container.gate.decide(sam, Action.LIST_METADATA, metadata, AccessContext(case_id="c_1"))
    for _ in range(2):
        with pytest.raises(Refused) as caught:
            container.gate.decide(sam, Action.READ, content, AccessContext(case_id="c_1"))
        refused_rules.append(caught.value.decision.rule_id)
    with pytest.raises(InvalidInput):
        container.gate.decide(sam, "teleport", metadata)
    counted = decisions(scrape(client))
    oracle = ledger_tally(container.engine, since)
    assert counted == oracle
    assert oracle[("allow", "support-monitors-mailbox-metadata")] >= 3
    assert oracle[("deny", refused_rules[0])] >= 2
    assert oracle[("deny", Outcome.INVALID_REQUEST.value)] == 1


def test_database_figures_equal_the_tables(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    for email in ("nobody@example.com", "noone@example.net"):
        assert client.post("/v1/customers/password-link", json={"email": email}).status_code == 202
    member = container.staff.add("sam.support", "Sam Support", ["support"], "a long password 1")
    sam = Actor(ActorKind.STAFF, member.id, member.roles)
    metadata = Resource(ResourceKind.MAILBOX_METADATA, "mbx_1", owner="cus_1")
    container.gate.decide(sam, Action.LIST_METADATA, metadata, AccessContext(case_id="c_1"))
    container.checkpoints.sign()
    clock.advance(seconds=90)
    samples = scrape(client)
    o = t.outbox.c
    with container.engine.connect() as conn:
        by_status = dict(
            conn.execute(sa.select(o.status, sa.func.count()).group_by(o.status)).all()
        )
        size = conn.execute(sa.select(t.ledger_state.c.size)).scalar_one()
    depth = {
        dict(labels)["status"]: int(v)
        for (name, labels), v in samples.items()
        if name == "entrusted_outbox_messages"
    }
    assert {k: v for k, v in depth.items() if v} == by_status
    assert by_status["pending"] == 2
    assert samples[("entrusted_ledger_size", ())] == size
    assert samples[("entrusted_checkpoint_age_seconds", ())] == 90.0
    assert samples[("entrusted_database_up", ())] == 1.0


def test_overdue_destruction_shows_and_makes_the_instance_unready(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    assert scrape(client)[("entrusted_backup_destruction_overdue_days", ())] == 0.0
    assert client.get("/readyz").status_code == 200
    day = date(2026, 11, 10)
    with container.engine.begin() as conn:  # a day key 10 days past its 7 days, not destroyed
        conn.execute(
            t.backup_day.insert().values(
                day=day,
                key_id="k" * 16,
                commitment="0" * 64,
                created_at=clock.now - timedelta(days=17),
                destroy_after=clock.now - timedelta(days=10),
                destroyed_at=None,
                evidence_recorded=False,
            )
        )
    assert scrape(client)[("entrusted_backup_destruction_overdue_days", ())] == 1.0
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failed"] == ["backups"]
    assert r.json()["backups"] == {"overdue_days": [day.isoformat()]}
    assert client.get("/healthz").status_code == 200  # alive all the same: no restart


def test_job_runs_and_failures_are_counted(client: TestClient, container: Container) -> None:
    from entrusted.adapters.scheduler import Job

    def broken() -> str:
        raise RuntimeError("disk full")

    worker = container.worker()
    worker.run_job(Job("test.ok", 60, lambda: None))
    worker.run_job(Job("test.broken", 60, broken))
    worker.run_job(Job("test.broken", 60, broken))
    samples = scrape(client)
    assert samples[("entrusted_job_runs_total", (("job", "test.ok"),))] == 1.0
    assert samples[("entrusted_job_runs_total", (("job", "test.broken"),))] == 2.0
    assert samples[("entrusted_job_failures_total", (("job", "test.broken"),))] == 2.0
    assert samples[("entrusted_job_last_success", (("job", "test.ok"),))] == 1.0
    assert samples[("entrusted_job_last_success", (("job", "test.broken"),))] == 0.0


def test_metrics_carry_no_customer_data(client: TestClient, container: Container) -> None:
    fake = Faker()
    person = {
        "last_name": fake.last_name(),
        "first_name": fake.first_name(),
        "email": f"{fake.user_name()}@example.com",
    }
    r = client.post("/v1/customers", json=person, headers=signup(container))
    assert r.status_code == 201, r.text
    customer = r.json()["id"]
    member = container.staff.add("sue.support", "Sue Support", ["support"], "a long password 1")
    sue = Actor(ActorKind.STAFF, member.id, member.roles)
    with pytest.raises(Refused):
        container.gate.decide(
            sue, Action.READ, Resource(ResourceKind.MAILBOX_CONTENT, "m", owner=customer)
        )
    container.outbox.deliver()
    text = client.get("/metrics").text
    for secret in (customer, person["last_name"], person["first_name"], person["email"]):
        assert secret not in text
    rules = {r.id for r in container.ruleset.rules} | {o.value for o in Outcome} | {"none"}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, sample
            if "rule" in sample.labels:
                assert sample.labels["rule"] in rules, sample


def test_metrics_answer_loopback_or_the_token(container: Container, tmp_path: Path) -> None:
    app = create_app(container=container)
    with TestClient(app, client=("203.0.113.7", 50000)) as remote:
        assert remote.get("/metrics").status_code == 401
    with TestClient(app, client=LOOPBACK) as local:
        proxied = local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
        assert proxied.status_code == 401  # a local proxy forwarding someone else


def test_metrics_token_from_its_file(settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    from entrusted.bootstrap import initialise

    token_file = tmp_path / "metrics.token"
    token_file.write_text("m" * 32 + "\n")
    token_file.chmod(0o600)
    initialise(settings)
    c = build(settings.model_copy(update={"metrics_token_file": token_file}), clock=clock)
    try:
        with TestClient(create_app(container=c), client=LOOPBACK) as local:
            assert local.get("/metrics").status_code == 401  # a token is set: loopback too
            wrong = local.get("/metrics", headers={"Authorization": "Bearer " + "x" * 32})
            assert wrong.status_code == 401
            right = local.get("/metrics", headers={"Authorization": "Bearer " + "m" * 32})
            assert right.status_code == 200
            assert "entrusted_ledger_size" in right.text
    finally:
        c.close()


def test_readyz_with_the_database_gone_is_503(
    settings: Settings, clock: FakeClock, container: Container
) -> None:
    if container.engine.dialect.name == "sqlite":
        container.close()
        Path(container.engine.url.database or "").unlink()
        gone = settings
    else:  # a closed port: nothing listens on TCP port 1
        gone = settings.model_copy(
            update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/test"}
        )
    c = build(gone, clock=clock)
    try:
        with TestClient(create_app(container=c), client=LOOPBACK) as client:
            r = client.get("/readyz")
            assert r.status_code == 503, r.text
            assert "database" in r.json()["failed"]
            assert client.get("/healthz").status_code == 200
            m = client.get("/metrics")
            assert m.status_code == 200
            assert "entrusted_database_up 0.0" in m.text
    finally:
        c.close()


def test_witness_lag_per_configured_witness(
    settings: Settings, clock: FakeClock, container: Container
) -> None:
    from entrusted.crypto.cosigning import Cosigner

    early, silent = Cosigner.generate("w1.example.com"), Cosigner.generate("w2.example.com")
    witnesses = (
        f"https://w1.example.com {early.vkey}",
        f"https://w2.example.com {silent.vkey}",
    )
    member = container.staff.add("sam.support", "Sam Support", ["support"], "a long password 1")
    sam = Actor(ActorKind.STAFF, member.id, member.roles)
    metadata = Resource(ResourceKind.MAILBOX_METADATA, "mbx_1", owner="cus_1")
    for _ in range(5):
        container.gate.decide(sam, Action.LIST_METADATA, metadata, AccessContext(case_id="c_1"))
    with container.engine.begin() as conn:  # w1 cosigned the checkpoint of size 2, w2 nothing
        conn.execute(t.ledger_witness.insert().values(witness="w1.example.com", size=2))
    c = build(settings.model_copy(update={"witnesses": witnesses}), clock=clock)
    try:
        with TestClient(create_app(container=c), client=LOOPBACK) as client:
            samples = scrape(client)
    finally:
        c.close()
    size = samples[("entrusted_ledger_size", ())]
    assert size >= 5
    lag = "entrusted_witness_lag_entries"
    assert samples[(lag, (("witness", "w1.example.com"),))] == size - 2
    assert samples[(lag, (("witness", "w2.example.com"),))] == size


def test_readyz_without_the_master_key_is_503_naming_keys(
    settings: Settings, clock: FakeClock, container: Container, tmp_path: Path
) -> None:
    missing = tmp_path / "elsewhere" / "master.key"
    c = build(settings.model_copy(update={"master_key_file": missing}), clock=clock)
    try:
        with TestClient(create_app(container=c), client=LOOPBACK) as client:
            r = client.get("/readyz")
    finally:
        c.close()
    assert r.status_code == 503, r.text
    assert r.json()["failed"] == ["keys"]
    assert str(missing) not in r.text  # the public answer names no path


def test_a_token_file_others_can_read_is_a_clear_503(
    settings: Settings, clock: FakeClock, container: Container, tmp_path: Path
) -> None:
    token_file = tmp_path / "metrics.token"
    token_file.write_text("m" * 32)
    token_file.chmod(0o644)
    c = build(settings.model_copy(update={"metrics_token_file": token_file}), clock=clock)
    try:
        with TestClient(create_app(container=c), client=LOOPBACK) as local:
            r = local.get("/metrics", headers={"Authorization": "Bearer " + "m" * 32})
    finally:
        c.close()
    assert r.status_code == 503
    assert "readable by others" in r.json()["detail"]
