"""The shared job read model in Redis: every job's status and history, for every replica.

Keys, all of one job under one hash tag (one Redis Cluster slot, so a script may touch
both):

- ``careers:job:{<job id>}:status`` — a hash: ``seq`` (the current sequence), ``user``
  (the owner), ``created`` (ms since the epoch);
- ``careers:job:{<job id>}:events`` — a Redis Stream, the job's history, one entry per
  sequence with the explicit id ``<sequence + 1>-0`` (``ingest.domain.jobs``), each the
  ``JobStatusChanged`` as JSON; its last entry is the job's current status (kept once, not
  copied into the hash: a completed job's recommendations are most of its bytes).

Both expire ``JOB_TTL_S`` (7 days) after the job's last update. One script writes an
update: it takes it only above the current sequence (never backwards; a re-delivered
update changes nothing) and only for the job's owner.

Who writes: the replica that accepts a submit writes ``queued`` (sequence 0) before it
publishes ``profile.submitted``; the orchestrator's updates (sequence 1 on) arrive on the
job-status topic and are projected once for the whole cluster (``ingest.projector``): one
consumer group (``INGEST_JOB_STATUS_GROUP``) shared by every ingest replica, committing
a batch only after its writes succeeded. So any replica answers for any job with one
Redis read, an event stream follows the job's history stream (``XREAD BLOCK``) whichever
replica wrote it, and a replica's start-up reads nothing of the topics' history.
"""

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from careers_contracts import JobStatusChanged
from redis.asyncio import Redis, RedisCluster

from ingest.domain.jobs import (
    MAX_EVENTS_PER_JOB,
    JobSnapshot,
    history_cursor,
    history_id,
    sequence_of,
)

RedisClient = Redis | RedisCluster

# KEYS: status hash, history stream. ARGV: sequence, owner, event JSON, event time (ms),
# TTL (s), history id, max history entries. Returns 1 applied, 0 not newer, -1 other owner.
_RECORD_LUA = """
local current = redis.call('HGET', KEYS[1], 'seq')
if current then
  if redis.call('HGET', KEYS[1], 'user') ~= ARGV[2] then return -1 end
  if tonumber(current) >= tonumber(ARGV[1]) then return 0 end
else
  redis.call('DEL', KEYS[2])
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[7], ARGV[6], 'e', ARGV[3])
local created = redis.call('HGET', KEYS[1], 'created')
if (not created) or tonumber(ARGV[4]) < tonumber(created) then
  redis.call('HSET', KEYS[1], 'created', ARGV[4])
end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'user', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""

# KEYS: status hash, history stream. Returns {owner, created ms, latest event JSON} or nil.
_GET_LUA = """
local head = redis.call('HMGET', KEYS[1], 'user', 'created')
if not head[1] then return false end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #last == 0 then return false end
return {head[1], head[2], last[1][2][2]}
"""

# KEYS: the user's open streams (sorted set: stream id -> expiry). ARGV: now, expiry,
# stream id, max. Returns 1 opened, 0 at the limit. Entries of a replica that died go
# when their token would have expired (a stream never outlives its token).
_OPEN_STREAM_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class JobReadModel:
    """Reads and writes of the job read model (see the module doc)."""

    def __init__(
        self,
        redis: RedisClient,
        ttl_s: int,
        *,
        streaming: RedisClient | None = None,
        prefix: str = "careers:",
    ) -> None:
        self.redis = redis
        # Blocking reads (XREAD BLOCK) hold a connection each and outlast the normal
        # client's socket timeout: a client of their own.
        self.streaming = streaming or redis
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._record = redis.register_script(_RECORD_LUA)
        self._get = redis.register_script(_GET_LUA)
        self._open_stream = redis.register_script(_OPEN_STREAM_LUA)

    def status_key(self, job_id: str) -> str:
        return f"{self.prefix}job:{{{job_id}}}:status"

    def history_key(self, job_id: str) -> str:
        return f"{self.prefix}job:{{{job_id}}}:events"

    async def record(self, event: JobStatusChanged) -> int:
        """Write ``event``: 1 applied, 0 not above the job's sequence, -1 another owner."""
        result = await self._record(
            keys=[self.status_key(event.job_id), self.history_key(event.job_id)],
            args=[
                event.sequence,
                event.user_id,
                event.model_dump_json(by_alias=True),
                int(event.at.timestamp() * 1000),
                self.ttl_s,
                history_id(event.sequence),
                MAX_EVENTS_PER_JOB,
            ],
        )
        return int(result)

    async def forget(self, job_id: str) -> None:
        """Remove a job (a submit whose publish failed: the job does not exist)."""
        await self.redis.delete(self.status_key(job_id))
        await self.redis.delete(self.history_key(job_id))

    async def get(self, job_id: str) -> JobSnapshot | None:
        """The job's current state: one read (a script over the job's two keys)."""
        raw = await self._get(keys=[self.status_key(job_id), self.history_key(job_id)])
        if not raw:
            return None
        owner, created_ms, latest = raw
        created = datetime.fromtimestamp(int(_text(created_ms)) / 1000, UTC)
        return JobSnapshot(
            job_id, _text(owner), created, JobStatusChanged.model_validate_json(latest)
        )

    async def history_after(
        self, job_id: str, after_sequence: int, block_ms: int | None = None
    ) -> list[JobStatusChanged]:
        """The job's updates above ``after_sequence``, oldest first; with ``block_ms``,
        waits that long for the next one when there is none yet."""
        client = self.redis if block_ms is None else self.streaming
        extra: dict[str, Any] = {} if block_ms is None else {"block": block_ms}
        answer: Any = await client.xread(
            {self.history_key(job_id): history_cursor(after_sequence)},
            count=MAX_EVENTS_PER_JOB,
            **extra,
        )
        events: list[JobStatusChanged] = []
        for _, entries in answer or ():
            for entry_id, fields in entries:
                event = JobStatusChanged.model_validate_json(
                    fields.get(b"e") or fields.get("e")  # bytes or str, as the client decodes
                )
                if event.sequence == sequence_of(entry_id):
                    events.append(event)
        return events

    # ----------------------------------------------------------- per-user stream limit

    def _streams_key(self, user_id: str) -> str:
        digest = hashlib.sha256(user_id.encode()).hexdigest()[:32]
        return f"{self.prefix}sse:{{{digest}}}"

    async def open_stream(
        self, user_id: str, stream_id: str, expires_at: float, limit: int
    ) -> bool:
        """Count one open event stream of ``user_id`` (cluster-wide); False at ``limit``."""
        opened = await self._open_stream(
            keys=[self._streams_key(user_id)],
            args=[time.time(), expires_at, stream_id, limit],
        )
        return int(opened) == 1

    async def close_stream(self, user_id: str, stream_id: str) -> None:
        await self.redis.zrem(self._streams_key(user_id), stream_id)
