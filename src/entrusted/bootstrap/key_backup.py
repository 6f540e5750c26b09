"""The installation's keys as files: gathered into a key backup, written back from one, and
the signing key rolled over; each ledgered as the console operator (key ids, never material).

It lives in bootstrap because it reads the settings to find the key files (like
`installation.initialise`, which writes them first). The format is `crypto.key_backup`; the
procedures are in docs/keys.md.

A restore must work on an empty machine, before there is a database to ledger into: the keys
come first (they are what makes the database readable at all). So a restore that cannot reach
the ledger still writes the keys, says so, and leaves `keys-restored.pending` (0600) in the
data directory; the next `Container.start` (serve, worker) ledgers it and removes it.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from entrusted.adapters.file_modes import secure
from entrusted.config import Settings
from entrusted.crypto.blind_index import (
    index_key_file_bytes,
    index_key_from_base64,
    index_key_from_file_bytes,
)
from entrusted.crypto.envelope import (
    key_id,
    master_key_file_bytes,
    master_key_from_base64,
    master_key_from_file_bytes,
)
from entrusted.crypto.key_backup import BackedUpKey, KeyBackup, KeyKind
from entrusted.crypto.keyfiles import (
    create_private_file,
    fsync_dir,
    read_private_file,
    write_all,
)
from entrusted.crypto.signing import NoteSigner, parse_key_file
from entrusted.crypto.signing_keys import (
    Rollover,
    history_path,
    later_key_path,
    parse_history,
    read_history,
    roll_signing_key,
)
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.errors import Conflict, EntrustedError, InvalidInput, TamperDetected
from entrusted.services.outcomes import Outcome, OutcomeRecorder

if TYPE_CHECKING:
    from entrusted.bootstrap import Container

PENDING_RESTORE = "keys-restored.pending"
_MAX_FILE = 64 << 10
_RESOURCE = Resource(ResourceKind.BACKUP, "keys")  # the installation's keys, not a day backup


def collect_keys(settings: Settings) -> list[BackedUpKey]:
    """Every key file of the installation (keys given in the environment as the file they
    would be): the master key, the previous ones, the index key, the signing key(s) and their
    history. The first SIGNING key is the log's first key (`ledger_key_file`)."""
    keys = []
    master_file = settings.effective_master_key_file
    if settings.master_key:
        kek = master_key_from_base64(settings.master_key)
        keys.append(_key(KeyKind.MASTER, kek.kek_id, master_file, master_key_file_bytes(kek)))
    else:
        raw = _read(master_file)
        keys.append(_key(KeyKind.MASTER, master_key_from_file_bytes(raw).kek_id, master_file, raw))
    for path in settings.previous_master_key_files:
        raw = _read(path)
        keys.append(
            _key(KeyKind.PREVIOUS_MASTER, master_key_from_file_bytes(raw).kek_id, path, raw)
        )
    index_file = settings.effective_index_key_file
    if settings.index_key:
        raw = index_key_file_bytes(index_key_from_base64(settings.index_key))
    else:
        raw = _read(index_file)
    keys.append(_key(KeyKind.INDEX, key_id(index_key_from_file_bytes(raw)), index_file, raw))
    ledger_file = settings.effective_ledger_key_file
    periods = read_history(ledger_file) or []
    later = [later_key_path(ledger_file, p.key_id_hex) for p in periods[1:]]
    paths = [ledger_file, *later]
    for n, path in enumerate(paths):
        if n < len(paths) - 1 and not path.exists():
            continue  # a retired key (the first one too) may have been destroyed on purpose
        raw = _read(path)  # the newest key signs now or soon: it must be there
        keys.append(_key(KeyKind.SIGNING, _signing_id(raw), path, raw))
    if periods:
        history = history_path(ledger_file)
        keys.append(_key(KeyKind.SIGNING_HISTORY, str(len(periods)), history, _read(history)))
    return keys


@dataclass(frozen=True)
class Placement:
    """Where a backed-up key goes, and what is there now."""

    key: BackedUpKey
    path: Path
    present: bool  # a file is already there
    same: bool  # ... and it holds exactly these bytes


def plan_restore(settings: Settings, backup: KeyBackup) -> list[Placement]:
    """Where each key of `backup` belongs under `settings`, checked before anything is
    written. TamperDetected when a key's bytes are not the key its id names.

    A signing key goes by its (authenticated) key id, never by its position: the log's first
    key, the first line of the backed-up history (or the only signing key when there is no
    history), goes to `ledger_key_file`; every later one to `<stem>-<key id>.key`. The first
    key may be missing (destroyed once retired), so position says nothing."""
    ledger_file = settings.effective_ledger_key_file
    master_dir = settings.effective_master_key_file.parent
    previous = {p.name: p for p in settings.previous_master_key_files}
    first_key = _first_signing_key(backup)
    placements = []
    for key in backup.keys:
        _check(key)
        if key.kind is KeyKind.MASTER:
            path = settings.effective_master_key_file
        elif key.kind is KeyKind.PREVIOUS_MASTER:
            path = previous.get(key.name, master_dir / Path(key.name).name)
        elif key.kind is KeyKind.INDEX:
            path = settings.effective_index_key_file
        elif key.kind is KeyKind.SIGNING:
            first = key.key_id == first_key
            path = ledger_file if first else later_key_path(ledger_file, key.key_id)
        else:
            path = history_path(ledger_file)
        present = path.exists() or path.is_symlink()
        same = present and path.is_file() and path.read_bytes() == key.content
        placements.append(Placement(key, path, present, same))
    return placements


def restore_keys(settings: Settings, backup: KeyBackup, *, force: bool) -> list[str]:
    """Write the keys of `backup` to where `settings` expects them (0600; new directories
    0700). Conflict, with nothing written, when a different key is in the way and not
    `force`; a key the environment supplies must match the backup's. Returns notes."""
    placements = plan_restore(settings, backup)
    _check_environment(settings, backup)
    clashes = [p for p in placements if p.present and not p.same]
    if clashes and not force:
        where = ", ".join(str(p.path) for p in clashes)
        raise Conflict(f"different keys are already at {where}; restore with --force to replace")
    notes = []
    writes: list[tuple[Path, bytes, int]] = []  # (target, content, mode)
    for p in placements:
        if p.same:
            notes.append(f"kept {p.path} ({p.key.kind} {p.key.key_id}: already that key)")
            continue
        if _from_environment(settings, p.key.kind):
            continue
        if p.path.is_dir() and not p.path.is_symlink():
            raise InvalidInput("key backup", f"{p.path} is a directory, not a key file")
        writes.append((p.path, p.key.content, 0o600))
        if p.key.kind is KeyKind.SIGNING:
            vkey = parse_key_file(p.key.content).vkey
            writes.append((Path(f"{p.path}.pub"), (vkey + "\n").encode("ascii"), 0o644))
        notes.append(f"wrote {p.path} ({p.key.kind} {p.key.key_id})")
    replace_all(writes)
    notes += secure(settings.data_dir, [p.path for p in placements], fix=settings.fix_file_modes)
    previous = [p for p in placements if p.key.kind is KeyKind.PREVIOUS_MASTER]
    if previous and not settings.previous_master_key_files:
        paths = ", ".join(str(p.path) for p in previous)
        notes.append(f"list {paths} in previous_master_key_files to read data they wrap")
    return notes


def replace_all(writes: list[tuple[Path, bytes, int]]) -> None:
    """Write every file as a whole or change nothing: each goes to a temporary file beside its
    target (O_EXCL, its mode, fsync); only when all are written are they renamed into place.
    On an error before that, the temporary files and the directories made for them go and
    the error is raised. (The renames themselves cannot fail for want of space or rights.)"""
    temps: list[tuple[Path, Path]] = []
    made: list[Path] = []
    try:
        for target, content, mode in writes:
            made += _make_dirs(target.parent)
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            temps.append((tmp, target))
            try:
                os.fchmod(fd, mode)
                write_all(fd, content)
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        for directory in reversed(made):
            directory.rmdir()
        raise
    for tmp, target in temps:
        tmp.replace(target)
    for directory in {target.parent for _, target in temps}:
        fsync_dir(directory)


def _make_dirs(directory: Path) -> list[Path]:
    """Create `directory` and missing parents (0700); the ones created, outermost first."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700)
    return list(reversed(missing))


def summary(keys: tuple[BackedUpKey, ...] | list[BackedUpKey]) -> str:
    """What the ledger says about a backup: kinds and key ids (public), never material."""
    return ", ".join(f"{k.kind} {k.key_id}" for k in keys)


def record(c: Container, by: Actor, outcome: Outcome, reason: str) -> None:
    OutcomeRecorder(c.gate).record(by, Action.UPDATE, _RESOURCE, outcome, reason[:2000])


def record_restore(settings: Settings, by: Actor, reason: str) -> str:
    """Ledger a restore that has written its keys, or, when there is no ledger to reach yet
    (no installation, a database down or not restored yet), leave it pending for the next
    start. Returns what happened, for the operator."""
    from entrusted.bootstrap import build  # the composition root imports this module

    reason = f"{reason} (by {by.id})"
    installed = settings.database_url is not None or (settings.data_dir / "entrusted.db").exists()
    problem = "there is no Entrusted database here yet"
    if installed:
        try:
            c = build(settings)
            try:
                record(c, by, Outcome.KEYS_RESTORED, reason)
            finally:
                c.close()
        except (EntrustedError, sa.exc.SQLAlchemyError) as exc:
            problem = str(getattr(exc, "message", type(exc).__name__))
        else:
            return "restore ledgered"
    path = leave_pending(settings, reason)
    return (
        f"restore NOT ledgered yet: {problem}; {path} holds it and the next start "
        "(`entrusted serve` or `worker`) ledgers it"
    )


def leave_pending(settings: Settings, reason: str) -> Path:
    """Keep an unledgered restore's entry for the next start (see module doc)."""
    path = settings.data_dir / PENDING_RESTORE
    path.unlink(missing_ok=True)
    create_private_file(path, json.dumps({"reason": reason}).encode("utf-8"), "pending restore")
    return path


def record_pending_restore(c: Container, by: Actor) -> list[str]:
    """Ledger a restore that could not be ledgered when it ran; called by `Container.start`."""
    path = c.settings.data_dir / PENDING_RESTORE
    if not path.exists():
        return []
    raw = read_private_file(path, "pending restore", _MAX_FILE)
    try:
        reason = str(json.loads(raw)["reason"])
    except (ValueError, KeyError, TypeError):
        reason = f"a key restore left an unreadable note {path}"
    record(c, by, Outcome.KEYS_RESTORED, f"{reason} (ledgered at the next start)")
    path.unlink()
    return [f"ledgered the key restore noted in {path}"]


def roll_over(c: Container, by: Actor, start: datetime) -> Rollover:
    """A new signing key from `start` (see `crypto.signing_keys`), ledgered; taken back if
    the ledger cannot record it, so no key signs unannounced."""
    now = c.clock()
    rollover = roll_signing_key(c.settings.effective_ledger_key_file, now, start)
    reason = (
        f"new signing key {rollover.new_vkey} signs checkpoints from "
        f"{rollover.start.isoformat()}; until then checkpoints carry the signatures of both "
        f"it and {rollover.old_vkey}; every key stays listed at /v1/ledger/keys"
    )
    kid = rollover.new_vkey.split("+")[1]
    try:
        OutcomeRecorder(c.gate).record(
            by,
            Action.CREATE,
            Resource(ResourceKind.LEDGER, f"signing-key/{kid}"),
            Outcome.LEDGER_KEY_ROLLED,
            reason,
        )
    except BaseException:
        rollover.undo()
        raise
    return rollover


def _key(kind: KeyKind, kid: str, path: Path, content: bytes) -> BackedUpKey:
    return BackedUpKey(kind, kid, path.name, content)


def _read(path: Path) -> bytes:
    return read_private_file(path, "key file", _MAX_FILE)


def _signing_id(raw: bytes) -> str:
    try:
        signer: NoteSigner = parse_key_file(raw)
    except ValueError as exc:
        raise InvalidInput("ledger key", f"not a note key: {exc}") from None
    return signer.key_id.hex()


def _first_signing_key(backup: KeyBackup) -> str | None:
    """The key id of the log's first signing key in `backup`: the first line of its history,
    else its only signing key. TamperDetected when the backup's signing keys do not fit."""
    signing = [k.key_id for k in backup.keys if k.kind is KeyKind.SIGNING]
    histories = [k for k in backup.keys if k.kind is KeyKind.SIGNING_HISTORY]
    if not histories:
        if len(signing) > 1:
            raise TamperDetected("the backup holds several signing keys but no key history")
        return signing[0] if signing else None
    try:
        periods = parse_history(histories[-1].content.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TamperDetected(f"the backup's signing key history is damaged: {exc}") from None
    listed = {p.key_id_hex for p in periods}
    if stray := [kid for kid in signing if kid not in listed]:
        raise TamperDetected(f"the backup's signing keys {', '.join(stray)} are not in its history")
    return periods[0].key_id_hex


def _check(key: BackedUpKey) -> None:
    """The bytes of `key` are the key its id and kind name (the backup authenticated both;
    this catches a backup written by a buggy or foreign tool)."""
    try:
        if key.kind in (KeyKind.MASTER, KeyKind.PREVIOUS_MASTER):
            ok = master_key_from_file_bytes(key.content).kek_id == key.key_id
        elif key.kind is KeyKind.INDEX:
            ok = key_id(index_key_from_file_bytes(key.content)) == key.key_id
        elif key.kind is KeyKind.SIGNING:
            ok = parse_key_file(key.content).key_id.hex() == key.key_id
        else:
            ok = len(parse_history(key.content.decode("ascii"))) == int(key.key_id)
    except (EntrustedError, ValueError) as exc:
        raise TamperDetected(
            f"the backup's {key.kind} key {key.key_id} is damaged: {exc}"
        ) from None
    if not ok:
        raise TamperDetected(f"the backup's {key.kind} key is not the key {key.key_id}")


def _from_environment(settings: Settings, kind: KeyKind) -> bool:
    return (kind is KeyKind.MASTER and bool(settings.master_key)) or (
        kind is KeyKind.INDEX and bool(settings.index_key)
    )


def _check_environment(settings: Settings, backup: KeyBackup) -> None:
    for key in backup.keys:
        if key.kind is KeyKind.MASTER and settings.master_key:
            env_id = master_key_from_base64(settings.master_key).kek_id
        elif key.kind is KeyKind.INDEX and settings.index_key:
            env_id = key_id(index_key_from_base64(settings.index_key))
        else:
            continue
        if env_id != key.key_id:
            raise Conflict(
                f"the environment gives {key.kind} key {env_id}, the backup {key.key_id}"
            )
