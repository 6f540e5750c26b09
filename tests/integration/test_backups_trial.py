"""The outside trial of the backups (issue 15, docs/backups.md), on SQLite and PostgreSQL
with real directories: a restore the filesystem refuses is a clean, ledgered failure that
leaves nothing behind; links out of a customer's tree are skipped and counted, not taken
for tampering (a flipped chunk still is); a customer reads exactly their own backups'
metadata and nobody else's; `/mine` refuses anyone who is not a customer."""

from __future__ import annotations

import errno

import pytest

from entrusted.bootstrap import WORKER
from entrusted.domain.backups import Source as Kind
from entrusted.errors import InvalidInput, Refused, TamperDetected, Unavailable
from entrusted.services.registry_forms import Registration
from tests.integration.test_backups import World, sysadmin, world  # noqa: F401
from tests.integration.test_registry_sql import ledgered, staff
from tests.refusals import default_denied, refused_by
from tests.unit.registry_world import SIGNUP, customer

pytestmark = pytest.mark.promise("P15", "P16")


def website(w: World) -> str:
    admin = sysadmin(w)
    return next(a.id for a in w.c.backups.access.archives(admin) if a.source is Kind.WEBSITE)


@pytest.mark.parametrize("target", ["a\x00b", "a\tb", "a" * 238, "x/" + "b" * 240, "c" * 256])
def test_a_target_the_filesystem_cannot_take_is_refused_before_the_gate(
    world: World,  # noqa: F811
    target: str,
) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    archive_id = website(w)
    before = len(ledgered(w.c))
    with pytest.raises(InvalidInput) as raised:
        w.c.backups.access.restore(sysadmin(w), archive_id, target, incident="INC-1")
    assert raised.value.field == "target"
    assert len(ledgered(w.c)) == before  # nothing decided, so no allow without an outcome
    w.c.backups.access.restore(sysadmin(w), archive_id, "a" * 237, incident="INC-1")


def test_a_restore_the_filesystem_refuses_is_ledgered_and_leaves_no_directory(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = world
    w.c.backups.runner.run(WORKER)
    archive_id = website(w)

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("entrusted.adapters.backup_extract._write", full)
    with pytest.raises(Unavailable, match="restore failed"):
        w.c.backups.access.restore(sysadmin(w), archive_id, "sub/dir", incident="INC-2")
    assert not list(w.c.settings.effective_restore_root.glob("*"))  # no empty `sub` left
    allow, failed = ledgered(w.c)[-2:]
    assert (allow.decision, allow.action, allow.resource_id) == ("allow", "restore", archive_id)
    assert (failed.decision, failed.rule) == ("deny", "backups.failed")


def test_links_out_of_the_tree_are_skipped_and_counted_not_tampering(world: World) -> None:  # noqa: F811
    w = world
    site = w.roots[Kind.WEBSITE]
    (site / "passwd").symlink_to("/etc/passwd")  # absolute
    (site / "cur" / "up").symlink_to("../../../../outside")  # out of the tree
    w.c.backups.runner.run(WORKER)
    archive_id = website(w)
    done = w.c.backups.access.restore(sysadmin(w), archive_id, "site", incident="INC-3")
    assert sorted(done.skipped_links) == ["./cur/up", "./passwd"]
    restored = w.c.settings.effective_restore_root / "site"
    assert not (restored / "passwd").is_symlink()
    assert not (restored / "cur" / "up").exists()
    assert (restored / "link").is_symlink()  # a link inside the tree is kept
    last = ledgered(w.c)[-1]
    assert (last.decision, last.rule) == ("allow", "backups.restored")
    assert "2 links out of the tree not created" in last.reason
    assert "passwd" not in last.reason
    assert "up" not in last.reason.split()
    # A genuine tamper (a chunk that does not authenticate) stays one.
    path = w.c.settings.effective_backup_dir / f"{archive_id}.bkp"
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(TamperDetected):
        w.c.backups.access.restore(sysadmin(w), archive_id, "again", incident="INC-3")
    assert ledgered(w.c)[-1].rule == "backups.tampered"


def test_a_customer_reads_their_own_backups_metadata_and_nobody_elses(world: World) -> None:  # noqa: F811
    """docs/backups.md: a customer may list and inspect their own backups (the same facts a
    sysadmin sees, never content); another customer's, or the whole catalogue, is refused."""
    w = world
    w.c.backups.runner.run(WORKER)
    anna = customer(w.customer_id)
    own = w.c.backups.access.archives(anna, w.customer_id)
    assert {a.customer_id for a in own} == {w.customer_id}
    assert len(own) == 4
    assert w.c.backups.access.inspect(anna, own[0].id).archive.id == own[0].id
    ben = w.c.registry.register(
        SIGNUP, Registration("Keller", "Ben", "ben.keller@example.com", "044 000 20 02", None, ())
    ).customer_id
    with default_denied("customer to list backup", without="owns_resource"):
        w.c.backups.access.archives(customer(ben), w.customer_id)
    with default_denied("customer to list backup", without="owns_resource"):
        w.c.backups.access.inspect(customer(ben), own[0].id)
    with default_denied("customer to list backup", without="owns_resource"):
        w.c.backups.access.archives(anna)


@pytest.mark.parametrize("role", ["sysadmin", "support"])
def test_own_backups_refuse_anyone_not_a_customer(world: World, role: str) -> None:  # noqa: F811
    w = world
    w.c.backups.runner.run(WORKER)
    who = staff(w.c, f"{role}-1", role)
    with refused_by("backups.not-a-customer", ledger=lambda: ledgered(w.c)[-1]):
        w.c.backups.access.for_customer(who)
    last = ledgered(w.c)[-1]
    assert (last.actor_id, last.owner) == (who.id, None)
    with pytest.raises(Refused):
        w.c.backups.access.for_customer(WORKER)


def test_a_run_on_a_day_whose_key_is_destroyed_refuses_clearly(world: World) -> None:  # noqa: F811
    """Only a clock set back past a purge reaches this: the run says so, seals nothing."""
    w = world
    w.c.backups.runner.run(WORKER)
    w.clock.advance(days=8)
    w.c.backups.purge.purge(WORKER)
    w.clock.advance(days=-8)
    with pytest.raises(Unavailable, match=r"key was destroyed at .*check the system clock"):
        w.c.backups.runner.run(WORKER)
