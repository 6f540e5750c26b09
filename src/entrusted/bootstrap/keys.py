"""The registry's keys, loaded on first use."""

from __future__ import annotations

from entrusted.config import Settings
from entrusted.crypto.blind_index import index_key_from_base64, load_index_key_file
from entrusted.crypto.envelope import Keyring, load_master_key_file, master_key_from_base64
from entrusted.crypto.personal import RegistryKeys


class LazyRegistryKeys:
    """The registry's keys, read from their files (or the environment) on first use, so a
    command that never touches customer data needs no key files."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._keys: RegistryKeys | None = None

    def __call__(self) -> RegistryKeys:
        if self._keys is None:
            s = self._settings
            current = (
                master_key_from_base64(s.master_key)
                if s.master_key
                else load_master_key_file(s.effective_master_key_file)
            )
            old = [load_master_key_file(path) for path in s.previous_master_key_files]
            index = (
                index_key_from_base64(s.index_key)
                if s.index_key
                else load_index_key_file(s.effective_index_key_file)
            )
            self._keys = RegistryKeys(Keyring(current, old), index)
        return self._keys
