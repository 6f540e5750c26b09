"""The public API is curated: changing it means changing this test on purpose."""

from __future__ import annotations

import entrusted

EXPECTED = {
    "AuthenticationFailed",
    "Conflict",
    "Container",
    "EntrustedError",
    "InvalidInput",
    "NotFound",
    "RateLimited",
    "Refused",
    "Settings",
    "TamperDetected",
    "Unavailable",
    "__version__",
    "build",
    "load_settings",
}


def test_all_is_sorted_and_unique() -> None:
    assert entrusted.__all__ == sorted(set(entrusted.__all__))


def test_every_exported_name_exists() -> None:
    missing = [name for name in entrusted.__all__ if not hasattr(entrusted, name)]
    assert missing == []


def test_public_set_is_the_expected_one() -> None:
    assert set(entrusted.__all__) == EXPECTED


def test_exported_classes_and_functions_live_in_the_package() -> None:
    for name in entrusted.__all__:
        member = getattr(entrusted, name)
        module = getattr(member, "__module__", None)
        if module is not None and callable(member):
            assert module.startswith("entrusted."), f"{name} comes from {module}"


def test_every_exported_error_is_an_entrusted_error() -> None:
    for name in entrusted.__all__:
        member = getattr(entrusted, name)
        if isinstance(member, type) and issubclass(member, Exception):
            assert issubclass(member, entrusted.EntrustedError), name


def test_version_matches_the_installed_distribution() -> None:
    from importlib.metadata import version

    assert entrusted.__version__ == version("entrusted")
