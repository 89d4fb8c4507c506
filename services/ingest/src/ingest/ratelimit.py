"""Per-user rate limit of submits with the ``limits`` library.

With ``REDIS_URL`` the counters live in Redis, so every replica enforces one shared limit
per user; without it each process counts on its own (fine for one replica and dev).
A moving window: "10/minute" means at most 10 submits in any 60 s.
"""

import bisect
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

SWEEP_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0
    limit: int = 0
    remaining: int = 0


class SweepingMemoryStorage(MemoryStorage):
    """``limits``' in-process storage with a cheap expiry sweep.

    The stock async storage restarts its sweep on every hit once the previous one has
    finished, and hands each user's list to a thread (``asyncio.to_thread``) to bisect
    it: under load that is a thread-pool round trip per known user, back to back, and
    cost more CPU than the rest of a submit's rate limiting. Expired entries never
    decide anything (the moving window compares timestamps), so the sweep is only memory
    hygiene: here it runs at most once per ``SWEEP_INTERVAL_S``, inline (no awaits, so no
    hit can interleave with it), with the same trimming rules.
    """

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self._next_sweep = 0.0

    # Replaces the name-mangled ``MemoryStorage.__schedule_expiry`` that every hit calls
    # (tests assert the base still has it, so a ``limits`` upgrade cannot bypass this).
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL_S
            self.sweep()

    def sweep(self) -> None:
        now = time.time()
        for key in list(self.events):
            events = self.events[key]
            cutoff = bisect.bisect_left(events, -now, key=lambda event: -event.expiry)
            if cutoff:
                self.events[key] = events[:cutoff]
            else:
                del self.events[key]
                self.locks.pop(key, None)
        for key in [k for k, expiry in self.expirations.items() if expiry <= now]:
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
            self.locks.pop(key, None)


class SubmitRateLimiter:
    """A per-user moving-window limit; ``namespace`` keeps budgets apart (``submit``
    counts every POST, valid or not; ``read`` counts job reads and stream opens)."""

    def __init__(
        self,
        rate: str,
        redis_url: str | None = None,
        prefix: str = "ingest",
        namespace: str = "submit",
    ) -> None:
        self.item: RateLimitItem = parse(rate)
        self.namespace = namespace
        self.storage: Storage
        if redis_url:
            uri = redis_url.replace("redis://", "async+redis://", 1).replace(
                "rediss://", "async+rediss://", 1
            )
            self.storage = RedisStorage(uri, implementation="redispy", key_prefix=f"{prefix}:rl")
        else:
            self.storage = SweepingMemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, user_id: str) -> Decision:
        if await self.limiter.hit(self.item, self.namespace, user_id):
            return Decision(True, limit=self.item.amount)
        stats = await self.limiter.get_window_stats(self.item, self.namespace, user_id)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return Decision(False, retry_after_s=retry, limit=self.item.amount, remaining=0)
