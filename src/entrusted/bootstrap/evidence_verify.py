"""`entrusted evidence verify`'s one adapter: the published log over HTTP, read with the
verifier's own token (no settings, no data directory: anyone holding a report can run it)."""

from __future__ import annotations

from pathlib import Path

from entrusted.adapters.ledger_bundles import HttpLedgerReader
from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.policy_analysis import RuleSet


def published_log(url: str, token: str | None) -> HttpLedgerReader:
    return HttpLedgerReader(url, token)


def verifier_rules(path: Path | None) -> RuleSet:
    """The rules file the promise-citing figures are rebuilt with: the one given (the
    deployed one), else the shipped one; never the report's word."""
    return load_rules(path or DEFAULT_RULES_PATH)
