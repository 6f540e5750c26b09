"""One ledger batch as driver-level statements, for the sequencer in `ledger_store`.

The writer thread competes for the GIL with every caller, and each statement that releases
it (SQLite per row of an `executemany`, the network on PostgreSQL) may cost it a wait before
it runs again. So a batch is a fixed handful of statements whatever its size: on SQLite,
`BEGIN IMMEDIATE`, the stored size, multi-row INSERTs, the tile and state writes, `COMMIT`; on
PostgreSQL two pipelines (the lock and the size, then every write and the `COMMIT`), with
COPY for bulk batches. They run on the driver's cursor: SQLAlchemy's execution layer cost
more Python per batch than the statements. `test_ledger_fast_batches.py` holds what they store
equal to the definition (the leaf hashes' root, tiles a fresh process rebuilds from).
"""

from __future__ import annotations

from typing import Any

SEQUENCER_LOCK = 0x656E7472_75737465  # "entruste": the advisory lock key of the sequencer
PG_COPY_FROM = 500  # larger batches (bulk replays) go through COPY, which pipelines cannot carry
SQLITE_ROWS_PER_INSERT = 300  # 900 variables: under SQLite's limit, 999 before 3.32

_PG_LOCK_AND_SYNC = "SELECT pg_advisory_xact_lock(%s), set_config('synchronous_commit', 'on', true)"
_PG_INSERT_ENTRY = "INSERT INTO ledger_entry (idx, body, customer_id) VALUES (%s, %s, %s)"
_UPDATE_PARTIAL = "UPDATE ledger_partial_tile SET idx = ?, hashes = ? WHERE level = ?"

Rows = list[tuple[int, bytes, str | None]]
Writes = list[tuple[str, tuple[object, ...]]]


def lock_and_read_size(driver: Any, cur: Any, sqlite: bool) -> int | None:
    """Open the batch's transaction holding the sequencer's lock, and read the stored size
    after it (None before the first append)."""
    if sqlite:
        cur.execute("BEGIN IMMEDIATE")
        cur.execute("SELECT size FROM ledger_state")
    else:
        # The lock, and durability for this transaction whatever the server's default
        # (SET LOCAL, as set_config(..., true)), then the stored size, read after the
        # lock: BEGIN and both in one round trip.
        with driver.pipeline():
            driver.cursor().execute(_PG_LOCK_AND_SYNC, (SEQUENCER_LOCK,))
            cur.execute("SELECT size FROM ledger_state")
    row = cur.fetchone()
    return None if row is None else int(row[0])


def tile_writes(
    before: dict[int, tuple[int, bytes]],
    rows_exist: set[int],
    full: list[tuple[int, int, bytes]],
    partials: dict[int, tuple[int, bytes]],
    state: tuple[int, bytes],
    first: bool,
) -> Writes:
    """The batch's tile and state writes after its entries, as (SQL with ? marks, params):
    `before` is each level's partial tile before the batch, `rows_exist` the levels whose
    partial row exists, `state` the new (size, root)."""
    out: Writes = [
        ("INSERT INTO ledger_full_tile (level, idx, hashes) VALUES (?, ?, ?)", f) for f in full
    ]
    for level, (tile, buf) in partials.items():
        if before.get(level) == (tile, buf):
            continue
        if level not in rows_exist:
            out.append(
                (
                    "INSERT INTO ledger_partial_tile (level, idx, hashes) VALUES (?, ?, ?)",
                    (level, tile, buf),
                )
            )
            continue
        # The grow-only trigger lets a partial row advance one tile at a time (onto a
        # full tile that starts with it), so a batch that filled several tiles at this
        # level walks the row over each of them.
        steps = [(skipped, b"") for skipped in range(before[level][0] + 1, tile)]
        out.extend((_UPDATE_PARTIAL, (idx, hashes, level)) for idx, hashes in steps)
        out.append((_UPDATE_PARTIAL, (tile, buf, level)))
    if first:
        out.append(("INSERT INTO ledger_state (id, size, root) VALUES (0, ?, ?)", state))
    else:
        out.append(("UPDATE ledger_state SET size = ?, root = ?", state))
    return out


def write_and_commit(driver: Any, cur: Any, sqlite: bool, rows: Rows, writes: Writes) -> None:
    """The entries, then the tile and state writes, then COMMIT: durable when it returns."""
    if sqlite:
        _sqlite_insert_entries(cur, rows)
        for sql, params in writes:
            cur.execute(sql, params)
        cur.execute("COMMIT")
        return
    if len(rows) > PG_COPY_FROM:
        _pg_copy_entries(cur, rows)
    with driver.pipeline():  # psycopg 3
        if len(rows) <= PG_COPY_FROM:
            cur.executemany(_PG_INSERT_ENTRY, rows)
        for sql, params in writes:
            cur.execute(sql.replace("?", "%s"), params)
        cur.execute("COMMIT")  # in the pipeline: answered with the writes


def _pg_copy_entries(cur: Any, rows: Rows) -> None:
    """Entry rows through COPY: several times faster than INSERTs for bulk batches."""
    with cur.copy("COPY ledger_entry (idx, body, customer_id) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "bytea", "varchar"])
        for row in rows:
            copy.write_row(row)


def _sqlite_insert_entries(cur: Any, rows: Rows) -> None:
    """Entry rows as multi-row INSERTs: pysqlite releases the GIL around every row of an
    `executemany`, and under load each release can cost the writer a switch interval."""
    for k in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
        chunk = rows[k : k + SQLITE_ROWS_PER_INSERT]
        marks = ",".join(["(?, ?, ?)"] * len(chunk))
        cur.execute(
            f"INSERT INTO ledger_entry (idx, body, customer_id) VALUES {marks}",  # noqa: S608 - only ? marks are spliced in
            [value for row in chunk for value in row],
        )
