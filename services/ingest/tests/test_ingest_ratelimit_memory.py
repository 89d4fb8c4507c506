"""The in-process moving window (no ``REDIS_URL``): the decisions of ``limits``' own."""

import pytest
from ingest.ratelimit import SWEEP_INTERVAL_S, MemoryMovingWindow, UserRateLimiter
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


def test_at_most_amount_hits_in_any_window_and_the_wait_until_the_oldest_leaves() -> None:
    window = MemoryMovingWindow(amount=3, window_s=10)
    assert [window.hit("u", t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    assert window.hit("u", 5.0) == pytest.approx(5.0)  # the hit at 0 leaves at 10
    assert window.hit("other", 5.0) is None  # keys are independent
    assert window.hit("u", 10.0) is None  # 0 left; refused hits were not counted
    assert window.hit("u", 10.5) == pytest.approx(0.5)  # 1, 2, 10 inside; 1 leaves at 11
    assert window.hit("u", 11.0) is None


def test_idle_keys_are_swept() -> None:
    window = MemoryMovingWindow(amount=2, window_s=1)
    for i in range(100):
        window.hit(f"user_{i}", 0.0)
    assert len(window) == 100
    window.hit("late", 1.0 + SWEEP_INTERVAL_S)
    assert len(window) == 1


async def test_the_same_decisions_as_limits_moving_window() -> None:
    """A burst pattern through both: every allow/refuse agrees (same clock, same rate)."""
    ours = UserRateLimiter("5/second")
    theirs = MovingWindowRateLimiter(MemoryStorage())
    item = parse("5/second")
    decisions = []
    for i in range(12):
        mine = (await ours.hit("u")).allowed
        reference = await theirs.hit(item, "submit", "u")
        decisions.append((i, mine, reference))
    assert all(mine == reference for _, mine, reference in decisions), decisions
    refused = await ours.hit("u")
    assert not refused.allowed and refused.retry_after_s == 1 and refused.limit == 5
