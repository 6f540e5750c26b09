"""The log's signing keys over time: the key history file and signing-key rollover.

A log keeps one identity (its origin, the key name) but may change its Ed25519 key: because
one leaked or because keys should not live forever. C2SP signed notes carry a key id in each
signature line, so a verifier holding the log's *key list* picks the right key for every
checkpoint, old or new; nothing already signed has to be re-signed.

Files, beside the first key (`ledger_key_file`, by default `ledger.key` in the data dir):

- `<stem>.keys`, the key history, written on the first rollover (mode 0600, replaced
  atomically): one line per key, ``<from, ISO 8601 UTC> <vkey> [until=<size>]``, in order.
  The first key's line carries `EPOCH`. Its keys are the published key list (`key_list`).
- `<stem>-<key id hex>.key` (+ `.pub`): each later key, a note key file like the first.

At any time `now`, the *active* key is the last one whose `from` has passed; a key whose `from`
is still ahead is *announced*. Checkpoints are signed by the active key and co-signed by the
announced one (the overlap), so a witness that knows only the old key keeps verifying them,
and one that has learnt the new key from the ledgered rollover entry can switch before the
old key stops signing. Once `from` passes only the new key signs. Retired keys stay listed
(old checkpoints still verify); their private files may then be destroyed.

A retired key must not vouch for the log's future (its private half may leak once nobody
guards it), so the first checkpoint the new key signs alone also *retires* the old key: before
that note is returned, the history gets ``until=<size>`` on the old key's line, that
checkpoint's size. The log only grows and checkpoints are signed one at a time, so every
checkpoint the old key signed is at most that large and keeps verifying; verifiers given the
list (`crypto.signing.verify_note`) refuse a larger one signed by retired keys alone. If the
history cannot be written, nothing is signed (fail closed).

`load_log_signer` returns a `LogSigner`, which looks at the history file before every use and
reloads it when it changed, so a long-running serve or worker follows a rollover made by
`entrusted keys rollover` without a restart, and decides by the clock at each signing.

```python
signer = load_log_signer(Path("data/ledger.key"), clock)   # follows the history file
rollover = roll_signing_key(Path("data/ledger.key"), now, start=now + DEFAULT_OVERLAP)
```
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from entrusted.crypto.keyfiles import fsync_dir, read_private_file, write_all
from entrusted.crypto.signing import NoteSigner, Signer, load_signer, write_key_file
from entrusted.domain.checkpoint import Checkpoint, format_signed_note, parse_vkey
from entrusted.errors import Conflict, InvalidInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the `from` of a log's first key
DEFAULT_OVERLAP = timedelta(days=7)  # how long both keys sign when `--from` is not given
_FIELD = "ledger key history"
_HEADER = "# Entrusted ledger signing keys: <from, ISO 8601 UTC> <vkey>, oldest first\n"
_MAX_HISTORY = 64 << 10


@dataclass(frozen=True)
class KeyPeriod:
    """One line of the history: `vkey` signs checkpoints from `start` on; once retired, of
    tree sizes up to `until` only."""

    start: datetime
    vkey: str
    until: int | None = None

    @property
    def listed(self) -> str:
        """This key's line in the published key list."""
        return self.vkey if self.until is None else f"{self.vkey} until={self.until}"

    @property
    def key_id_hex(self) -> str:
        return parse_vkey(self.vkey).key_id.hex()


def history_path(key_file: Path) -> Path:
    return key_file.with_name(f"{key_file.stem}.keys")


def later_key_path(key_file: Path, key_id_hex: str) -> Path:
    return key_file.with_name(f"{key_file.stem}-{key_id_hex}.key")


def rollover_files(key_file: Path) -> list[Path]:
    """The history and the later keys' private files beside `key_file` (for mode checks)."""
    history = history_path(key_file)
    return [history, *sorted(key_file.parent.glob(f"{key_file.stem}-*.key"))]


def read_history(key_file: Path) -> list[KeyPeriod] | None:
    """The key history next to `key_file`; None when the log was never rolled over."""
    path = history_path(key_file)
    if not path.exists():
        return None
    raw = read_private_file(path, _FIELD, _MAX_HISTORY)
    try:
        return parse_history(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(_FIELD, f"{path} is not a key history: {exc}") from None


def parse_history(text: str) -> list[KeyPeriod]:
    periods = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(" ")
        if len(fields) not in (2, 3):
            raise ValueError("a line is `<from> <vkey> [until=<size>]`")
        start = datetime.fromisoformat(fields[0])
        if start.tzinfo is None:
            raise ValueError(f"time {fields[0]} has no time zone")
        parse_vkey(fields[1])
        until = None
        if len(fields) == 3:
            digits = fields[2].removeprefix("until=")
            if fields[2] == digits or not digits.isascii() or not digits.isdigit():
                raise ValueError(f"{fields[2]!r} is not until=<size>")
            until = int(digits)
        periods.append(KeyPeriod(start, fields[1], until))
    if not periods:
        raise ValueError("no keys")
    if any(a.start > b.start for a, b in pairwise(periods)):
        raise ValueError("keys are not in order of their start")
    if len({parse_vkey(p.vkey).name for p in periods}) != 1:
        raise ValueError("keys of different logs (key names)")
    if periods[-1].until is not None:
        raise ValueError("the newest key cannot be retired")
    return periods


def format_history(periods: list[KeyPeriod]) -> str:
    return _HEADER + "".join(f"{p.start.isoformat()} {p.listed}\n" for p in periods)


class RollingSigner:
    """Signs as the log with the key(s) the history names for the current time (see module
    doc); implements `crypto.signing.Signer`."""

    def __init__(
        self,
        periods: list[KeyPeriod],
        signers: dict[str, NoteSigner],
        clock: Callable[[], datetime],
        key_file: Path | None = None,
    ) -> None:
        self._periods = periods
        self._signers = signers
        self._clock = clock
        self._key_file = key_file  # where retirements are recorded (None: in memory only)
        self._name = parse_vkey(periods[0].vkey).name

    def _wanted(self) -> list[KeyPeriod]:
        """The active key, then any announced one: the keys that sign a note made now."""
        now = self._clock()
        started = [p for p in self._periods if p.start <= now] or self._periods[:1]
        return [started[-1], *(p for p in self._periods if p.start > now)]

    def _signing_now(self) -> list[NoteSigner]:
        wanted = self._wanted()
        missing = [p.key_id_hex for p in wanted if p.key_id_hex not in self._signers]
        if missing:
            raise InvalidInput(
                "ledger key",
                f"the private key file of ledger key(s) {', '.join(missing)} is missing",
            )
        return [self._signers[p.key_id_hex] for p in wanted]

    @property
    def name(self) -> str:
        return self._name

    @property
    def vkey(self) -> str:
        return self._signing_now()[0].vkey

    @property
    def key_list(self) -> str:
        return "\n".join(p.listed for p in self._periods)

    @property
    def periods(self) -> list[KeyPeriod]:
        return list(self._periods)

    def sign_note(self, text: str) -> str:
        return format_signed_note(text, [s.signature(text) for s in self._signing_now()])

    def sign_checkpoint(self, cp: Checkpoint) -> str:
        """Sign `cp`; when the new key signs it alone, first retire the keys before it at
        `cp.size` (module doc). Raises, signing nothing, if that cannot be recorded."""
        signers = self._signing_now()
        wanted = self._wanted()
        if len(wanted) == 1:
            active = self._periods.index(wanted[0])
            if any(p.until is None for p in self._periods[:active]):
                self._retire(active, cp.size)
        text = cp.body()
        return format_signed_note(text, [s.signature(text) for s in signers])

    def _retire(self, active: int, size: int) -> None:
        """Record `until=size` for the keys before `active` that have none yet (in the history
        file first, when there is one: another signer may already have recorded it)."""
        periods = self._periods
        if self._key_file is not None:
            periods = read_history(self._key_file) or periods
            if [p.vkey for p in periods] != [p.vkey for p in self._periods]:
                raise InvalidInput(_FIELD, "the key history changed while signing; try again")
        retired = [
            replace(p, until=size) if n < active and p.until is None else p
            for n, p in enumerate(periods)
        ]
        if retired != periods and self._key_file is not None:
            _replace_private(history_path(self._key_file), format_history(retired))
        self._periods = retired

    def __repr__(self) -> str:
        return f"RollingSigner({self._name}, {len(self._periods)} keys)"


class LogSigner:
    """The log's signer as the files say now: before every use it checks whether the key
    history changed (a rollover, a retirement by another process) and reloads it; a reload
    that fails raises and signs nothing (fail closed). Implements `crypto.signing.Signer`."""

    def __init__(self, key_file: Path, clock: Callable[[], datetime]) -> None:
        self._key_file = key_file
        self._clock = clock
        self._stamp: tuple[int, int, int] | None = None
        self._signer: Signer | None = None
        self.current  # noqa: B018 - fail at start-up, not at the first checkpoint

    @property
    def current(self) -> Signer:
        """The signer the files name now: a `NoteSigner` or a `RollingSigner`."""
        try:
            st = history_path(self._key_file).stat()
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if self._signer is None or stamp != self._stamp:
            self._signer = None
            self._signer = _load(self._key_file, self._clock)
            self._stamp = stamp
        return self._signer

    @property
    def name(self) -> str:
        return self.current.name

    @property
    def vkey(self) -> str:
        return self.current.vkey

    @property
    def key_list(self) -> str:
        return self.current.key_list

    def sign_note(self, text: str) -> str:
        return self.current.sign_note(text)

    def sign_checkpoint(self, cp: Checkpoint) -> str:
        return self.current.sign_checkpoint(cp)

    def __repr__(self) -> str:
        return f"LogSigner({self._key_file})"


def load_log_signer(key_file: Path, clock: Callable[[], datetime]) -> LogSigner:
    """The log's signer (`LogSigner`): the key at `key_file` alone until a rollover wrote a
    history, then a `RollingSigner` over every key whose private file is still there.
    InvalidInput when a key file does not match the history, or a key needed now or later is
    missing."""
    return LogSigner(key_file, clock)


def _load(key_file: Path, clock: Callable[[], datetime]) -> Signer:
    periods = read_history(key_file)
    if periods is None:
        return load_signer(key_file)
    signers: dict[str, NoteSigner] = {}
    for n, period in enumerate(periods):
        path = key_file if n == 0 else later_key_path(key_file, period.key_id_hex)
        if not path.exists():
            continue  # a retired key whose private half was destroyed: still listed
        signer = load_signer(path)
        if signer.vkey != period.vkey:
            raise InvalidInput(_FIELD, f"key file {path} does not hold the key its history lists")
        signers[period.key_id_hex] = signer
    rolling = RollingSigner(periods, signers, clock, key_file)
    rolling.vkey  # noqa: B018 - fail at start-up, not at the first checkpoint, if a key is missing
    return rolling


@dataclass(frozen=True)
class Rollover:
    """A rollover written to disk: `new_vkey` signs from `start`, `old_vkey` until then."""

    old_vkey: str
    new_vkey: str
    start: datetime
    key_path: Path  # the new key's private file
    history_file: Path
    previous_history: str | None  # the history before (None: there was none)

    def undo(self) -> None:
        """Take the rollover back (it could not be ledgered): the old history, no new key."""
        if self.previous_history is None:
            self.history_file.unlink(missing_ok=True)
        else:
            _replace_private(self.history_file, self.previous_history)
        self.key_path.unlink(missing_ok=True)
        Path(f"{self.key_path}.pub").unlink(missing_ok=True)


def roll_signing_key(key_file: Path, now: datetime, start: datetime) -> Rollover:
    """Create a new key that signs from `start` (both keys sign until then) and list it in
    the history. Conflict while another rollover is still announced; InvalidInput for a
    `start` in the past."""
    if start.tzinfo is None:
        raise InvalidInput("from", "give a time zone (or UTC, e.g. 2026-12-01T00:00:00+00:00)")
    if start < now - timedelta(minutes=1):
        raise InvalidInput("from", f"{start.isoformat()} is in the past; a key cannot sign "
                                   "checkpoints already signed")  # fmt: skip
    existing = read_history(key_file)
    previous_text = None if existing is None else format_history(existing)
    periods = existing or [KeyPeriod(EPOCH, load_signer(key_file).vkey)]
    pending = [p for p in periods if p.start > now]
    if pending:
        raise Conflict(
            f"a rollover to key {pending[-1].key_id_hex} is already announced for "
            f"{pending[-1].start.isoformat()}; wait until it takes effect"
        )
    name = parse_vkey(periods[0].vkey).name
    signer = NoteSigner(name, Ed25519PrivateKey.generate())
    path = later_key_path(key_file, signer.key_id.hex())
    write_key_file(path, signer)
    start = max(start, now).astimezone(UTC)
    try:
        _replace_private(
            history_path(key_file), format_history([*periods, KeyPeriod(start, signer.vkey)])
        )
    except BaseException:
        path.unlink(missing_ok=True)
        Path(f"{path}.pub").unlink(missing_ok=True)
        raise
    return Rollover(
        periods[-1].vkey, signer.vkey, start, path, history_path(key_file), previous_text
    )


def _replace_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically with mode 0600 (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            write_all(fd, text.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
