"""Settings of the serving processes: request hardening, the split listeners, metrics
and readiness, file modes."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, Field, field_validator


class ServingSettings(BaseModel):
    """Hardening, listeners and observability of `serve`."""

    # --- security hardening (issue 11) ---
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest request body the API accepts; a longer one is refused with 413 "
        "before it is read into memory.",
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=(),
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For "
        "header names the client (rate limits, login limits and the access log see that "
        "address); empty: the header is ignored.",
    )
    worker_threads: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Threads one serve process runs its blocking request handlers on (the "
        "database work of every route); more than the cores can use only adds switching "
        "between threads that wait for Python's interpreter lock.",
    )
    # --- deployment (issue 17): the internal hook listener, see docs/deploy.md ---
    hooks_listen: str | None = Field(
        default=None,
        description="HOST:PORT of the internal listener for the mail and FTP login gates "
        "(`serve --role hooks`, or `--role all` beside the public API); unset: `--role all` "
        "serves them with the public API.",
    )
    hooks_allow_public_address: bool = Field(
        default=False,
        description="Let `hooks_listen` be a public (not loopback or private) address; off: "
        "serve refuses one.",
    )
    api_docs: bool = Field(
        default=False,
        description="Serve the interactive API docs (/docs, /redoc), whose pages load Swagger "
        "UI and ReDoc from a CDN; off by default. /openapi.json is always served.",
    )
    # --- observability (issue 17, docs/operations.md) ---
    metrics_token_file: Path | None = Field(
        default=None,
        description="File holding the bearer token GET /metrics asks for (0600, 16+ "
        "characters, nothing else in it); unset: /metrics answers loopback clients only.",
    )
    metrics_cache_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long /metrics reuses its database figures, so scrapes do not each "
        "read the database; 0: read on every scrape.",
    )
    readiness_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Timeout of /readyz's SMTP relay check (connect, EHLO, QUIT; cached 30 s).",
    )
    fix_file_modes: bool = Field(
        default=True,
        description="At start, tighten the data directory to 0700 and the database, WAL and key "
        "files to 0600 (and say so); false: refuse to start while any is wider.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # uvicorn's middleware would take "*" as "trust everyone" and a typo as a host name
        # that never matches, silently: only addresses and networks are accepted here.
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @field_validator("hooks_listen")
    @classmethod
    def _hooks_listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value


def split_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPV6]:PORT` as `(host, port)`; ValueError for anything else."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (port 1-65535)")
    return host, int(port)
