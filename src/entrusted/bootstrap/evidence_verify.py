"""`entrusted evidence verify`'s one adapter: the published log over HTTP, read with the
verifier's own token (no settings, no data directory: anyone holding a report can run it)."""

from __future__ import annotations

from entrusted.adapters.ledger_bundles import HttpLedgerReader


def published_log(url: str, token: str | None) -> HttpLedgerReader:
    return HttpLedgerReader(url, token)
