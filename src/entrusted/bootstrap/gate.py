"""The gate and the ledger as the composition root wires them: the ledger store and its
group-commit writer, the policy rules file, and the gate with its condition resolvers (which
only read, through read-only units)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from entrusted.adapters.db.grant_probe import GrantProbe
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_writer import GroupCommitLedger
from entrusted.adapters.db.policy_store import SqlStaffDirectory
from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, parse_rules
from entrusted.bootstrap.disclosures import court_order_resolver
from entrusted.bootstrap.mailings import mailing_conditions
from entrusted.bootstrap.wiring import Wiring
from entrusted.config import Settings
from entrusted.domain.policy import Condition, Engine
from entrusted.domain.policy_analysis import RuleSet
from entrusted.errors import InvalidInput
from entrusted.services.gate import Gate
from entrusted.services.grants import ActiveGrant
from entrusted.services.identification import CallerIdentified


@dataclass(frozen=True, slots=True)
class Ledgered:
    """The gate and what it stands on; the container keeps each part."""

    store: SqlLedgerStore
    ledger: GroupCommitLedger
    ruleset: RuleSet
    rules_bytes: bytes  # as read: `start` records a change of the running rules by digest
    gate: Gate


def read_rules(settings: Settings) -> tuple[bytes, RuleSet]:
    """The rules file's bytes and what they parse to; InvalidInput if it cannot be read."""
    rules_path = settings.rules_file or DEFAULT_RULES_PATH
    try:
        rules_bytes = rules_path.read_bytes()
    except OSError as exc:
        raise InvalidInput("rules_file", f"cannot read {rules_path}: {exc.strerror}") from None
    return rules_bytes, parse_rules(rules_bytes, str(rules_path))


def build_gate(w: Wiring) -> Ledgered:
    store = SqlLedgerStore(w.engine)
    ledger = GroupCommitLedger(store)
    rules_bytes, ruleset = read_rules(w.settings)
    # The gate's conditions only read: read-only units, which never wait for SQLite's lock
    identified = CallerIdentified(
        w.reader, w.clock, timedelta(seconds=w.settings.identification_valid_s)
    )
    gate = Gate(
        engine=Engine(ruleset.rules),
        ledger=ledger,
        clock=w.clock,
        resolvers={
            Condition.CALLER_IDENTIFIED: identified,
            Condition.ACTIVE_GRANT: ActiveGrant(w.reader, w.reader, w.clock, GrantProbe(w.engine)),
            **mailing_conditions(w.engine),
            Condition.COURT_ORDER: court_order_resolver(w.engine, w.clock),
        },
        directory=SqlStaffDirectory(w.engine),
    )
    return Ledgered(store, ledger, ruleset, rules_bytes, gate)
