"""Settings: TOML file < environment < explicit overrides; every problem is `InvalidInput`
naming the key; the database password never shows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from entrusted.config import CONFIG_ENV, Settings, load_settings, redact_url
from entrusted.errors import InvalidInput

SECRET_URL = "postgresql+psycopg://u:secret@db.example.com/entrusted"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's or CI's own ENTRUSTED_* variables must not leak into these tests."""
    for key in list(os.environ):
        if key.upper().startswith("ENTRUSTED_"):
            monkeypatch.delenv(key)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "entrusted.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    s = load_settings()
    assert s.data_dir == Path("var")
    assert s.bind_port == 8000
    assert s.effective_database_url == f"sqlite:///{Path('var/entrusted.db').resolve()}"
    assert s.effective_ledger_key_file == Path("var/ledger.key")


def test_file_values_load(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        'data_dir = "/srv/entrusted"\nbind_port = 8443\nlog_level = "debug"\ntoken_ttl_days = 30\n',
    )
    s = load_settings(path)
    assert s.data_dir == Path("/srv/entrusted")
    assert s.bind_port == 8443
    assert s.log_level == "DEBUG"
    assert s.token_ttl_days == 30


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(toml(tmp_path, "bind_port = 9001\n")))
    assert load_settings().bind_port == 9001


def test_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toml(tmp_path, 'bind_port = 8443\nbind_host = "0.0.0.0"\n')
    monkeypatch.setenv("ENTRUSTED_BIND_PORT", "9000")
    s = load_settings(path)
    assert s.bind_port == 9000
    assert s.bind_host == "0.0.0.0"  # the file still supplies what the environment does not


def test_lowercase_environment_variable_also_beats_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pydantic-settings reads variables case-insensitively; the file must not win over them.
    monkeypatch.setenv("entrusted_bind_port", "9002")
    assert load_settings(toml(tmp_path, "bind_port = 8443\n")).bind_port == 9002


def test_overrides_beat_environment_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = toml(tmp_path, 'data_dir = "/from/file"\nbind_port = 8443\n')
    monkeypatch.setenv("ENTRUSTED_DATA_DIR", "/from/env")
    monkeypatch.setenv("ENTRUSTED_BIND_PORT", "9000")
    s = load_settings(path, data_dir=Path("/from/flag"), database_url=None)
    assert s.data_dir == Path("/from/flag")
    assert s.bind_port == 9000
    assert s.database_url is None  # a None override (an unset CLI flag) overrides nothing


def test_unknown_key_in_file_is_refused_by_name(tmp_path: Path) -> None:
    path = toml(tmp_path, 'rule_file = "rules.yaml"\nbind_port = 8443\n')
    with pytest.raises(InvalidInput) as caught:
        load_settings(path)
    assert "rule_file" in caught.value.message
    assert str(path) in caught.value.message


def test_unknown_override_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(bind_prot=8000)
    assert caught.value.field == "bind_prot"


def test_invalid_toml_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(toml(tmp_path, "bind_port = = 8000\n"))
    assert caught.value.field == "config"
    assert "not valid TOML" in caught.value.message


@pytest.mark.parametrize(
    "content",
    [None, "directory"],
    ids=["missing", "directory"],
)
def test_unreadable_config_file_is_invalid_input(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "entrusted.toml"
    if content == "directory":
        path.mkdir()
    with pytest.raises(InvalidInput) as caught:
        load_settings(path)
    assert caught.value.field == "config"
    assert str(path) in caught.value.message


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"bind_port": 0}, "bind_port"),
        ({"bind_port": 65536}, "bind_port"),
        ({"log_level": "LOUD"}, "log_level"),
        ({"token_ttl_days": 0}, "token_ttl_days"),
        ({"checkpoint_interval_s": -1}, "checkpoint_interval_s"),
    ],
)
def test_bad_value_names_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(**values)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


def test_bad_value_in_file_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(toml(tmp_path, 'log_level = "LOUD"\n'))
    assert caught.value.field == "log_level"


def test_bad_value_in_environment_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRUSTED_BIND_PORT", "eighty")
    with pytest.raises(InvalidInput) as caught:
        load_settings()
    assert caught.value.field == "bind_port"
    assert "eighty" not in caught.value.message  # values are not echoed: they may be secrets


def test_describe_masks_the_database_password() -> None:
    s = Settings(database_url=SECRET_URL)
    shown = s.describe()
    assert shown["database_url"] == "postgresql+psycopg://u:***@db.example.com/entrusted"
    assert set(shown) == set(Settings.model_fields)
    assert not any("secret" in value for value in shown.values())


def test_describe_masks_a_password_given_as_query_parameter() -> None:
    s = Settings(database_url="postgresql+psycopg://u@db.example.com/e?password=secret&x=1")
    assert (
        s.describe()["database_url"] == "postgresql+psycopg://u@db.example.com/e?password=***&x=1"
    )


def test_repr_and_str_never_show_the_password() -> None:
    s = Settings(database_url=SECRET_URL)
    assert "secret" not in repr(s)
    assert "secret" not in str(s)


def test_redact_url_leaves_urls_without_password_untouched() -> None:
    for url in ("sqlite:////srv/entrusted/entrusted.db", "postgresql+psycopg://u@h/db"):
        assert redact_url(url) == url


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError, match="frozen"):
        s.bind_port = 1  # type: ignore[misc]
