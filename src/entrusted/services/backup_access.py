"""Who sees and restores backups (P15): system administrators list, inspect and restore;
support is refused all of it by the rules (`support-never-touches-backups`), and the gate
ledgers the attempt; a customer sees which backups of their own data exist, when each was
taken and when it will be destroyed, and may list and inspect their own (the rule
`customer-sees-own-backups` holds only for their own id; the facts are the archive's size,
hash and day key's id and commitment, never content).

A restore names the case or incident it serves (both are ledgered with the decision), goes
to a new directory under the configured restore root, and appears there only once every chunk
authenticated: a tampered archive is named and nothing is half-restored. A destroyed backup
cannot be restored: its day's key is gone.

Back into the live service (`into_live`): refused unless the filesystem can swap two
directories atomically (probed before the live tree is touched). The archive is unpacked
beside the service's live directory (from the templates the backup read), the two are swapped
in one step, then the displaced tree, which nothing writes to any more, is backed up (so what
was replaced stays restorable, for a week like every backup, not as a copy nobody destroys)
and deleted; if that backup fails the same exchange swaps it back. Never for the customer's
record (`_live_tree` says why).

A case named must be one of the archive's customer's (`backups.case-mismatch` otherwise).

```python
access.restore(sysadmin, "bkp_1", "case-7", case_id="case_7")   # -> Restored(files=12, ...)
access.restore(sysadmin, "bkp_2", None, incident="INC-7", into_live=True)  # .kept: "bkp_3"
access.for_customer(customer)                                     # [Archive, ...], their own
```
"""

from __future__ import annotations

import os
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePath
from typing import NoReturn

from entrusted.crypto.backup_chunks import ChunkOpener, unwrap_archive_key
from entrusted.crypto.envelope import unwrap
from entrusted.domain.backups import Archive, ArchiveStatus, DayKey
from entrusted.domain.backups import Source as SourceKind
from entrusted.domain.ids import IdKind, id_problem, is_id
from entrusted.domain.policy import Action, Actor, ActorKind, Resource
from entrusted.errors import Conflict, InvalidInput, NotFound, TamperDetected, Unavailable
from entrusted.services.backups import BackupParts, Target, backup_resource
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome

ALL = "all-backups"  # the resource id of the whole catalogue, for a listing
# NAME_MAX (255 bytes) less the staging directory's `.` and `.partial-<8 hex>`
# (`adapters.backup_tar.STAGING_EXTRA`); the whole target as the API's `max_length`.
MAX_NAME = 255 - 18
MAX_TARGET = 255


@dataclass(frozen=True, slots=True)
class Inspected:
    archive: Archive
    key: DayKey | None  # None once the day's facts are gone (never: they are kept as evidence)


@dataclass(frozen=True, slots=True)
class Restored:
    archive_id: str
    target: Path
    files: int
    chunks: int
    kept: str | None = None  # restored into the live service: the backup of what it replaced
    skipped_links: tuple[str, ...] = ()  # absolute or outward links, archived but not created


class BackupAccess:
    def __init__(
        self,
        parts: BackupParts,
        restore_root: Path,
        case_owner: Callable[[str], str | None],
        live_root: Callable[[str, str], str | None],
        snapshot: Callable[[Target, str], str],
    ) -> None:
        """`case_owner(case_id)` is the case's customer (None: no such case);
        `live_root(customer_id, service_id)` is the service's live directory (None once
        it is no longer hosted); `snapshot(target, why)` backs one tree up now."""
        self._p = parts
        self._root = restore_root
        self._case_owner = case_owner
        self._live_root = live_root
        self._snapshot = snapshot

    def archives(self, actor: Actor, customer_id: str | None = None) -> list[Archive]:
        """Every complete archive (of one customer, if given): sysadmins; a customer only
        with their own id (the catalogue as a whole has no owner, so it is refused them)."""
        self._p.gate.decide(
            actor, Action.LIST, backup_resource(ALL, customer_id), AccessContext(note="list")
        )
        return [a for a in self._p.catalog.archives(customer_id) if _listed(a)]

    def inspect(self, actor: Actor, archive_id: str) -> Inspected:
        """One archive's facts (never its content) and its day key's public facts."""
        _check_id(archive_id)
        archive = self._p.catalog.get(archive_id)
        owner = archive.customer_id if archive else None
        self._p.gate.decide(
            actor, Action.LIST, backup_resource(archive_id, owner), AccessContext(note="inspect")
        )
        if archive is None:
            raise NotFound("backup", archive_id)
        found = self._p.catalog.day_key(archive.day)
        key = (
            found[0]
            if found
            else next((k for k in self._p.catalog.days() if k.day == archive.day), None)
        )
        return Inspected(archive, key)

    def for_customer(self, actor: Actor) -> list[Archive]:
        """The acting customer's own backups: that they exist, when taken and when each will
        be (or was) destroyed. Anyone else is refused (`backups.not-a-customer`), ledgered
        under their own id with no owner: a staff id is no customer's, and filing the entry
        under it as an owner would put a customer's name on what never was one."""
        if actor.kind is not ActorKind.CUSTOMER:
            self._p.outcomes.refuse(
                actor,
                Action.LIST,
                backup_resource("own-backups", None),
                Outcome.BACKUP_NOT_CUSTOMER,
                "only a customer has backups of their own; staff list them by customer",
            )
        self._p.gate.decide(
            actor,
            Action.LIST,
            backup_resource("own-backups", actor.id),
            AccessContext(note="own backups"),
        )
        return [
            a
            for a in self._p.catalog.archives(actor.id)
            if a.status in (ArchiveStatus.COMPLETE, ArchiveStatus.DESTROYED)
        ]

    def restore(
        self,
        actor: Actor,
        archive_id: str,
        target: str | None,
        *,
        case_id: str | None = None,
        incident: str | None = None,
        into_live: bool = False,
    ) -> Restored:
        """Restore one archive into a new directory `target` under the restore root, or
        (`into_live`, no target) back into the live service it was taken from."""
        destination = self._request(archive_id, target, case_id, incident, into_live)
        archive = self._p.catalog.get(archive_id)
        resource = backup_resource(archive_id, archive.customer_id if archive else None)
        note = "restore into the live service" if into_live else "restore"
        context = AccessContext(case_id=case_id, ticket=incident, note=note)
        self._p.gate.decide(actor, Action.RESTORE, resource, context)
        case_owner = None if case_id is None else self._case_owner(case_id)
        if case_id is not None and case_owner is None:
            raise NotFound("case", case_id)
        if archive is None:
            raise NotFound("backup", archive_id)
        refuse = partial(self._refuse, actor, resource, context)
        if case_id is not None and case_owner != archive.customer_id:
            _case_mismatch(refuse, case_id, archive_id)
        found = self._p.catalog.day_key(archive.day)
        wrapped_dek = self._p.catalog.wrapped_dek(archive_id)
        if archive.status is not ArchiveStatus.COMPLETE or found is None or wrapped_dek is None:
            gone = archive.status is ArchiveStatus.DESTROYED or found is None
            refuse(
                Outcome.BACKUP_UNRESTORABLE,
                f"backup {archive_id} was destroyed with its day's key "
                f"({(archive.destroyed_at or archive.destroy_after).isoformat()}); it cannot be "
                "restored by anyone"
                if gone
                else f"backup {archive_id} was never completed ({archive.status.value})",
            )
        live: Path | None = None
        if into_live:
            live = self._live_tree(archive, refuse)
            self._check_swap(live, refuse, partial(self._failed, actor, resource, context))
        day_key = unwrap(self._p.keyring(), found[1])
        dek = unwrap_archive_key(day_key, wrapped_dek)
        if destination is not None:
            staged = destination
        else:  # beside the live tree, so the swap is a rename within one filesystem
            assert live is not None
            staged = live.parent / f".{live.name}.restore-{secrets.token_hex(4)}"
        try:
            with self._p.store.reader(archive_id) as source:
                opened = ChunkOpener(dek, archive_id, source)
                files, skipped = self._p.packer.unpack(opened, staged)
            kept = None
            where = "under the restore root"
            if live is not None:
                why = case_id or incident or ""
                kept, note = self._replace(actor, resource, context, archive, staged, live, why)
                where = "into the live service, replacing its tree" + (
                    f" (kept as backup {kept})" if kept else ""
                )
                where += note
        except TamperDetected as exc:
            refuse(Outcome.BACKUP_TAMPERED, f"restore refused, nothing written: {exc.message}")
        except OSError as exc:
            self._failed(actor, resource, context, exc)
        # Never the links' names: they are the customer's file names (personal data, maybe).
        links = f"; {len(skipped)} links out of the tree not created" if skipped else ""
        self._p.outcomes.record(
            actor,
            Action.RESTORE,
            resource,
            Outcome.BACKUP_RESTORED,
            f"{archive.source.value} archive restored: {files} files from {opened.chunks} "
            f"authenticated chunks, {where}{links}",
            context,
        )
        return Restored(archive_id, live or staged, files, opened.chunks, kept, tuple(skipped))

    def _request(
        self,
        archive_id: str,
        target: str | None,
        case_id: str | None,
        incident: str | None,
        into_live: bool,
    ) -> Path | None:
        """The request's shape, checked before anything is decided; the new directory."""
        if not (case_id or incident):
            raise InvalidInput("case", "a restore names the case or the incident it serves")
        _check_id(archive_id)
        if case_id is not None and not is_id(IdKind.CASE, case_id):
            raise InvalidInput("case", id_problem(IdKind.CASE))
        if into_live == (target is not None):
            raise InvalidInput("target", "name a new directory, or restore into the live service")
        return None if target is None else self._destination(target)

    def _failed(
        self, actor: Actor, resource: Resource, context: AccessContext, exc: OSError
    ) -> NoReturn:
        """A restore the filesystem refused (disk full, a name it will not take): ledgered as
        `backups.failed` after the allow, and a clean `Unavailable`, never a traceback.
        Nothing is half-restored: the packer removed its staging directory."""
        why = f"restore failed, nothing restored ({type(exc).__name__}: {exc.strerror or ''})"
        self._p.outcomes.record(
            actor, Action.RESTORE, resource, Outcome.BACKUP_FAILED, why, context, allowed=False
        )
        raise Unavailable(why) from None

    def _live_tree(self, archive: Archive, refuse: Callable[[Outcome, str], NoReturn]) -> Path:
        """The live directory of the archive's service, from the templates the backup read.
        The record is never restored into the live service: it is the customer's rows as
        they were, and writing them back would undo what happened since (an erasure of
        personal details, a withdrawn consent, a cancelled contract) behind the registry's
        back; a sysadmin restores it to a directory and reads it instead."""
        if archive.source is SourceKind.RECORD or archive.service_id is None:
            refuse(
                Outcome.BACKUP_LIVE_REFUSED,
                f"backup {archive.id} is the customer's record: it is never written back into "
                "the live registry (that would undo erasures, consents and cancellations "
                "since); restore it to a directory instead",
            )
        root = self._live_root(archive.customer_id, archive.service_id)
        if root is None:
            refuse(
                Outcome.BACKUP_LIVE_REFUSED,
                f"backup {archive.id}: service {archive.service_id} is no longer hosted, so "
                "there is no live tree to restore into; restore it to a directory instead",
            )
        return Path(root)

    def _check_swap(
        self,
        live: Path,
        refuse: Callable[[Outcome, str], NoReturn],
        failed: Callable[[OSError], NoReturn],
    ) -> None:
        """Refuse a live restore where two directories cannot swap atomically (another
        kernel; NFS answers EINVAL): two renames could leave the service an empty directory
        and its tree hidden beside it. Probed beside `live`, before anything is unpacked."""
        if not live.exists():
            return  # nothing to displace: a plain rename puts the tree in place
        try:
            able = self._p.packer.can_swap(live)
        except OSError as exc:
            failed(exc)
        if not able:
            refuse(
                Outcome.BACKUP_LIVE_REFUSED,
                "the live tree's filesystem cannot swap two directories atomically "
                "(renameat2 RENAME_EXCHANGE); nothing was touched; restore to a directory instead",
            )

    def _replace(
        self,
        actor: Actor,
        resource: Resource,
        context: AccessContext,
        archive: Archive,
        staged: Path,
        live: Path,
        why: str,
    ) -> tuple[str | None, str]:
        """Swap the restored tree in, back up the displaced one (nothing writes to it any
        more, so no change made meanwhile is lost), then delete it. If that backup fails the
        exchange is undone, the failure ledgered, and Unavailable raised. Cleanup after the
        swap is best effort: the restore happened. Returns the kept backup's id (None: there
        was no live tree) and a note for the ledger if cleanup was incomplete."""
        try:
            displaced = self._p.packer.swap_in(staged, live)
        except BaseException:
            self._p.packer.discard(staged)
            raise
        if not displaced:
            return None, ""
        target = Target(archive.customer_id, archive.source, archive.service_id, root=str(staged))
        try:
            kept = self._snapshot(target, f"replaced by restoring {archive.id} ({why})"[:64])
        except Exception as exc:  # noqa: BLE001 - any failure: swap back, ledger, refuse
            self._undo(actor, resource, context, staged, live, type(exc).__name__)
        code = self._p.packer.remove_old(staged)
        note = "" if code is None else f"; removing the old tree was incomplete (errno {code})"
        return kept, note

    def _undo(
        self,
        actor: Actor,
        resource: Resource,
        context: AccessContext,
        staged: Path,
        live: Path,
        cause: str,
    ) -> NoReturn:
        """The displaced tree could not be backed up: swap it back (the same exchange) and
        drop the restored tree, so nothing is replaced without a copy of what was there."""
        try:
            self._p.packer.swap_back(staged, live)
        except OSError as exc:
            why = (
                f"restore not undone: the replaced tree could not be backed up ({cause}) nor "
                f"swapped back (errno {exc.errno}); it is kept, hidden, beside the live tree"
            )
        else:
            self._p.packer.discard(staged)
            why = (
                f"restore undone, nothing restored: the replaced tree could not be backed up "
                f"({cause}) and was swapped back"
            )
        self._p.outcomes.record(
            actor, Action.RESTORE, resource, Outcome.BACKUP_FAILED, why, context, allowed=False
        )
        raise Unavailable(why)

    def _refuse(
        self, actor: Actor, resource: Resource, context: AccessContext, outcome: Outcome, why: str
    ) -> NoReturn:
        """Ledger a refusal the service made after the gate allowed, then raise it."""
        self._p.outcomes.record(
            actor, Action.RESTORE, resource, outcome, why[:2000], context, allowed=False
        )
        if outcome is Outcome.BACKUP_TAMPERED:
            raise TamperDetected(why)
        raise Conflict(why)

    def _destination(self, target: str) -> Path:
        """A new directory strictly inside the restore root (no `..`, no way out through a
        symbolic link, a name the filesystem takes); InvalidInput otherwise, before anything
        is decided or written."""
        _check_target(target)
        given = PurePath(target)
        if not target.strip() or ".." in given.parts:
            raise InvalidInput("target", "must name a new directory under the restore root")
        root = self._root.resolve()
        path = Path(target) if given.is_absolute() else root / given
        resolved = path.parent.resolve() / path.name
        if resolved == root or not resolved.is_relative_to(root):
            raise InvalidInput("target", f"must be a new directory under {root}")
        if resolved.exists() or resolved.is_symlink():
            raise InvalidInput("target", f"{resolved} already exists")
        return resolved


def _case_mismatch(refuse: Callable[[Outcome, str], NoReturn], case: str, archive: str) -> None:
    """A case is about one customer; a restore it serves is of that customer's backups."""
    refuse(
        Outcome.BACKUP_CASE_MISMATCH,
        f"case {case} is not about the customer whose backup {archive} is; a restore "
        "serves a case of the archive's own customer",
    )


def _check_target(target: str) -> None:
    """A NUL, a newline or any control character, or a name longer than the staging
    directory `.<name>.partial-<8 hex>` leaves room for, is refused here, before the gate:
    the filesystem would refuse it after the allow was ledgered."""
    if len(target) > MAX_TARGET:
        raise InvalidInput("target", f"is at most {MAX_TARGET} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in target):
        raise InvalidInput("target", "must not contain control characters")
    if any(len(os.fsencode(part)) > MAX_NAME for part in PurePath(target).parts):
        raise InvalidInput("target", f"each name in it is at most {MAX_NAME} bytes")


def _listed(archive: Archive) -> bool:
    return archive.status in (ArchiveStatus.COMPLETE, ArchiveStatus.DESTROYED)


def _check_id(archive_id: str) -> None:
    """Text of another shape never reaches the ledger (`domain.ids`)."""
    if not is_id(IdKind.BACKUP, archive_id):
        raise InvalidInput("backup", id_problem(IdKind.BACKUP))
