"""Per-user rate limits: a moving window, shared through Redis or kept in this process.

With ``REDIS_URL`` the counters live in Redis (the ``limits`` library's moving window),
so every replica enforces one shared limit per user; without it each process counts on
its own (fine for one replica and dev) in ``MemoryMovingWindow``.
A moving window: "10/minute" means at most 10 submits in any 60 s.
"""

import math
import time
from collections import deque
from dataclasses import dataclass

from careers_runtime.redis_client import is_cluster, limits_storage
from limits import RateLimitItem, parse
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

SWEEP_INTERVAL_S = 1.0


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    retry_after_s: int = 0
    limit: int = 0
    remaining: int = 0


class MemoryMovingWindow:
    """The moving window of ``limits``, in this process, without its storage machinery.

    Each key keeps the times of its hits inside the window (oldest first, at most
    ``amount``): a hit is allowed while fewer than ``amount`` are younger than the
    window, and a refused caller may retry when the oldest leaves it. The same decisions
    as ``limits``' in-process moving window, at a fraction of its cost per hit (no
    per-key locks, no expiry task): it ran a quarter of a submit's own work. Keys whose
    hits all left the window are dropped at most once per ``SWEEP_INTERVAL_S``.
    """

    def __init__(self, amount: int, window_s: float) -> None:
        self.amount = amount
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._next_sweep = 0.0

    def hit(self, key: str, now: float) -> float | None:
        """Count a hit at ``now`` (monotonic seconds): None if allowed, else the seconds
        until one is (nothing is counted then)."""
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL_S
            self.sweep(now)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        cutoff = now - self.window_s
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) >= self.amount:
            return hits[0] + self.window_s - now
        hits.append(now)
        return None

    def hits(self, key: str) -> "deque[float]":
        """The times of ``key``'s hits in the window (oldest first; read only)."""
        return self._hits.get(key) or deque()

    def sweep(self, now: float) -> None:
        cutoff = now - self.window_s
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
            del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)


class UserRateLimiter:
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
        self.memory: MemoryMovingWindow | None = None
        self.limiter: MovingWindowRateLimiter | None = None
        if redis_url:
            uri, options = limits_storage(redis_url)
            storage: RedisStorage = (
                RedisClusterStorage(
                    uri, implementation="redispy", key_prefix=f"{prefix}:rl", **options
                )
                if is_cluster(redis_url)
                else RedisStorage(uri, implementation="redispy", key_prefix=f"{prefix}:rl")
            )
            self.limiter = MovingWindowRateLimiter(storage)
        else:
            self.memory = MemoryMovingWindow(self.item.amount, self.item.get_expiry())

    async def hit(self, user_id: str) -> RateLimitDecision:
        if self.memory is not None:
            wait_s = self.memory.hit(user_id, time.monotonic())
            if wait_s is None:
                return RateLimitDecision(True, limit=self.item.amount)
            retry = max(1, math.ceil(wait_s))
            return RateLimitDecision(False, retry_after_s=retry, limit=self.item.amount)
        assert self.limiter is not None
        if await self.limiter.hit(self.item, self.namespace, user_id):
            return RateLimitDecision(True, limit=self.item.amount)
        stats = await self.limiter.get_window_stats(self.item, self.namespace, user_id)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimitDecision(False, retry_after_s=retry, limit=self.item.amount, remaining=0)


class AuthFailures:
    """Failed authentications per client address, in this process: past ``rate`` the
    address gets 429 *before* its token is checked or its body read, until the oldest
    failure leaves the window. Memory only (no Redis round trip on every request); each
    replica keeps its own budget. The address is the client's as uvicorn sees it: behind
    an Ingress set ``FORWARDED_ALLOW_IPS`` so that it is the caller's, not the proxy's."""

    def __init__(self, rate: str) -> None:
        item = parse(rate)
        self.amount = item.amount
        self.window = MemoryMovingWindow(item.amount, item.get_expiry())
        self._blocked: dict[str, float] = {}
        self._next_sweep = 0.0

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        if not self._blocked:
            return None
        until = self._blocked.get(address)
        if until is None:
            return None
        now = time.monotonic()
        if now >= until:
            del self._blocked[address]
            return None
        return max(1, math.ceil(until - now))

    def failed(self, address: str) -> None:
        now = time.monotonic()
        wait_s = self.window.hit(address, now)
        if wait_s is None:  # counted: the budget is spent once the window is full
            hits = self.window.hits(address)
            if len(hits) >= self.amount:
                wait_s = hits[0] + self.window.window_s - now
        if wait_s is not None:
            self._blocked[address] = now + wait_s
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL_S
            for key in [k for k, until in self._blocked.items() if until <= now]:
                del self._blocked[key]
