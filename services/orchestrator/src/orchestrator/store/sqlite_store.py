"""The SQLite job store: one file, WAL mode; for ``make dev`` and tests (production refuses it)."""

import asyncio
import sqlite3
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from careers_runtime.partitioner import partition_of

from orchestrator.store.contract import PARTITIONS, ConflictError, JobRecord

_SQLITE_BUSY_OR_LOCKED = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (primary result codes)


class SqliteJobStore:
    """SQLite: loads and saves on the event loop, scans and checkpoints in a thread.

    A load or save is one indexed statement on a small row in WAL mode, cheaper than
    handing it to a thread and back (six hops a job; docs/benchmarks.md, orchestrator),
    so it runs inline on a connection of the loop's own that never waits for a lock
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
