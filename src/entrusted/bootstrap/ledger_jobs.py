"""The ledger's jobs and helpers as the composition root wires them: the worker's signing and
full verification, the operator's adoption of a local record, public tile sources."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from entrusted.adapters.db.ledger_tail import verify_since
from entrusted.adapters.db.ledger_verify import verify_ledger
from entrusted.adapters.ledger_http import HttpTileSource
from entrusted.bootstrap.actors import WORKER
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.errors import TamperDetected
from entrusted.services.outcomes import Outcome, OutcomeRecorder

if TYPE_CHECKING:
    from entrusted.bootstrap import Container

LEDGER_VERIFY_JOB = "ledger.verify"  # the worker's scheduled full verification


def _sign(c: Container) -> str | None:
    """None when the log has not grown (a routine tick, logged at DEBUG)."""
    signed = c.checkpoints.sign()
    return None if signed is None else f"signed checkpoint at size {signed.size}"


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
    vkey = c.checkpoints.key_list
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
        report = verify_ledger(c.engine, c.checkpoints.key_list)
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
