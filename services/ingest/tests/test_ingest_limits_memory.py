"""What ``ingest.limits_memory`` relies on in the ``limits`` library's internals.

Run by every ``limits`` upgrade (the dependency is bounded below its next minor release):
if one of these fails, the adapter no longer does what it says.
"""

import asyncio
import time

import pytest
from ingest import limits_memory
from ingest.limits_memory import SweepingMemoryStorage
from ingest.ratelimit import SubmitRateLimiter
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


def test_the_overridden_hook_still_exists_in_limits() -> None:
    # The override replaces this name-mangled hook; a limits upgrade renaming it must fail here.
    assert hasattr(MemoryStorage, "_MemoryStorage__schedule_expiry")
    assert "_MemoryStorage__schedule_expiry" in SweepingMemoryStorage.__dict__


async def test_every_moving_window_hit_awaits_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    async def counting_hook(self: SweepingMemoryStorage) -> None:
        nonlocal calls
        calls += 1

    monkeypatch.setattr(SweepingMemoryStorage, "_MemoryStorage__schedule_expiry", counting_hook)
    storage = SweepingMemoryStorage()
    limiter = MovingWindowRateLimiter(storage)
    item = parse("2/second")
    for _ in range(3):
        await limiter.hit(item, "submit", "u")
    assert calls == 3


async def test_events_are_kept_newest_first_with_the_fields_the_sweep_reads() -> None:
    storage = SweepingMemoryStorage()
    limiter = MovingWindowRateLimiter(storage)
    for rate in ("5/second", "5/minute"):  # two keys with different expiries
        for _ in range(3):
            await limiter.hit(parse(rate), "submit", "u")
            await asyncio.sleep(0.002)
    assert isinstance(storage.events, dict) and isinstance(storage.expirations, dict)
    assert len(storage.events) == 2
    for events in storage.events.values():
        expiries = [event.expiry for event in events]
        assert expiries == sorted(expiries, reverse=True)  # what the sweep's bisect assumes
        assert all(event.atime < event.expiry for event in events)
    # The other per-key mappings the sweep trims.
    assert isinstance(storage.storage, dict) and isinstance(storage.locks, dict)


async def test_an_expired_entry_decides_nothing_without_a_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sweep is only memory hygiene: the window compares timestamps itself."""
    sweeps = 0

    def counting_sweep(self: SweepingMemoryStorage) -> None:
        nonlocal sweeps
        sweeps += 1

    monkeypatch.setattr(SweepingMemoryStorage, "sweep", counting_sweep)
    storage = SweepingMemoryStorage()
    storage._next_sweep = time.monotonic() + 3600  # no sweep during this test
    limiter = MovingWindowRateLimiter(storage)
    item = parse("1/second")
    assert await limiter.hit(item, "submit", "u")
    assert not await limiter.hit(item, "submit", "u")
    await asyncio.sleep(1.05)
    assert await limiter.hit(item, "submit", "u")
    assert sweeps == 0


async def test_in_process_rate_limit_sweeps_inline_at_most_once_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_threads(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sweep must not use the thread pool")

    monkeypatch.setattr(asyncio, "to_thread", no_threads)
    sweeps = 0
    original = SweepingMemoryStorage.sweep

    def counting_sweep(self: SweepingMemoryStorage) -> None:
        nonlocal sweeps
        sweeps += 1
        original(self)

    monkeypatch.setattr(SweepingMemoryStorage, "sweep", counting_sweep)
    limiter = SubmitRateLimiter("2/second")
    assert isinstance(limiter.storage, SweepingMemoryStorage)
    for user in ("a", "b", "c"):
        for _ in range(3):
            await limiter.hit(user)
    assert sweeps == 1
    assert all(len(events) == 2 for events in limiter.storage.events.values())

    # Entries expire after the window: the next sweep (a second later) drops them.
    monkeypatch.setattr(limits_memory, "SWEEP_INTERVAL_S", 0.0)
    limiter.storage._next_sweep = 0.0
    await asyncio.sleep(1.05)
    assert (await limiter.hit("a")).allowed
    assert sweeps == 2
    (events,) = limiter.storage.events.values()  # only a's new hit is left
    assert len(events) == 1
