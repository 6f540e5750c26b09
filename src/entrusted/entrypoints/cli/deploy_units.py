"""The systemd units, as text from one template: `entrusted deploy units` writes them for an
installation's paths, and the copies in deploy/systemd/ are its output with the defaults
(a test keeps them equal), so the shipped files and the command cannot drift apart.

Every unit gets the same sandbox (docs/deploy.md): a dedicated user, the whole file system
read-only but the data directory, no capabilities (the FTP server alone may bind port 21),
IPv4, IPv6 and Unix sockets only, the system-service syscall set."""

from __future__ import annotations

from dataclasses import dataclass

from entrusted.errors import InvalidInput

DEFAULT_BINARY = "/usr/local/bin/entrusted"
DEFAULT_CONFIG = "/etc/entrusted/entrusted.toml"
DEFAULT_USER = "entrusted"
DEFAULT_DATA_DIR = "/var/lib/entrusted"
DEFAULT_WITNESS_DIR = "/var/lib/entrusted-witness"
DEFAULT_FTP_ROOT = "/srv/ftp"
DEFAULT_FTP_PORT = 21
DEFAULT_API_HOST = "127.0.0.1"
PRIVILEGED_PORTS = 1024


@dataclass(frozen=True)
class Layout:
    """Where an installation keeps things; the defaults are the documented ones."""

    binary: str = DEFAULT_BINARY
    config: str = DEFAULT_CONFIG
    user: str = DEFAULT_USER
    data_dir: str = DEFAULT_DATA_DIR
    witness_dir: str = DEFAULT_WITNESS_DIR
    ftp_root: str = DEFAULT_FTP_ROOT
    ftp_port: int = DEFAULT_FTP_PORT
    api_host: str = DEFAULT_API_HOST  # a private address when the proxy is on another machine

    def __post_init__(self) -> None:
        """A unit file has no quoting that would save a space or a `%` (a specifier)."""
        paths = ("binary", "config", "data_dir", "witness_dir", "ftp_root")
        for name in ("user", "api_host", *paths):
            value = getattr(self, name)
            if not value or any(c.isspace() for c in value) or "%" in value:
                raise InvalidInput(name, "must be non-empty, without spaces or %")
            if name in paths and not value.startswith("/"):
                raise InvalidInput(name, "must be an absolute path")

    @property
    def witness_user(self) -> str:
        return f"{self.user}-witness"


@dataclass(frozen=True)
class _Unit:
    comment: str
    description: str
    command: str
    database: bool = True  # reads the settings, so it starts after the database
    writes: tuple[str, ...] = ()
    capability: str = ""


def render(layout: Layout) -> dict[str, str]:
    """File name -> unit text."""
    base = f"{layout.binary} --config {layout.config}"
    bind = "CAP_NET_BIND_SERVICE" if layout.ftp_port < PRIVILEGED_PORTS else ""
    units = {
        "entrusted-api@.service": _Unit(
            "One public API instance; the instance name is its port: entrusted-api@8001.service.\n"
            "Run several behind the reverse proxy (docs/deploy.md); the jobs run in "
            "entrusted-worker.",
            "Entrusted public API on port %i",
            f"{base} serve --role public --host {layout.api_host} --port %i --no-worker",
        ),
        "entrusted-hooks.service": _Unit(
            "The internal listener Dovecot's Lua passdb and the FTP server ask (mail and FTP "
            "login\ngates) on hooks_listen, a loopback or private address: never behind the "
            "public proxy.",
            "Entrusted internal hooks (mail and FTP login gates)",
            f"{base} serve --role hooks --no-worker",
        ),
        "entrusted-worker.service": _Unit(
            "The periodic jobs (expiry, retention, checkpoints, outbox, backups). One is "
            "enough; a second\non another machine is harmless: each job takes its lock "
            "(docs/concurrency.md).",
            "Entrusted worker (periodic jobs)",
            f"{base} worker",
        ),
        "entrusted-ftp.service": _Unit(
            "The FTPS server (customers' backup space, staff under a grant). With "
            "ftp_gate_url it asks\nthe hooks listener over HTTPS and needs no database on "
            "this host.",
            "Entrusted FTPS server",
            f"{base} ftp serve",
            writes=(layout.ftp_root,),
            capability=bind,
        ),
        "entrusted-witness.service": _Unit(
            "A witness cosigns another party's checkpoints: run it on another machine, "
            "ideally by\nanother organisation, as its own user with its own directory "
            "(`entrusted witness init`).",
            "Entrusted ledger witness (C2SP tlog-witness)",
            f"{layout.binary} witness serve {layout.witness_dir} --host 127.0.0.1 --port 7380",
            database=False,
        ),
    }
    return {name: _text(layout, unit) for name, unit in units.items()}


def _text(layout: Layout, unit: _Unit) -> str:
    witness = not unit.database
    user = layout.witness_user if witness else layout.user
    home = layout.witness_dir if witness else layout.data_dir
    comment = "".join(f"# {line}\n" for line in unit.comment.splitlines())
    after = "network-online.target" + (" postgresql.service" if unit.database else "")
    environment = "" if witness else "EnvironmentFile=-/etc/entrusted/entrusted.env\n"
    writes = "".join(f"ReadWritePaths={path}\n" for path in unit.writes)
    if writes:
        writes = (
            "# The customers' FTP spaces (ftp_root_template) are written to as well.\n" + writes
        )
    return f"""{comment}[Unit]
Description={unit.description}
Documentation=file:///usr/share/doc/entrusted/deploy.md
Wants=network-online.target
After={after}

[Service]
Type=simple
{environment}ExecStart={unit.command}
Restart=on-failure
RestartSec=2s
# Exit code 2 is a configuration error (docs/errors.md): restarting cannot fix it.
RestartPreventExitStatus=2
TimeoutStopSec=30s
# The sandbox (docs/deploy.md): everything read-only but the data directory.
User={user}
Group={user}
DynamicUser=no
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={home}
{writes}ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
{_capability(unit.capability)}
[Install]
WantedBy=multi-user.target
"""


def _capability(name: str) -> str:
    if not name:
        return "CapabilityBoundingSet=\nAmbientCapabilities=\n"
    return (
        "# Port 21 needs this one capability (`entrusted deploy units --ftp-port 2121` leaves "
        "it out).\n"
        f"CapabilityBoundingSet={name}\nAmbientCapabilities={name}\n"
    )
