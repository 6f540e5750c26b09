"""Ed25519 signing and verification of checkpoints, and the log's private key file.

C2SP tlog-tiles requires an Ed25519 signature on a public log's checkpoint, so that is what
witnesses and customers check. The key file uses Go's sumdb/note private-key text,
`PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>`, because it carries the key
name and can be used unchanged by Go note tooling. The file is the log's identity: if it leaks,
anyone can sign a forged history. So it is created atomically with mode 0600, never
overwritten, and refused when group or others can read it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from entrusted.crypto.keyfiles import create_private_file, fsync_dir, read_private_file, write_all
from entrusted.domain.checkpoint import (
    SIG_TYPE_ED25519,
    Checkpoint,
    b64decode_strict,
    b64encode,
    check_key_name,
    format_signed_note,
    format_vkey,
    key_id,
    parse_checkpoint_body,
    parse_signed_note,
    parse_vkey,
)
from entrusted.errors import InvalidInput, TamperDetected

_SKEY_PREFIX = "PRIVATE+KEY+"
_KEY_FIELD = "ledger key"
_MAX_KEY_FILE = 4096


class Signer(Protocol):
    """What signs the log's notes: one key (`NoteSigner`) or the log's keys over time
    (`crypto.signing_keys.RollingSigner`, after a rollover)."""

    @property
    def name(self) -> str: ...
    @property
    def vkey(self) -> str:
        """The key that signs now."""
        ...

    @property
    def key_list(self) -> str:
        """Every published key, one per line, retired ones with `until=<size>` (what
        verifiers need; `parse_key_list`)."""
        ...

    def sign_note(self, text: str) -> str: ...
    def sign_checkpoint(self, cp: Checkpoint) -> str: ...


class NoteSigner:
    """Signs checkpoints as the named log (key name = checkpoint origin, by convention).

    >>> signer = NoteSigner.generate("audit.example.com/staff-access")
    >>> cp = Checkpoint("audit.example.com/staff-access", 0, bytes(32))
    >>> verify_note(signer.sign_checkpoint(cp), signer.vkey) == cp
    True
    """

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self._name = name
        self._key = private_key
        self._public = private_key.public_key().public_bytes_raw()
        self._key_id = key_id(name, SIG_TYPE_ED25519, self._public)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        """From the 32-byte RFC 8032 private key (what the key file stores)."""
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def public_key_bytes(self) -> bytes:
        return self._public

    @property
    def seed(self) -> bytes:
        """The 32-byte private key (for its key file and the key backup only)."""
        return self._key.private_bytes_raw()

    @property
    def vkey(self) -> str:
        return format_vkey(self._name, SIG_TYPE_ED25519, self._public)

    @property
    def key_list(self) -> str:
        """Every key a verifier of this log needs (one vkey per line): here, just this one."""
        return self.vkey

    def signature(self, text: str) -> tuple[str, bytes]:
        """This key's signature line over `text`, as `format_signed_note` takes it."""
        return (self._name, self._key_id + self._key.sign(text.encode("utf-8")))

    def sign_note(self, text: str) -> str:
        """A signed note over arbitrary note text (which must end in a newline)."""
        return format_signed_note(text, [self.signature(text)])

    def sign_checkpoint(self, cp: Checkpoint) -> str:
        return self.sign_note(cp.body())

    def __repr__(self) -> str:
        return f"NoteSigner({self._name}+{self._key_id.hex()})"


@dataclass(frozen=True)
class ListedKey:
    """One line of a published key list: a vkey, and for a retired key `until`, the largest
    tree size it may sign (None: no limit, a current key)."""

    vkey: str
    until: int | None = None


def parse_key_list(vkeys: str) -> tuple[ListedKey, ...]:
    """The keys of a published key list, the text served at `/v1/ledger/keys`: one key per
    line (blank lines ignored), `<vkey>` for a current key and `<vkey> until=<size>` for a
    retired one (docs/keys.md). A single vkey is a key list of one."""
    keys = []
    for line in vkeys.splitlines():
        fields = line.split()
        if not fields:
            continue
        until = None
        if len(fields) > 2 or (len(fields) == 2 and not fields[1].startswith("until=")):
            raise InvalidInput("ledger vkey", "a key list line is `<vkey> [until=<size>]`")
        if len(fields) == 2:
            digits = fields[1].removeprefix("until=")
            if not digits.isascii() or not digits.isdigit() or len(digits) > 20:
                raise InvalidInput("ledger vkey", f"until={digits!r} is not a tree size")
            until = int(digits)
        keys.append(ListedKey(fields[0], until))
    if not keys:
        raise InvalidInput("ledger vkey", "no verifier key given")
    return tuple(keys)


def key_list(vkeys: str) -> tuple[str, ...]:
    """The vkeys of a published key list (see `parse_key_list`), without their limits."""
    return tuple(k.vkey for k in parse_key_list(vkeys))


def log_origin(vkeys: str) -> str:
    """The log a vkey or key list belongs to (its key name); InvalidInput when malformed or
    when the keys name different logs."""
    try:
        names = {parse_vkey(text).name for text in key_list(vkeys)}
    except ValueError as exc:
        raise InvalidInput("ledger vkey", str(exc)) from None
    if len(names) != 1:
        raise InvalidInput("ledger vkey", "the keys belong to different logs")
    return names.pop()


def verify_note(note_text: str, vkey: str, *, origin: str | None = None) -> Checkpoint:
    """The checkpoint in `note_text` if a key of `vkey` signed it; TamperDetected otherwise.

    `vkey` is one vkey or the log's key list (one per line, see `key_list`): after a signing
    key rollover, old checkpoints carry only the old key's signature and new ones only the
    new key's, and each note's key id picks its key. Signatures by unlisted keys are ignored,
    as signed-note requires (they may be witnesses); a signature that claims to be by a
    listed key but fails is tampering. With `origin`, the checkpoint must also name that log.
    A retired key (`until=<size>` in the list) vouches only for checkpoints up to that size:
    one signed by retired keys alone that is larger is refused, so a leaked old key cannot
    sign the log's future. A malformed `vkey` is InvalidInput: it is configuration, not
    evidence.
    """
    body, signed_by = _verify_signatures(note_text, vkey)
    try:
        checkpoint = parse_checkpoint_body(body)
    except ValueError as exc:
        raise TamperDetected(f"signed note is not a checkpoint: {exc}") from exc
    limits = [k.until for k in signed_by if k.until is not None]
    if len(limits) == len(signed_by) and checkpoint.size > max(limits):
        raise TamperDetected(
            f"checkpoint of size {checkpoint.size} is signed only by key(s) retired at size "
            f"{max(limits)}: a retired key cannot sign a larger tree"
        )
    if origin is not None and checkpoint.origin != origin:
        raise TamperDetected(f"checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


def verify_note_body(note_text: str, vkey: str) -> str:
    """The body of `note_text` if at least one key of `vkey` (a vkey or a key list) signed it
    and no listed key's signature on it fails; TamperDetected otherwise."""
    return _verify_signatures(note_text, vkey)[0]


def _verify_signatures(note_text: str, vkey: str) -> tuple[str, list[ListedKey]]:
    """`verify_note_body`, also returning the listed keys whose signatures verified."""
    verifiers = {}
    listed = {}
    for entry in parse_key_list(vkey):
        try:
            name, kid, key_type, public = parse_vkey(entry.vkey)
        except ValueError as exc:
            raise InvalidInput("ledger vkey", str(exc)) from exc
        if key_type != SIG_TYPE_ED25519:
            raise InvalidInput("ledger vkey", f"signature type {key_type} is not Ed25519")
        try:
            verifiers[(name, kid)] = Ed25519PublicKey.from_public_bytes(public)
        except ValueError as exc:
            raise InvalidInput("ledger vkey", "not a valid Ed25519 public key") from exc
        listed[(name, kid)] = entry
    try:
        body, signatures = parse_signed_note(note_text)
    except ValueError as exc:
        raise TamperDetected(f"malformed signed note: {exc}") from exc
    verified: list[ListedKey] = []
    for sig in signatures:
        verifier = verifiers.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        try:
            verifier.verify(sig.signature, body.encode("utf-8"))
        except InvalidSignature as exc:
            raise TamperDetected(f"bad signature by {sig.name}+{sig.key_id.hex()}") from exc
        verified.append(listed[(sig.name, sig.key_id)])
    if not verified:
        names = ", ".join(f"{name}+{kid.hex()}" for name, kid in verifiers)
        raise TamperDetected(f"note carries no signature by {names}")
    return body, verified


def _format_skey(signer: NoteSigner, seed: bytes) -> str:
    payload = b64encode(bytes([SIG_TYPE_ED25519]) + seed)
    return f"{_SKEY_PREFIX}{signer.name}+{signer.key_id.hex()}+{payload}"


def _parse_skey(text: str) -> NoteSigner:
    if not text.startswith(_SKEY_PREFIX):
        raise ValueError("no PRIVATE+KEY+ prefix")
    parts = text[len(_SKEY_PREFIX) :].split("+", 2)  # base64 may itself contain '+'
    if len(parts) != 3:
        raise ValueError("expected <name>+<key id>+<key>")
    name, kid_hex, encoded = parts
    try:
        check_key_name(name)
    except ValueError:
        raise ValueError("invalid key name") from None  # do not echo: it may be key material
    payload = b64decode_strict(encoded)
    if len(payload) != 33 or payload[0] != SIG_TYPE_ED25519:
        raise ValueError("not an Ed25519 key")
    signer = NoteSigner.from_seed(name, payload[1:])
    if signer.key_id.hex() != kid_hex:
        raise ValueError("key ID does not match the key")
    return signer


def generate_key_file(path: Path, name: str) -> str:
    """Create a new signing key at `path` (mode 0600) and its vkey at `<path>.pub`.

    Returns the vkey. Conflict if `path` exists: replacing a log's key silently would orphan
    every checkpoint signed so far. The key appears under `path` complete or not at all: it is
    written to a private temporary file and hard-linked into place, which fails if taken.
    """
    try:
        check_key_name(name)
    except ValueError as exc:
        raise InvalidInput("ledger key name", str(exc)) from exc
    return write_key_file(path, NoteSigner(name, Ed25519PrivateKey.generate()))


def write_key_file(path: Path, signer: NoteSigner) -> str:
    """Store `signer` at `path` (0600, never over an existing file) and its vkey at
    `<path>.pub`; returns the vkey."""
    create_private_file(path, key_file_content(signer), _KEY_FIELD)
    _write_public(Path(f"{path}.pub"), signer.vkey + "\n")
    return signer.vkey


def key_file_content(signer: NoteSigner) -> bytes:
    """The bytes of `signer`'s key file (the private key: handle as such)."""
    return (_format_skey(signer, signer.seed) + "\n").encode("ascii")


def parse_key_file(raw: bytes) -> NoteSigner:
    """The signer in a key file's bytes; ValueError (never quoting them) if they are not one."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("not a note key (not ASCII)") from None
    return _parse_skey(text.removesuffix("\n"))


def _write_public(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        try:
            write_all(fd, text.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def load_signer(path: Path) -> NoteSigner:
    """The signer stored at `path`; InvalidInput if missing, garbled or readable by others."""
    raw = read_private_file(path, _KEY_FIELD, _MAX_KEY_FILE)
    try:
        return parse_key_file(raw)
    except ValueError as exc:
        # Our reasons never quote the content (it is the private key), so they are safe to show.
        raise InvalidInput(
            _KEY_FIELD, f"key file {path} is not a valid Ed25519 note key: {exc}"
        ) from None
