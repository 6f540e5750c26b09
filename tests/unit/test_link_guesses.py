"""The budget for ledgering unknown-link refusals: 30 a minute, then the wait until the oldest
leaves the window; nothing is counted while over it."""

from __future__ import annotations

from entrusted.services.link_guesses import UNKNOWN_LINKS_PER_MINUTE, GuessBudget


def test_thirty_a_minute_then_the_wait_for_the_oldest() -> None:
    now = [1000.0]
    budget = GuessBudget(clock=lambda: now[0])
    assert UNKNOWN_LINKS_PER_MINUTE == 30
    for k in range(30):
        now[0] = 1000.0 + k  # one a second
        assert budget.take() is None
    now[0] = 1029.5
    assert budget.take() == 31  # the first (at 1000) leaves the window at 1060
    assert budget.take() == 31  # a refusal over budget is not counted
    now[0] = 1060.0
    assert budget.take() is None  # the first left; its place is taken
    assert budget.take() == 1  # the second (at 1001) leaves at 1061
    now[0] = 2000.0
    assert all(budget.take() is None for _ in range(30))
