"""The composition root: the only place that reads Settings and builds adapters and services."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog

from entrusted.adapters.contacts import Contacts
from entrusted.adapters.db import tables as t
from entrusted.adapters.db.engine import is_sqlite, make_engine
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_tail import verify_since
from entrusted.adapters.db.ledger_verify import verify_ledger
from entrusted.adapters.db.ledger_writer import GroupCommitLedger
from entrusted.adapters.db.policy_store import SqlDeploymentStore, SqlStaffDirectory
from entrusted.adapters.db.registry_store import SqlWrappedKeyStore
from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.adapters.directory_transport import DirectoryMailer, DirectorySms
from entrusted.adapters.file_modes import secure, sqlite_files
from entrusted.adapters.joblock import FileJobLock, PostgresJobLock
from entrusted.adapters.ledger_http import HttpTileSource
from entrusted.adapters.ledger_record import LocalRecordFile
from entrusted.adapters.mail.dovecot import DoveadmSessions
from entrusted.adapters.mail.maildir import MaildirReader
from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, parse_rules
from entrusted.adapters.scheduler import Job, JobLock, Worker
from entrusted.adapters.sms import HttpSmsGateway
from entrusted.adapters.smtp import SmtpMailer
from entrusted.adapters.witness_cosignatures import SqlCosignatureStore
from entrusted.adapters.witness_http import HttpWitness
from entrusted.config import Settings
from entrusted.crypto.blind_index import (
    create_index_key_file,
    index_key_from_base64,
    load_index_key_file,
)
from entrusted.crypto.envelope import (
    Keyring,
    create_master_key_file,
    load_master_key_file,
    master_key_from_base64,
)
from entrusted.crypto.personal import RegistryKeys
from entrusted.crypto.signing import generate_key_file, load_signer
from entrusted.domain.outbox import Backoff
from entrusted.domain.policy import (
    OPERATOR_PREFIX,
    Action,
    Actor,
    ActorKind,
    Condition,
    Engine,
    Resource,
    ResourceKind,
)
from entrusted.domain.policy_analysis import RuleSet
from entrusted.errors import InvalidInput, TamperDetected, Unavailable
from entrusted.services.cases import CaseService
from entrusted.services.consent import ConsentService
from entrusted.services.consent_notices import ConsentNotices
from entrusted.services.consent_parts import ConsentLimits, ConsentParts
from entrusted.services.contact_email import ContactEmails
from entrusted.services.contracts import ContractService
from entrusted.services.customer_auth import CustomerAuthService, is_customer_token
from entrusted.services.events import EventBus
from entrusted.services.ftp_login import FtpLoginService
from entrusted.services.gate import Gate
from entrusted.services.grant_entry import GrantEntry
from entrusted.services.grants import ActiveGrant, GrantService
from entrusted.services.identification import CallerIdentified, IdentificationService
from entrusted.services.keys import WrappedKeyStore
from entrusted.services.ledger import CheckpointService, TailSigner
from entrusted.services.mail_login import MailboxSessions, MailLoginService
from entrusted.services.mailbox_monitor import MailboxMonitor
from entrusted.services.messaging import (
    NO_MAIL,
    NO_SMS,
    MailSender,
    NoMailTransport,
    NoSmsTransport,
    SmsSender,
)
from entrusted.services.outbox import OutboxService
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.policy_rules import RulesDeployment, require_invariants
from entrusted.services.ports import ConsentUnitOfWork, RegistryUnitOfWork, UnitOfWork
from entrusted.services.registry import RegistryParts, RegistryService
from entrusted.services.registry_lookup import (
    CallerLookup,
    LookupLimits,
    LookupThrottle,
    cases_in,
)
from entrusted.services.staff import LoginLimits, StaffService
from entrusted.services.staff_access import EndStaffGrants
from entrusted.services.staff_totp import SecondFactor
from entrusted.services.verbal_consent import VerbalConsentService
from entrusted.services.witness_submit import ConfiguredWitness, WitnessPolicy, WitnessSubmitter

if TYPE_CHECKING:
    from pyftpdlib.servers import ThreadedFTPServer

LEDGER_RECORD = "ledger.record"  # the signed local record, in the data directory
LEDGER_VERIFY_JOB = "ledger.verify"  # the worker's scheduled full verification

# Who the worker's jobs act as, in the ledger (the rules let a service expire grants).
WORKER = Actor(ActorKind.SERVICE, "worker")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Container:
    settings: Settings
    engine: sa.Engine
    clock: Callable[[], datetime]
    staff: StaffService
    ledger_store: SqlLedgerStore
    ledger: GroupCommitLedger
    ruleset: RuleSet
    rules_bytes: bytes
    gate: Gate
    registry_keys: Callable[[], RegistryKeys]
    key_store: WrappedKeyStore
    mailer: MailSender
    sms: SmsSender
    customer_auth: CustomerAuthService
    registry: RegistryService
    contracts: ContractService
    identification: IdentificationService
    cases: CaseService
    consent: ConsentService
    grants: GrantService
    verbal_consent: VerbalConsentService
    mailbox_monitor: MailboxMonitor
    mail_login: MailLoginService
    grant_entry: GrantEntry
    ftp_login: FtpLoginService
    outbox: OutboxService
    jobs: list[Job] = field(default_factory=list)
    _checkpoints: CheckpointService | None = None
    _tail: TailSigner | None = None
    _witness_clients: list[HttpWitness] = field(default_factory=list)
    _submitter: WitnessSubmitter | None = None

    @property
    def checkpoints(self) -> CheckpointService:
        """Loaded on first use: commands that never sign need no signing key."""
        if self._checkpoints is None:
            signer = load_signer(self.settings.effective_ledger_key_file)
            self._checkpoints = CheckpointService(
                self.ledger_store,
                signer,
                self.clock,
                self.job_lock(),
                LocalRecordFile(self.settings.data_dir / LEDGER_RECORD, signer),
                timedelta(seconds=self.settings.checkpoint_idle_resign_s),
                witnesses=self._witness_submitter(),
            )
        return self._checkpoints

    def _witness_submitter(self) -> WitnessSubmitter | None:
        """The configured witnesses (none: checkpoints are published uncosigned)."""
        if not self.settings.witnesses:
            return None
        self._witness_clients = [HttpWitness(url) for url, _ in self.witness_entries()]
        witnesses = [
            ConfiguredWitness(vkey, client)
            for (_, vkey), client in zip(self.witness_entries(), self._witness_clients, strict=True)
        ]

        def alert(witness: str, reason: str) -> None:
            resource = Resource(ResourceKind.LEDGER, f"witness/{witness}"[:64])
            OutcomeRecorder(self.gate).record(
                WORKER,
                Action.READ,
                resource,
                Outcome.LEDGER_TAMPERED,
                reason[:2000],
                allowed=False,
            )

        self._submitter = WitnessSubmitter(
            witnesses,
            SqlCosignatureStore(self.engine),
            self.ledger_store.consistency_proof,
            self.clock,
            alert,
            _witness_failures,
        )
        return self._submitter

    def witness_entries(self) -> list[tuple[str, str]]:
        """(URL, vkey) of each configured witness; InvalidInput naming a malformed entry."""
        entries = []
        for entry in self.settings.witnesses:
            url, _, vkey = entry.strip().partition(" ")
            if not url.startswith(("https://", "http://")) or not vkey.strip():
                raise InvalidInput("witnesses", f"{entry!r} is not `<URL> <vkey>`")
            entries.append((url, vkey.strip()))
        return entries

    def witness_policy(self) -> WitnessPolicy:
        keys = tuple(vkey for _, vkey in self.witness_entries())
        return WitnessPolicy(keys, self.settings.witness_quorum)

    def ledger_verification(self) -> dict[str, object]:
        """The health figure of the worker's last full ledger verification: `{"ok", "at",
        "detail"}` (`ok` None until it has run; `detail` the failure, naming the index)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.job_state).where(t.job_state.c.name == LEDGER_VERIFY_JOB)
            ).first()
        if row is None or row.last_finished_at is None:
            return {"ok": None, "at": None, "detail": None}
        return {"ok": row.last_ok, "at": row.last_finished_at.isoformat(), "detail": row.last_error}

    def uow(self) -> UnitOfWork:
        return SqlUnitOfWork(self.engine)

    def authenticate(self, secret: str) -> Actor:
        """The actor a bearer token stands for: a customer's `entc_` token or a staff or
        service token."""
        if is_customer_token(secret):
            return self.customer_auth.authenticate(secret)
        return self.staff.authenticate(secret)

    def job_lock(self) -> JobLock:
        if is_sqlite(self.engine):
            return FileJobLock(self.settings.data_dir / "locks")
        return PostgresJobLock(self.engine)

    def worker(self) -> Worker:
        return Worker(jobs=self.jobs, lock=self.job_lock(), engine=self.engine)

    def require_transports(self) -> list[str]:
        """What `serve` and `worker` check before they start: a configured way out for
        e-mail and SMS (there is no silent in-memory one). Returns where messages go."""
        missing = [
            fix
            for sender, fix in ((self.mailer, NO_MAIL), (self.sms, NO_SMS))
            if isinstance(sender, NoMailTransport | NoSmsTransport)
        ]
        if missing:
            raise InvalidInput("messages", "; ".join(missing))
        return [f"e-mail: {self.mailer!r}", f"SMS: {self.sms!r}"]

    def start(self, deployed_by: str, sign_tail: bool = False) -> list[str]:
        """What a serving process does before it takes requests: verify the log against its
        tiles and last checkpoint, refuse rules that break an invariant, and ledger a change
        of the running rules. Returns notes for the operator."""
        try:
            self.ledger.start()
        except sa.exc.SQLAlchemyError as exc:
            # One line for the operator (exit code of Unavailable), not a traceback that may
            # quote the URL or SQL; hide_parameters keeps values out of exc itself.
            where = self.settings.describe()["database_url"]
            raise Unavailable(f"the database at {where} is unreachable: "
                              f"{type(getattr(exc, 'orig', None) or exc).__name__}") from None
        file_notes = secure_files(self.settings)
        vkey = self.checkpoints.vkey
        verified = self.checkpoints.advance_record(lambda r: verify_since(self.engine, vkey, r))
        if sign_tail and self._tail is None:
            # A checkpoint follows every append within about a second (`serve`).
            self._tail = TailSigner(self.checkpoints, _tail_sign_failed)
            self.ledger.after_commit = self._tail.poke
            self._tail.start()
            self._tail.poke()
        require_invariants(self.ruleset, self.gate.engine)
        notes = [*file_notes, verified.summary()]
        deployment = RulesDeployment(
            SqlDeploymentStore(self.engine), self.ledger, self.clock, parse_rules
        ).record(self.ruleset, self.rules_bytes, deployed_by)
        if deployment is not None:
            notes.append(f"rules {self.ruleset.sha256[:12]} deployed: {deployment.summary}")
        return notes

    def close(self) -> None:
        if self._tail is not None:
            self.ledger.after_commit = None
            self._tail.stop()
            self._tail = None
        self.ledger.stop()
        if self._submitter is not None:
            self._submitter.close()
        for client in self._witness_clients:
            client.close()
        self.engine.dispose()


def build(settings: Settings, clock: Callable[[], datetime] = utc_now) -> Container:
    engine = make_engine(settings.effective_database_url)

    def uow() -> UnitOfWork:
        return SqlUnitOfWork(engine)

    def reader() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, read_only=True)

    staff_limits = LoginLimits(
        max_failures_per_account=settings.login_max_failures_per_account,
        max_failures_per_address=settings.login_max_failures_per_address,
        window=timedelta(seconds=settings.login_window_s),
    )
    store = SqlLedgerStore(engine)
    ledger = GroupCommitLedger(store)
    rules_path = settings.rules_file or DEFAULT_RULES_PATH
    try:
        rules_bytes = rules_path.read_bytes()
    except OSError as exc:
        raise InvalidInput("rules_file", f"cannot read {rules_path}: {exc.strerror}") from None
    ruleset = parse_rules(rules_bytes, str(rules_path))

    def registry_uow() -> RegistryUnitOfWork:
        return SqlUnitOfWork(engine)

    def consent_uow() -> ConsentUnitOfWork:
        return SqlUnitOfWork(engine)

    # The gate's conditions only read: read-only units, which never wait for SQLite's lock
    identified = CallerIdentified(reader, clock, timedelta(seconds=settings.identification_valid_s))
    gate = Gate(
        engine=Engine(ruleset.rules),
        ledger=ledger,
        clock=clock,
        resolvers={
            Condition.CALLER_IDENTIFIED: identified,
            Condition.ACTIVE_GRANT: ActiveGrant(reader, reader, clock),
        },
        directory=SqlStaffDirectory(engine),
    )
    keys = LazyRegistryKeys(settings)
    events = EventBus()
    staff = StaffService(
        uow,
        clock,
        staff_limits,
        default_token_ttl=timedelta(days=settings.token_ttl_days),
        password_cache_ttl=timedelta(seconds=settings.mail_password_cache_s),
        readers=reader,
        gate=gate,
        events=events,
        operator=console_operator(),
        second_factor=SecondFactor(lambda: keys().keyring, settings.staff_totp_required),
        max_token_ttl=timedelta(days=settings.token_max_ttl_days),
    )
    mailer, sms = _messaging(settings)
    contacts = Contacts()
    parts = RegistryParts(registry_uow, gate, keys, contacts, clock)
    customer_auth = CustomerAuthService(
        registry_uow,
        clock,
        keys,
        contacts,
        settings.portal_url,
        timedelta(seconds=settings.password_link_ttl_s),
        staff_limits,
        readers=reader,
        link_limit=settings.password_link_max_per_hour,
    )
    contact_emails = ContactEmails(
        registry_uow,
        gate,
        keys,
        clock,
        settings.portal_url,
        timedelta(seconds=settings.email_change_ttl_s),
    )
    notices = ConsentNotices(parts, mailer, settings.portal_url, store)
    outbox = OutboxService(
        registry_uow,
        mailer,
        clock,
        {
            **notices.renderers(consent_uow),
            **customer_auth.renderers(),
            **contact_emails.renderers(),
        },
        Backoff(
            base=timedelta(seconds=settings.outbox_retry_s),
            max_attempts=settings.outbox_max_attempts,
        ),
        retention=timedelta(seconds=settings.outbox_retention_s),
    )
    consent_parts = ConsentParts(
        parts,
        consent_uow,
        notices,
        ConsentLimits(
            request_ttl=timedelta(seconds=settings.access_request_ttl_s),
            grant_max_duration=timedelta(seconds=settings.grant_max_duration_s),
            max_sessions=settings.grant_max_sessions,
            identification_valid=timedelta(seconds=settings.identification_valid_s),
        ),
    )
    grants = GrantService(consent_parts, events)
    consent = ConsentService(consent_parts, grants)
    contracts = ContractService(parts, customer_auth)
    contracts.after_change.append(consent.contract_changed)
    sessions = (
        DoveadmSessions(settings.doveadm_path, settings.doveadm_config)
        if settings.doveadm_path
        else None
    )
    grant_entry = GrantEntry(consent_parts, staff, grants)
    grant_entry.subscribe(events)
    if sessions is not None:
        grant_entry.serve(ResourceKind.MAILBOX_CONTENT, MailboxSessions(parts, sessions))
    mail_login = MailLoginService(parts, grant_entry)
    ftp_login = FtpLoginService(parts, grant_entry, staff_limits, settings.ftp_root_template)
    EndStaffGrants(grants, consent_uow).subscribe(events)
    c = Container(
        settings=settings,
        engine=engine,
        clock=clock,
        staff=staff,
        ledger_store=store,
        ledger=ledger,
        ruleset=ruleset,
        rules_bytes=rules_bytes,
        gate=gate,
        registry_keys=keys,
        key_store=SqlWrappedKeyStore(engine),
        mailer=mailer,
        sms=sms,
        customer_auth=customer_auth,
        registry=RegistryService(
            parts,
            customer_auth,
            store,
            CallerLookup(
                parts,
                LookupThrottle(
                    LookupLimits(
                        settings.support_lookups_per_minute,
                        settings.support_lookup_alert_per_hour,
                    ),
                    clock,
                ),
                cases_in(consent_uow),
            ),
            contact_emails,
        ),
        contracts=contracts,
        identification=IdentificationService(
            parts,
            mailer,
            sms,
            timedelta(seconds=settings.identification_code_ttl_s),
            settings.identification_max_attempts,
            settings.identification_codes_per_hour,
        ),
        cases=CaseService(consent_parts, grants),
        consent=consent,
        grants=grants,
        verbal_consent=VerbalConsentService(consent_parts, grants),
        mailbox_monitor=MailboxMonitor(parts, MaildirReader(), settings.mail_root_template),
        mail_login=mail_login,
        grant_entry=grant_entry,
        ftp_login=ftp_login,
        outbox=outbox,
    )
    c.jobs.append(Job("ledger.checkpoint", settings.checkpoint_interval_s, lambda: _sign(c)))
    c.jobs.append(
        Job(LEDGER_VERIFY_JOB, settings.ledger_verify_interval_s, lambda: _verify_ledger(c))
    )
    c.jobs.append(
        Job("grants.expire", settings.grants_expire_interval_s, lambda: str(consent.expire(WORKER)))
    )
    c.jobs.append(Job("outbox.deliver", settings.outbox_interval_s, lambda: str(outbox.deliver())))
    return c


def ftp_tls_files(settings: Settings) -> tuple[Path, Path]:
    """The FTPS server's certificate and key files (default: in the data directory)."""
    return (
        settings.ftp_cert_file or settings.data_dir / "ftp.crt",
        settings.ftp_key_file or settings.data_dir / "ftp.key",
    )


def ftp_server(c: Container) -> ThreadedFTPServer:
    """The FTPS server, co-located with the gate (in-process calls); its live staff sessions
    are registered so that a grant ending here closes them at once. Imported here: pyftpdlib
    and pyOpenSSL load only for the command that serves FTP."""
    from entrusted.adapters.ftp.server import FtpServerConfig, LiveSessions, build_server

    s = c.settings
    low, high = (int(p) for p in s.ftp_passive_ports.split("-"))
    if not 1024 <= low <= high <= 65535:
        raise InvalidInput("ftp_passive_ports", "must be low-high within 1024-65535")
    cert, key = ftp_tls_files(s)
    for path in (cert, key):
        if not path.is_file():
            raise InvalidInput("ftp_cert_file", f"{path} is missing (entrusted ftp selfsigned)")
    live = LiveSessions()
    c.grant_entry.serve(ResourceKind.FTP_SPACE, live)
    config = FtpServerConfig(
        s.ftp_bind_host,
        s.ftp_bind_port,
        cert,
        key,
        range(low, high + 1),
        s.ftp_max_login_attempts,
        s.ftp_auth_failed_delay_s,
        s.ftp_max_connections_per_address,
        s.ftp_session_check_s,
    )
    return build_server(config, c.ftp_login, live)


def console_operator() -> Actor:
    """The machine's operator at this console (`cli:user@host`): who staff administration
    acts as when no staff member's credential is given. No API token can carry this id."""
    import getpass
    import socket

    who = f"{OPERATOR_PREFIX}{getpass.getuser()}@{socket.gethostname()}"
    return Actor(ActorKind.SERVICE, who[:64])


class LazyRegistryKeys:
    """The registry's keys, read from their files (or the environment) on first use, so a
    command that never touches customer data needs no key files."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._keys: RegistryKeys | None = None

    def __call__(self) -> RegistryKeys:
        if self._keys is None:
            s = self._settings
            current = (
                master_key_from_base64(s.master_key)
                if s.master_key
                else load_master_key_file(s.effective_master_key_file)
            )
            old = [load_master_key_file(path) for path in s.previous_master_key_files]
            index = (
                index_key_from_base64(s.index_key)
                if s.index_key
                else load_index_key_file(s.effective_index_key_file)
            )
            self._keys = RegistryKeys(Keyring(current, old), index)
        return self._keys


def _messaging(settings: Settings) -> tuple[MailSender, SmsSender]:
    """The transports the operator chose: the SMTP relay or the `directory` transport for
    e-mail, the HTTP gateway or the `directory` transport for SMS. Without one, a sender that
    fails every message with what to configure (never an in-memory one: that is for tests)."""
    folder = settings.effective_message_dir
    mailer: MailSender = NoMailTransport()
    if settings.mail_transport == "directory":
        mailer = DirectoryMailer(folder / "mail", settings.smtp_sender)
    elif settings.smtp_host:
        mailer = SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_starttls,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_sender,
        )
    sms: SmsSender = NoSmsTransport()
    if settings.sms_transport == "directory":
        sms = DirectorySms(folder / "sms")
    elif settings.sms_gateway_url:
        sms = HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_token or "")
    return mailer, sms


def _sign(c: Container) -> str:
    signed = c.checkpoints.sign()
    return "unchanged" if signed is None else f"signed checkpoint at size {signed.size}"


def tile_source(url: str) -> HttpTileSource:
    """A published log's public tiles, for `ledger monitor` and `verify-receipt --against`
    (no settings, no data directory: anyone can run them)."""
    return HttpTileSource(url)


def _witness_failures(failures: tuple[str, ...]) -> None:
    """A witness that is down or misconfigured costs its cosignature, not the signature."""
    structlog.get_logger("entrusted.ledger").warning("ledger.witness_failed", failures=failures)


def _tail_sign_failed(exc: Exception) -> None:
    structlog.get_logger("entrusted.ledger").error(
        "ledger.tail_sign_failed", error=type(exc).__name__, message=str(exc)
    )


def adopt_ledger_record(c: Container, by: Actor) -> str:
    """Write a new signed local record after verifying the whole log (see
    `CheckpointService.advance_record`); the adoption itself is a ledger entry."""
    vkey = c.checkpoints.vkey
    verified = c.checkpoints.advance_record(lambda r: verify_since(c.engine, vkey, r), adopt=True)
    summary = f"local ledger record adopted: {verified.summary()}"[:2000]
    resource = Resource(ResourceKind.LEDGER, "local-record")
    OutcomeRecorder(c.gate).record(by, Action.UPDATE, resource, Outcome.LEDGER_VERIFIED, summary)
    return summary


def _verify_ledger(c: Container) -> str:
    """The scheduled full verification: every entry, tile and checkpoint against the verifier
    key. Its result is a ledger entry either way; a failure also fails the job, which the
    worker records in `job_state` and `/healthz` reports."""
    outcomes = OutcomeRecorder(c.gate)
    resource = Resource(ResourceKind.LEDGER, "full-verification")
    try:
        report = verify_ledger(c.engine, c.checkpoints.vkey)
    except TamperDetected as exc:
        reason = f"ledger verification failed: {exc.message}"[:2000]
        outcomes.record(
            WORKER, Action.READ, resource, Outcome.LEDGER_TAMPERED, reason, allowed=False
        )
        c.checkpoints.halt(reason)  # no new checkpoint may vouch for an altered log
        raise
    summary = (
        f"ledger verified: {report.size} entries, {report.tiles} tiles, "
        f"{report.checkpoints} checkpoints, root {report.root.hex()}"
    )
    outcomes.record(WORKER, Action.READ, resource, Outcome.LEDGER_VERIFIED, summary)
    return summary


def database_exists(engine: sa.Engine) -> bool:
    """True when the database already holds Entrusted tables (so `init` must not touch it)."""
    return bool(sa.inspect(engine).get_table_names())


def initialise(settings: Settings, force: bool = False) -> list[str]:
    """Create the data directory, the database schema and the keys. Refuses to touch an
    existing installation unless `force` (which wipes it). Returns what was created."""
    from entrusted.adapters.db import migrate
    from entrusted.errors import Conflict

    created = []
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(settings.effective_database_url)
    try:
        if database_exists(engine):
            if not force:
                where = settings.describe()["database_url"]
                raise Conflict(
                    f"an Entrusted database already exists at {where}; use --force to wipe it"
                )
            migrate.downgrade(engine, "base")
            for leftover in sa.inspect(engine).get_table_names():
                with engine.begin() as conn:
                    conn.execute(sa.text(f'DROP TABLE IF EXISTS "{leftover}"'))
        migrate.upgrade(engine)
        created.append(f"database at revision {migrate.current_revision(engine)}")
        for hook in INIT_HOOKS:
            created.extend(hook(settings, force))
    finally:
        engine.dispose()
    return created


def _ledger_key(settings: Settings, force: bool) -> list[str]:
    path = settings.effective_ledger_key_file
    if force:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".pub").unlink(missing_ok=True)
        # The wiped log's signed local record: kept, it would (rightly) refuse the new log.
        (settings.data_dir / LEDGER_RECORD).unlink(missing_ok=True)
    if path.exists():
        return [f"nothing: ledger signing key {path} exists and is kept"]
    vkey = generate_key_file(path, settings.ledger_origin)
    return [f"ledger signing key {path} (verifier key: {vkey})"]


def _registry_key_files(settings: Settings, force: bool) -> list[str]:
    """The master key and the blind-index key, each in its own 0600 file, unless the
    environment gives them."""
    return [
        _key_file(settings.master_key, settings.effective_master_key_file, "master key", force,
                  create_master_key_file),
        _key_file(settings.index_key, settings.effective_index_key_file, "blind-index key", force,
                  create_index_key_file),
    ]  # fmt: skip


def _key_file(
    from_env: str | None, path: Path, what: str, force: bool, create: Callable[[Path], object]
) -> str:
    if from_env:
        return f"nothing: the {what} comes from the environment"
    if force:
        path.unlink(missing_ok=True)
    if path.exists():
        return f"nothing: {what} {path} exists and is kept"
    create(path)
    return f"{what} {path}"


# Areas that own key material or files register a function here (settings, force) -> notes.
def secure_files(settings: Settings) -> list[str]:
    """The data directory, the SQLite database and its companions, and the key files:
    tightened to 0700/0600, or refused when `fix_file_modes` is off (see adapters.file_modes)."""
    url = sa.make_url(settings.effective_database_url)
    database = url.database if url.get_backend_name() == "sqlite" else None
    files = sqlite_files(Path(database)) if database else []
    keys = [settings.effective_ledger_key_file, settings.data_dir / LEDGER_RECORD]
    keys += [] if settings.master_key else [settings.effective_master_key_file]
    keys += [] if settings.index_key else [settings.effective_index_key_file]
    keys += list(settings.previous_master_key_files)
    return secure(settings.data_dir, [*files, *keys], fix=settings.fix_file_modes)


def _tighten_created_files(settings: Settings, _force: bool) -> list[str]:
    """`init` created the database under the umask: tighten it whatever `fix_file_modes`."""
    return secure_files(settings.model_copy(update={"fix_file_modes": True}))


INIT_HOOKS: list[Callable[[Settings, bool], list[str]]] = [_ledger_key, _registry_key_files]
INIT_HOOKS.append(_tighten_created_files)


@contextmanager
def scratch_installation(database_url: str | None = None) -> Iterator[Container]:
    """A throw-away installation for benchmarks and trials: a temporary data directory and
    SQLite file, or, given a PostgreSQL URL, a private schema that is dropped afterwards, so a
    measurement never touches real data and runs never collide."""
    with tempfile.TemporaryDirectory(prefix="entrusted-scratch-") as tmp:
        url, schema = database_url, None
        admin = make_engine(database_url) if database_url else None
        if admin is not None and admin.dialect.name == "postgresql":
            schema = f"scratch_{uuid.uuid4().hex[:12]}"
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            url = (
                sa.make_url(str(database_url))
                .update_query_dict({"options": f"-csearch_path={schema}"})
                .render_as_string(hide_password=False)
            )
        # A measurement logs staff in with a password alone: no second factor to enrol. Its
        # messages go to files in the temporary directory (the explicit directory transport).
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=url,
            staff_totp_required=False,
            mail_transport="directory",
            sms_transport="directory",
        )
        try:
            initialise(settings)
            c = build(settings)
            try:
                yield c
            finally:
                c.close()
        finally:
            if admin is not None:
                if schema is not None:
                    with admin.begin() as conn:
                        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
