"""How many refusals of unknown links (a not-me link, an e-mail confirmation link) one process
ledgers a minute, before it answers 429 without writing.

Every refusal belongs in the ledger, but these come from nobody: the routes take no login,
and each guess would add an entry that can never be removed (an outside trial filled the log
at 190 entries a second from one client and drowned the evidence report's refusal count).
A real link never reaches this path, so a budget costs its holder nothing; past it, a guess
is refused unrecorded (and logged as a warning) until the minute moves on. Per process and
for all callers together, not per address: addresses are cheap to rotate.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from entrusted.errors import RateLimited

log = logging.getLogger(__name__)
UNKNOWN_LINKS_PER_MINUTE = 30
_WINDOW_S = 60.0


class GuessBudget:
    def __init__(
        self,
        per_minute: int = UNKNOWN_LINKS_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._taken: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """Count one refusal to ledger: None if it is within the budget, else the whole
        seconds until one is free again (and nothing is counted)."""
        now = self._clock()
        with self._lock:
            while self._taken and self._taken[0] <= now - _WINDOW_S:
                self._taken.popleft()
            if len(self._taken) >= self._per_minute:
                return max(1, math.ceil(self._taken[0] + _WINDOW_S - now))
            self._taken.append(now)
            return None

    def spend(self, what: str) -> None:
        """`take`, raising `RateLimited` (429, unrecorded, logged) when over the budget: call
        it just before ledgering the refusal of an unknown `what` link."""
        wait = self.take()
        if wait is not None:
            log.warning("%s link guesses over budget; refused unrecorded", what)
            raise RateLimited("too many unknown links; try again later", wait)
