"""The jobs a replica knows about, built from ``JobStatusChanged`` events.

Events of one job are keyed by job id, so they arrive in partition order; but ingest's own
``queued`` (sequence 0) and the orchestrator's first update are produced independently and
may land in either order, and re-deliveries repeat sequences. The store therefore keeps
every distinct sequence once and treats the highest as the job's state: applying events in
any order, any number of times, gives the same result.

Memory is bounded: at most ``max_jobs`` jobs (least recently updated evicted first), each
forgotten ``ttl_s`` after its last update.
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from careers_contracts import TERMINAL_STATES, JobStatusChanged

MAX_EVENTS_PER_JOB = 64
QUEUED_SEQUENCE = 0  # a job's first status, derived from its submit


@dataclass
class JobStatusRecord:
    job_id: str
    user_id: str
    events: dict[int, JobStatusChanged] = field(default_factory=dict)
    touched_at: float = 0.0

    @property
    def latest(self) -> JobStatusChanged:
        return self.events[max(self.events)]

    @property
    def created_at(self) -> datetime:
        return min(event.at for event in self.events.values())

    @property
    def submit_seen(self) -> bool:
        """Whether the job's first status (``queued``, from its submit) is here; a replica
        that knows the job only from the orchestrator's updates has not read it yet."""
        return QUEUED_SEQUENCE in self.events

    @property
    def terminal(self) -> bool:
        return self.latest.status in TERMINAL_STATES

    def after(self, sequence: int) -> list[JobStatusChanged]:
        """Events with a sequence above ``sequence``, in order (for SSE resume)."""
        return [self.events[s] for s in sorted(self.events) if s > sequence]


class JobStatusStore:
    def __init__(self, max_jobs: int = 10_000, ttl_s: float = 172_800.0) -> None:
        self.max_jobs = max_jobs
        self.ttl_s = ttl_s
        self._jobs: OrderedDict[str, JobStatusRecord] = OrderedDict()

    def __len__(self) -> int:
        return len(self._jobs)

    def apply(self, event: JobStatusChanged, now: float) -> bool:
        """Record ``event``; True when it was new (callers then notify watchers).

        ``now`` is wall-clock seconds (``time.time()``), as are events' ``at`` times.
        """
        record = self._jobs.get(event.job_id)
        if record is None:
            record = JobStatusRecord(job_id=event.job_id, user_id=event.user_id)
            self._jobs[event.job_id] = record
        elif record.user_id != event.user_id:
            return False  # a job never changes owner; ignore a forged or buggy event
        if event.sequence in record.events:
            return False
        record.events[event.sequence] = event
        if len(record.events) > MAX_EVENTS_PER_JOB:
            del record.events[min(record.events)]
        # A replayed topic (replica start-up) must not make old jobs look fresh: age by
        # the event's own time, but never ahead of the local clock.
        record.touched_at = max(record.touched_at, min(event.at.timestamp(), now))
        self._jobs.move_to_end(event.job_id)
        self._evict(now)
        return True

    def get(self, job_id: str, now: float) -> JobStatusRecord | None:
        record = self._jobs.get(job_id)
        if record is None:
            return None
        if now - record.touched_at > self.ttl_s:
            del self._jobs[job_id]
            return None
        return record

    def _evict(self, now: float) -> None:
        while len(self._jobs) > self.max_jobs:
            self._jobs.popitem(last=False)
        # Oldest first: stop at the first job still within its TTL.
        while self._jobs:
            oldest = next(iter(self._jobs.values()))
            if now - oldest.touched_at <= self.ttl_s:
                break
            self._jobs.popitem(last=False)
