"""Prometheus metrics of one process: counters its own threads increment (decisions, ledger
commits, job runs) and figures read from the database at scrape time (ledger size, checkpoint
age, witness lag, outbox depth, last job runs, overdue destructions).

Each `serve` process has its own registry, so counters are per process: a
scraper adds them up across instances (`sum by (rule, effect)`), and the database figures are
the same from every instance. Labels are only ever an effect, a rule or outcome id, a job
name, a witness name or an outbox status: never a customer id, name or address.

    metrics = Metrics(read_figures)
    gate.tally = metrics.decided             # one dict lookup and one increment per decision
    text = metrics.exposition()              # what GET /metrics answers
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# From one local commit (about a millisecond) to a database that stalls for seconds.
APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True, slots=True)
class JobFigure:
    """A job's last finished run, as `job_state` holds it (any instance's)."""

    ok: bool
    finished_at: float  # POSIX seconds


@dataclass(frozen=True, slots=True)
class Figures:
    """What the database says at scrape time; None where a figure does not exist yet."""

    ledger_size: int
    checkpoint_age_s: float | None
    witness_lag: Mapping[str, int] = field(default_factory=dict)
    outbox: Mapping[str, int] = field(default_factory=dict)
    overdue_days: int = 0
    jobs: Mapping[str, JobFigure] = field(default_factory=dict)


class _DatabaseFigures(Collector):
    """Gauges read at scrape time, cached for `ttl_s` so that several scrapers (or a scraper
    and a dashboard) do not each hit the database; a failed read is `entrusted_database_up 0`
    and no stale figures, never an error answer."""

    def __init__(self, read: Callable[[], Figures], ttl_s: float, now: Callable[[], float]) -> None:
        self._read = read
        self._ttl_s = ttl_s
        self._now = now
        self._lock = threading.Lock()
        self._cached: tuple[float, Figures | None] | None = None

    def figures(self) -> Figures | None:
        with self._lock:
            now = self._now()
            if self._cached is None or now - self._cached[0] >= self._ttl_s:
                try:
                    figures: Figures | None = self._read()
                except Exception:  # noqa: BLE001 - a scrape reports the outage, it does not fail
                    figures = None
                self._cached = (now, figures)
            return self._cached[1]

    def describe(self) -> Iterable[Metric]:
        return []  # collected fresh on every scrape; nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        figures = self.figures()
        up = GaugeMetricFamily(
            "entrusted_database_up", "1 if the last scrape-time read of the database worked."
        )
        up.add_metric([], 0.0 if figures is None else 1.0)
        yield up
        if figures is None:
            return
        yield from _figure_families(figures)


def _figure_families(f: Figures) -> Iterable[Metric]:
    size = GaugeMetricFamily("entrusted_ledger_size", "Entries in the ledger (its tree size).")
    size.add_metric([], float(f.ledger_size))
    yield size
    if f.checkpoint_age_s is not None:
        age = GaugeMetricFamily(
            "entrusted_checkpoint_age_seconds", "Seconds since the latest signed checkpoint."
        )
        age.add_metric([], f.checkpoint_age_s)
        yield age
    lag = GaugeMetricFamily(
        "entrusted_witness_lag_entries",
        "Ledger size minus the size each configured witness last cosigned.",
        labels=["witness"],
    )
    for name, entries in sorted(f.witness_lag.items()):
        lag.add_metric([name], float(entries))
    yield lag
    outbox = GaugeMetricFamily(
        "entrusted_outbox_messages", "Notices in the outbox by status.", labels=["status"]
    )
    for status, count in sorted(f.outbox.items()):
        outbox.add_metric([status], float(count))
    yield outbox
    overdue = GaugeMetricFamily(
        "entrusted_backup_destruction_overdue_days",
        "Backup days past their 7 days whose key is not destroyed (with evidence) yet (P16).",
    )
    overdue.add_metric([], float(f.overdue_days))
    yield overdue
    ok = GaugeMetricFamily(
        "entrusted_job_last_success",
        "1 if the job's last run (any instance) succeeded.",
        labels=["job"],
    )
    at = GaugeMetricFamily(
        "entrusted_job_last_finished_timestamp_seconds",
        "When the job's last run (any instance) finished.",
        labels=["job"],
    )
    for name, job in sorted(f.jobs.items()):
        ok.add_metric([name], 1.0 if job.ok else 0.0)
        at.add_metric([name], job.finished_at)
    yield ok
    yield at


class Metrics:
    """One process's registry: the counters its threads feed and the scrape-time figures."""

    def __init__(
        self,
        read: Callable[[], Figures],
        ttl_s: float = 5.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._decisions = Counter(
            "entrusted_decisions",
            "Entries the gate ledgered in this process: decisions of the rules and outcomes of "
            "the work, by effect (allow/deny) and rule or outcome id.",
            ["effect", "rule"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str | None], Counter] = {}
        self._append = Histogram(
            "entrusted_ledger_append_seconds",
            "Durable commit of one ledger batch by this process's writer.",
            buckets=APPEND_BUCKETS,
            registry=self.registry,
        )
        self._job_runs = Counter(
            "entrusted_job_runs",
            "Job runs by this process's worker.",
            ["job"],
            registry=self.registry,
        )
        self._job_failures = Counter(
            "entrusted_job_failures",
            "Failed job runs by this process's worker.",
            ["job"],
            registry=self.registry,
        )
        self.database = _DatabaseFigures(read, ttl_s, now)
        self.registry.register(self.database)

    def decided(self, effect: str, rule: str | None) -> None:
        """Called by the gate for every entry it ledgered: after the first of each (effect,
        rule) one dict lookup and one increment, no registry lock on the hot path."""
        child = self._children.get((effect, rule))
        if child is None:
            labelled = self._decisions.labels(effect, rule or "none")
            child = self._children.setdefault((effect, rule), labelled)
        child.inc()

    def appended(self, seconds: float) -> None:
        self._append.observe(seconds)

    def job_ran(self, job: str, ok: bool) -> None:
        self._job_runs.labels(job).inc()
        if not ok:
            self._job_failures.labels(job).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
