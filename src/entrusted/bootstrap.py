"""The composition root: the only place that reads Settings and builds adapters and services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from entrusted.adapters.db.engine import is_sqlite, make_engine
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_writer import GroupCommitLedger
from entrusted.adapters.db.policy_store import SqlDeploymentStore, SqlStaffDirectory
from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.adapters.joblock import FileJobLock, PostgresJobLock
from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, parse_rules
from entrusted.adapters.scheduler import Job, JobLock, Worker
from entrusted.config import Settings
from entrusted.crypto.signing import generate_key_file, load_signer
from entrusted.domain.policy import Engine
from entrusted.domain.policy_analysis import RuleSet
from entrusted.errors import InvalidInput
from entrusted.services.gate import Gate
from entrusted.services.ledger import CheckpointService
from entrusted.services.policy_rules import RulesDeployment, require_invariants
from entrusted.services.ports import UnitOfWork
from entrusted.services.staff import LoginLimits, StaffService


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
    jobs: list[Job] = field(default_factory=list)
    _checkpoints: CheckpointService | None = None

    @property
    def checkpoints(self) -> CheckpointService:
        """Loaded on first use: commands that never sign need no signing key."""
        if self._checkpoints is None:
            signer = load_signer(self.settings.effective_ledger_key_file)
            self._checkpoints = CheckpointService(
                self.ledger_store,
                signer,
                self.clock,
                timedelta(seconds=self.settings.checkpoint_idle_resign_s),
            )
        return self._checkpoints

    def uow(self) -> UnitOfWork:
        return SqlUnitOfWork(self.engine)

    def job_lock(self) -> JobLock:
        if is_sqlite(self.engine):
            return FileJobLock(self.settings.data_dir / "locks")
        return PostgresJobLock(self.engine)

    def worker(self) -> Worker:
        return Worker(jobs=self.jobs, lock=self.job_lock(), engine=self.engine)

    def start(self, deployed_by: str) -> list[str]:
        """What a serving process does before it takes requests: verify the log against its
        tiles and last checkpoint, refuse rules that break an invariant, and ledger a change
        of the running rules. Returns notes for the operator."""
        self.ledger.start()
        require_invariants(self.ruleset, self.gate.engine)
        notes = [f"ledger verified at size {self.ledger_store.size}"]
        deployment = RulesDeployment(
            SqlDeploymentStore(self.engine), self.ledger, self.clock, parse_rules
        ).record(self.ruleset, self.rules_bytes, deployed_by)
        if deployment is not None:
            notes.append(f"rules {self.ruleset.sha256[:12]} deployed: {deployment.summary}")
        return notes

    def close(self) -> None:
        self.ledger.stop()
        self.engine.dispose()


def build(settings: Settings, clock: Callable[[], datetime] = utc_now) -> Container:
    engine = make_engine(settings.effective_database_url)

    def uow() -> UnitOfWork:
        return SqlUnitOfWork(engine)

    staff = StaffService(
        uow,
        clock,
        LoginLimits(
            max_failures_per_account=settings.login_max_failures_per_account,
            max_failures_per_address=settings.login_max_failures_per_address,
            window=timedelta(seconds=settings.login_window_s),
        ),
        default_token_ttl=timedelta(days=settings.token_ttl_days),
    )
    store = SqlLedgerStore(engine)
    ledger = GroupCommitLedger(store)
    rules_path = settings.rules_file or DEFAULT_RULES_PATH
    try:
        rules_bytes = rules_path.read_bytes()
    except OSError as exc:
        raise InvalidInput("rules_file", f"cannot read {rules_path}: {exc.strerror}") from None
    ruleset = parse_rules(rules_bytes, str(rules_path))
    gate = Gate(
        engine=Engine(ruleset.rules),
        ledger=ledger,
        clock=clock,
        directory=SqlStaffDirectory(engine),
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
    )
    c.jobs.append(Job("ledger.checkpoint", settings.checkpoint_interval_s, lambda: _sign(c)))
    return c


def _sign(c: Container) -> str:
    signed = c.checkpoints.sign()
    return "unchanged" if signed is None else f"signed checkpoint at size {signed.size}"


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
    if path.exists():
        return [f"nothing: ledger signing key {path} exists and is kept"]
    vkey = generate_key_file(path, settings.ledger_origin)
    return [f"ledger signing key {path} (verifier key: {vkey})"]


# Areas that own key material or files register a function here (settings, force) -> notes.
INIT_HOOKS: list[Callable[[Settings, bool], list[str]]] = [_ledger_key]
