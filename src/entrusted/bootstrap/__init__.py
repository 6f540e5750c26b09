"""The composition root: the only place that reads Settings and builds adapters and services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from entrusted.adapters.db.engine import is_sqlite, make_engine
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_tail import verify_since
from entrusted.adapters.db.ledger_writer import GroupCommitLedger
from entrusted.adapters.db.policy_store import SqlDeploymentStore
from entrusted.adapters.db.registry_store import SqlWrappedKeyStore
from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.adapters.joblock import FileJobLock, PostgresJobLock
from entrusted.adapters.ledger_record import LocalRecordFile
from entrusted.adapters.rules_file import parse_rules
from entrusted.adapters.scheduler import Job, JobLock, Worker, last_run
from entrusted.adapters.witness_cosignatures import SqlCosignatureStore
from entrusted.adapters.witness_http import HttpWitness
from entrusted.bootstrap.actors import WORKER, console_operator
from entrusted.bootstrap.backups import (
    Backups,
    build_backups,
)
from entrusted.bootstrap.consent import build_consent
from entrusted.bootstrap.disclosures import Desk, attach_desk, build_desk
from entrusted.bootstrap.entry import build_entry
from entrusted.bootstrap.ftp import ftp_server, ftp_tls_files, remote_ftp_server, start_ftp
from entrusted.bootstrap.gate import build_gate
from entrusted.bootstrap.history import build_history
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
    _tail_sign_failed,
    _witness_failures,
    adopt_ledger_record,
    tile_source,
)
from entrusted.bootstrap.ledger_status import build_ledger_status
from entrusted.bootstrap.mailings import (
    Mailings,
    build_mailings,
)
from entrusted.bootstrap.observability import Observability, build_observability
from entrusted.bootstrap.outbox import build_outbox
from entrusted.bootstrap.provisioning import build_provisioning
from entrusted.bootstrap.registry import build_registry
from entrusted.bootstrap.staff import build_staff, login_limits
from entrusted.bootstrap.transports import _messaging, mail_templates
from entrusted.bootstrap.wiring import Wiring
from entrusted.bootstrap.worker_jobs import backup_jobs, ledger_and_delivery_jobs, mailings_job
from entrusted.config import Settings
from entrusted.crypto.personal import RegistryKeys
from entrusted.crypto.signing_keys import load_log_signer
from entrusted.domain.policy import (
    Action,
    Actor,
    Resource,
    ResourceKind,
)
from entrusted.domain.policy_analysis import RuleSet
from entrusted.errors import InvalidInput, Unavailable
from entrusted.services.access_history import AccessHistory
from entrusted.services.cases import CaseService
from entrusted.services.consent import ConsentService
from entrusted.services.contracts import ContractService
from entrusted.services.customer_auth import CustomerAuthService, is_customer_token
from entrusted.services.events import EventBus
from entrusted.services.ftp_login import FtpLoginService
from entrusted.services.ftp_password import FtpPasswordService
from entrusted.services.ftp_space_monitor import FtpSpaceMonitor
from entrusted.services.gate import Gate
from entrusted.services.grant_entry import GrantEntry
from entrusted.services.grants import GrantService
from entrusted.services.identification import IdentificationService
from entrusted.services.keys import WrappedKeyStore
from entrusted.services.ledger import CheckpointService, TailSigner
from entrusted.services.ledger_status import LedgerStatusService
from entrusted.services.mail_login import MailLoginService
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
from entrusted.services.ports import UnitOfWork
from entrusted.services.provisioning import ProvisioningService
from entrusted.services.registry import RegistryService
from entrusted.services.staff import StaffService
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
    history: AccessHistory = field(init=False)  # the portal's access history (issue 18)
    ledger_status: LedgerStatusService = field(init=False)  # the console's ledger page

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
            raise Unavailable(
                f"the database at {where} is unreachable: "
                f"{type(getattr(exc, 'orig', None) or exc).__name__}"
            ) from None
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


def build(settings: Settings, clock: Callable[[], datetime] = utc_now) -> Container:
    """Wire every area, in dependency order; each `build_*` lives in its area's module."""
    w = Wiring(settings, make_engine(settings.effective_database_url), clock)
    ledgered = build_gate(w)  # the ledger store and writer, the rules, the gate
    gate = ledgered.gate
    keys = LazyRegistryKeys(settings)
    events = EventBus()
    limits = login_limits(settings)
    staff = build_staff(w, gate, keys, events, limits)
    mailer, sms = _messaging(settings)
    mails = mail_templates(settings)
    desk = build_desk(w.engine, gate, keys, clock, mails)
    registry = build_registry(
        w, gate, keys, limits, mailer, sms, ledgered.store, desk.held_back, mails
    )
    consent = build_consent(w, gate, ledgered.ruleset, registry, mailer, ledgered.store, events)
    entry = build_entry(w, registry, consent, staff, limits, events)
    c = Container(
        settings=settings,
        engine=w.engine,
        clock=clock,
        staff=staff,
        ledger_store=ledgered.store,
        ledger=ledgered.ledger,
        ruleset=ledgered.ruleset,
        rules_bytes=ledgered.rules_bytes,
        gate=gate,
        registry_keys=keys,
        key_store=SqlWrappedKeyStore(w.engine),
        mailer=mailer,
        sms=sms,
        customer_auth=registry.customer_auth,
        registry=registry.registry,
        contracts=consent.contracts,
        identification=registry.identification,
        cases=consent.cases,
        consent=consent.consent,
        grants=consent.grants,
        verbal_consent=consent.verbal_consent,
        mailbox_monitor=entry.mailbox_monitor,
        mail_login=entry.mail_login,
        grant_entry=entry.grant_entry,
        ftp_login=entry.ftp_login,
        ftp_passwords=entry.ftp_passwords,
        ftp_space_monitor=entry.ftp_space_monitor,
        outbox=build_outbox(w, mailer, registry, consent, desk),
    )
    # The worker runs its jobs in this order each round.
    c.jobs += ledger_and_delivery_jobs(c)
    c.backups = build_backups(c, registry.parts, w.consent_uow)
    c.events = events
    c.mailings = build_mailings(c, keys, events)
    c.jobs.append(mailings_job(c))
    attach_desk(c, desk)  # and its `disclosures.lift` job
    c.policy_documents = consent.policy_documents
    c.jobs += backup_jobs(c)
    c.observability = build_observability(c)
    c.provisioning = build_provisioning(c, registry.parts)
    c.history = build_history(
        w, consent, registry, ledgered.store, desk.held_back, lambda: c.checkpoints
    )
    c.ledger_status = build_ledger_status(c)
    return c
