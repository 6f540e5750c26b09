"""The key backup file: Entrusted's keys sealed under a passphrase (scrypt + AES-256-GCM).

Why its own format rather than a tarball through gpg: restoring must need nothing but this
package and the passphrase, on a machine that has nothing else yet, and the file must say
which keys it holds (kinds and ids, never material) without the passphrase, so an operator can
tell backups apart. The passphrase is NFC-normalised (Unicode) before scrypt, so "café"
typed as one code point or as "e" + combining accent opens the same backup. Why scrypt: a
passphrase is weak next to a 256-bit key, so each guess must cost memory and time; N = 2^17,
r = 8, p = 1 takes 128 MiB and about a second per guess (OWASP's minimum is N = 2^17). The
parameters are in the header, so a later version can raise them and still read this one.

Layout (ASCII, three lines):

    entrusted-key-backup v1
    {"kdf": {"name": "scrypt", "n": 131072, "r": 8, "p": 1, "salt": ...}, "nonce": ...,
     "check": ..., "created": ..., "keys": [{"kind": "master", "id": "66687aad", ...}]}
    <base64 of AES-256-GCM(key, nonce, payload, AD = the first two lines, newlines included)>

scrypt yields 64 bytes: the first 32 are the AES key, the last 32 key an HMAC-SHA256 of a
fixed label, stored as `check`. The check tells a wrong passphrase (InvalidInput) from an
altered file (TamperDetected: the header, key list included, is the associated data, and the
payload repeats the list) without revealing anything that speeds up guessing. The payload is
JSON: each key file's exact bytes, so a restore writes back what `init` wrote.

```python
sealed = seal([BackedUpKey(KeyKind.INDEX, "1a2b3c4d", "index.key", b"...")], "correct horse", now)
assert unseal(sealed, "correct horse").keys[0].kind is KeyKind.INDEX
```
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from entrusted.errors import InvalidInput, TamperDetected

MAGIC = "entrusted-key-backup v1"
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
_MAX_SCRYPT_N = 2**20  # a tampered header must not make us allocate gigabytes
MIN_PASSPHRASE = 12
MAX_BACKUP_BYTES = 1 << 20
_CHECK_LABEL = b"entrusted-key-backup-passphrase-check"
_FIELD = "key backup"


class KeyKind(StrEnum):
    MASTER = "master"  # the current master key (KEK)
    PREVIOUS_MASTER = "previous-master"  # an old one still on the keyring during a rotation
    INDEX = "index"  # the blind-index key
    SIGNING = "signing"  # a ledger signing key (the first, or one from a rollover)
    SIGNING_HISTORY = "signing-history"  # the signing keys' history (public; needed to sign)


@dataclass(frozen=True, repr=False)
class BackedUpKey:
    """One key file: its kind, public id, file name and exact bytes. `repr` omits the bytes."""

    kind: KeyKind
    key_id: str
    name: str
    content: bytes

    def __repr__(self) -> str:
        return f"BackedUpKey({self.kind}, {self.key_id}, {self.name})"


@dataclass(frozen=True)
class KeyBackup:
    created: datetime
    keys: tuple[BackedUpKey, ...]


def seal(keys: list[BackedUpKey], passphrase: str, created: datetime) -> bytes:
    """The backup file's bytes for `keys`. InvalidInput for a passphrase under 12 characters."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput("passphrase", f"must be at least {MIN_PASSPHRASE} characters")
    salt, nonce = os.urandom(16), os.urandom(12)
    aes_key, check = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    header = {
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
        "cipher": "AES-256-GCM",
        "nonce": _b64(nonce),
        "check": _b64(check),
        "created": created.isoformat(),
        "keys": [_listing(k) for k in keys],
    }
    head = f"{MAGIC}\n{json.dumps(header, sort_keys=True)}\n".encode("ascii")
    payload = json.dumps(
        {"keys": [{**_listing(k), "content": _b64(k.content)} for k in keys]}, sort_keys=True
    ).encode("ascii")
    sealed = AESGCM(aes_key).encrypt(nonce, payload, head)
    return head + base64.b64encode(sealed) + b"\n"


def unseal(data: bytes, passphrase: str) -> KeyBackup:
    """The keys in a backup file. InvalidInput when it is not one or the passphrase is wrong;
    TamperDetected when it was altered after it was written."""
    head, header, sealed = _split(data)
    kdf = header["kdf"]
    try:
        salt, nonce, check = _unb64(kdf["salt"]), _unb64(header["nonce"]), _unb64(header["check"])
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TamperDetected(f"the key backup's header is damaged: {exc}") from None
    if kdf.get("name") != "scrypt" or not (2**14 <= n <= _MAX_SCRYPT_N) or r != 8 or p != 1:
        raise TamperDetected("the key backup names key-derivation parameters it never uses")
    if n & (n - 1):
        raise TamperDetected("the key backup names a scrypt cost that is not a power of two")
    aes_key, expected = _derive(passphrase, salt, n, r, p)
    if not hmac.compare_digest(check, expected):
        raise InvalidInput("passphrase", "wrong passphrase for this key backup")
    try:
        payload = json.loads(AESGCM(aes_key).decrypt(nonce, sealed, head))
        keys = tuple(
            BackedUpKey(KeyKind(k["kind"]), k["id"], k["name"], _unb64(k["content"]))
            for k in payload["keys"]
        )
        created = datetime.fromisoformat(header["created"])
    except InvalidTag:
        raise TamperDetected("the key backup file has been altered since it was written") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise TamperDetected(f"the key backup's content is damaged: {exc}") from None
    if [_listing(k) for k in keys] != header.get("keys"):
        raise TamperDetected("the key backup's key list does not match its content")
    return KeyBackup(created, keys)


def describe(data: bytes) -> list[dict[str, str]]:
    """The key list of a backup, read without the passphrase (unauthenticated until `unseal`).
    TamperDetected when the header has no key list."""
    keys = _split(data)[1].get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise TamperDetected("the key backup's header has no key list")
    return list(keys)


def _split(data: bytes) -> tuple[bytes, dict[str, Any], bytes]:
    if len(data) > MAX_BACKUP_BYTES:
        raise InvalidInput(_FIELD, "the file is too large to be an Entrusted key backup")
    lines = data.split(b"\n")
    if len(lines) < 3 or lines[0] != MAGIC.encode("ascii"):
        raise InvalidInput(_FIELD, "the file is not an Entrusted key backup (v1)")
    try:
        header = json.loads(lines[1])
        sealed = base64.b64decode(lines[2], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise TamperDetected(f"the key backup is damaged: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("kdf"), dict):
        raise TamperDetected("the key backup's header is damaged")
    return lines[0] + b"\n" + lines[1] + b"\n", header, sealed


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    """The AES key and the passphrase check. The passphrase is NFC-normalised first, so the
    same words typed on keyboards or systems that compose accents differently open it."""
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    out = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(secret)
    return out[:32], hmac.digest(out[32:], _CHECK_LABEL, hashlib.sha256)


def _listing(key: BackedUpKey) -> dict[str, str]:
    return {"kind": key.kind.value, "id": key.key_id, "name": key.name}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("not base64 text")
    return base64.b64decode(text, validate=True)
