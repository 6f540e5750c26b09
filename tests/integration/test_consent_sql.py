"""Cases, consent and grants wired by the composition root, on SQLite and PostgreSQL: the whole
path is in the durable ledger, every bad input and fault of issue 6 is refused, ledgered and
grants nothing, a transfer ends grants at once through the registry's hook, a single-use
grant is consumed once even by racing logins, the worker's `grants.expire` job lapses what
is due, and no hosted service name is stored in clear. Then the property-based machine runs
a smaller random walk against SQLite."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from entrusted.adapters.directory_transport import DirectoryMailer
from entrusted.bootstrap import WORKER, Container, build, initialise
from entrusted.config import Settings
from entrusted.domain.cases import GrantEnd, RequestStatus
from entrusted.domain.outbox import OutboxStatus, Topic
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.errors import Conflict, Refused
from entrusted.services.gate import AccessContext
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.conftest import FakeClock, count_rows
from tests.integration.test_registry_sql import ledgered, raw_rows, staff
from tests.refusals import refused_by
from tests.unit.consent_machine import ConsentMachine
from tests.unit.consent_model import Env
from tests.unit.registry_world import SIGNUP, People, customer

pytestmark = pytest.mark.promise("P9", "P10", "P11")

WHY = "Webmail shows an error for this mailbox; I need to look at it."
MAILBOX_NAME = "reto.rueegsegger@example.org"
FTP_NAME = "rueegsegger-backup"


def register(c: Container, n: int) -> tuple[str, str, dict[str, str]]:
    form = Registration(
        "Rüegsegger",
        f"Reto{n}",
        f"reto{n}@example.com",
        f"044 000 10 {n:02d}",
        None,
        (
            ServiceRequest("mailbox", f"{n}{MAILBOX_NAME}"),
            ServiceRequest("ftp_space", f"{FTP_NAME}{n}"),
        ),
    )
    done = c.registry.register(SIGNUP, form)
    assert done.contract_id is not None
    return done.customer_id, done.contract_id, services(c, done.contract_id)


def services(c: Container, contract_id: str) -> dict[str, str]:
    with c.uow() as uow:
        contract = uow.contracts.get(contract_id)  # type: ignore[attr-defined]
    return {s.kind.value: s.id for s in contract.services}


def link(c: Container) -> str:
    mailer = c.mailer
    assert isinstance(mailer, DirectoryMailer)
    return mailer.sent[-1].body.split("#token=")[1].split()[0]


def identify(c: Container, who: Actor, customer_id: str, case_id: str | None) -> None:
    started = c.identification.start(who, customer_id, "email_code", case_id=case_id)
    mailer = c.mailer
    assert isinstance(mailer, DirectoryMailer)
    c.identification.verify(who, started.id, mailer.sent[-1].body.split("code is ")[1][:6])


def refused(c: Container, step: Callable[[], object], rule: str | None) -> None:
    grants = count_rows(c.engine, "consent_grant")
    with pytest.raises(Refused) as caught:
        step()
    assert caught.value.decision.rule_id == rule
    last = ledgered(c)[-1]
    assert (last.decision, last.rule) == ("deny", rule)
    assert count_rows(c.engine, "consent_grant") == grants


def test_request_approve_use_end_is_durably_ledgered(container: Container) -> None:
    c = container
    support, other = staff(c, "sam", "support"), staff(c, "sue", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Webmail error")
    req = c.consent.request(support, case.id, svc["mailbox"], WHY)
    grant = c.consent.approve(customer(cus), req.id, link(c))
    box = Resource(ResourceKind.MAILBOX_CONTENT, svc["mailbox"], owner=cus)
    c.gate.decide(support, Action.READ, box, AccessContext(case.id, grant.id))
    use = c.grants.use(support, grant.id)
    refused(c, lambda: c.grants.use(other, grant.id), "consent.not-the-grantee")
    refused(c, lambda: c.grants.use(support, grant.id), "consent.sessions-spent")
    assert c.grants.end_session(support, use.session.id).end_reason is GrantEnd.USED
    with refused_by("mailbox-closed-to-staff", ledger=lambda: ledgered(c)[-1]):
        c.gate.decide(support, Action.READ, box, AccessContext(case.id, grant.id))
    c.cases.resolve(support, case.id)
    rules = {(e.actor_id, e.rule) for e in ledgered(c) if e.refs.get("case") == case.id}
    assert (cus, "customer-manages-own-consent") in rules
    assert (cus, "consent.granted") in rules
    assert (support.id, "staff-read-mail-under-grant") in rules
    assert (support.id, "consent.grant-ended") in rules
    view = c.cases.get(support, case.id)
    assert view.requests[0].status is RequestStatus.APPROVED
    assert view.requests[0].answered_by == cus
    # The notices were queued in the outbox with each change; the worker's job sends them.
    queued = {(m.topic, m.ref) for m in c.outbox.list(OutboxStatus.PENDING)}
    assert (Topic.CLOSING_SUMMARY, case.id) in queued
    assert c.outbox.deliver().failed == 0
    assert c.outbox.counts()[OutboxStatus.PENDING] == 0
    mailer = c.mailer
    assert isinstance(mailer, DirectoryMailer)
    summary = next(m for m in reversed(mailer.sent) if m.subject.startswith(f"Case {case.id}"))
    assert f"Staff Member read {1}{MAILBOX_NAME}: allowed" in summary.body  # display name
    assert support.id not in summary.body


def test_bad_input_and_faults_are_refused_ledgered_and_grant_nothing(
    container: Container,
) -> None:
    c = container
    support, other = staff(c, "sam", "support"), staff(c, "sue", "support")
    cus, ctr, svc = register(c, 1)
    cus2, _, svc2 = register(c, 2)
    case = c.cases.open(support, ctr, "Webmail error")
    outside = "consent.resource-not-in-contract"
    refused(c, lambda: c.consent.request(support, case.id, svc2["mailbox"], WHY), outside)
    req = c.consent.request(support, case.id, svc["mailbox"], WHY)
    token = link(c)
    refused(c, lambda: c.consent.approve(customer(cus2), req.id, token), None)
    refused(c, lambda: c.consent.approve(support, req.id, token), None)
    grant = c.consent.approve(customer(cus), req.id, token)
    refused(c, lambda: c.consent.approve(customer(cus), req.id, token), "consent.link-spent")
    refused(c, lambda: c.grants.use(other, grant.id), "consent.not-the-grantee")
    late = c.consent.request(support, case.id, svc["ftp_space"], WHY)
    late_token = link(c)
    assert isinstance(c.clock, FakeClock)
    c.clock.advance(hours=12)
    refused(
        c, lambda: c.consent.approve(customer(cus), late.id, late_token), "consent.request-expired"
    )
    refused(
        c, lambda: c.verbal_consent.record(support, case.id, svc["ftp_space"], read_back=True), None
    )
    last = c.consent.request(support, case.id, svc["ftp_space"], WHY)
    last_token = link(c)
    c.cases.resolve(support, case.id)
    refused(
        c,
        lambda: c.consent.approve(customer(cus), last.id, last_token),
        "consent.request-withdrawn",
    )
    assert count_rows(c.engine, "consent_grant") == 1


def test_verbal_consent_and_not_me(container: Container) -> None:
    c = container
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Restore on the phone")
    identify(c, support, cus, case.id)
    consent, _ = c.verbal_consent.record(support, case.id, svc["ftp_space"], read_back=True)
    space = Resource(ResourceKind.FTP_SPACE, svc["ftp_space"], owner=cus)
    c.gate.decide(support, Action.ENTER, space, AccessContext(case.id))
    ended = c.verbal_consent.not_me(link(c))
    assert ended.end_reason is GrantEnd.NOT_ME
    with refused_by("ftp-space-closed-to-staff", ledger=lambda: ledgered(c)[-1]):
        c.gate.decide(support, Action.ENTER, space, AccessContext(case.id))
    view = c.cases.get(support, case.id)
    assert view.case.flagged_at is not None
    assert view.consents[0].identification_id == consent.identification_id
    assert [i.id for i in view.identifications] == [consent.identification_id]


def test_transfer_ends_grants_at_once(container: Container) -> None:
    c = container
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    cus2, _, _ = register(c, 2)
    case = c.cases.open(support, ctr, "Handing over")
    req = c.consent.request(support, case.id, svc["mailbox"], WHY)
    grant = c.consent.approve(customer(cus), req.id, link(c))
    identify(c, support, cus, None)
    c.contracts.transfer(support, ctr, to_customer=cus2)
    assert c.cases.get(support, case.id).grants[0].end_reason is GrantEnd.TRANSFERRED
    refused(c, lambda: c.grants.use(support, grant.id), "mailbox-closed-to-staff")


def test_a_single_use_grant_is_consumed_once_by_racing_logins(container: Container) -> None:
    c = container
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Race")
    req = c.consent.request(support, case.id, svc["mailbox"], WHY)
    grant = c.consent.approve(customer(cus), req.id, link(c))
    barrier, won = threading.Barrier(4), []

    def consume() -> None:
        barrier.wait()
        with c.uow() as uow:
            if uow.grants.consume(grant.id, c.clock()):  # type: ignore[attr-defined]
                won.append(1)
            uow.commit()

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert won == [1]


def test_the_worker_lapses_requests_and_ends_grants(container: Container) -> None:
    c = container
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Slow")
    c.consent.request(support, case.id, svc["ftp_space"], WHY)
    req = c.consent.request(support, case.id, svc["mailbox"], WHY)
    c.consent.approve(customer(cus), req.id, link(c))
    assert isinstance(c.clock, FakeClock)
    c.clock.advance(hours=12)
    job = next(j for j in c.jobs if j.name == "grants.expire")
    outcome = c.worker().run_job(job)
    assert outcome.ok, outcome.detail
    assert outcome.detail == "1 request(s) lapsed, 1 grant(s) ended"
    assert {e.actor_id for e in ledgered(c)[-3:]} == {WORKER.id}


def test_no_service_name_is_stored_in_clear(container: Container) -> None:
    c = container
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Names")
    req = c.consent.request(support, case.id, svc["mailbox"], WHY)
    c.consent.approve(customer(cus), req.id, link(c))
    identify(c, support, cus, case.id)
    c.verbal_consent.record(support, case.id, svc["ftp_space"], read_back=True)
    cells = b"\n".join(raw_rows(c.engine))
    for needle in (MAILBOX_NAME, FTP_NAME, "reto1@example.com"):
        assert needle.encode() not in cells


# --- the property-based machine, a smaller run on SQLite ---------------------------------------


def test_no_access_outside_a_live_grant_on_sqlite(tmp_path: Path) -> None:
    clock = FakeClock()
    cfg = Settings(
        data_dir=tmp_path / "d",
        database_url=f"sqlite:///{tmp_path / 'p.db'}",
        mail_transport="directory",
        sms_transport="directory",
        identification_codes_per_hour=100,  # the bound has its own test
    )
    initialise(cfg)
    c = build(cfg, clock=clock)
    try:
        pair = (staff(c, "sam", "support"), staff(c, "sue", "support"))
        mailer = c.mailer
        assert isinstance(mailer, DirectoryMailer)
        env = Env(
            c,
            c.verbal_consent,
            clock,
            mailer,
            pair,
            People(seed=9),
            lambda contract_id: services(c, contract_id),
        )

        class SqliteMachine(ConsentMachine):
            def make_env(self) -> Env:
                return env

        run_state_machine_as_test(
            SqliteMachine,
            settings=settings(
                max_examples=12,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        c.close()


def test_one_identification_gives_one_verbal_consent(container: Container) -> None:
    """Trial finding: one identification gave any number of grants (P11: one-off)."""
    c = container
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Restore on the phone")
    identify(c, support, cus, case.id)
    c.verbal_consent.record(support, case.id, svc["ftp_space"], read_back=True)
    again = lambda: c.verbal_consent.record(  # noqa: E731
        support, case.id, svc["mailbox"], read_back=True
    )
    refused(c, again, "consent.identification-used")
    identify(c, support, cus, case.id)  # identified anew: a second consent may be given
    c.verbal_consent.record(support, case.id, svc["mailbox"], read_back=True)
    assert count_rows(c.engine, "verbal_consent") == 2


def test_the_store_settles_a_race_on_one_identification(container: Container) -> None:
    """Ten requests at once with the same identification: exactly one consent is stored."""
    c = container
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Restore on the phone")
    identify(c, support, cus, case.id)
    consent, grant = c.verbal_consent.record(support, case.id, svc["ftp_space"], read_back=True)
    identify(c, support, cus, case.id)
    with c.uow() as uow:
        fresh = uow.identifications.verified_since(cus, grant.created_at)[-1].id
    assert fresh != consent.identification_id
    results: list[str] = []

    def twin(n: int) -> None:
        copy = replace(grant, id=f"gnt_race{n}")
        twin_consent = replace(
            consent, id=f"vcn_race{n}", grant_id=copy.id, identification_id=fresh
        )
        try:
            with c.uow() as uow:
                uow.grants.add(copy)
                uow.consents.add(twin_consent, bytes([n]) * 32)
                uow.commit()
            results.append("stored")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=twin, args=(n,)) for n in range(10)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["conflict"] * 9 + ["stored"]
    assert count_rows(c.engine, "verbal_consent") == 2
