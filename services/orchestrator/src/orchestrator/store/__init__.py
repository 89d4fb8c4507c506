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

from pathlib import Path

from orchestrator.store.contract import PARTITIONS, ConflictError, JobRecord, JobStore
from orchestrator.store.redis_store import RedisJobStore
from orchestrator.store.sqlite_store import SqliteJobStore

__all__ = [
    "PARTITIONS",
    "ConflictError",
    "JobRecord",
    "JobStore",
    "RedisJobStore",
    "SqliteJobStore",
    "create_store",
]


def create_store(
    *, redis_url: str | None, redis_prefix: str, sqlite_path: Path
) -> SqliteJobStore | RedisJobStore:
    if redis_url:
        return RedisJobStore(redis_url, redis_prefix)
    return SqliteJobStore(sqlite_path)
