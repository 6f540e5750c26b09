"""A hypothesis state machine over cases, consent and grants, with an independent model of
which grants are live. After every step it asks the gate, for every staff member, case and
mailbox or FTP space of the case's contract, whether the staff member may read / enter it,
and requires the answer to be exactly the model's: allowed inside a live grant, refused
everywhere else. So no access is ever allowed outside an active grant, none survives
resolution, revocation, "not me", expiry, transfer or cancellation, and a live grant works.

Each step also checks that the services refuse exactly what the model says they must (an
approval by the wrong person, a replayed link, a spent grant, stale identification...).
`Env` adapts either the in-memory world or the SQL container to the machine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from entrusted.bootstrap import WORKER
from entrusted.domain.policy import Action, Resource, ResourceKind
from entrusted.errors import Conflict, InvalidInput, Refused
from entrusted.services.gate import AccessContext
from tests.unit.consent_model import Env, MCase, MContract, MGrant, MRequest
from tests.unit.registry_world import customer

WHY = "Looking into the problem the customer reported on the phone."
HOUR = timedelta(hours=1)
REQUEST_TTL = timedelta(hours=12)
GRANT_TTL = timedelta(hours=8)
FAILED = (Refused, Conflict, InvalidInput)


def _ok(step: Callable[[], Any]) -> Any:
    try:
        return step()
    except FAILED:
        return None


class ConsentMachine(RuleBasedStateMachine):
    """Subclasses say where the services come from (`make_env`)."""

    def make_env(self) -> Env:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.env = env = self.make_env()
        self.contracts: dict[str, MContract] = {}
        self.customers: list[str] = []
        for _ in range(2):
            customer_id, contract_id, services = env.holder()
            self.customers.append(customer_id)
            self.contracts[contract_id] = MContract(customer_id, True, services)
        self.contract_ids = list(self.contracts)
        self.cases: list[MCase] = []
        self.requests: list[MRequest] = []
        self.grants: list[MGrant] = []
        self.consents: list[tuple[MGrant, str, bool]] = []  # grant, token, reported
        self.sessions: list[tuple[str, MGrant]] = []
        self.identified: dict[tuple[str, str, str | None], datetime] = {}
        self.identifications: dict[tuple[str, str, str | None], int] = {}
        self.consented_with: set[tuple[tuple[str, str, str | None], int]] = set()
        for contract_id in self.contract_ids:  # every run starts with a case per contract
            self.open_case(self.contract_ids.index(contract_id), by_customer=False)

    # --- the model -----------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.env.clock.now

    def end(self, grant: MGrant) -> None:
        grant.ended = True
        grant.sessions.clear()

    def live(self, g: MGrant) -> bool:
        return not g.ended and self.now < g.expires and (g.used < g.max_sessions or g.sessions)

    def consentable(self, case: MCase, service: str) -> bool:
        contract = self.contracts[case.contract]
        return (
            case.open
            and contract.holder == case.customer
            and contract.active
            and service in contract.services.values()
        )

    def pick(self, items: list[Any], i: int) -> Any:
        return items[i % len(items)] if items else None

    # --- steps ---------------------------------------------------------------------------

    @rule(c=st.integers(0, 9), by_customer=st.booleans())
    def open_case(self, c: int, by_customer: bool) -> None:
        contract_id = self.pick(self.contract_ids, c)
        holder = self.contracts[contract_id].holder
        actor = customer(holder) if by_customer else self.env.staff[0]
        case = self.env.cases.open(actor, contract_id, "Something is wrong")
        self.cases.append(MCase(case.id, contract_id, holder))

    @rule(i=st.integers(0, 99), s=st.integers(0, 1), svc=st.integers(0, 3), n=st.integers(1, 2))
    def request(self, i: int, s: int, svc: int, n: int, service: str | None = None) -> None:
        case = self.pick(self.cases, i)
        if case is None:
            return
        if service is None:
            every = [x for c in self.contracts.values() for x in c.services.values()]
            service = every[svc % len(every)]
        made = _ok(
            lambda: self.env.consent.request(self.env.staff[s], case.id, service, WHY, sessions=n)
        )
        assert (made is not None) == self.consentable(case, service)
        if made is not None:
            self.requests.append(MRequest(made.id, case, self.env.link_token(), made.expires_at))

    @rule(
        i=st.integers(0, 99),
        s=st.integers(0, 1),
        svc=st.integers(0, 1),
        n=st.integers(1, 2),
        then_use=st.booleans(),
    )
    def request_and_approve(self, i: int, s: int, svc: int, n: int, then_use: bool) -> None:
        """The common path: ask for a resource of the case's own contract, the holder says
        yes, and (maybe) the staff member logs in at once."""
        case = self.pick(self.cases, i)
        if case is None:
            return
        own = list(self.contracts[case.contract].services.values())
        before = len(self.grants)
        self.request(i, s, 0, n, service=own[svc])
        if self.requests and self.requests[-1].case is case:
            self.approve(len(self.requests) - 1, 0, True)
        if then_use and len(self.grants) > before:
            self.use(len(self.grants) - 1, s)

    @rule(
        i=st.integers(0, 99),
        who=st.sampled_from([0, 0, 0, 1, 2]),
        good_token=st.sampled_from([True, True, True, False]),
    )
    def approve(self, i: int, who: int, good_token: bool) -> None:
        req = self.pick(self.requests, i)
        if req is None:
            return
        right = req.case.customer
        other = next(c for c in self.customers if c != right) if who == 1 else right
        actor = self.env.staff[0] if who == 2 else customer(other)
        token = req.token if good_token else "enta_wrong"
        grant = _ok(lambda: self.env.consent.approve(actor, req.id, token))
        expected = who == 0 and good_token and req.pending and self.now < req.expires
        assert (grant is not None) == expected, (who, good_token, req)
        if grant is not None:
            req.pending = False
            contract = self.contracts[req.case.contract]
            assert grant.approved_by == right
            self.grants.append(
                MGrant(
                    grant.id,
                    grant.staff_id,
                    grant.service_id,
                    req.case,
                    right,
                    req.case.contract,
                    grant.max_sessions,
                    self.now + GRANT_TTL,
                )
            )
            assert grant.service_id in contract.services.values()

    @rule(i=st.integers(0, 99))
    def deny(self, i: int) -> None:
        req = self.pick(self.requests, i)
        if req is None:
            return
        done = _ok(lambda: self.env.consent.deny(customer(req.case.customer), req.id))
        assert (done is not None) == (req.pending and self.now < req.expires)
        if done is not None:
            req.pending = False

    @rule(
        i=st.integers(0, 99),
        s=st.integers(0, 1),
        kind=st.sampled_from(["mailbox", "ftp_space"]),
        identify=st.booleans(),
    )
    def verbal(self, i: int, s: int, kind: str, identify: bool) -> None:
        case = self.pick(self.cases, i)
        if case is None:
            return
        staff = self.env.staff[s]
        key = (staff.id, case.customer, case.id)
        # An identification names only an open case of the customer (trial finding).
        if identify and not case.open:
            assert _ok(lambda: self.env.identify(staff, case.customer, case.id)) is None
        elif identify:
            self.env.identify(staff, case.customer, case.id)
            self.identified[key] = self.now
            self.identifications[key] = self.identifications.get(key, 0) + 1
        service = self.contracts[case.contract].services[kind]
        seen = self.identified.get(key)
        fresh = seen is not None and seen >= self.now - HOUR
        # One identification gives one consent (P11: one-off): the latest one must be unused.
        latest = (key, self.identifications.get(key, 0))
        made = _ok(lambda: self.env.verbal.record(staff, case.id, service, read_back=True))
        assert (made is not None) == (
            fresh
            and not case.flagged
            and self.consentable(case, service)
            and latest not in self.consented_with
        )
        if made is not None:
            self.consented_with.add(latest)
            _, grant = made
            m = MGrant(
                grant.id,
                staff.id,
                service,
                case,
                case.customer,
                case.contract,
                1,
                self.now + GRANT_TTL,
            )
            self.grants.append(m)
            self.consents.append((m, self.env.link_token(), False))

    @rule(i=st.integers(0, 99), owner=st.booleans())
    def revoke(self, i: int, owner: bool) -> None:
        g = self.pick(self.grants, i)
        if g is None:
            return
        who = g.customer if owner else next(c for c in self.customers if c != g.customer)
        done = _ok(lambda: self.env.grants.revoke(customer(who), g.id))
        assert (done is not None) == (owner and not g.ended)
        if done is not None:
            self.end(g)

    @rule(i=st.integers(0, 99))
    def not_me(self, i: int) -> None:
        if not self.consents:
            return
        k = i % len(self.consents)
        g, token, reported = self.consents[k]
        done = _ok(lambda: self.env.verbal.not_me(token))
        assert (done is not None) == (not reported)
        if done is not None:
            self.consents[k] = (g, token, True)
            self.end(g)
            g.case.flagged = True

    @rule(i=st.integers(0, 99))
    def resolve(self, i: int) -> None:
        case = self.pick(self.cases, i)
        if case is None:
            return
        done = _ok(lambda: self.env.cases.resolve(self.env.staff[1], case.id))
        assert (done is not None) == case.open
        if done is not None:
            case.open = False
            for g in self.grants:
                if g.case is case:
                    self.end(g)
            for r in self.requests:
                if r.case is case:
                    r.pending = False

    @rule(i=st.integers(0, 99))
    def reopen(self, i: int) -> None:
        case = self.pick(self.cases, i)
        if case is None:
            return
        new = _ok(lambda: self.env.cases.reopen(self.env.staff[0], case.id))
        held = self.contracts[case.contract].holder == case.customer
        assert (new is not None) == (not case.open and held)
        if new is not None:
            self.cases.append(MCase(new.id, case.contract, case.customer))

    def _contract_gone(self, contract_id: str) -> None:
        for g in self.grants:
            if g.contract == contract_id:
                self.end(g)
        for r in self.requests:
            if r.case.contract == contract_id:
                r.pending = False

    @rule(c=st.integers(0, 9))
    def transfer(self, c: int) -> None:
        contract_id = self.pick(self.contract_ids, c)
        m = self.contracts[contract_id]
        to = next(x for x in self.customers if x != m.holder)
        support = self.env.staff[0]
        self.env.identify(support, m.holder, None)
        done = _ok(lambda: self.env.contracts.transfer(support, contract_id, to_customer=to))
        assert (done is not None) == m.active
        if done is not None:
            m.holder = to
            self._contract_gone(contract_id)

    @rule(c=st.integers(0, 9))
    def cancel(self, c: int) -> None:
        contract_id = self.pick(self.contract_ids, c)
        m = self.contracts[contract_id]
        done = _ok(lambda: self.env.contracts.cancel(customer(m.holder), contract_id))
        assert (done is not None) == m.active
        if done is not None:
            m.active = False
            self._contract_gone(contract_id)

    @rule(i=st.integers(0, 99), s=st.integers(0, 1))
    def use(self, i: int, s: int) -> None:
        g = self.pick(self.grants, i)
        if g is None:
            return
        staff = self.env.staff[s]
        used = _ok(lambda: self.env.grants.use(staff, g.id))
        usable = not g.ended and self.now < g.expires and g.used < g.max_sessions
        assert (used is not None) == (usable and staff.id == g.staff)
        if used is not None:
            g.used += 1
            g.sessions.add(used.session.id)
            self.sessions.append((used.session.id, g))

    @rule(i=st.integers(0, 99))
    def use_as_its_staff(self, i: int) -> None:
        g = self.pick(self.grants, i)
        if g is not None:
            self.use(i, [a.id for a in self.env.staff].index(g.staff))

    @rule(i=st.integers(0, 99))
    def end_session(self, i: int) -> None:
        found = self.pick(self.sessions, i)
        if found is None:
            return
        session_id, g = found
        staff = next(a for a in self.env.staff if a.id == g.staff)
        done = _ok(lambda: self.env.grants.end_session(staff, session_id))
        assert (done is not None) == (session_id in g.sessions)
        if done is not None:
            g.sessions.discard(session_id)
            if g.used >= g.max_sessions and not g.sessions:
                self.end(g)

    @rule(minutes=st.integers(1, 600))
    def time_passes(self, minutes: int) -> None:
        self.env.clock.advance(minutes=minutes)

    @rule()
    def expire_job(self) -> None:
        self.env.consent.expire(WORKER)
        for r in self.requests:
            if r.pending and self.now >= r.expires:
                r.pending = False
        for g in self.grants:
            if not g.ended and self.now >= g.expires:
                self.end(g)

    # --- the property --------------------------------------------------------------------

    @invariant()
    def access_is_exactly_the_live_grants(self) -> None:
        for case in self.cases:
            contract = self.contracts[case.contract]
            for kind, service in contract.services.items():
                rkind = (
                    ResourceKind.MAILBOX_CONTENT if kind == "mailbox" else ResourceKind.FTP_SPACE
                )
                action = Action.READ if kind == "mailbox" else Action.ENTER
                resource = Resource(rkind, service, owner=contract.holder)
                for staff in self.env.staff:
                    expected = any(
                        self.live(g)
                        and g.staff == staff.id
                        and g.service == service
                        and g.case is case
                        and g.customer == contract.holder
                        for g in self.grants
                    )
                    try:
                        self.env.gate.decide(staff, action, resource, AccessContext(case.id))
                        allowed = True
                    except Refused:
                        allowed = False
                    assert allowed == expected, (staff.id, service, case, self.grants)
