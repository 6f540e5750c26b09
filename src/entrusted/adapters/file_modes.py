"""The modes of the files that hold the data and the keys: the data directory 0700, the
database (with its WAL, shared-memory and journal files) and every key file 0600.

Checked at every start, not only at `init`: a restore from a backup, a copy with `cp`, or an
operator's umask can widen them later, and a world-readable database or key undoes every
promise the ledger proves. Wider modes are tightened (and reported) or, when the operator
asked for that, the start is refused with the exact `chmod` to run.

```python
notes = secure(data_dir, [db, master_key], fix=True)   # ["tightened ... 0644 -> 0600"]
```
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from pathlib import Path

from entrusted.errors import InvalidInput

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def sqlite_files(database: Path) -> list[Path]:
    """The database file and the companions SQLite keeps beside it."""
    return [database, *(database.with_name(database.name + s) for s in SQLITE_COMPANIONS)]


def _too_wide(path: Path, wanted: int) -> int | None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    return mode if mode & ~wanted else None


def secure(data_dir: Path, files: Iterable[Path], *, fix: bool) -> list[str]:
    """Tighten (or, with `fix=False`, refuse) every mode wider than it should be; files that
    do not exist are skipped. Returns one note per change."""
    wanted = [(data_dir, DIR_MODE), *((f, FILE_MODE) for f in files)]
    wide = [(p, w, m) for p, w in wanted if (m := _too_wide(p, w)) is not None]
    if wide and not fix:
        listed = ", ".join(f"{p} is {m:04o}" for p, _, m in wide)
        commands = "; ".join(f"chmod {w:o} {p}" for p, w, _ in wide)
        raise InvalidInput(
            "file modes", f"{listed}, readable beyond its owner; run: {commands}"
        )
    notes = []
    for path, want, mode in wide:
        path.chmod(want)
        notes.append(f"tightened {path} from {mode:04o} to {want:04o}")
    return notes
