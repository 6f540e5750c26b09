"""The shipped systemd units (deploy/systemd/) pass `systemd-analyze verify` without a warning,
carry the hardening docs/deploy.md promises, and run commands the CLI accepts.

`verify` wants each ExecStart binary to exist: the test verifies a copy naming this venv's
`entrusted`, and the shipped files as they are wherever /usr/local/bin/entrusted exists."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_service

UNITS = Path(__file__).parents[2] / "deploy" / "systemd"
SHIPPED_BINARY = "/usr/local/bin/entrusted"
ENTRUSTED = Path(sys.executable).with_name("entrusted")
NAMES = [
    "entrusted-api@.service",
    "entrusted-hooks.service",
    "entrusted-worker.service",
    "entrusted-ftp.service",
    "entrusted-witness.service",
]
HARDENING = {
    "DynamicUser": "no",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter": "@system-service",
    "Restart": "on-failure",
}


def settings(name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def verify(directory: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    require_service(analyze is not None, "systemd-analyze (Debian package systemd)")
    assert analyze is not None
    return subprocess.run(
        [analyze, "verify", "--man=no", *map(str, instances(directory))],
        capture_output=True,
        text=True,
        check=False,
    )


def instances(directory: Path) -> list[Path]:
    """The units in `directory`, a template as the instance it runs as: api@8001."""
    for name in NAMES:
        if "@." in name:
            shutil.copy(directory / name, directory / name.replace("@.", "@8001."))
    return [directory / n.replace("@.", "@8001.") for n in NAMES]


def test_the_units_as_shipped_list_every_service() -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(NAMES)


def test_systemd_analyze_accepts_every_unit(tmp_path: Path) -> None:
    assert ENTRUSTED.exists(), f"{ENTRUSTED} is not installed: run make install"
    for name in NAMES:
        text = (UNITS / name).read_text(encoding="utf-8")
        assert SHIPPED_BINARY in text
        (tmp_path / name).write_text(text.replace(SHIPPED_BINARY, str(ENTRUSTED)))
    result = verify(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # a bad value is only a warning: none allowed


def test_the_shipped_files_verify_where_the_documented_binary_exists(tmp_path: Path) -> None:
    """As shipped, unchanged. Without /usr/local/bin/entrusted here, root puts one there in a
    private mount namespace (nothing outside the test sees it); otherwise skip (fail in CI)."""
    for name in NAMES:
        shutil.copy(UNITS / name, tmp_path / name)
    if Path(SHIPPED_BINARY).exists():
        result = verify(tmp_path)
    else:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "entrusted").symlink_to(ENTRUSTED)
        unshare = shutil.which("unshare")
        require_service(unshare is not None and os.geteuid() == 0,
                        f"{SHIPPED_BINARY}, or root and unshare(1) to mount one")  # fmt: skip
        analyze = shutil.which("systemd-analyze")
        require_service(analyze is not None, "systemd-analyze (Debian package systemd)")
        paths = " ".join(shlex.quote(str(p)) for p in instances(tmp_path))
        script = (f"mount --bind {shlex.quote(str(bin_dir))} /usr/local/bin && "
                  f"{analyze} verify --man=no {paths}")  # fmt: skip
        result = subprocess.run([str(unshare), "--mount", "sh", "-c", script],
                                capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_each_unit_is_hardened(name: str) -> None:
    found = settings(name)
    for key, value in HARDENING.items():
        assert found.get(key) == [value], f"{name}: {key}"
    user = "entrusted-witness" if "witness" in name else "entrusted"
    assert found["User"] == [user]
    assert found["ReadWritePaths"][0] == f"/var/lib/{user}"
    # Only the FTP server may bind a port below 1024 (21); nothing else holds a capability.
    capabilities = ["CAP_NET_BIND_SERVICE"] if "ftp" in name else [""]
    assert found["CapabilityBoundingSet"] == capabilities
    assert found["AmbientCapabilities"] == capabilities


@pytest.mark.parametrize("name", NAMES)
def test_each_command_is_one_the_cli_accepts(name: str) -> None:
    """`--help` after the unit's own arguments: an unknown option or command fails."""
    (command,) = settings(name)["ExecStart"]
    words = shlex.split(command.replace("%i", "8001"))
    assert words[0] == SHIPPED_BINARY
    result = subprocess.run(
        [str(ENTRUSTED), *words[1:], "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def deploy_units(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENTRUSTED), "deploy", "units", *args],
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_the_shipped_units_are_deploy_units_with_the_defaults(tmp_path: Path) -> None:
    result = deploy_units("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in NAMES:
        shipped = (UNITS / name).read_text(encoding="utf-8")
        assert (tmp_path / name).read_text(encoding="utf-8") == shipped, (
            f"{name}: run `entrusted deploy units --out deploy/systemd --force`"
        )


def test_deploy_units_for_other_paths_verify(tmp_path: Path) -> None:
    out = tmp_path / "units"
    result = deploy_units("--out", str(out), "--user", "hoster", "--binary", str(ENTRUSTED),
                          "--config", "/etc/hoster/entrusted.toml", "--data-dir", "/data/entrusted",
                          "--ftp-port", "2121", "--api-host", "10.0.0.5")  # fmt: skip
    assert result.returncode == 0, result.stderr
    api = (out / "entrusted-api@.service").read_text(encoding="utf-8")
    assert "serve --role public --host 10.0.0.5 --port %i" in api  # a proxy on another machine
    worker = (out / "entrusted-worker.service").read_text(encoding="utf-8")
    assert f"ExecStart={ENTRUSTED} --config /etc/hoster/entrusted.toml worker" in worker
    assert "User=hoster\n" in worker
    assert "ReadWritePaths=/data/entrusted\n" in worker
    assert "CAP_NET_BIND_SERVICE" not in (out / "entrusted-ftp.service").read_text()
    verified = verify(out)
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == "", verified.stderr


CONFLICT_EXIT, INVALID_EXIT = 4, 2  # entrypoints/cli/context.py EXIT_CODES, docs/errors.md


def test_deploy_units_keeps_existing_files_and_refuses_bad_paths(tmp_path: Path) -> None:
    (tmp_path / "entrusted-worker.service").write_text("mine\n")
    result = deploy_units("--out", str(tmp_path))
    assert result.returncode == CONFLICT_EXIT, result.stdout + result.stderr
    assert "entrusted-worker.service; --force replaces them" in " ".join(result.stderr.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entrusted-worker.service"]
    assert (tmp_path / "entrusted-worker.service").read_text() == "mine\n"
    empty = tmp_path / "empty"
    for option, value in [("--data-dir", "var/lib/x"), ("--user", "two words"),
                          ("--config", "/etc/%i.toml")]:  # fmt: skip
        result = deploy_units("--out", str(empty), option, value)
        assert result.returncode == INVALID_EXIT, result.stdout + result.stderr
        assert option.removeprefix("--").replace("-", "_") + ":" in result.stderr
        assert not empty.exists()
