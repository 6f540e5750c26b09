"""The FTPS server as the composition root builds it (pyftpdlib loads only when it serves)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from entrusted.config import Settings
from entrusted.domain.policy import ResourceKind
from entrusted.errors import InvalidInput

if TYPE_CHECKING:
    from pyftpdlib.servers import ThreadedFTPServer

    from entrusted.bootstrap import Container


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
    from entrusted.adapters.ftp.server import FtpServerConfig, LiveSessions, build_server

    s = c.settings
    low, high = (int(p) for p in s.ftp_passive_ports.split("-"))
    if not 1024 <= low <= high <= 65535:
        raise InvalidInput("ftp_passive_ports", "must be low-high within 1024-65535")
    cert, key = ftp_tls_files(s)
    for path in (cert, key):
        if not path.is_file():
            raise InvalidInput("ftp_cert_file", f"{path} is missing (entrusted ftp selfsigned)")
    live = LiveSessions()
    c.grant_entry.serve(ResourceKind.FTP_SPACE, live)
    config = FtpServerConfig(
        s.ftp_bind_host,
        s.ftp_bind_port,
        cert,
        key,
        range(low, high + 1),
        s.ftp_max_login_attempts,
        s.ftp_auth_failed_delay_s,
        s.ftp_max_connections_per_address,
        s.ftp_session_check_s,
    )
    return build_server(config, c.ftp_login, live)
