"""The composition root: the only place that reads Settings and builds adapters and services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from entrusted.adapters.contacts import Contacts
from entrusted.adapters.db.engine import is_sqlite, make_engine
from entrusted.adapters.db.grant_step_store import SqlGrantStepStore
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_tail import verify_since
from entrusted.adapters.db.ledger_writer import GroupCommitLedger
from entrusted.adapters.db.mailing_store import SqlMailingStore
from entrusted.adapters.db.policy_store import SqlDeploymentStore, SqlStaffDirectory
from entrusted.adapters.db.registry_store import SqlWrappedKeyStore
from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.adapters.ftp.space_sizes import FileSystemSpaceReader
from entrusted.adapters.joblock import FileJobLock, PostgresJobLock
from entrusted.adapters.ledger_record import LocalRecordFile
from entrusted.adapters.mail.dovecot import DoveadmSessions
from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, parse_rules
from entrusted.adapters.scheduler import Job, JobLock, Worker, last_run
from entrusted.adapters.witness_cosignatures import SqlCosignatureStore
from entrusted.adapters.witness_http import HttpWitness
from entrusted.bootstrap.actors import WORKER, console_operator
from entrusted.bootstrap.backups import (
    BACKUP_PURGE_JOB,
    BACKUP_RUN_JOB,
    Backups,
    build_backups,
    purge_job,
)
from entrusted.bootstrap.disclosures import Desk, attach_desk, build_desk, court_order_resolver
from entrusted.bootstrap.ftp import ftp_server, ftp_tls_files, remote_ftp_server, start_ftp
from entrusted.bootstrap.installation import (
    INIT_HOOKS,
    LEDGER_RECORD,
    database_exists,
    initialise,
    scratch_installation,
    secure_files,
)
from entrusted.bootstrap.key_backup import record_pending_restore
from entrusted.bootstrap.keys import LazyRegistryKeys
from entrusted.bootstrap.ledger_jobs import (
    LEDGER_VERIFY_JOB,
    _sign,
    _tail_sign_failed,
    _verify_ledger,
    _witness_failures,
    adopt_ledger_record,
    tile_source,
)
from entrusted.bootstrap.mail_backends import mailbox_reader
from entrusted.bootstrap.mailings import (
    MAILINGS_SEND_JOB,
    Mailings,
    build_mailings,
    mailing_conditions,
    send_announcements,
)
from entrusted.bootstrap.observability import Observability, build_observability, happened
from entrusted.bootstrap.policy_document import build_policy_documents
from entrusted.bootstrap.provisioning import build_provisioning, customer_numbers
from entrusted.bootstrap.transports import _messaging
from entrusted.config import Settings
from entrusted.crypto.personal import RegistryKeys
from entrusted.crypto.signing_keys import load_log_signer
from entrusted.domain.outbox import Backoff
from entrusted.domain.policy import (
    Action,
    Actor,
    Condition,
    Engine,
    Resource,
    ResourceKind,
)
from entrusted.domain.policy_analysis import RuleSet
from entrusted.errors import InvalidInput, Unavailable
from entrusted.services.cases import CaseService
from entrusted.services.consent import ConsentService
from entrusted.services.consent_notices import ConsentNotices
from entrusted.services.consent_parts import ConsentLimits, ConsentParts
from entrusted.services.contact_email import ContactEmails
from entrusted.services.contracts import ContractService
from entrusted.services.customer_auth import CustomerAuthService, is_customer_token
from entrusted.services.disclosure_holdback import CustomerFacingLog
from entrusted.services.events import EventBus
from entrusted.services.ftp_login import FtpLoginService
from entrusted.services.ftp_password import FtpPasswordService
from entrusted.services.ftp_space_monitor import FtpSpaceMonitor
from entrusted.services.gate import Gate
from entrusted.services.grant_entry import GrantEntry
from entrusted.services.grant_steps import GrantSteps
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
from entrusted.services.policy_document import PolicyDocuments
from entrusted.services.policy_rules import RulesDeployment, require_invariants
from entrusted.services.ports import ConsentUnitOfWork, RegistryUnitOfWork, UnitOfWork
from entrusted.services.provisioning import ProvisioningService
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

__all__ = [
    "INIT_HOOKS",
    "LEDGER_RECORD",
    "LEDGER_VERIFY_JOB",
    "WORKER",
    "Container",
    "LazyRegistryKeys",
    "adopt_ledger_record",
    "build",
    "console_operator",
    "database_exists",
    "ftp_server",
    "ftp_tls_files",
    "initialise",
    "remote_ftp_server",
    "scratch_installation",
    "secure_files",
    "start_ftp",
    "tile_source",
    "utc_now",
]




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
    ftp_passwords: FtpPasswordService
    ftp_space_monitor: FtpSpaceMonitor
    outbox: OutboxService
    jobs: list[Job] = field(default_factory=list)
    _checkpoints: CheckpointService | None = None
    _tail: TailSigner | None = None
    _witness_clients: list[HttpWitness] = field(default_factory=list)
    _submitter: WitnessSubmitter | None = None
    backups: Backups = field(init=False)
    mailings: Mailings = field(init=False)
    events: EventBus = field(init=False)  # the bus areas publish to (e.g. a published policy)
    desk: Desk = field(init=False)
    policy_documents: PolicyDocuments = field(init=False)
    observability: Observability = field(init=False)  # metrics and readiness (issue 17)
    provisioning: ProvisioningService = field(init=False)  # the hoster's sync (issue 17)

    @property
    def checkpoints(self) -> CheckpointService:
        """Loaded on first use: commands that never sign need no signing key."""
        if self._checkpoints is None:
            signer = load_log_signer(self.settings.effective_ledger_key_file, self.clock)
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
        entries = self.witness_entries()
        self._witness_clients = [HttpWitness(url) for url, _ in entries]
        witnesses = [
            ConfiguredWitness(vkey, client)
            for (_, vkey), client in zip(entries, self._witness_clients, strict=True)
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
        run = last_run(self.engine, LEDGER_VERIFY_JOB)
        if run is None:
            return {"ok": None, "at": None, "detail": None}
        return {"ok": run.ok, "at": run.finished_at.isoformat(), "detail": run.error}

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
        return Worker(
            jobs=self.jobs,
            lock=self.job_lock(),
            engine=self.engine,
            observe=self.observability.metrics.job_ran,
        )

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
        vkey = self.checkpoints.key_list  # every key: old checkpoints keep their signer
        verified = self.checkpoints.advance_record(lambda r: verify_since(self.engine, vkey, r))
        if sign_tail and self._tail is None:
            # A checkpoint follows every append within about a second (`serve`).
            self._tail = TailSigner(self.checkpoints, _tail_sign_failed)
            self.ledger.after_commit = self._tail.poke
            self._tail.start()
            self._tail.poke()
        require_invariants(self.ruleset, self.gate.engine)
        notes = [*file_notes, verified.summary()]
        notes += record_pending_restore(self, console_operator())  # docs/keys.md
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


# One statement per area wired; the composition root is long by design (STYLE rule 3).
def build(  # noqa: PLR0915
    settings: Settings, clock: Callable[[], datetime] = utc_now
) -> Container:
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
            **mailing_conditions(engine),
            Condition.COURT_ORDER: court_order_resolver(engine, clock),
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
    parts = RegistryParts(registry_uow, gate, keys, contacts, clock, readers=reader)
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
    grant_steps = GrantSteps(parts, SqlGrantStepStore(engine))
    desk = build_desk(engine, gate, keys, clock)
    notices = ConsentNotices(parts, mailer, settings.portal_url, store, grant_steps)
    outbox = OutboxService(
        registry_uow,
        mailer,
        clock,
        {
            **notices.renderers(consent_uow),
            **customer_auth.renderers(),
            **contact_emails.renderers(),
            **desk.disclosures.renderers(),
        },
        Backoff(
            base=timedelta(seconds=settings.outbox_retry_s),
            max_attempts=settings.outbox_max_attempts,
        ),
        retention=timedelta(seconds=settings.outbox_retention_s),
    )
    policy_documents = build_policy_documents(engine, gate, clock, events, ruleset)
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
        policy_version=policy_documents.in_force_at,
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
    ftp_login = FtpLoginService(
        parts, grant_entry, staff_limits, settings.ftp_root_template, grant_steps
    )
    EndStaffGrants(grants, consent_uow).subscribe(events)
    # One look-up budget for support's customer look-ups and FTP space sizes alike.
    lookup = CallerLookup(
        parts,
        LookupThrottle(
            LookupLimits(
                settings.support_lookups_per_minute, settings.support_lookup_alert_per_hour
            ),
            clock,
        ),
        cases_in(consent_uow),
        customer_numbers(engine),  # issue 17: support finds a caller by the hoster's number
    )
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
            CustomerFacingLog(store, desk.held_back),  # a deferred disclosure: held back (P5)
            lookup,
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
            cases=cases_in(consent_uow),
        ),
        cases=CaseService(consent_parts, grants),
        consent=consent,
        grants=grants,
        verbal_consent=VerbalConsentService(consent_parts, grants),
        mailbox_monitor=MailboxMonitor(parts, mailbox_reader(settings)),
        mail_login=mail_login,
        grant_entry=grant_entry,
        ftp_login=ftp_login,
        ftp_passwords=FtpPasswordService(parts),
        ftp_space_monitor=FtpSpaceMonitor(
            parts, FileSystemSpaceReader(), settings.ftp_root_template, lookup
        ),
        outbox=outbox,
    )
    c.jobs.append(Job("ledger.checkpoint", settings.checkpoint_interval_s, lambda: _sign(c)))
    c.jobs.append(
        Job(LEDGER_VERIFY_JOB, settings.ledger_verify_interval_s, lambda: _verify_ledger(c))
    )
    c.jobs.append(
        Job(
            "grants.expire",
            settings.grants_expire_interval_s,
            lambda: happened(consent.expire(WORKER)),
        )
    )
    c.jobs.append(
        Job("outbox.deliver", settings.outbox_interval_s, lambda: happened(outbox.deliver()))
    )
    c.backups = build_backups(c, parts, consent_uow)
    c.events = events
    c.mailings = build_mailings(c, keys, events)
    c.jobs.append(
        Job(
            MAILINGS_SEND_JOB,
            settings.outbox_interval_s,
            lambda: send_announcements(c.mailings, SqlMailingStore(engine)),
        )
    )
    attach_desk(c, desk)
    c.policy_documents = policy_documents
    c.jobs.append(
        Job(BACKUP_RUN_JOB, settings.backup_interval_s, lambda: str(c.backups.runner.run(WORKER)))
    )
    c.jobs.append(
        Job(BACKUP_PURGE_JOB, settings.backup_purge_interval_s, lambda: purge_job(c.backups))
    )
    c.observability = build_observability(c)
    c.provisioning = build_provisioning(c, parts)
    return c


