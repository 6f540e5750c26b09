"""`entrusted mail dovecot-config` (adapters/mail/dovecot_config.py): the files, their modes,
no overwrite without --force, nothing written on bad input, and the printed form. That
Dovecot accepts and uses them is tested with the real Dovecot (tests/integration/
test_mail_dovecot.py, whose private Dovecot includes exactly these files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrusted.adapters.mail.dovecot import acl_rules, lua_source
from entrusted.adapters.mail.dovecot_config import (
    ACL,
    LUA,
    LUA_SETTINGS,
    SNIPPET,
    ConfigFile,
    DovecotLayout,
    dovecot_files,
    write_files,
)
from entrusted.entrypoints.cli.main import app
from entrusted.errors import Conflict, InvalidInput

URL = "http://127.0.0.1:8001/v1/gate/mail-login"


def cli(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(app, ["mail", "dovecot-config", *args])
    return out.exit_code, out.output


def test_the_files_name_each_other_and_the_token_file_only(tmp_path: Path) -> None:
    layout = DovecotLayout(URL, "/etc/dovecot", timeout_ms=2500)
    files = {f.relative: f.content for f in dovecot_files(layout)}
    assert list(files) == [SNIPPET, LUA, LUA_SETTINGS, ACL]
    snippet = files[SNIPPET]
    assert "args = file=/etc/dovecot/entrusted/dovecot_passdb.lua blocking=yes" in snippet
    assert "master = yes" in snippet
    assert "acl = vfile:/etc/dovecot/entrusted/entrusted-acl" in snippet
    assert "driver = passwd" not in snippet  # the customers' passdb is not touched
    assert files[LUA] == lua_source()
    assert files[ACL] == acl_rules()
    assert files[LUA_SETTINGS] == (
        f"url = {URL}\ntoken_file = /etc/dovecot/entrusted/mail_hook.token\ntimeout = 2500\n"
    )
    # the script finds its settings next to itself, and they stay out of conf.d/
    assert LUA.removesuffix(".lua") + ".conf" == LUA_SETTINGS
    assert not LUA_SETTINGS.startswith("conf.d/")


def test_written_0644_a_secret_0600_and_never_over_a_file_without_force(tmp_path: Path) -> None:
    files = dovecot_files(DovecotLayout(URL, "/etc/dovecot"))
    written = write_files(tmp_path, files)
    assert {p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777 for p in written} == {
        SNIPPET: 0o644, LUA: 0o644, LUA_SETTINGS: 0o644, ACL: 0o644,
    }  # fmt: skip
    (tmp_path / SNIPPET).write_text("the hoster's edit")
    with pytest.raises(Conflict, match=r"90-entrusted\.conf"):
        write_files(tmp_path, files)
    assert (tmp_path / SNIPPET).read_text() == "the hoster's edit"
    (tmp_path / LUA).chmod(0o600)
    write_files(tmp_path, files, force=True)
    assert (tmp_path / SNIPPET).read_text() == files[0].content
    assert (tmp_path / LUA).stat().st_mode & 0o777 == 0o644
    secret = write_files(tmp_path, [ConfigFile("entrusted/x", "s", secret=True)])[0]
    assert secret.stat().st_mode & 0o777 == 0o600


def test_force_replaces_a_symlink_never_its_target(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("not Dovecot's")
    out = tmp_path / "out"
    (out / "conf.d").mkdir(parents=True)
    (out / SNIPPET).symlink_to(elsewhere)
    files = dovecot_files(DovecotLayout(URL))
    with pytest.raises(Conflict):
        write_files(out, files)
    write_files(out, files, force=True)
    assert elsewhere.read_text() == "not Dovecot's"
    assert not (out / SNIPPET).is_symlink()


@pytest.mark.parametrize(
    ("layout", "field"),
    [
        (DovecotLayout("ftp://x/"), "hook_url"),
        (DovecotLayout(URL + " x"), "hook_url"),
        (DovecotLayout(URL, "etc/dovecot"), "dovecot_dir"),
        (DovecotLayout(URL, "/etc/dove cot"), "dovecot_dir"),
        (DovecotLayout(URL, token_file="token"), "dovecot_dir"),
        (DovecotLayout(URL, timeout_ms=10), "timeout_ms"),
        (DovecotLayout(URL, version="2.4"), "dovecot_version"),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(
    layout: DovecotLayout, field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        dovecot_files(layout)
    assert raised.value.field == field


def test_the_cli_writes_prints_and_refuses(tmp_path: Path) -> None:
    code, out = cli("--out", str(tmp_path), "--hook-url", URL, "--dovecot-dir", "/srv/dovecot")
    assert code == 0, out
    assert f"wrote {tmp_path / SNIPPET} (644)" in out
    assert "file=/srv/dovecot/entrusted/dovecot_passdb.lua" in (tmp_path / SNIPPET).read_text()
    code, out = cli("--out", str(tmp_path), "--hook-url", URL)
    assert code == 4
    assert "--force" in out
    code, out = cli("--out", str(tmp_path / "new"), "--hook-url", "not a url")
    assert code == 2
    assert not (tmp_path / "new").exists()
    code, out = cli("--hook-url", URL)  # printed: every file whole, under where it goes
    assert code == 0
    assert "# ==> /etc/dovecot/conf.d/90-entrusted.conf (mode 644) <==" in out
    assert f"url = {URL}" in out
    assert "function auth_password_verify" in out
    code, out = cli("--acl")
    assert out == acl_rules()


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.11:8431/v1/gate/mail-login", "http://hooks.example.com/v1/gate/mail-login",
     "http://0.0.0.0:8431/v1/gate/mail-login", "http://127.0.0.1.example.com/v1/gate/mail-login"],
)  # fmt: skip
def test_a_plain_http_hook_off_this_host_is_refused_and_nothing_written(
    tmp_path: Path, url: str
) -> None:
    """The hook's calls carry the mail_hook token and the password a staff member types: over
    plain http only to loopback, as for the FTP gate (domain.hosts.token_may_travel)."""
    with pytest.raises(InvalidInput) as raised:
        dovecot_files(DovecotLayout(url))
    assert raised.value.field == "hook_url"
    code, out = cli("--out", str(tmp_path / "new"), "--hook-url", url)
    assert code == 2, out
    assert "https://" in out
    assert "loopback" in out
    assert not (tmp_path / "new").exists()
    code, out = cli("--hook-url", url)  # nor printed
    assert code == 2
    assert "url = " not in out


@pytest.mark.parametrize(
    "url",
    ["https://hooks.internal.example.com:8443/v1/gate/mail-login",
     "http://127.0.0.2:8431/v1/gate/mail-login", "http://[::1]:8431/v1/gate/mail-login",
     "http://localhost:8431/v1/gate/mail-login"],
)  # fmt: skip
def test_https_anywhere_or_http_to_loopback_is_taken(url: str) -> None:
    code, out = cli("--hook-url", url)
    assert code == 0, out
    assert f"url = {url}" in out
