"""The staff console's pages (`/console/...`): one router per module, all listed here."""

from __future__ import annotations

from fastapi import APIRouter

from entrusted.entrypoints.web.console import (
    backups,
    cases,
    consent,
    customers,
    disclosures,
    evidence,
    identify,
    ledger,
    mailings,
    metadata,
    policy,
    signin,
    staff,
)

ROUTERS: list[APIRouter] = [
    signin.router,
    customers.router,
    identify.router,
    cases.router,
    consent.router,
    metadata.router,
    backups.router,
    staff.router,
    disclosures.router,
    policy.router,
    mailings.router,
    ledger.router,
    evidence.router,
]
