"""Is the SMTP relay there? A connect, EHLO and QUIT with a short timeout, for `/readyz`.

Nothing is sent and no credentials go on the wire: readiness only asks whether the relay that
carries the notices the policy requires (P13) answers at all. The answer is cached, so a load
balancer polling every second does not open a connection to the relay every second.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Callable


class SmtpProbe:
    """`problem()`: None while the relay answers, else one line saying what failed."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout_s: float = 2.0,
        ttl_s: float = 30.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host = host
        self._port = port
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._now = now
        self._lock = threading.Lock()
        self._cached: tuple[float, str | None] | None = None

    def problem(self) -> str | None:
        with self._lock:
            now = self._now()
            if self._cached is None or now - self._cached[0] >= self._ttl_s:
                self._cached = (now, self._probe())
            return self._cached[1]

    def _probe(self) -> str | None:
        # The answer is public (`/readyz`): it names what failed, not the relay's address.
        try:
            with smtplib.SMTP(
                self._host, self._port, timeout=self._timeout_s, local_hostname="localhost"
            ) as smtp:  # leaving the block sends QUIT
                code, _ = smtp.ehlo()
                if code != 250:
                    return f"the relay answered EHLO with {code}"
        except (OSError, smtplib.SMTPException) as exc:
            return f"the relay is unreachable ({type(exc).__name__})"
        return None
