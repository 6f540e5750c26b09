"""The dummy hash that unknown accounts are checked against: a literal (no argon2 at import),
yet exactly as costly to verify as a real password hash."""

from __future__ import annotations

import subprocess
import sys

import pytest
from argon2 import extract_parameters

from entrusted.crypto.secrets import DUMMY_PASSWORD_HASH, hash_password, verify_password

pytestmark = pytest.mark.promise("P2")


def test_dummy_hash_has_the_hashers_parameters() -> None:
    """If the hasher's profile changes, the dummy must be regenerated, or an unknown username
    would answer faster (or slower) than a known one."""
    assert extract_parameters(DUMMY_PASSWORD_HASH) == extract_parameters(hash_password("x"))
    assert verify_password(DUMMY_PASSWORD_HASH, "entrusted-dummy-password")


def test_importing_the_cli_hashes_nothing() -> None:
    """Every CLI call (even `--version`) paid one argon2 hash at import: none may run now."""
    probe = (
        "import argon2\n"
        "calls = []\n"
        "real = argon2.PasswordHasher.hash\n"
        "def count(self, *a, **k):\n"
        "    calls.append(1)\n"
        "    return real(self, *a, **k)\n"
        "argon2.PasswordHasher.hash = count\n"
        "import entrusted.entrypoints.cli.main, entrusted.bootstrap\n"
        "print(len(calls))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "0"
