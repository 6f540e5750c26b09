"""The customer portal's pages (`/portal/...`): one router per module, all listed here."""

from __future__ import annotations

from fastapi import APIRouter

from entrusted.entrypoints.web.portal import (
    backups,
    consent,
    contracts,
    details,
    ftp,
    history,
    signin,
    verify,
)

ROUTERS: list[APIRouter] = [
    signin.router,
    details.router,
    contracts.router,
    backups.router,
    ftp.router,
    history.router,
    verify.router,
    consent.router,
]
