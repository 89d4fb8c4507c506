"""The Redis job store: shared by every replica, partition-tagged keys (Redis Cluster-ready)."""

from collections.abc import Collection
from typing import Any

from careers_runtime.partitioner import partition_of
from careers_runtime.redis_client import redis_from_url

from orchestrator.store.contract import PARTITIONS, ConflictError, JobRecord

# KEYS: job hash, deadline zset. ARGV: expected version, new version, data, ttl ms ('' =
# none), deadline ('' = not waiting), job id. Returns 1 on success, 0 on a version clash.
_SAVE_LUA = """
local current = redis.call('HGET', KEYS[1], 'v')
if current == false then current = '0' end
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
else
  redis.call('PERSIST', KEYS[1])
end
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
else
  redis.call('ZREM', KEYS[2], ARGV[6])
end
return 1
"""


class RedisJobStore:
    """One hash per job (version + JSON) and one deadline sorted set per partition, both
    under the partition's hash tag: ``<prefix>{p<n>}:job:<id>``, ``<prefix>{p<n>}:deadlines``.

    The save script touches the job and its partition's deadline set: one slot, so it runs
    unchanged on a Redis Cluster (a cluster spreads the partitions' slots over its shards).
    """

    def __init__(self, url: str, prefix: str, partitions: int = PARTITIONS) -> None:
        self.url = url
        self.prefix = prefix
        self.partitions = partitions
        self._client: Any = None
        self._save_script: Any = None

    def _tag(self, partition: int) -> str:
        return f"{self.prefix}{{p{partition}}}:"

    def _job_key(self, job_id: str) -> str:
        return f"{self._tag(partition_of(job_id, self.partitions))}job:{job_id}"

    def _deadlines_key(self, partition: int) -> str:
        return f"{self._tag(partition)}deadlines"

    async def open(self) -> None:
        if self._client is None:
            self._client = redis_from_url(self.url, socket_timeout=5, socket_connect_timeout=5)
            await self._client.ping()
            self._save_script = self._client.register_script(_SAVE_LUA)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def load(self, job_id: str) -> JobRecord | None:
        raw = await self._client.hget(self._job_key(job_id), "d")
        return JobRecord.loads(raw) if raw else None

    async def save(self, record: JobRecord, *, expected_version: int, ttl_s: float) -> None:
        record.version = expected_version + 1
        ttl_ms = str(int(ttl_s * 1000)) if record.finished else ""
        deadline = "" if record.finished or record.deadline is None else repr(record.deadline)
        ok = await self._save_script(
            keys=[
                self._job_key(record.job_id),
                self._deadlines_key(partition_of(record.job_id, self.partitions)),
            ],
            args=[
                str(expected_version),
                str(record.version),
                record.dumps(),
                ttl_ms,
                deadline,
                record.job_id,
            ],
        )
        if int(ok) != 1:
            raise ConflictError(f"job {record.job_id} changed since version {expected_version}")

    async def due(
        self, now: float, limit: int, partitions: Collection[int] | None = None
    ) -> list[str]:
        """The most overdue of the owned partitions' deadline sets (one read each)."""
        owned = range(self.partitions) if partitions is None else sorted(partitions)
        overdue: list[tuple[float, str]] = []
        for partition in owned:
            raw = await self._client.zrangebyscore(
                self._deadlines_key(partition), "-inf", now, start=0, num=limit, withscores=True
            )
            overdue += [(score, r.decode() if isinstance(r, bytes) else str(r)) for r, score in raw]
        overdue.sort()
        return [job_id for _, job_id in overdue[:limit]]

    async def purge(self, now: float) -> int:
        return 0  # finished markers carry a Redis TTL
