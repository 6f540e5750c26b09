"""`/v1/backups`: system administrators list, inspect and restore backups (P15); a customer
sees their own backups' dates and destruction dates (`/v1/backups/mine`, customers only) and
may list and inspect their own (never another's: `owns_resource`). Support is refused by the
rules, and every answer, allowed or refused, is in the ledger."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from entrusted.domain.backups import Archive
from entrusted.domain.policy import Action
from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn

router = APIRouter(prefix="/v1/backups", tags=["backups"])


class BackupOut(BaseModel):
    id: str
    customer_id: str
    source: str = Field(description="mailbox, ftp_space, website or record")
    service_id: str | None
    status: str = Field(description="complete, or destroyed once its day's key is gone")
    taken_at: datetime
    destroy_after: datetime = Field(description="When its day's key is destroyed (P16)")
    destroyed_at: datetime | None

    @classmethod
    def of(cls, a: Archive) -> BackupOut:
        return cls(
            id=a.id,
            customer_id=a.customer_id,
            source=a.source.value,
            service_id=a.service_id,
            status=a.status.value,
            taken_at=a.created_at,
            destroy_after=a.destroy_after,
            destroyed_at=a.destroyed_at,
        )


class InspectOut(BackupOut):
    size: int
    chunks: int
    sha256: str | None
    key_id: str | None
    key_commitment: str | None


class RestoreIn(StrictIn):
    target: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="A new directory under the configured restore root (or `into_live`).",
    )
    into_live: bool = Field(
        default=False,
        description="Replace the live service's directory instead (mailbox, FTP space or web "
        "site; never the customer's record). Refused where the filesystem cannot swap two "
        "directories atomically; the tree replaced is backed up right after the swap.",
    )
    case_id: str | None = Field(default=None, max_length=64, description="The case it serves.")
    incident: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The incident it serves (a case or an incident is required).",
    )


class RestoredOut(BaseModel):
    id: str
    target: str
    files: int
    chunks: int
    kept_backup: str | None = Field(
        default=None, description="Into the live service: the backup of the tree it replaced."
    )
    skipped_links: list[str] = Field(
        default_factory=list,
        description="Links to an absolute path or out of the tree: archived as the customer "
        "made them, never created by a restore.",
    )


@router.get(
    "", response_model=list[BackupOut], summary="List backups (sysadmins; a customer their own)"
)
def list_all(who: ActorDep, c: ContainerDep, customer_id: ids.CustomerQuery) -> list[BackupOut]:
    return [BackupOut.of(a) for a in c.backups.access.archives(who, customer_id)]


@router.get("/mine", response_model=list[BackupOut], summary="The customer's own backups")
def mine(who: ActorDep, c: ContainerDep) -> list[BackupOut]:
    return [BackupOut.of(a) for a in c.backups.access.for_customer(who)]


@router.get(
    "/{backup_id}",
    response_model=InspectOut,
    summary="Inspect one backup (sysadmins; a customer their own)",
)
def inspect(backup_id: ids.BackupId, who: ActorDep, c: ContainerDep) -> InspectOut:
    found = c.backups.access.inspect(who, backup_id)
    a, key = found.archive, found.key
    return InspectOut(
        **BackupOut.of(a).model_dump(),
        size=a.size,
        chunks=a.chunks,
        sha256=a.sha256,
        key_id=key.key_id if key else None,
        key_commitment=key.commitment if key else None,
    )


@router.post("/{backup_id}/restore", response_model=RestoredOut, summary="Restore (sysadmins)")
def restore(
    backup_id: ids.BackupId, body: RestoreIn, who: ActorDep, c: ContainerDep
) -> RestoredOut:
    ids.check(c, who, Action.RESTORE, case_id=body.case_id)
    done = c.backups.access.restore(
        who,
        backup_id,
        body.target,
        case_id=body.case_id,
        incident=body.incident,
        into_live=body.into_live,
    )
    return RestoredOut(
        id=done.archive_id,
        target=str(done.target),
        files=done.files,
        chunks=done.chunks,
        kept_backup=done.kept,
        skipped_links=printable_names(done.skipped_links),
    )


def printable_names(names: Iterable[str]) -> list[str]:
    """File names as JSON can carry them: a name that is not UTF-8 on disk (surrogate
    escapes in Python) would fail the answer's encoding after the restore happened; its
    undecodable bytes are shown as `\\xNN` instead."""
    return [os.fsencode(n).decode("utf-8", "backslashreplace") for n in names]
