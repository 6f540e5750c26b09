"""Observability as the composition root wires it: the process's metrics (fed by the gate, the
ledger writer and the worker; database figures read at scrape time), the readiness checks
behind `/readyz`, and the token that guards `/metrics` (docs/operations.md)."""

from __future__ import annotations

import dataclasses
import hmac
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from entrusted.adapters.metrics import Figures, JobFigure, Metrics
from entrusted.adapters.scheduler import last_runs
from entrusted.adapters.smtp_probe import SmtpProbe
from entrusted.adapters.witness_cosignatures import SqlCosignatureStore
from entrusted.crypto.cosigning import parse_witness_vkey
from entrusted.domain.hosts import is_loopback
from entrusted.domain.outbox import OutboxStatus
from entrusted.errors import EntrustedError, Unavailable

if TYPE_CHECKING:
    from entrusted.bootstrap import Container

MAX_TOKEN_FILE = 4096
# A reverse proxy says whom it forwards for: such a request is not the local scraper's.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def happened(report: object) -> str | None:
    """A job's report for the worker's log: None (a DEBUG line) when every count is zero."""
    if not dataclasses.is_dataclass(report) or isinstance(report, type):
        return str(report)
    values = [getattr(report, f.name) for f in dataclasses.fields(report)]
    return str(report) if any(values) else None


@dataclass(frozen=True, slots=True)
class Readiness:
    """`/readyz`: each check's result (`"ok"` or what failed) and the figures operators read."""

    checks: dict[str, str]
    body: dict[str, Any]

    @property
    def failed(self) -> list[str]:
        return [name for name, result in self.checks.items() if result != "ok"]

    def answer(self) -> dict[str, Any]:
        degraded = self.body.get("outbox", {}).get("failed", 0) > 0
        status = "unready" if self.failed else ("degraded" if degraded else "ok")
        return {"status": status, "failed": self.failed, "checks": self.checks, **self.body}


@dataclass
class Observability:
    metrics: Metrics
    container: Container
    smtp: SmtpProbe | None
    _token: str | None = None
    _token_lock: threading.Lock = field(default_factory=threading.Lock)

    def metrics_allowed(self, client_host: str | None, headers: dict[str, str]) -> bool:
        """With `metrics_token_file`: the bearer token it holds, from anywhere. Without: a
        loopback client that no proxy forwarded (a local Prometheus or node agent)."""
        expected = self.metrics_token()
        if expected is None:
            forwarded = any(h in headers for h in FORWARDING_HEADERS)
            return client_host is not None and is_loopback(client_host) and not forwarded
        scheme, _, given = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), expected.encode()
        )

    def metrics_token(self) -> str | None:
        path = self.container.settings.metrics_token_file
        if path is None:
            return None
        with self._token_lock:
            if self._token is None:
                self._token = _read_token(path)
            return self._token

    def readiness(self) -> Readiness:
        c = self.container
        checks: dict[str, str] = {}
        body: dict[str, Any] = {}
        try:
            counts = c.outbox.counts()  # reads the database: also its reachability check
        except (sa.exc.SQLAlchemyError, Unavailable) as exc:
            checks["database"] = f"unreachable ({type(getattr(exc, 'orig', None) or exc).__name__})"
            counts = None
        if counts is not None:
            checks["database"] = "ok"
            body["outbox"] = {
                "pending": counts[OutboxStatus.PENDING],
                "failed": counts[OutboxStatus.FAILED],
            }
            checks.update(self._ledger_and_backups(body))
        checks["keys"] = _keys_problem(c) or "ok"
        if self.smtp is not None:
            checks["smtp"] = self.smtp.problem() or "ok"
        return Readiness(checks, body)

    def _ledger_and_backups(self, body: dict[str, Any]) -> dict[str, str]:
        c = self.container
        checks = {}
        try:
            verification = c.ledger_verification()
            overdue = c.backups.purge.status().overdue
        except (sa.exc.SQLAlchemyError, EntrustedError) as exc:
            return {"database": f"unreachable ({type(exc).__name__})"}
        # The worker's last full verification; None until it has run once (a new install,
        # whose log `serve` verified against its last checkpoint before taking requests).
        # Only whether it passed and when: /readyz is unauthenticated, and the failure's text
        # (which entry, which tile, the job's raw error) stays in the worker's log, the
        # ledger's `ledger.tampered` entry and `entrusted ledger verify`.
        body["ledger_verification"] = {"ok": verification["ok"], "at": verification["at"]}
        checks["ledger"] = (
            "ok"
            if verification["ok"] is not False
            else "verification failed (see the worker's log, `entrusted ledger verify`)"
        )
        # Backups past their 7 days and not yet destroyed (P16) are a broken promise.
        days = [k.day.isoformat() for k in overdue]
        body["backups"] = {"overdue_days": days}
        checks["backups"] = "ok" if not days else f"destruction overdue for {', '.join(days)}"
        return checks


def _keys_problem(c: Container) -> str | None:
    """The registry's keys and the ledger's signing key load (a lost volume, wrong mode).
    The public answer names no path; the log says which file and why."""
    try:
        c.registry_keys()
        c.checkpoints  # noqa: B018 - loads the signing key on first use
    except (EntrustedError, OSError, ValueError) as exc:
        detail = exc.message if isinstance(exc, EntrustedError) else str(exc)
        structlog.get_logger("entrusted.health").warning("keys.not_loaded", detail=detail)
        return f"not loaded ({type(exc).__name__})"
    return None


def _read_token(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()[:MAX_TOKEN_FILE]
    except OSError as exc:
        raise Unavailable(f"metrics_token_file: cannot read {path}: {exc.strerror}") from None
    if mode & 0o007:
        raise Unavailable(f"metrics_token_file: {path} is readable by others (chmod 0600)")
    token = raw.decode("ascii", errors="replace").strip()
    if len(token) < 16 or any(ch.isspace() or not ch.isprintable() for ch in token):
        raise Unavailable(f"metrics_token_file: {path} does not hold one token of 16+ characters")
    return token


def read_figures(c: Container) -> Figures:
    """The scrape-time figures, all from the database (cached by the metrics collector)."""
    size = c.ledger_store.stored_size()
    latest = c.ledger_store.latest_checkpoint()
    age = None if latest is None else max(0.0, (c.clock() - latest.signed_at).total_seconds())
    cosigned, _ = SqlCosignatureStore(c.engine).witnessed()
    names = [parse_witness_vkey(vkey).name for _, vkey in c.witness_entries()]
    return Figures(
        ledger_size=size,
        checkpoint_age_s=age,
        witness_lag={name: max(0, size - cosigned.get(name, 0)) for name in names},
        outbox={status.value: n for status, n in c.outbox.counts().items()},
        overdue_days=len(c.backups.purge.status().overdue),
        jobs={
            name: JobFigure(run.ok, run.finished_at.timestamp())
            for name, run in last_runs(c.engine).items()
        },
    )


def build_observability(c: Container) -> Observability:
    """Metrics fed by the gate (every ledgered entry), the ledger writer (each commit) and
    the worker (`Container.worker`); the SMTP probe when e-mail goes to a relay."""
    metrics = Metrics(lambda: read_figures(c), ttl_s=c.settings.metrics_cache_s)
    c.gate.tally = metrics.decided
    c.ledger.observe_commit = metrics.appended
    s = c.settings
    probe = None
    if s.mail_transport == "smtp" and s.smtp_host:
        probe = SmtpProbe(s.smtp_host, s.smtp_port, timeout_s=s.readiness_timeout_s)
    return Observability(metrics, c, probe)
