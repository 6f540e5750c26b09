"""A restore back into the live service (issue 15), on SQLite and PostgreSQL with real
directories: a sysadmin's `into_live` restore puts the mailbox's tree back as it was backed up
(an independent hash of the tree is the oracle), the damaged tree it replaced is kept as a
new backup (restored elsewhere, it hashes as the damaged tree did), nothing is left beside the
live directory, and every step is ledgered under the incident. The customer's record is
never written back into the live registry, support is refused by the rule, and a tampered
archive leaves the live tree untouched."""

from __future__ import annotations

import pytest

from entrusted.bootstrap import WORKER
from entrusted.domain.backups import Source as Kind
from entrusted.errors import Conflict, InvalidInput, TamperDetected
from tests.integration.test_backups import World, sysadmin, tree_digest, world
from tests.integration.test_registry_sql import ledgered, staff
from tests.refusals import refused_by

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
