"""Ed25519 cosignatures (C2SP tlog-cosignature v1): a witness signs, a log or customer checks.

The witness key file follows the log's key-file conventions (`crypto.keyfiles`: created
atomically with mode 0600, never overwritten, refused when others can read it) in the same
`PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>` text, with type 0x04: the key ID of a
cosigner is computed with 0x04, so a log key can never be mistaken for a witness key (or the
other way round) by a tool reading the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from entrusted.crypto.keyfiles import create_private_file, read_private_file
from entrusted.domain.checkpoint import (
    NoteSignature,
    VerifierKey,
    b64decode_strict,
    b64encode,
    check_key_name,
    format_vkey,
    key_id,
    parse_signed_note,
    parse_vkey,
)
from entrusted.domain.cosignature import (
    SIG_TYPE_COSIGNATURE_V1,
    TIMESTAMP_SIZE,
    cosigned_message,
    split_timestamped,
)
from entrusted.errors import InvalidInput

_SKEY_PREFIX = "PRIVATE+KEY+"
_KEY_FIELD = "witness key"


class Cosigner:
    """A witness's key: signs `cosignature/v1` messages over checkpoint bodies.

    >>> w = Cosigner.generate("witness.example.com/w1")
    >>> body = "example.com/log\\n0\\n" + "A" * 43 + "=\\n"
    >>> line = w.cosign(body, 1700000000)
    >>> verified_cosigners(body + "\\n" + line, body, [w.vkey])
    {'witness.example.com/w1': 1700000000}
    """

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self._name = name
        self._key = private_key
        self._public = private_key.public_key().public_bytes_raw()
        self._key_id = key_id(name, SIG_TYPE_COSIGNATURE_V1, self._public)

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def name(self) -> str:
        return self._name

    @property
    def vkey(self) -> str:
        return format_vkey(self._name, SIG_TYPE_COSIGNATURE_V1, self._public)

    def cosign(self, checkpoint_body: str, timestamp: int) -> str:
        """One note signature line: `— <name> base64(key ID || time || signature)`."""
        signature = self._key.sign(cosigned_message(checkpoint_body, timestamp))
        blob = timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signature
        return NoteSignature(self._name, self._key_id, blob).line()

    def skey(self) -> str:
        seed = self._key.private_bytes_raw()
        payload = b64encode(bytes([SIG_TYPE_COSIGNATURE_V1]) + seed)
        return f"{_SKEY_PREFIX}{self._name}+{self._key_id.hex()}+{payload}"


def parse_witness_vkey(text: str) -> VerifierKey:
    """A witness vkey (type 0x04, 32-byte Ed25519 key); InvalidInput otherwise."""
    try:
        vkey = parse_vkey(text.strip())
    except ValueError as exc:
        raise InvalidInput("witness vkey", str(exc)) from None
    if vkey.key_type != SIG_TYPE_COSIGNATURE_V1 or len(vkey.public_key) != 32:
        raise InvalidInput("witness vkey", "not an Ed25519 cosignature/v1 key (type 0x04)")
    return vkey


def verified_cosigners(
    note_text: str, checkpoint_body: str, witness_vkeys: Sequence[str]
) -> dict[str, int]:
    """{witness name: cosignature time} for each trusted witness whose cosignature on
    `checkpoint_body` is in `note_text` and verifies. Lines from unknown keys are ignored (the
    spec requires it); a line that claims a trusted key but fails does not count."""
    keys = {(v.name, v.key_id): v for v in map(parse_witness_vkey, witness_vkeys)}
    try:
        _, signatures = parse_signed_note(note_text)
    except ValueError:
        return {}
    found: dict[str, int] = {}
    for sig in signatures:
        vkey = keys.get((sig.name, sig.key_id))
        if vkey is None:
            continue
        try:
            timestamp, raw = split_timestamped(sig.signature)
            message = cosigned_message(checkpoint_body, timestamp)
            Ed25519PublicKey.from_public_bytes(vkey.public_key).verify(raw, message)
        except (ValueError, InvalidSignature):
            continue
        found[vkey.name] = timestamp
    return found


def generate_witness_key_file(path: Path, name: str) -> str:
    """Create a witness key at `path` (mode 0600, never overwriting); return its vkey."""
    try:
        check_key_name(name)
    except ValueError as exc:
        raise InvalidInput("witness name", str(exc)) from None
    cosigner = Cosigner.generate(name)
    create_private_file(path, (cosigner.skey() + "\n").encode("ascii"), _KEY_FIELD)
    return cosigner.vkey


def load_cosigner(path: Path) -> Cosigner:
    """The witness key at `path`; InvalidInput if missing, garbled or readable by others.
    Messages never quote the file: it is the private key."""
    raw = read_private_file(path, _KEY_FIELD, 4096)
    try:
        return _parse_skey(raw.decode("ascii").removesuffix("\n"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput(_KEY_FIELD, f"key file {path} is not a witness key") from None


def _parse_skey(text: str) -> Cosigner:
    if not text.startswith(_SKEY_PREFIX):
        raise ValueError("no PRIVATE+KEY+ prefix")
    name, kid_hex, encoded = text[len(_SKEY_PREFIX) :].split("+", 2)
    check_key_name(name)
    payload = b64decode_strict(encoded)
    if len(payload) != 33 or payload[0] != SIG_TYPE_COSIGNATURE_V1:
        raise ValueError("not an Ed25519 cosignature key")
    cosigner = Cosigner(name, Ed25519PrivateKey.from_private_bytes(payload[1:]))
    if cosigner.vkey.split("+")[1] != kid_hex:
        raise ValueError("key ID does not match the key")
    return cosigner
