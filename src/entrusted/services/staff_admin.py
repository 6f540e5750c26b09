"""Staff administration (P8, P12, P14): members, roles, second factors and tokens, each step
decided by the gate and ledgered (ids only, never names or secrets).

Every administrative step is framed the same way: the gate decides and ledgers the request
before anything changes (a refusal or an unwritable ledger stops it), the change commits,
and only then the outcome is ledgered and other areas are told (`events`). Disabling a
member, or taking a role away, publishes an event on which the consent area ends their
grants and, through the grant-ended path, their live sessions at the mail server.

`StaffService` (services/staff.py) is this class plus logins and token checks; a caller that
names no actor (`by=None`) acts as the machine's operator, as bootstrap names them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from entrusted.crypto.secrets import hash_password, new_token, token_digest
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.domain.staff import (
    ApiToken,
    ServiceName,
    StaffMember,
    TokenKind,
    parse_roles,
    validate_display_name,
    validate_password,
    validate_username,
)
from entrusted.errors import Conflict, InvalidInput, NotFound
from entrusted.services.events import EventBus, StaffDisabled, StaffRolesRemoved
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from entrusted.services.staff_totp import SecondFactor

MAX_SERVICE_TOKEN_DAYS = 3650


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The plaintext `secret` exists only in this value: it is shown once and never stored."""

    secret: str
    token: ApiToken


@dataclass(frozen=True, slots=True)
class _Step:
    """One administrative step as the ledger sees it: who, what, on which account."""

    actor: Actor
    action: Action
    resource: Resource
    context: AccessContext


class StaffAdmin:
    _uow: UnitOfWorkFactory
    _readers: UnitOfWorkFactory  # read-only units: they never wait for SQLite's write lock
    _clock: Clock
    _ids: Callable[[str], str]
    _default_ttl: timedelta
    _max_ttl: timedelta
    _gate: Gate
    _outcomes: OutcomeRecorder
    _events: EventBus
    _operator: Actor
    _totp: SecondFactor

    # --- framing: decide before, ledger the outcome after the commit ----------------------

    def _decide(self, by: Actor | None, action: Action, target: str, note: str) -> _Step:
        step = _Step(
            by or self._operator,
            action,
            Resource(ResourceKind.STAFF_ACCOUNT, target),
            AccessContext(note=note),
        )
        self._gate.decide(step.actor, step.action, step.resource, step.context)
        return step

    def _decide_then_find(
        self, by: Actor | None, action: Action, username: str, note: str
    ) -> tuple[_Step, StaffMember]:
        """Decide on the staff accounts before looking the name up: a role that may not act
        on them gets the same ledgered refusal for a name that exists and one that does not
        (a 403 against a 404 would tell who is on the staff). Once allowed, the outcome is
        ledgered under the member's id, never their name."""
        step = self._decide(by, action, "*", note)
        member = self.get(username)
        return replace(step, resource=Resource(ResourceKind.STAFF_ACCOUNT, member.id)), member

    def _done(self, step: _Step, outcome: Outcome, reason: str) -> None:
        self._outcomes.record(
            step.actor, step.action, step.resource, outcome, reason, step.context
        )

    # --- members ----------------------------------------------------------------------------

    def add(
        self,
        username: str,
        display_name: str,
        roles: list[str],
        password: str,
        *,
        by: Actor | None = None,
    ) -> StaffMember:
        member = StaffMember(
            id=self._ids("stf"),
            username=validate_username(username),
            display_name=validate_display_name(display_name),
            roles=parse_roles(roles),
            created_at=self._clock(),
        )
        password_hash = hash_password(validate_password(password))
        step = self._decide(by, Action.CREATE, member.id, "add staff member")
        with self._uow() as uow:
            if uow.staff.by_username(member.username) is not None:
                raise Conflict(f"staff member {member.username!r} already exists")
            uow.staff.add(member, password_hash)
            uow.commit()
        self._done(step, Outcome.STAFF_ADDED, f"added with roles {_roles(member.roles)}")
        return member

    def list_members(self) -> list[StaffMember]:
        """Every member, ungated: for the operator's CLI on this machine, and for the names
        console pages show (directory data every console user sees, web/console/names.py). A
        staff member's look at roles and status goes through `members`."""
        with self._readers() as uow:
            return uow.staff.all()

    def members(self, actor: Actor) -> list[StaffMember]:
        """Every member, active first then by username, if the gate lets `actor` list the
        staff accounts (P8, P12): who holds which role is itself a ledgered read."""
        self._gate.decide(
            actor,
            Action.LIST,
            Resource(ResourceKind.STAFF_ACCOUNT, "*"),
            AccessContext(note="list staff members"),
        )
        return sorted(self.list_members(), key=lambda m: (not m.active, m.username))

    def get(self, username: str) -> StaffMember:
        with self._readers() as uow:
            return self._require(uow.staff.by_username(username), username)

    @staticmethod
    def _require(member: StaffMember | None, username: str) -> StaffMember:
        if member is None:
            raise NotFound("staff member", username)
        return member

    def disable(self, username: str, *, by: Actor | None = None) -> StaffMember:
        """Disable a member and end their access at once: every token is revoked in the same
        transaction, then their grants (and so their live mail sessions) end."""
        step, member = self._decide_then_find(by, Action.DELETE, username, "disable staff member")
        if step.actor.kind is ActorKind.STAFF and step.actor.id == member.id:
            # A click away from locking the last sysadmin out (trial finding); another
            # administrator, or the operator at the CLI, disables an account.
            self._outcomes.refuse(
                step.actor, step.action, step.resource, Outcome.STAFF_OWN_DISABLE_REFUSED,
                "nobody disables their own account; another administrator must do it",
                step.context,
            )
        now = self._clock()
        with self._uow() as uow:
            if not self._require(uow.staff.get(member.id), username).active:
                raise Conflict(f"staff member {username!r} is already disabled")
            uow.staff.set_disabled(member.id, now)
            uow.tokens.revoke_all_for_staff(member.id, now)
            uow.commit()
            refreshed = uow.staff.get(member.id)
        assert refreshed is not None
        self._done(step, Outcome.STAFF_DISABLED, "disabled; every token revoked")
        self._events.publish(StaffDisabled(member.id, step.actor))
        return refreshed

    def set_roles(
        self, username: str, roles: list[str], *, by: Actor | None = None
    ) -> StaffMember:
        """Replace a member's roles; a role taken away ends the grants they hold."""
        wanted = parse_roles(roles)
        step, member = self._decide_then_find(by, Action.UPDATE, username, "change roles")
        if step.actor.kind is ActorKind.STAFF and step.actor.id == member.id:
            # Separation of duties (P5): a sysadmin who made themselves `legal` could be the
            # second approver of a disclosure. Another administrator changes one's roles.
            self._outcomes.refuse(
                step.actor, step.action, step.resource, Outcome.STAFF_OWN_ROLES_REFUSED,
                "nobody changes their own roles; another administrator must do it",
                step.context,
            )
        with self._uow() as uow:
            current = self._require(uow.staff.get(member.id), username)
            if not current.active:
                raise Conflict(f"staff member {username!r} is disabled")
            uow.staff.set_roles(member.id, wanted)
            uow.commit()
            refreshed = uow.staff.get(member.id)
        assert refreshed is not None
        removed = current.roles - wanted
        self._done(
            step,
            Outcome.STAFF_ROLES_CHANGED,
            f"roles {_roles(current.roles)} -> {_roles(wanted)}",
        )
        if removed:
            self._events.publish(StaffRolesRemoved(member.id, removed, step.actor))
        return refreshed

    # --- second factor ----------------------------------------------------------------------

    def enroll_totp(
        self, username: str, current_code: str | None = None, *, by: Actor | None = None
    ) -> str:
        """Start enrolling a new authenticator; returns its provisioning URI. The active seed
        (if any) stays in force until the new one is confirmed, and replacing an active one
        needs a valid code from it: nobody switches a member's second factor off unnoticed."""
        member = self.get(username)
        step = self._decide(by, Action.UPDATE, member.id, "enrol second factor")
        sealed, uri = self._totp.new_seed(member.id, member.username)
        with self._uow() as uow:
            if member.totp_enabled and not self._totp.use(
                uow, member.id, current_code, self._clock()
            ):
                uow.rollback()
                self._outcomes.refuse(
                    step.actor,
                    step.action,
                    step.resource,
                    Outcome.TOTP_CODE_REFUSED,
                    "replacing an active second factor needs a valid code from it",
                    step.context,
                )
            uow.staff.set_pending_totp(member.id, sealed)
            uow.commit()
        self._done(step, Outcome.TOTP_ENROLMENT_STARTED, "new seed pending confirmation")
        return uri

    def confirm_totp(self, username: str, code: str, *, by: Actor | None = None) -> None:
        member = self.get(username)
        step = self._decide(by, Action.UPDATE, member.id, "confirm second factor")
        now = self._clock()
        with self._uow() as uow:
            sealed = uow.staff.totp_seed(member.id, pending=True)
            if sealed is None:
                raise Conflict("no TOTP enrolment in progress; run enrol first")
            used = self._totp.step(member.id, sealed, code, None, now)
            last = uow.staff.totp_last_step(member.id)
            if used is None or (last is not None and used <= last):
                uow.rollback()
                self._outcomes.record(
                    step.actor,
                    step.action,
                    step.resource,
                    Outcome.TOTP_CODE_REFUSED,
                    "the code does not match the new authenticator",
                    step.context,
                    allowed=False,
                )
                raise InvalidInput("code", "does not match the enrolled authenticator")
            uow.staff.activate_totp(member.id, sealed, used)
            uow.commit()
        self._done(step, Outcome.TOTP_CONFIRMED, "second factor active")

    def reset_totp(self, username: str, *, by: Actor | None = None) -> None:
        """An administrator switches a member's second factor off (a lost phone): explicit
        and ledgered, never a side effect. With TOTP required, the member cannot log in
        again until they enrol a new one."""
        member = self.get(username)
        step = self._decide(by, Action.UPDATE, member.id, "reset second factor")
        with self._uow() as uow:
            uow.staff.clear_totp(member.id)
            uow.commit()
        self._done(step, Outcome.TOTP_RESET, "second factor switched off; enrol a new one")

    def rotate_seeds(self, note: str, *, by: Actor | None = None) -> int:
        """Re-wrap every sealed TOTP seed under the current master key, as `keys rotate` does
        customers' keys, and ledger the rotation (`note`: what the customers' part did, in
        counts and key ids). Returns how many members' seeds moved."""
        step = self._decide(by, Action.UPDATE, "totp-seeds", "re-wrap under the current key")
        moved = 0
        with self._uow() as uow:
            for staff_id, active, pending in uow.staff.sealed_seeds():
                now_active, now_pending = self._totp.rewrap(active), self._totp.rewrap(pending)
                if (now_active, now_pending) != (active, pending):
                    uow.staff.replace_seeds(staff_id, now_active, now_pending)
                    moved += 1
            uow.commit()
        self._done(step, Outcome.KEYS_ROTATED, f"{note}; {moved} staff TOTP seed(s) re-wrapped")
        return moved

    # --- tokens -----------------------------------------------------------------------------

    def issue_token(
        self, username: str, label: str, ttl_days: int | None = None, *, by: Actor | None = None
    ) -> IssuedToken:
        """An administrator (the operator by default) issues a member's token: ledgered as
        theirs, so a token nobody asked for is visible."""
        member = self.get(username)
        issued = self._new_token(TokenKind.PERSONAL, label, ttl_days, staff_id=member.id)
        step = self._decide(by, Action.CREATE, member.id, "issue personal token")
        return self._issue_personal(step, issued)

    def issue_token_for(
        self, staff_id: str, label: str, ttl_days: int | None = None, totp_code: str | None = None
    ) -> IssuedToken:
        """A member mints their own token (`POST /v1/tokens`): a session token alone does not
        suffice, a fresh code from their second factor must come with it (when they have one,
        and always when the second factor is required)."""
        with self._readers() as uow:
            member = self._require(uow.staff.get(staff_id), staff_id)
        # Checked before the code is spent: a bad lifetime must not cost the member a code.
        issued = self._new_token(TokenKind.PERSONAL, label, ttl_days, staff_id=member.id)
        actor = Actor(kind=ActorKind.STAFF, id=member.id, roles=member.roles)
        step = _Step(
            actor,
            Action.CREATE,
            Resource(ResourceKind.STAFF_ACCOUNT, member.id),
            AccessContext(note="mint own token"),
        )
        if member.totp_enabled or self._totp.required:
            with self._uow() as uow:
                fresh = member.totp_enabled and self._totp.use(
                    uow, member.id, totp_code, self._clock()
                )
                if fresh:
                    uow.commit()
            if not fresh:
                self._outcomes.refuse(
                    step.actor,
                    step.action,
                    step.resource,
                    Outcome.TOTP_CODE_REFUSED,
                    "minting a token needs a fresh code from an enrolled second factor",
                    step.context,
                )
        return self._issue_personal(step, issued)

    def _issue_personal(self, step: _Step, issued: IssuedToken) -> IssuedToken:
        staff_id = issued.token.staff_id or ""
        with self._uow() as uow:
            member = self._require(uow.staff.get(staff_id), staff_id)
            if not member.active:
                raise Conflict(f"staff member {member.username!r} is disabled")
            uow.tokens.add(issued.token, token_digest(issued.secret))
            uow.commit()
        self._done(step, Outcome.TOKEN_ISSUED, _issued(issued.token))
        return issued

    def issue_service_token(
        self, service: str, label: str, ttl_days: int | None = None, *, by: Actor | None = None
    ) -> IssuedToken:
        try:
            name = ServiceName(service)
        except ValueError:
            allowed = ", ".join(s.value for s in ServiceName)
            raise InvalidInput(
                "service", f"unknown service {service!r} (allowed: {allowed})"
            ) from None
        issued = self._new_token(TokenKind.SERVICE, label, ttl_days, service=name)
        step = self._decide(by, Action.CREATE, issued.token.id, f"issue {name.value} token")
        with self._uow() as uow:
            uow.tokens.add(issued.token, token_digest(issued.secret))
            uow.commit()
        self._done(step, Outcome.TOKEN_ISSUED, _issued(issued.token))
        return issued

    def _new_token(
        self,
        kind: TokenKind,
        label: str,
        ttl_days: int | None,
        staff_id: str | None = None,
        service: ServiceName | None = None,
        ttl: timedelta | None = None,
    ) -> IssuedToken:
        label = label.strip()
        if not 1 <= len(label) <= 200:
            raise InvalidInput("label", "must be 1-200 characters")
        if ttl is None:
            # A personal token is a staff member's access to customer data: its life is
            # capped (`token_max_ttl_days`); an integration's is bounded more loosely.
            cap = self._max_ttl.days if kind is TokenKind.PERSONAL else MAX_SERVICE_TOKEN_DAYS
            if ttl_days is not None and not 1 <= ttl_days <= cap:
                raise InvalidInput("ttl_days", f"must be between 1 and {cap}")
            ttl = timedelta(days=ttl_days) if ttl_days else min(self._default_ttl, self._max_ttl)
        now = self._clock()
        token = ApiToken(
            id=self._ids("tok"),
            kind=kind,
            label=label,
            created_at=now,
            expires_at=now + ttl,
            staff_id=staff_id,
            service=service,
        )
        return IssuedToken(secret=new_token(), token=token)

    def tokens(self, username: str) -> list[ApiToken]:
        with self._readers() as uow:
            member = self._require(uow.staff.by_username(username), username)
            return uow.tokens.list_for_staff(member.id)

    def revoke_token(self, token_id: str, *, by: Actor | None = None) -> None:
        with self._readers() as uow:
            token = uow.tokens.get(token_id)
        if token is None:
            raise NotFound("token", token_id)
        owner = token.staff_id or token_id
        step = self._decide(by, Action.UPDATE, owner, f"revoke token {token_id}")
        with self._uow() as uow:
            if not _revoke(uow, token_id, self._clock()):
                raise Conflict(f"token {token_id} is already revoked")
            uow.commit()
        self._done(step, Outcome.TOKEN_REVOKED, f"token {token_id} revoked")


def _revoke(uow: UnitOfWork, token_id: str, at: datetime) -> bool:
    current = uow.tokens.get(token_id)
    if current is None or current.revoked_at is not None:
        return False
    uow.tokens.revoke(token_id, at)
    return True


def _roles(roles: frozenset[object]) -> str:
    return ",".join(sorted(str(r) for r in roles))


def _issued(token: ApiToken) -> str:
    return f"token {token.id} ({token.kind.value}) valid until {token.expires_at:%Y-%m-%d}"
