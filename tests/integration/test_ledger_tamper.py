"""`ledger verify` against an attacker with write access to the database (triggers bypassed).

Random mutations of every stored ledger table: flipped bits, changed, truncated and extended
values, deleted rows, swapped rows (reordering), moved and extra rows, refiled entries, and
checkpoints that are altered, deleted or reordered. Each mutation is checked on its own and
then undone (the touched tables are restored from a snapshot), and every one must be detected;
mutations of an entry must name that entry's index as the first bad one.

Sizes: 1,000 mutations on SQLite, 100 on PostgreSQL, on a log of 1,300 entries (five full
level-0 tiles plus a partial one, a partial level-1 tile, five checkpoints); plus targeted
mutations of full level-1 and partial level-2 tiles on a log of 66,309 entries.

Not covered, by design: a checkpoint's `signed_at` (bookkeeping for the re-sign schedule, not
signed, so not evidence) and deleting the newest checkpoint (nothing records how many there
were; a customer's receipt or a witness holds it).
"""

from __future__ import annotations

import os
import random
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from entrusted.adapters.db import ledger_verify
from entrusted.adapters.db import tables as t
from entrusted.adapters.db.ledger_verify import PARALLEL_MIN, share_start, verify_ledger
from entrusted.adapters.db.ledger_verify_share import Share, ShareInChild
from entrusted.bootstrap import Container
from entrusted.errors import TamperDetected
from tests.integration.ledger_support import disable_triggers, fill, restore, snapshot

pytestmark = pytest.mark.promise("P3", "P14")

SIZE = 1300
CHECKPOINTS = (100, 256, 700, 1000, 1300)

Mutation = tuple[str, int | None, set[str]]  # what was done, the entry to blame, tables touched
Mutator = Callable[[sa.Connection, random.Random, dict[str, Any]], Mutation]


def _flip(data: bytes, rng: random.Random) -> bytes:
    pos = rng.randrange(len(data))
    return data[:pos] + bytes([data[pos] ^ (1 << rng.randrange(8))]) + data[pos + 1 :]


def _entry(conn: sa.Connection, idx: int) -> Any:
    return conn.execute(sa.select(t.ledger_entry).where(t.ledger_entry.c.idx == idx)).one()


def _set_entry(conn: sa.Connection, at: int, **values: Any) -> None:
    conn.execute(t.ledger_entry.update().where(t.ledger_entry.c.idx == at).values(**values))


def entry_flip(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    idx = rng.randrange(s["size"])
    _set_entry(conn, idx, body=_flip(_entry(conn, idx).body, rng))
    return f"flip a bit of entry {idx}", idx, {"ledger_entry"}


def entry_resize(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    idx = rng.randrange(s["size"])
    body = _entry(conn, idx).body
    _set_entry(conn, idx, body=body[:-1] if rng.random() < 0.5 else body + b" ")
    return f"truncate or extend entry {idx}", idx, {"ledger_entry"}


def entry_delete(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    idx = rng.randrange(s["size"])
    conn.execute(t.ledger_entry.delete().where(t.ledger_entry.c.idx == idx))
    return f"delete entry {idx}", idx, {"ledger_entry"}


def entry_swap(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    a, b = sorted(rng.sample(range(s["size"]), 2))
    ra, rb = _entry(conn, a), _entry(conn, b)
    _set_entry(conn, a, body=rb.body, customer_id=rb.customer_id)
    _set_entry(conn, b, body=ra.body, customer_id=ra.customer_id)
    return f"swap entries {a} and {b}", a, {"ledger_entry"}


def entry_move(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    idx = rng.randrange(s["size"])
    _set_entry(conn, idx, idx=s["size"] + rng.randrange(1, 100))
    return f"move entry {idx} past the end", idx, {"ledger_entry"}


def entry_extra(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    body = _entry(conn, rng.randrange(s["size"])).body
    conn.execute(t.ledger_entry.insert().values(idx=s["size"], body=body, customer_id=None))
    return "insert an entry past the end", s["size"], {"ledger_entry"}


def entry_refile(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    idx = rng.randrange(s["size"])
    current = _entry(conn, idx).customer_id
    other = rng.choice([c for c in ("cus_1", "cus_2", "cus_9", None) if c != current])
    _set_entry(conn, idx, customer_id=other)
    return f"refile entry {idx} from {current} to {other}", idx, {"ledger_entry"}


def _full_tile(conn: sa.Connection, rng: random.Random) -> Any:
    rows = conn.execute(sa.select(t.ledger_full_tile)).all()
    return rng.choice(rows)


def _tile_where(row: Any) -> Any:
    return (t.ledger_full_tile.c.level == row.level) & (t.ledger_full_tile.c.idx == row.idx)


def tile_flip(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    row = _full_tile(conn, rng)
    conn.execute(
        t.ledger_full_tile.update().where(_tile_where(row)).values(hashes=_flip(row.hashes, rng))
    )
    return f"flip a bit of tile {row.level}/{row.idx}", None, {"ledger_full_tile"}


def tile_resize(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    row = _full_tile(conn, rng)
    cut = row.hashes[: -rng.choice((1, 32))] if rng.random() < 0.5 else row.hashes + bytes(32)
    conn.execute(t.ledger_full_tile.update().where(_tile_where(row)).values(hashes=cut))
    return f"truncate or extend tile {row.level}/{row.idx}", None, {"ledger_full_tile"}


def tile_delete(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    row = _full_tile(conn, rng)
    conn.execute(t.ledger_full_tile.delete().where(_tile_where(row)))
    return f"delete tile {row.level}/{row.idx}", None, {"ledger_full_tile"}


def tile_swap(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    a, b = rng.sample(conn.execute(sa.select(t.ledger_full_tile)).all(), 2)
    conn.execute(t.ledger_full_tile.update().where(_tile_where(a)).values(hashes=b.hashes))
    conn.execute(t.ledger_full_tile.update().where(_tile_where(b)).values(hashes=a.hashes))
    return f"swap tiles {a.level}/{a.idx} and {b.level}/{b.idx}", None, {"ledger_full_tile"}


def tile_move(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    row = _full_tile(conn, rng)
    if rng.random() < 0.5:
        conn.execute(
            t.ledger_full_tile.update().where(_tile_where(row)).values(level=row.level + 3)
        )
    else:
        conn.execute(
            t.ledger_full_tile.insert().values(level=0, idx=s["size"] // 256, hashes=row.hashes)
        )
    return f"move or copy tile {row.level}/{row.idx}", None, {"ledger_full_tile"}


def partial_change(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    row = rng.choice(conn.execute(sa.select(t.ledger_partial_tile)).all())
    where = t.ledger_partial_tile.c.level == row.level
    how = rng.randrange(5)
    if how == 0:
        conn.execute(
            t.ledger_partial_tile.update().where(where).values(hashes=_flip(row.hashes, rng))
        )
    elif how == 1:
        conn.execute(t.ledger_partial_tile.update().where(where).values(hashes=row.hashes[:-32]))
    elif how == 2:
        conn.execute(
            t.ledger_partial_tile.update().where(where).values(hashes=row.hashes + bytes(32))
        )
    elif how == 3:
        conn.execute(t.ledger_partial_tile.update().where(where).values(idx=row.idx + 1))
    else:
        conn.execute(t.ledger_partial_tile.delete().where(where))
    return f"change #{how} of partial tile {row.level}", None, {"ledger_partial_tile"}


def state_change(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    row = conn.execute(sa.select(t.ledger_state)).one()
    if rng.random() < 0.5:
        conn.execute(t.ledger_state.update().values(root=_flip(row.root, rng)))
        return "flip a bit of the stored root", None, {"ledger_state"}
    size = row.size + rng.choice((-1, 1))
    conn.execute(t.ledger_state.update().values(size=size))
    return f"set the stored size to {size}", min(size, row.size), {"ledger_state"}


def _checkpoint(conn: sa.Connection, rng: random.Random) -> Any:
    return rng.choice(conn.execute(sa.select(t.ledger_checkpoint)).all())


def checkpoint_note(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    row = _checkpoint(conn, rng)
    pos = rng.randrange(len(row.note))
    new = rng.choice([ch for ch in "AZaz09+/=\n x" if ch != row.note[pos]])
    note = row.note[:pos] + new + row.note[pos + 1 :]
    conn.execute(
        t.ledger_checkpoint.update().where(t.ledger_checkpoint.c.id == row.id).values(note=note)
    )
    return f"change character {pos} of checkpoint #{row.id}", None, {"ledger_checkpoint"}


def checkpoint_columns(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    row = _checkpoint(conn, rng)
    values = {"size": row.size + 1} if rng.random() < 0.5 else {"root": _flip(row.root, rng)}
    conn.execute(
        t.ledger_checkpoint.update().where(t.ledger_checkpoint.c.id == row.id).values(**values)
    )
    return f"change {set(values)} of checkpoint #{row.id}", None, {"ledger_checkpoint"}


def checkpoint_delete(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    rows = conn.execute(sa.select(t.ledger_checkpoint).order_by(t.ledger_checkpoint.c.id)).all()
    row = rng.choice(rows[:-1])  # the newest one's deletion is undetectable (module docstring)
    conn.execute(t.ledger_checkpoint.delete().where(t.ledger_checkpoint.c.id == row.id))
    return f"delete checkpoint #{row.id}", None, {"ledger_checkpoint"}


def checkpoint_swap(conn: sa.Connection, rng: random.Random, s: dict[str, Any]) -> Mutation:
    a, b = rng.sample(conn.execute(sa.select(t.ledger_checkpoint)).all(), 2)
    for row, other in ((a, b), (b, a)):
        conn.execute(
            t.ledger_checkpoint.update()
            .where(t.ledger_checkpoint.c.id == row.id)
            .values(size=other.size, root=other.root, note=other.note)
        )
    return f"swap checkpoints #{a.id} and #{b.id}", None, {"ledger_checkpoint"}


MUTATORS: list[Mutator] = [
    entry_flip, entry_resize, entry_delete, entry_swap, entry_move, entry_extra, entry_refile,
    tile_flip, tile_resize, tile_delete, tile_swap, tile_move,
    partial_change, state_change,
    checkpoint_note, checkpoint_columns, checkpoint_delete, checkpoint_swap,
]  # fmt: skip


@pytest.mark.parametrize("size", [0, 1, 256, 257, 512])
def test_clean_logs_verify_at_tile_boundaries(container: Container, size: int) -> None:
    fill(container, size, (size // 2, size))
    report = verify_ledger(container.engine, container.checkpoints.vkey)
    assert (report.size, report.checkpoints) == (size, len({size // 2, size}))
    assert report.root == container.ledger_store.root_at(size)


@pytest.mark.parametrize("size", [512, 513, SIZE])
def test_a_second_process_verifies_the_same(container: Container, size: int) -> None:
    """Part of the entries checked in a child process gives the report of one process, and
    the progress reaches the end."""
    fill(container, size, (size // 2, size))
    engine, vkey = container.engine, container.checkpoints.vkey
    seen: list[tuple[int, int]] = []
    both = verify_ledger(engine, vkey, lambda done, total: seen.append((done, total)), True)
    assert both == verify_ledger(engine, vkey, parallel=False)
    assert both.processes == 2
    assert both.root == container.ledger_store.root_at(size)
    assert seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_the_split_leaves_each_process_whole_tiles() -> None:
    assert share_start(5 * 256, True) == 3 * 256  # the child: tiles 3 and 4
    assert share_start(256, True) == 256  # one tile: nothing to share
    assert share_start(PARALLEL_MIN - 256, None) == PARALLEL_MIN - 256  # too small to pay
    big = share_start(1_000_000 // 256 * 256, True)
    assert big % 256 == 0
    assert 500_000 < big < 1_000_000 - 256
    assert share_start(1_000_000, False) == 1_000_000


@pytest.mark.slow
def test_mutations_found_by_a_second_process_are_blamed_the_same(container: Container) -> None:
    """The random mutations again with the child checking tiles 3 and 4: each is detected,
    an entry's mutation names that entry (the lowest either process found)."""
    count = 60 if container.engine.dialect.name == "sqlite" else 24
    fill(container, SIZE, CHECKPOINTS)
    container.ledger.stop()
    engine, vkey = container.engine, container.checkpoints.vkey
    disable_triggers(engine)
    pristine = snapshot(engine)
    rng = random.Random(20261201)
    for n in range(count):
        mutator = MUTATORS[n % len(MUTATORS)] if n < len(MUTATORS) else rng.choice(MUTATORS)
        with engine.begin() as conn:
            what, blame, touched = mutator(conn, rng, {"size": SIZE})
        with pytest.raises(TamperDetected) as caught:
            verify_ledger(engine, vkey, parallel=True)
        if blame is not None:
            assert caught.value.index == blame, f"{what}: blamed {caught.value.index}"
        restore(engine, pristine, touched)
    assert verify_ledger(engine, vkey, parallel=True).size == SIZE


def test_a_tampered_entry_in_the_childs_share_is_named(container: Container) -> None:
    fill(container, SIZE, CHECKPOINTS)
    container.ledger.stop()
    engine, vkey = container.engine, container.checkpoints.vkey
    disable_triggers(engine)
    with engine.begin() as conn:
        body = _entry(conn, 1000).body
        _set_entry(conn, 1000, body=body.replace(b"support", b"sUpport", 1))
    with pytest.raises(TamperDetected, match="entry 1000 does not hash") as caught:
        verify_ledger(engine, vkey, parallel=True)
    assert caught.value.index == 1000


def test_a_failed_child_leaves_its_share_to_this_process(
    container: Container,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A child that cannot read the database (here: a URL naming no file) is not a result:
    its share is checked here, so a tampered entry in it is still found."""
    fill(container, SIZE, CHECKPOINTS)
    container.ledger.stop()
    engine, vkey = container.engine, container.checkpoints.vkey
    nowhere = f"sqlite:///{tmp_path / 'missing' / 'none.db'}"
    with ShareInChild(Share(nowhere, None, 768, 1280)) as child:
        assert child.result(60) is None
        assert child.failure is not None
        assert "OperationalError" in child.failure
    monkeypatch.setattr(
        ledger_verify, "Share", lambda _url, exported, lo, hi: Share(nowhere, None, lo, hi)
    )
    seen: list[int] = []
    report = verify_ledger(engine, vkey, lambda done, _: seen.append(done), parallel=True)
    assert (report.size, report.processes) == (SIZE, 1)
    assert "the second process failed (OperationalError" in caplog.text
    assert seen == sorted(seen)  # checking the share again here does not set progress back
    assert seen[-1] == SIZE
    disable_triggers(engine)
    with engine.begin() as conn:
        _set_entry(conn, 1100, customer_id="cus_9")
    with pytest.raises(TamperDetected) as caught:
        verify_ledger(engine, vkey, parallel=True)
    assert caught.value.index == 1100


@pytest.mark.slow
def test_every_random_mutation_is_detected(container: Container) -> None:
    count = 1000 if container.engine.dialect.name == "sqlite" else 100
    fill(container, SIZE, CHECKPOINTS)
    container.ledger.stop()
    engine, vkey = container.engine, container.checkpoints.vkey
    assert verify_ledger(engine, vkey).checkpoints == len(CHECKPOINTS)
    disable_triggers(engine)
    pristine = snapshot(engine)
    rng = random.Random(20261127)
    seen: set[str] = set()
    for n in range(count):
        mutator = MUTATORS[n % len(MUTATORS)] if n < len(MUTATORS) else rng.choice(MUTATORS)
        with engine.begin() as conn:
            what, blame, touched = mutator(conn, rng, {"size": SIZE})
        with pytest.raises(TamperDetected) as caught:
            verify_ledger(engine, vkey)
        if blame is not None:
            assert caught.value.index == blame, f"{what}: blamed {caught.value.index}"
        restore(engine, pristine, touched)
        seen.add(mutator.__name__)
        if n % 100 == 99:
            verify_ledger(engine, vkey)  # the restores really restored
    assert seen == {m.__name__ for m in MUTATORS}
    assert verify_ledger(engine, vkey).size == SIZE


def test_upper_level_tiles_are_checked(container: Container) -> None:
    """Full level-1 and partial level-2 tiles exist only past 65,536 entries."""
    size = 65_536 + 3 * 256 + 5
    fill(container, size, (70_000 - 5000, size))
    container.ledger.stop()
    engine, vkey = container.engine, container.checkpoints.vkey
    assert verify_ledger(engine, vkey).size == size
    disable_triggers(engine)
    full, partial = t.ledger_full_tile, t.ledger_partial_tile
    pristine = snapshot(engine, (full, partial))

    def flip_tile(table: sa.Table, level: int, offset: int) -> Callable[[sa.Connection], None]:
        def run(conn: sa.Connection) -> None:
            data = conn.execute(
                sa.select(table.c.hashes).where(table.c.level == level)
            ).scalar_one()
            data = data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1 :]
            conn.execute(table.update().where(table.c.level == level).values(hashes=data))

        return run

    with engine.connect() as conn:
        body = conn.execute(
            sa.select(t.ledger_entry.c.body).where(t.ledger_entry.c.idx == 40_000)
        ).scalar_one()

    def set_entry(data: bytes) -> Callable[[sa.Connection], None]:
        where = t.ledger_entry.c.idx == 40_000
        return lambda conn: conn.execute(t.ledger_entry.update().where(where).values(body=data))

    cases: list[tuple[Callable[[sa.Connection], None], str, int | None]] = [
        (flip_tile(full, 1, 4000), "tile 1/0 was altered", None),
        (
            lambda conn: conn.execute(full.delete().where(full.c.level == 1)),
            "tile 1/0 is missing",
            None,
        ),
        (flip_tile(partial, 1, 70), "partial tile 1/1.p/3", None),
        (flip_tile(partial, 2, 5), "partial tile 2/0.p/1", None),
        (flip_tile(partial, 0, 100), "partial tile 0/259.p/5", None),
        (set_entry(b"{}"), "entry 40000", 40_000),
    ]
    for mutate, message, index in cases:
        with engine.begin() as conn:
            mutate(conn)
        with pytest.raises(TamperDetected, match=message) as caught:
            verify_ledger(engine, vkey)
        assert caught.value.index == index
        restore(engine, pristine, {"ledger_full_tile", "ledger_partial_tile"})
        with engine.begin() as conn:
            set_entry(body)(conn)
    assert verify_ledger(engine, vkey).size == size


def test_the_child_runs_only_the_installed_code(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Code planted in the working directory (a package named like ours) or named by PYTHON*
    variables never runs in the child: it would answer for its share without checking it."""
    planted = tmp_path / "entrusted" / "adapters" / "db"
    planted.mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    for package in (tmp_path / "entrusted", tmp_path / "entrusted" / "adapters", planted):
        (package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (planted / "ledger_verify_share.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "json.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    fill(container, SIZE, CHECKPOINTS)
    container.ledger.stop()
    report = verify_ledger(container.engine, container.checkpoints.vkey, parallel=True)
    assert report.processes == 2  # the real child did its share
    assert not marker.exists()


def test_a_child_that_cannot_start_or_is_stuck_leaves_its_share_here(
    container: Container, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fill(container, SIZE, CHECKPOINTS)
    container.ledger.stop()
    engine, vkey = container.engine, container.checkpoints.vkey
    share = Share(engine.url.render_as_string(hide_password=False), None, 768, 1280)
    with ShareInChild(share) as stuck:
        assert stuck._process is not None
        os.kill(stuck._process.pid, signal.SIGSTOP)
        assert stuck.result(0.5) is None
        assert stuck.failure == "the second process did not finish in 0 s"
    assert stuck._process.returncode == -signal.SIGKILL  # killed, not left stopped
    with monkeypatch.context() as m:
        m.setattr(sys, "executable", str(Path("/nonexistent/python")))
        report = verify_ledger(engine, vkey, parallel=True)
    assert (report.size, report.processes) == (SIZE, 1)
    assert "the second process could not start" in caplog.text
