"""Per-user rate limit of submits with the ``limits`` library.

With ``REDIS_URL`` the counters live in Redis, so every replica enforces one shared limit
per user; without it each process counts on its own (fine for one replica and dev).
A moving window: "10/minute" means at most 10 submits in any 60 s.
"""

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0
    limit: int = 0
    remaining: int = 0


class SubmitRateLimiter:
    def __init__(self, rate: str, redis_url: str | None = None, prefix: str = "ingest") -> None:
        self.item: RateLimitItem = parse(rate)
        self.storage: Storage
        if redis_url:
            uri = redis_url.replace("redis://", "async+redis://", 1).replace(
                "rediss://", "async+rediss://", 1
            )
            self.storage = RedisStorage(uri, implementation="redispy", key_prefix=f"{prefix}:rl")
        else:
            self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, user_id: str) -> Decision:
        if await self.limiter.hit(self.item, "submit", user_id):
            return Decision(True, limit=self.item.amount)
        stats = await self.limiter.get_window_stats(self.item, "submit", user_id)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return Decision(False, retry_after_s=retry, limit=self.item.amount, remaining=0)

    async def ping(self) -> bool:
        return bool(await self.storage.check())
