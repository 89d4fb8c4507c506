"""What every job store keeps and promises (``JobRecord``, ``JobStore``), backend-free."""

from collections.abc import Collection
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from careers_contracts import TOPICS
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
        values = {name: getattr(self, name) for name in FIELDS}
        return to_json(values).decode()

    @classmethod
    def loads(cls, raw: str | bytes) -> "JobRecord":
        return cls(**from_json(raw))


# The record's field names, in order (the backends' columns and its JSON).
FIELDS = tuple(f.name for f in fields(JobRecord))


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
