"""A restore back into the live service (issue 15), on SQLite and PostgreSQL with real
directories: a sysadmin's `into_live` restore puts the mailbox's tree back as it was backed up
(an independent hash of the tree is the oracle), the damaged tree it replaced is kept as a
new backup (restored elsewhere, it hashes as the damaged tree did), nothing is left beside the
live directory, and every step is ledgered under the incident. The customer's record is
never written back into the live registry, support is refused by the rule, and a tampered
archive leaves the live tree untouched."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

import pytest

from entrusted.adapters import backup_swap
from entrusted.bootstrap import WORKER
from entrusted.domain.backups import Source as Kind
from entrusted.errors import Conflict, InvalidInput, TamperDetected, Unavailable
from entrusted.services.backups import Target
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.integration.test_backups import World, sysadmin, tree_digest, world
from tests.integration.test_registry_sql import ledgered, staff
from tests.refusals import refused_by
from tests.unit.registry_world import SIGNUP

pytestmark = pytest.mark.promise("P15")

__all__ = ["world"]  # the fixture, shared with test_backups.py


def archive_of(w: World, source: Kind) -> str:
    return next(a.id for a in w.c.backups.access.archives(sysadmin(w)) if a.source is source)


def test_a_live_restore_puts_the_tree_back_and_keeps_the_damaged_one_as_a_backup(
    world: World,
) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    live = w.roots[Kind.MAILBOX]
    as_backed_up = tree_digest(live)
    (live / "cur" / "1.eml").unlink()  # the incident: a message lost, another one garbled
    (live / "new" / "2.eml").write_bytes(b"garbled")
    (live / "new" / "3.eml").write_bytes(b"arrived after the backup")
    damaged = tree_digest(live)
    done = w.c.backups.access.restore(
        sysadmin(w), archive_of(w, Kind.MAILBOX), None, incident="INC-LIVE-1", into_live=True
    )
    assert done.target == live
    assert tree_digest(live) == as_backed_up
    assert sorted(p.name for p in live.parent.iterdir()) == [live.name]  # nothing beside it
    # The tree replaced is a backup like any other: sealed, listed, destroyed within the week.
    assert done.kept is not None
    kept = w.c.backups.access.restore(sysadmin(w), done.kept, "kept", incident="INC-LIVE-1")
    assert tree_digest(kept.target) == damaged
    entries = ledgered(w.c)
    restored = [e for e in entries if e.rule == "backups.restored"]
    assert "into the live service" in restored[0].reason
    assert done.kept in restored[0].reason
    assert restored[0].refs.get("ticket") == "INC-LIVE-1"
    taken = next(e for e in entries if e.rule == "backups.taken" and e.resource_id == done.kept)
    assert taken.owner == w.customer_id


def test_a_live_restore_recreates_a_directory_that_is_gone(world: World) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    live = w.roots[Kind.WEBSITE]
    as_backed_up = tree_digest(live)
    for path in sorted(live.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
    live.rmdir()
    done = w.c.backups.access.restore(
        sysadmin(w), archive_of(w, Kind.WEBSITE), None, incident="INC-LIVE-2", into_live=True
    )
    assert done.kept is None
    assert tree_digest(live) == as_backed_up


def test_the_record_support_and_a_tampered_archive_never_change_the_live_tree(
    world: World,
) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    admin = sysadmin(w)
    access = w.c.backups.access
    last = lambda: ledgered(w.c)[-1]  # noqa: E731
    with pytest.raises(Conflict, match="never written back"):
        access.restore(admin, archive_of(w, Kind.RECORD), None, incident="INC-3", into_live=True)
    entry = last()
    assert (entry.decision, entry.rule) == ("deny", "backups.live-refused")
    support = staff(w.c, "help-desk", "support")
    mailbox = archive_of(w, Kind.MAILBOX)
    with refused_by("support-never-touches-backups", ledger=last):
        access.restore(support, mailbox, None, incident="INC-3", into_live=True)
    with pytest.raises(InvalidInput, match="target"):
        access.restore(admin, mailbox, "somewhere", incident="INC-3", into_live=True)
    with pytest.raises(InvalidInput, match="target"):
        access.restore(admin, mailbox, None, incident="INC-3")
    live = w.roots[Kind.FTP_SPACE]
    (live / "new" / "2.eml").write_bytes(b"changed since")
    before = tree_digest(live)
    ftp = archive_of(w, Kind.FTP_SPACE)
    path = w.c.settings.effective_backup_dir / f"{ftp}.bkp"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # inside the last (final) chunk
    path.write_bytes(bytes(data))
    with pytest.raises(TamperDetected):
        access.restore(admin, ftp, None, incident="INC-3", into_live=True)
    assert last().rule == "backups.tampered"
    assert tree_digest(live) == before
    assert sorted(p.name for p in live.parent.iterdir()) == [live.name]
    for source, root in w.roots.items():
        assert root.is_dir(), source


def test_without_an_atomic_exchange_a_live_restore_is_refused_before_anything_changes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding 1: where `renameat2(RENAME_EXCHANGE)` is missing (NFS answers EINVAL),
    two renames could leave the live directory empty and the old tree hidden beside it; the
    restore is refused (ledgered) and the live tree, and its parent, are as they were."""
    w = world
    w.c.backups.runner.run(WORKER)
    live = w.roots[Kind.MAILBOX]
    (live / "new" / "2.eml").write_bytes(b"changed since")
    before = tree_digest(live)
    monkeypatch.setattr(backup_swap, "_renameat2", None)
    with pytest.raises(Conflict, match="atomically"):
        w.c.backups.access.restore(
            sysadmin(w), archive_of(w, Kind.MAILBOX), None, incident="INC-NFS", into_live=True
        )
    entry = ledgered(w.c)[-1]
    assert (entry.decision, entry.rule) == ("deny", "backups.live-refused")
    assert tree_digest(live) == before
    assert sorted(p.name for p in live.parent.iterdir()) == [live.name]
    assert not any(e.rule == "backups.taken" for e in ledgered(w.c)[-3:])


def test_a_write_during_the_backup_of_the_replaced_tree_is_not_lost(world: World) -> None:
    """Review finding 2: the restored tree is swapped in first, and the displaced tree (which
    nothing writes to any more) is backed up after; a mail delivered while that backup is
    taken lands in the live tree, not in a tree about to be deleted."""
    w = world
    w.c.backups.runner.run(WORKER)
    live = w.roots[Kind.MAILBOX]
    (live / "new" / "2.eml").write_bytes(b"garbled")
    damaged = tree_digest(live)
    access = w.c.backups.access
    real = access._snapshot

    def delivering(target: Target, why: str) -> str:
        kept = real(target, why)
        (live / "new" / "4.eml").write_bytes(b"delivered during the backup")
        return kept

    access._snapshot = delivering
    done = access.restore(
        sysadmin(w), archive_of(w, Kind.MAILBOX), None, incident="INC-RACE", into_live=True
    )
    assert (live / "new" / "4.eml").read_bytes() == b"delivered during the backup"
    assert done.kept is not None
    kept = access.restore(sysadmin(w), done.kept, "kept", incident="INC-RACE")
    assert tree_digest(kept.target) == damaged
    assert sorted(p.name for p in live.parent.iterdir()) == [live.name]


def test_if_the_replaced_tree_cannot_be_backed_up_the_swap_is_undone(world: World) -> None:
    """Review finding 2: the backup of the displaced tree fails, so the exchange is undone:
    the live tree is as it was, nothing is beside it, and `backups.failed` is ledgered."""
    w = world
    w.c.backups.runner.run(WORKER)
    live = w.roots[Kind.MAILBOX]
    (live / "new" / "2.eml").write_bytes(b"garbled")
    damaged = tree_digest(live)

    def failing(target: Target, why: str) -> str:
        raise Unavailable("the backup store is full")

    w.c.backups.access._snapshot = failing
    with pytest.raises(Unavailable, match="swapped back"):
        w.c.backups.access.restore(
            sysadmin(w), archive_of(w, Kind.MAILBOX), None, incident="INC-FULL", into_live=True
        )
    assert tree_digest(live) == damaged
    assert sorted(p.name for p in live.parent.iterdir()) == [live.name]
    entry = ledgered(w.c)[-1]
    assert (entry.decision, entry.rule) == ("deny", "backups.failed")
    assert "Unavailable" in entry.reason


def test_a_restore_whose_cleanup_fails_is_ledgered_as_restored(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding 3: after the swap, an error removing the old tree (NFS `.nfsXXXX`:
    ENOTEMPTY) or syncing the directory is logged, and the restore is `backups.restored`
    with a note, never `backups.failed ... nothing restored`."""
    w = world
    w.c.backups.runner.run(WORKER)
    live = w.roots[Kind.MAILBOX]
    as_backed_up = tree_digest(live)
    (live / "new" / "2.eml").write_bytes(b"garbled")

    def busy(
        path: object, onerror: Callable[..., None] | None = None, ignore_errors: bool = False
    ) -> None:
        exc = OSError(errno.ENOTEMPTY, "Directory not empty")
        if ignore_errors:
            return
        if onerror is None:
            raise exc
        onerror(os.rmdir, path, (OSError, exc, None))

    def unsyncable(path: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr("entrusted.adapters.backup_swap.shutil.rmtree", busy)
    monkeypatch.setattr(backup_swap, "fsync_dir", unsyncable, raising=False)
    done = w.c.backups.access.restore(
        sysadmin(w), archive_of(w, Kind.MAILBOX), None, incident="INC-NFS2", into_live=True
    )
    assert tree_digest(live) == as_backed_up
    assert done.kept is not None
    entry = ledgered(w.c)[-1]
    assert (entry.decision, entry.rule) == ("allow", "backups.restored")
    assert f"incomplete (errno {errno.ENOTEMPTY})" in entry.reason
    assert not any(e.rule == "backups.failed" for e in ledgered(w.c))


def test_a_restore_serves_only_a_case_of_the_archive_s_customer(world: World) -> None:
    """Review finding 5: a case about another customer does not open this one's backup; the
    refusal is ledgered (`backups.case-mismatch`) and nothing is restored."""
    w = world
    w.c.backups.runner.run(WORKER)
    support = staff(w.c, "help-desk", "support")
    form = Registration(
        "Keller",
        "Ben",
        "ben.keller@example.com",
        "044 000 20 02",
        None,
        (ServiceRequest("mailbox", "ben@example.org"),),
    )
    other = w.c.registry.register(SIGNUP, form)
    assert other.contract_id is not None
    theirs = w.c.cases.open(support, other.contract_id, "Mail is lost").id
    own = w.c.cases.open(support, w.contract_id, "Mail is lost").id
    mailbox = archive_of(w, Kind.MAILBOX)
    with pytest.raises(Conflict, match="not about the customer"):
        w.c.backups.access.restore(sysadmin(w), mailbox, "wrong", case_id=theirs)
    entry = ledgered(w.c)[-1]
    assert (entry.decision, entry.rule, entry.resource_id) == (
        "deny",
        "backups.case-mismatch",
        mailbox,
    )
    assert not any(w.c.settings.effective_restore_root.glob("*"))
    done = w.c.backups.access.restore(sysadmin(w), mailbox, "right", case_id=own)
    assert tree_digest(done.target) == tree_digest(w.roots[Kind.MAILBOX])
