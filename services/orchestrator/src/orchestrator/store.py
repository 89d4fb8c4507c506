"""Durable job records: each open job's workflow checkpoint, deadline and dedup ledger.

Two backends with one contract (``JobStore``):

- ``SqliteJobStore`` (default): one file (``ORCHESTRATOR_CHECKPOINT_PATH``), WAL mode,
  survives kill -9. For one replica, or replicas sharing the file on one host.
- ``RedisJobStore`` (``REDIS_URL`` set): shared by every replica, so a job whose partition
  moves to another replica continues there. Keys carry the job's Kafka partition as a hash
  tag (``<prefix>{p<n>}:job:<id>``, ``<prefix>{p<n>}:deadlines``): a save touches one
  slot (it works on Redis Cluster), and the timeout sweep reads only the deadline sets of
  the partitions a replica owns.

Every write is a compare-and-set on the record's ``version`` (``ConflictError`` when
someone else advanced the job first), so two writers can never both advance one job.
Open jobs are indexed by deadline (the timeout loop asks for overdue ones); finished jobs
keep a small marker (status, ledger, final events; no profile) that expires after
``ORCHESTRATOR_FINISHED_TTL_S``. Nothing is cached in process memory.
"""

import asyncio
import sqlite3
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from careers_contracts import TOPICS
from careers_runtime.partitioner import partition_of
from careers_runtime.redis_client import redis_from_url
from pydantic_core import from_json, to_json

# The topics the orchestrator consumes share this partition count (the range assignor
# gives partition p of each to one replica): a job's partition, wherever it is read.
PARTITIONS = TOPICS.analysis_completed.partitions


class ConflictError(RuntimeError):
    """The job changed since it was read (another writer advanced it): re-read and retry."""


@dataclass
class JobRecord:
    job_id: str
    version: int = 0
    status: str = "queued"
    # While open: {"values": <graph state>, "next": [<await node>]}; None once finished.
    checkpoint: dict[str, Any] | None = None
    deadline: float | None = None
    # Dedup ledger: applied event id -> {"coords": "topic/partition/offset", "outputs": {...}}
    applied: dict[str, Any] = field(default_factory=dict)
    finished_at: float | None = None
    updated_at: float = 0.0

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def dumps(self) -> str:
        # Shallow: the fields are JSON values already, and ``asdict`` would deep-copy the
        # checkpoint and ledger on every save just to serialise them. The one exception:
        # a fresh step's ledger outputs hold the events themselves (pydantic models),
        # written as the JSON ``to_outgoing`` validates again on a replay. pydantic-core's
        # serialiser (the same JSON as ``json.dumps`` of their ``model_dump(mode="json")``)
        # takes a fifth of the time on a finished job's 20-odd kB.
        values = {name: getattr(self, name) for name in _FIELDS}
        return to_json(values).decode()

    @classmethod
    def loads(cls, raw: str | bytes) -> "JobRecord":
        return cls(**from_json(raw))


_FIELDS = tuple(f.name for f in fields(JobRecord))
_SQLITE_BUSY_OR_LOCKED = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (primary result codes)


class JobStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def load(self, job_id: str) -> JobRecord | None: ...

    async def save(self, record: JobRecord, *, expected_version: int, ttl_s: float) -> None:
        """Write ``record`` (with version ``expected_version + 1``) if nobody else wrote
        since ``expected_version`` was read (0: the job must not exist yet)."""
        ...

    async def due(
        self, now: float, limit: int, partitions: Collection[int] | None = None
    ) -> list[str]:
        """Open jobs whose deadline has passed, most overdue first: only those on
        ``partitions`` (the replica's own), or on any partition (None)."""
        ...

    async def purge(self, now: float) -> int:
        """Drop expired finished markers; returns how many."""
        ...


# --------------------------------------------------------------------------- SQLite


class SqliteJobStore:
    """SQLite: loads and saves on the event loop, scans and checkpoints in a thread.

    A load or save is one indexed statement on a small row in WAL mode (tens of µs),
    cheaper than handing it to a thread and back (about 80 µs of CPU per hop, six hops a
    job), so it runs inline on a connection of the loop's own that never waits for a lock
    (``busy_timeout`` 0). When another process holds the write lock (replicas sharing the
    file) the statement is repeated on the thread's connection, which waits up to 10 s, so
    the loop never blocks on a lock. The inline connection never checkpoints the WAL
    (that can fsync); the thread does, passively, every ``CHECKPOINT_EVERY`` inline saves.
    Each connection stays in its thread.
    """

    CHECKPOINT_EVERY = 256

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None  # the thread's
        self._inline: sqlite3.Connection | None = None  # the event loop's
        self._saves = 0

    async def _call(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _connect(self, timeout: float) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL
        return db

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect(10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
            " deadline REAL, expires_at REAL, data TEXT NOT NULL)"
        )
        db.execute(
            "CREATE INDEX IF NOT EXISTS jobs_deadline ON jobs(deadline) WHERE deadline IS NOT NULL"
        )
        db.execute(
            "CREATE INDEX IF NOT EXISTS jobs_expires ON jobs(expires_at)"
            " WHERE expires_at IS NOT NULL"
        )
        self._db = db

    async def open(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="orchestrator-sqlite")
            await self._call(self._open)
            inline = self._connect(0)
            inline.execute("PRAGMA wal_autocheckpoint=0")
            self._inline = inline

    async def close(self) -> None:
        if self._executor is not None:
            if self._inline is not None:
                self._inline.close()
            if self._db is not None:
                await self._call(self._db.close)
            self._executor.shutdown(wait=True)
            self._executor, self._db, self._inline = None, None, None

    async def _run(self, fn: Any, *args: Any) -> Any:
        """``fn(connection, *args)`` inline; on the thread when the file is locked."""
        if self._inline is None:
            raise RuntimeError("store is not open")
        try:
            return fn(self._inline, *args)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _SQLITE_BUSY_OR_LOCKED:
                raise
        return await self._call(lambda: fn(self._conn(), *args))

    def _checkpoint(self) -> None:
        try:
            self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:  # pragma: no cover - the next one catches up
            pass

    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None
        return self._db

    @staticmethod
    def _load(db: sqlite3.Connection, job_id: str, now: float) -> JobRecord | None:
        row = db.execute(
            "SELECT data FROM jobs WHERE job_id = ? AND (expires_at IS NULL OR expires_at > ?)",
            (job_id, now),
        ).fetchone()
        return JobRecord.loads(row[0]) if row else None

    async def load(self, job_id: str) -> JobRecord | None:
        result: JobRecord | None = await self._run(self._load, job_id, time.time())
        return result

    @staticmethod
    def _save(db: sqlite3.Connection, record: JobRecord, expected: int, ttl_s: float) -> None:
        record.version = expected + 1
        expires = record.finished_at + ttl_s if record.finished_at is not None else None
        deadline = None if record.finished else record.deadline
        data = record.dumps()
        if expected == 0:
            # A finished marker that expired but was not purged yet may be replaced.
            db.execute(
                "DELETE FROM jobs WHERE job_id = ? AND expires_at IS NOT NULL AND expires_at <= ?",
                (record.job_id, time.time()),
            )
            try:
                db.execute(
                    "INSERT INTO jobs (job_id, version, deadline, expires_at, data)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (record.job_id, record.version, deadline, expires, data),
                )
            except sqlite3.IntegrityError as exc:
                raise ConflictError(f"job {record.job_id} already exists") from exc
            return
        cursor = db.execute(
            "UPDATE jobs SET version = ?, deadline = ?, expires_at = ?, data = ?"
            " WHERE job_id = ? AND version = ?",
            (record.version, deadline, expires, data, record.job_id, expected),
        )
        if cursor.rowcount != 1:
            raise ConflictError(f"job {record.job_id} changed since version {expected}")

    async def save(self, record: JobRecord, *, expected_version: int, ttl_s: float) -> None:
        await self._run(self._save, record, expected_version, ttl_s)
        self._saves += 1
        if self._saves % self.CHECKPOINT_EVERY == 0 and self._executor is not None:
            self._executor.submit(self._checkpoint)

    def _due(self, now: float, limit: int, partitions: Collection[int] | None) -> list[str]:
        rows = self._conn().execute(
            "SELECT job_id FROM jobs WHERE deadline IS NOT NULL AND deadline <= ?"
            " ORDER BY deadline",
            (now,),
        )
        # Dev and tests only (one host): the partition is checked here, row by row, so
        # other replicas' overdue jobs never take this replica's places in ``limit``.
        found: list[str] = []
        for (job_id,) in rows:
            if partitions is None or partition_of(job_id, PARTITIONS) in partitions:
                found.append(job_id)
                if len(found) >= limit:
                    break
        return found

    async def due(
        self, now: float, limit: int, partitions: Collection[int] | None = None
    ) -> list[str]:
        result: list[str] = await self._call(self._due, now, limit, partitions)
        return result

    def _purge(self, now: float) -> int:
        cursor = self._conn().execute(
            "DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
        )
        return int(cursor.rowcount)

    async def purge(self, now: float) -> int:
        result: int = await self._call(self._purge, now)
        return result


# ---------------------------------------------------------------------------- Redis

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


def create_store(
    *, redis_url: str | None, redis_prefix: str, sqlite_path: Path
) -> SqliteJobStore | RedisJobStore:
    if redis_url:
        return RedisJobStore(redis_url, redis_prefix)
    return SqliteJobStore(sqlite_path)
