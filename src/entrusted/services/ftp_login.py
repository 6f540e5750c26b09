"""Who enters an FTP backup space, and what they may do there (P9, P11).

P9: the FTP space of a customer is strictly private. Two kinds of login pass, each ledgered:

- **The customer** logs in with the space's account name and the space's own FTP password
  (set by the holder, `services/ftp_password.py`; a transfer clears it), into that space
  only, with full read/write; the gate decides (`customer-uses-own-ftp-space`).
- **Staff** log in as `space-name*staffname` with their own password, only under their own
  live grant for exactly that space (`GrantEntry.enter`, one session consumed). Under a
  read-only grant every write, rename or delete is refused and ledgered (`ftp.read-only`).
  Each further step of a staff session (a listing, a download, a directory change) asks the
  gate again under the grant, ledgered with an id-only note: a grant that ended meanwhile
  blocks the next command (`ftp.grant-gone`), and the case's summary lists the steps.

The FTP server (adapters/ftp) asks through the `FtpDoor` port: this service in-process when
co-located (as the `ftp_server` service actor), or `adapters/ftp/gate_http.HttpFtpDoor` from
another host, which calls `/v1/ftp/...` with the `ftp_server` token; the API then `resume`s
the session from its ids and answers with this same service.

The name a staff step touched (a downloaded file, a listed directory) is kept for the
customer's closing summary, sealed under their data key (`GrantSteps`), after the step's
gate decision; the ledger holds only the step's id-only note.

```python
door = FtpLoginService(registry, entry, limits, "/srv/ftp/%n", steps)
session = door.login(ftp_server, "office-backup*sam", password, "192.0.2.7")
session.root, session.read_only, session.entry      # entry is None for the customer
door.step(session, "RETR", "/invoice-2026.pdf")     # False: the grant has ended
```
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Protocol

from entrusted.crypto.blind_index import ftp_space_index
from entrusted.crypto.secrets import DUMMY_PASSWORD_HASH, verify_password
from entrusted.domain.ids import INVALID_ID
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.domain.registry import ContractStatus, CustomerStatus, ServiceKind, clean_ftp_name
from entrusted.domain.staff import ServiceName
from entrusted.errors import AuthenticationFailed, InvalidInput, RateLimited
from entrusted.services.ftp_space import find_ftp_space
from entrusted.services.gate import AccessContext
from entrusted.services.grant_entry import Boundary, Entry, GrantEntry, Target
from entrusted.services.grant_steps import GrantSteps
from entrusted.services.outcomes import Outcome
from entrusted.services.registry import RegistryParts
from entrusted.services.staff import LoginLimits

STAFF_SEPARATOR = "*"
NOTE = "ftp login"
_BAD_LOGIN = "wrong account name or password"
_VARIABLE = re.compile(r"%([ni%])")
# The commands that change a space (upload, delete, rename, new directory, modes, times): the
# one list the server (adapters/ftp/server.py) and `step` refuse under a read-only grant.
WRITES = frozenset(
    {"STOR", "STOU", "APPE", "DELE", "RMD", "XRMD", "MKD", "XMKD", "RNFR", "RNTO", "MFMT"}
    | {"SITE", "SITE CHMOD"}
)


def is_write(command: str) -> bool:
    """Whether an FTP command changes the space (every `SITE` command counts as one)."""
    verb = command.strip().upper()
    return verb in WRITES or verb.startswith("SITE")


def password_mark(stored_hash: str) -> str:
    """What a customer session remembers of the FTP password it logged in with: a digest of
    the stored argon2 hash (salted, so a new password, even the same text, has a new mark).
    A session whose mark no longer matches (password changed or cleared) is over."""
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:32]


def space_root(template: str, name: str, service_id: str) -> str:
    """The directory of an FTP space from a path template: `%n` its account name, `%i` its
    service id, `%%` a percent sign. One pass: a value is inserted once and never scanned
    again, and an account name is `[a-z][a-z0-9._-]*`, so it cannot name a parent or a
    subdirectory."""
    clean = clean_ftp_name(name, "name")
    values = {"n": clean, "i": service_id, "%": "%"}
    return _VARIABLE.sub(lambda m: values[m.group(1)], template)


@dataclass(frozen=True, slots=True)
class FtpSession:
    """A login that passed: whose space, where its files are, and under which grant (staff)."""

    actor: Actor
    resource: Resource
    contract_id: str
    root: str
    read_only: bool
    entry: Entry | None = None  # the grant and grant session of a staff login
    password_mark: str | None = None  # a customer's: which FTP password it logged in with


@dataclass(frozen=True, slots=True)
class SessionRef:
    """How a server on another host names an open session to the API: a staff session by its
    grant session id, a customer's by whose space it is. The API reads the rest back from the
    database (`FtpLoginService.resume`)."""

    session_id: str | None = None
    customer_id: str | None = None
    contract_id: str | None = None
    service_id: str | None = None
    mark: str | None = None  # the customer session's `password_mark`

    @classmethod
    def of(cls, session: FtpSession) -> SessionRef:
        if session.entry is not None:
            return cls(session_id=session.entry.session_id)
        return cls(
            None, session.actor.id, session.contract_id, session.resource.id, session.password_mark
        )


class FtpDoor(Protocol):
    """What the FTP server asks about its sessions (the port it is built with):
    `FtpLoginService` in-process, `HttpFtpDoor` over HTTP. `step` is False when the session
    must close (grant ended, space handed over); `name` is the path the step touches, kept
    only for the customer (never in the ledger). A remote door raises `Unavailable` when it
    cannot get an answer: the server refuses, it never guesses."""

    def login(self, caller: Actor, username: str, password: str, remote_ip: str) -> FtpSession: ...

    def step(self, session: FtpSession, command: str, name: str | None = None) -> bool: ...

    def refuse_write(self, session: FtpSession, command: str) -> None: ...

    def still_live(self, session: FtpSession) -> bool: ...

    def logout(self, server: Actor, session: FtpSession) -> None: ...


class FtpLoginService:
    def __init__(
        self,
        registry: RegistryParts,
        entry: GrantEntry,
        limits: LoginLimits,
        root_template: str,
        steps: GrantSteps,
    ) -> None:
        self._registry = registry
        self._entry = entry
        self._limits = limits
        self._template = root_template
        self._steps = steps
        self.boundary = Boundary(
            kind=ResourceKind.FTP_SPACE,
            noun="FTP space",
            server=ServiceName.FTP_SERVER,
            action=Action.ENTER,
            note=NOTE,
            find=self._space,
            server_only=Outcome.FTP_SERVER_ONLY,
            unauthenticated=Outcome.FTP_STAFF_UNAUTHENTICATED,
            unknown_target=Outcome.FTP_UNKNOWN_TARGET,
            no_grant=Outcome.FTP_NO_GRANT,
        )

    def login(self, caller: Actor, username: str, password: str, remote_ip: str) -> FtpSession:
        """Decide one FTP login (see the module doc); Refused, AuthenticationFailed, NotFound
        or RateLimited otherwise, each ledgered."""
        space_name, sep, staff_name = username.rpartition(STAFF_SEPARATOR)
        if sep:
            entry = self._entry.enter(
                caller, self.boundary, space_name, staff_name, password, remote_ip
            )
            resource = Resource(ResourceKind.FTP_SPACE, entry.service_id, owner=entry.holder_id)
            root = space_root(self._template, space_name, entry.service_id)
            return FtpSession(
                entry.member, resource, entry.contract_id, root, entry.read_only, entry
            )
        return self._customer(caller, username, password, remote_ip)

    def step(self, session: FtpSession, command: str, name: str | None = None) -> bool:
        """Whether a session may run one more command. Staff: the gate is asked again under
        the grant and ledgers it as "ftp <command>"; then the `name` the command touches is
        sealed for the customer's closing summary (Unavailable if it cannot be kept: the
        step is then not served). A customer: the space must still be theirs (a contract
        handed over mid-session closes the old holder's session) and its FTP password the
        one they logged in with, read without a ledger entry for each of their own
        commands. A write (`is_write`) under a read-only grant is refused (`ftp.read-only`),
        whatever the server checked before asking. A refusal is ledgered."""
        entry = session.entry
        if session.read_only and is_write(command):
            self.refuse_write(session, command)
            return False
        if entry is not None:
            verb = command.lower()
            receipt = self._entry.step(self.boundary, entry, f"ftp {verb}")
            if receipt is not None:
                if name:
                    self._steps.record(entry.holder_id, entry.grant_id, receipt.index, verb, name)
                return True
            outcome, why = Outcome.FTP_GRANT_GONE, "the grant of this session has ended"
        else:
            lost = self._lost(session)
            if lost is None:
                return True
            outcome, why = Outcome.FTP_SPACE_GONE, lost
        self._registry.outcomes.record(
            session.actor,
            Action.ENTER,
            session.resource,
            outcome,
            f"ftp {command.lower()} refused: {why}",
            self._context(session, command),
            allowed=False,
        )
        return False

    def still_live(self, session: FtpSession) -> bool:
        """Whether a session may go on, read without a ledger entry (the server's periodic
        check): a staff session's grant is active; a customer still holds the space."""
        if session.entry is not None:
            return self._entry.live(session.entry)
        return self._lost(session) is None

    def resume(self, caller: Actor, ref: SessionRef) -> FtpSession | None:
        """The session a remote FTP server names (see `SessionRef`), read back from the
        database, or None if there is none (the server then closes it). Only the
        `ftp_server` service asks; anyone else is refused and ledgered (`ftp.server-only`).
        The root is the server's business: empty.

        Nothing the server sends is believed: a grant session must exist, be open (or its
        grant ended, so that its next step is refused by the gate and ledgered,
        `ftp.grant-gone`, as in-process) and be one of an FTP space; a customer's session
        must name an active contract held by that customer, its FTP space, and the mark of
        its current FTP password. Anything else (made-up or replayed ids, another
        customer's space, a mailbox grant, a password since changed) is refused and
        ledgered against the placeholder id, never attributed to a customer or staff
        member the server named."""
        self.server_only(caller)
        if ref.session_id is not None:
            return self._staff_session(caller, ref.session_id)
        if None in (ref.customer_id, ref.contract_id, ref.service_id, ref.mark):
            self._unknown(caller, "it names neither a grant session nor a space in full")
            return None
        resource = Resource(ResourceKind.FTP_SPACE, ref.service_id or "", owner=ref.customer_id)
        actor = Actor(ActorKind.CUSTOMER, ref.customer_id or "")
        session = FtpSession(actor, resource, ref.contract_id or "", "", False, None, ref.mark)
        if self._lost(session) is not None:
            self._unknown(caller, "it names no open session of a customer's FTP space")
            return None
        return session

    def _staff_session(self, caller: Actor, session_id: str) -> FtpSession | None:
        found = self._entry.resume(session_id)
        if found is None:
            self._unknown(caller, "it names no grant session")
            return None
        entry, open_ = found
        with self._registry.uow() as uow:
            contract = uow.contracts.get(entry.contract_id)
        if contract is None or not any(
            s.id == entry.service_id and s.kind is ServiceKind.FTP_SPACE for s in contract.services
        ):  # a mailbox grant's session, say
            self._unknown(caller, "its grant is not one for an FTP space")
            return None
        if not open_ and self._entry.live(entry):
            self._unknown(caller, "its grant session was closed")
            return None
        resource = Resource(ResourceKind.FTP_SPACE, entry.service_id, owner=entry.holder_id)
        return FtpSession(entry.member, resource, entry.contract_id, "", entry.read_only, entry)

    def _unknown(self, caller: Actor, why: str) -> None:
        """Ledger a session the API could not read back (by the server that named it, against
        the placeholder id: the ids it sent may be made up or another customer's)."""
        self._registry.outcomes.record(
            caller,
            Action.ENTER,
            Resource(ResourceKind.FTP_SPACE, INVALID_ID),
            Outcome.INVALID_REQUEST,
            f"ftp session refused: {why}",
            AccessContext(note="ftp session"),
            allowed=False,
        )

    def server_only(self, caller: Actor) -> None:
        """Refuse (ledgered, `ftp.server-only`) any caller but the `ftp_server` service."""
        if caller.kind is not ActorKind.SERVICE or caller.id != ServiceName.FTP_SERVER.value:
            self._registry.outcomes.refuse(
                caller,
                Action.ENTER,
                self.boundary.unknown,
                Outcome.FTP_SERVER_ONLY,
                "only the ftp_server service asks this",
                AccessContext(note=NOTE),
            )

    def _lost(self, session: FtpSession) -> str | None:
        """Why a customer's session is over (None: it goes on): the contract handed over or
        cancelled, the space not (or no longer) an FTP space of it, or the space's FTP
        password changed or cleared since the login (a thief with the old password is out).
        The one check of a customer's session, in-process and for a remote server's
        (`resume`)."""
        with self._registry.uow() as uow:
            contract = uow.contracts.get(session.contract_id)
            stored = uow.ftp_passwords.get(session.resource.id)
        if (
            contract is None
            or contract.status is not ContractStatus.ACTIVE
            or contract.holder_id != session.actor.id
            or not any(
                s.id == session.resource.id and s.kind is ServiceKind.FTP_SPACE
                for s in contract.services
            )
        ):
            return "the space is no longer this customer's"
        mark = session.password_mark
        if stored is None or mark is None or not hmac.compare_digest(password_mark(stored), mark):
            return "the space's FTP password changed since this login"
        return None

    def refuse_write(self, session: FtpSession, command: str) -> None:
        """Ledger a write (upload, rename, delete, new directory) refused under a read-only
        grant; the server answers 550."""
        self._registry.outcomes.record(
            session.actor,
            Action.ENTER,
            session.resource,
            Outcome.FTP_READ_ONLY,
            f"ftp {command.lower()} refused: the grant is read-only",
            self._context(session, command),
            allowed=False,
        )

    def logout(self, server: Actor, session: FtpSession) -> None:
        """The connection closed: a staff session's grant session ends (which ends a spent
        grant); a customer's needs nothing."""
        if session.entry is not None:
            self._entry.leave(server, session.entry.session_id)

    # --- customers ---------------------------------------------------------------------

    def _customer(self, caller: Actor, name: str, password: str, remote_ip: str) -> FtpSession:
        outcomes = self._registry.outcomes
        self.server_only(caller)
        found = self._space(name)
        resource = (
            self.boundary.unknown
            if found is None
            else Resource(ResourceKind.FTP_SPACE, found.service_id, owner=found.holder_id)
        )
        try:
            customer, mark = self._check_password(found, name, password, remote_ip)
        except (AuthenticationFailed, RateLimited) as exc:
            outcomes.record(
                caller,
                Action.ENTER,
                resource,
                Outcome.FTP_CUSTOMER_UNAUTHENTICATED,
                f"{NOTE} refused: {exc.message}",
                AccessContext(note=NOTE),
                allowed=False,
            )
            raise
        self._registry.gate.decide(customer, Action.ENTER, resource, AccessContext(note=NOTE))
        assert found is not None  # a password only checks out for a space that exists
        root = space_root(self._template, name, found.service_id)
        return FtpSession(customer, resource, found.contract.id, root, False, None, mark)

    def _check_password(
        self, found: Target | None, name: str, password: str, address: str
    ) -> tuple[Actor, str]:
        """The customer and the `password_mark` of the space's own FTP password
        (services/ftp_password.py), checked with the same
        per-account and per-address limits as the portal's login; argon2 runs outside any
        transaction, against a dummy hash when the space is unknown or has no FTP password,
        so neither the answer nor its time tells whether the account exists. Failures are
        counted under a keyed hash of the typed name, never the name in clear."""
        key = self._registry.keys().index_key
        try:
            idx = ftp_space_index(key, name)
        except InvalidInput:  # no account can have this name; counted all the same
            idx = hmac.digest(key, b"ftp-login\0" + name.encode("utf-8", "surrogatepass"), "sha256")
        now = self._registry.clock()
        account, source = f"ftp:{idx.hex()[:40]}", address[:64]
        with self._registry.uow() as uow:
            limited = self._limits.exceeded(uow.login_failures, account, source, now)
            if limited is not None:
                raise limited
            holder = None if found is None else uow.customers.get(found.holder_id)
            stored = None if found is None else uow.ftp_passwords.get(found.service_id)
        ok = verify_password(stored or DUMMY_PASSWORD_HASH, password) and stored is not None
        with self._registry.uow() as uow:
            if ok and found is not None:
                # Re-read: a transfer (which clears it), a cancellation or a new password
                # while hashing
                current = uow.contracts.get(found.contract.id)
                ok = (
                    current is not None
                    and current.status is ContractStatus.ACTIVE
                    and current.holder_id == found.holder_id
                    and uow.ftp_passwords.get(found.service_id) == stored
                )
            if not ok or holder is None or holder.status is not CustomerStatus.ACTIVE:
                uow.login_failures.record(account, source, now)
                uow.commit()
                raise AuthenticationFailed(_BAD_LOGIN)
            uow.login_failures.clear_account(account)
            uow.commit()
        assert stored is not None  # `ok` holds only for a stored password
        return Actor(ActorKind.CUSTOMER, holder.id), password_mark(stored)

    def _space(self, name: str) -> Target | None:
        return find_ftp_space(self._registry, name)

    def _context(self, session: FtpSession, command: str) -> AccessContext:
        entry, note = session.entry, f"ftp {command.lower()}"
        if entry is None:
            return AccessContext(note=note)
        return AccessContext(case_id=entry.case_id, grant_id=entry.grant_id, note=note)
