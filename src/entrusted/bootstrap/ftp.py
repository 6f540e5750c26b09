"""The FTPS server as the composition root builds it (pyftpdlib loads only when it serves):
co-located with the gate (`ftp_server`, in-process calls), or on another host asking the gate
over HTTP (`remote_ftp_server`, when `ftp_gate_url` is set)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from entrusted.config import Settings
from entrusted.domain.policy import ResourceKind
from entrusted.errors import InvalidInput

if TYPE_CHECKING:
    from pyftpdlib.servers import ThreadedFTPServer

    from entrusted.adapters.ftp.gate_http import HttpFtpDoor
    from entrusted.adapters.ftp.server import FtpServerConfig
    from entrusted.bootstrap import Container

MAX_TOKEN_FILE = 4096


def ftp_tls_files(settings: Settings) -> tuple[Path, Path]:
    """The FTPS server's certificate and key files (default: in the data directory)."""
    return (
        settings.ftp_cert_file or settings.data_dir / "ftp.crt",
        settings.ftp_key_file or settings.data_dir / "ftp.key",
    )


def ftp_server(c: Container) -> ThreadedFTPServer:
    """The FTPS server, co-located with the gate (in-process calls); its live staff sessions
    are registered so that a grant ending here closes them at once. Imported here: pyftpdlib
    and pyOpenSSL load only for the command that serves FTP."""
    from entrusted.adapters.ftp.server import LiveSessions, build_server

    config = _config(c.settings)
    live = LiveSessions()
    c.grant_entry.serve(ResourceKind.FTP_SPACE, live)
    return build_server(config, c.ftp_login, live)


def start_ftp(c: Container) -> Callable[[], None]:
    """`entrusted serve` with `ftp_enabled`: the co-located FTPS server in a thread; call the
    returned function to stop it (connections closed, thread joined)."""
    from entrusted.adapters.ftp.server import serve_in_thread

    return serve_in_thread(ftp_server(c))


def remote_ftp_server(settings: Settings) -> tuple[ThreadedFTPServer, HttpFtpDoor]:
    """The FTPS server on another host than the API: every login and step asks the gate at
    `ftp_gate_url` with the `ftp_server` token; it needs no database and no keys. Grants
    ended elsewhere close its sessions at the periodic check (`ftp_session_check_s`). The
    door is returned to be closed after the server."""
    from entrusted.adapters.ftp.gate_http import HttpFtpDoor
    from entrusted.adapters.ftp.server import LiveSessions, build_server

    if settings.ftp_gate_url is None:
        raise InvalidInput("ftp_gate_url", "is not set")
    config = _config(settings)
    door = HttpFtpDoor(
        settings.ftp_gate_url,
        gate_token(settings),
        settings.ftp_root_template,
        timeout_s=settings.ftp_gate_timeout_s,
        grace_s=settings.ftp_gate_grace_s,
    )
    return build_server(config, door, LiveSessions()), door


def gate_token(settings: Settings) -> str:
    """The `ftp_server` service token from `ftp_gate_token_file`: a file others cannot read
    (it lets its holder ask the gate to consume grants), holding the token only."""
    path = settings.ftp_gate_token_file
    if path is None:
        raise InvalidInput("ftp_gate_token_file", "is required with ftp_gate_url")
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()[:MAX_TOKEN_FILE]
    except OSError as exc:
        raise InvalidInput("ftp_gate_token_file", f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o007:
        raise InvalidInput("ftp_gate_token_file", f"{path} is readable by others (chmod 0600)")
    token = raw.decode("ascii", errors="replace").strip()
    if not token or any(ch.isspace() or not ch.isprintable() for ch in token):
        raise InvalidInput("ftp_gate_token_file", f"{path} does not hold one token")
    return token


def _config(s: Settings) -> FtpServerConfig:
    from entrusted.adapters.ftp.server import FtpServerConfig

    low, high = (int(p) for p in s.ftp_passive_ports.split("-"))
    if not 1024 <= low <= high <= 65535:
        raise InvalidInput("ftp_passive_ports", "must be low-high within 1024-65535")
    cert, key = ftp_tls_files(s)
    for path in (cert, key):
        if not path.is_file():
            raise InvalidInput("ftp_cert_file", f"{path} is missing (entrusted ftp selfsigned)")
    return FtpServerConfig(
        s.ftp_bind_host,
        s.ftp_bind_port,
        cert,
        key,
        range(low, high + 1),
        s.ftp_max_login_attempts,
        s.ftp_auth_failed_delay_s,
        s.ftp_max_connections_per_address,
        s.ftp_session_check_s,
        s.ftp_download_kib_s * 1024,
        s.ftp_upload_kib_s * 1024,
    )
