"""Per-user rate limit of submits with the ``limits`` library.

With ``REDIS_URL`` the counters live in Redis, so every replica enforces one shared limit
per user; without it each process counts on its own (fine for one replica and dev), in
``limits_memory.SweepingMemoryStorage``.
A moving window: "10/minute" means at most 10 submits in any 60 s.
"""

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from ingest.limits_memory import SweepingMemoryStorage


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    retry_after_s: int = 0
    limit: int = 0
    remaining: int = 0


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

    async def hit(self, user_id: str) -> RateLimitDecision:
        if await self.limiter.hit(self.item, self.namespace, user_id):
            return RateLimitDecision(True, limit=self.item.amount)
        stats = await self.limiter.get_window_stats(self.item, self.namespace, user_id)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimitDecision(False, retry_after_s=retry, limit=self.item.amount, remaining=0)
