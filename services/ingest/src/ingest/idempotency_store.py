"""Where Idempotency-Key records live: Redis (shared by replicas) or this process.

Keys are scoped per user and hashed (a client's key may contain anything printable, and
neither it nor the user id should appear verbatim in Redis). Records expire after
``ttl_s`` (24 h by default).
"""

import hashlib
import json
import time
from typing import Protocol

from redis.asyncio import Redis

from ingest.domain.idempotency import IdempotencyRecord


def record_key(user_id: str, key: str, prefix: str = "ingest:idem:") -> str:
    digest = hashlib.sha256(json.dumps([user_id, key]).encode()).hexdigest()
    return prefix + digest


class IdempotencyStore(Protocol):
    async def get(self, user_id: str, key: str) -> IdempotencyRecord | None: ...

    async def reserve(
        self, user_id: str, key: str, record: IdempotencyRecord, ttl_s: float
    ) -> bool:
        """Store ``record`` for ``ttl_s`` unless one exists; False if another request has.

        The pending record's short TTL frees the key if this replica dies mid-request.
        """
        ...

    async def complete(self, user_id: str, key: str, record: IdempotencyRecord) -> None: ...

    async def release(self, user_id: str, key: str) -> None: ...


class MemoryIdempotencyStore:
    def __init__(self, ttl_s: float, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._records: dict[str, tuple[float, IdempotencyRecord]] = {}

    def _live(self, name: str, now: float) -> IdempotencyRecord | None:
        entry = self._records.get(name)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._records[name]
            return None
        return entry[1]

    async def get(self, user_id: str, key: str) -> IdempotencyRecord | None:
        return self._live(record_key(user_id, key), time.monotonic())

    async def reserve(
        self, user_id: str, key: str, record: IdempotencyRecord, ttl_s: float
    ) -> bool:
        now = time.monotonic()
        name = record_key(user_id, key)
        if self._live(name, now) is not None:
            return False
        if len(self._records) >= self.max_entries:
            self._records = {k: v for k, v in self._records.items() if v[0] > now}
            while len(self._records) >= self.max_entries:  # still full: drop the oldest
                del self._records[next(iter(self._records))]
        self._records[name] = (now + ttl_s, record)
        return True

    async def complete(self, user_id: str, key: str, record: IdempotencyRecord) -> None:
        self._records[record_key(user_id, key)] = (time.monotonic() + self.ttl_s, record)

    async def release(self, user_id: str, key: str) -> None:
        self._records.pop(record_key(user_id, key), None)


class RedisIdempotencyStore:
    def __init__(self, redis: Redis, ttl_s: int, prefix: str = "ingest:idem:") -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.prefix = prefix

    def _name(self, user_id: str, key: str) -> str:
        return record_key(user_id, key, self.prefix)

    async def get(self, user_id: str, key: str) -> IdempotencyRecord | None:
        raw = await self.redis.get(self._name(user_id, key))
        if raw is None:
            return None
        return IdempotencyRecord.from_json(json.loads(raw))

    async def reserve(
        self, user_id: str, key: str, record: IdempotencyRecord, ttl_s: float
    ) -> bool:
        created = await self.redis.set(
            self._name(user_id, key), json.dumps(record.to_json()), nx=True, px=int(ttl_s * 1000)
        )
        return bool(created)

    async def complete(self, user_id: str, key: str, record: IdempotencyRecord) -> None:
        await self.redis.set(self._name(user_id, key), json.dumps(record.to_json()), ex=self.ttl_s)

    async def release(self, user_id: str, key: str) -> None:
        await self.redis.delete(self._name(user_id, key))
