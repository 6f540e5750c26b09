"""Staff accounts as the composition root wires them: the log-in limits (shared with the
customer portal and the FTP server) and the staff service with its second factor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from entrusted.bootstrap.actors import console_operator
from entrusted.bootstrap.wiring import Wiring
from entrusted.config import Settings
from entrusted.crypto.personal import RegistryKeys
from entrusted.services.events import EventBus
from entrusted.services.gate import Gate
from entrusted.services.staff import LoginLimits, StaffService
from entrusted.services.staff_totp import SecondFactor


def login_limits(settings: Settings) -> LoginLimits:
    return LoginLimits(
        max_failures_per_account=settings.login_max_failures_per_account,
        max_failures_per_address=settings.login_max_failures_per_address,
        window=timedelta(seconds=settings.login_window_s),
    )


def build_staff(
    w: Wiring,
    gate: Gate,
    keys: Callable[[], RegistryKeys],
    events: EventBus,
    limits: LoginLimits,
) -> StaffService:
    settings = w.settings
    return StaffService(
        w.uow,
        w.clock,
        limits,
        default_token_ttl=timedelta(days=settings.token_ttl_days),
        password_cache_ttl=timedelta(seconds=settings.mail_password_cache_s),
        readers=w.reader,
        gate=gate,
        events=events,
        operator=console_operator(),
        second_factor=SecondFactor(lambda: keys().keyring, settings.staff_totp_required),
        max_token_ttl=timedelta(days=settings.token_max_ttl_days),
    )
