"""Each replica follows the job-status and profile.submitted topics; serves jobs from memory.

There is no shared consumer group: every ingest replica reads every partition of both
topics from the earliest retained offset (aiokafka without ``group_id``), so any replica
can answer ``GET /v1/jobs/{id}`` and stream SSE for any job, whichever replica took the
submit. A job's first status (``queued``, sequence 0) is derived from its
``profile.submitted`` record (only the envelope and the job's ids and time are decoded,
not the profile); the orchestrator's updates (sequence 1 on) come from the job-status
topic. Nothing is committed; a restarted replica rebuilds its (bounded) store from the
topics.
"""

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from careers_contracts import TOPICS, JobStatusChanged
from careers_contracts.events import JobEvent
from careers_runtime.codec import HEADER_EVENT_ID, EventValidationError, decode
from careers_runtime.kafka_client import kafka_client_kwargs
from prometheus_client import Counter, Gauge

from ingest.domain.jobs import JobStatusRecord, JobStatusStore
from ingest.domain.submission import queued_status
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)

STATUS_EVENTS = Counter(
    "ingest_job_status_events_total", "job-status records consumed by this replica", ["result"]
)
JOBS_TRACKED = Gauge("ingest_jobs_tracked", "Jobs held in this replica's job store")
LOCAL_IDS_KEPT = 10_000


class SubmittedHead(JobEvent):
    """What the follower reads of a ``ProfileSubmitted``: the job, its owner, its time
    (the profile itself is skipped, unvalidated; unknown fields are ignored)."""

    submitted_at: datetime


# profile.submitted, decoded as its head: the same envelope checks as ``decode`` everywhere.
SUBMITTED_HEADS = replace(TOPICS.profile_submitted, payload=SubmittedHead)


class LiveJobs:
    """The job store plus wake-ups for requests waiting on a job (SSE, GET of a new job)."""

    def __init__(self, store: JobStatusStore) -> None:
        self.store = store
        # job id -> (event set on the job's next change, number of waiters)
        self._waiters: dict[str, tuple[asyncio.Event, int]] = {}
        # Ids of events this replica applied before publishing them (its own `queued`
        # updates): the follower skips decoding them when they come back from the topic.
        self._local_ids: OrderedDict[str, None] = OrderedDict()
        JOBS_TRACKED.set_function(lambda: len(store))  # read at scrape time, not per update

    def get(self, job_id: str) -> JobStatusRecord | None:
        return self.store.get(job_id, time.time())

    def apply(self, event: JobStatusChanged) -> bool:
        changed = self.store.apply(event, time.time())
        if changed:
            entry = self._waiters.pop(event.job_id, None)
            if entry is not None:
                entry[0].set()
        return changed

    def mark_local(self, event_id: str) -> None:
        """This replica publishes ``event_id`` and applies its status itself: the follower
        skips the record (without decoding it) when it comes back from the topic."""
        self._local_ids[event_id] = None
        if len(self._local_ids) > LOCAL_IDS_KEPT:
            self._local_ids.popitem(last=False)

    def apply_local(self, event: JobStatusChanged, event_id: str) -> None:
        """Apply an event this replica is about to publish (visible before the round trip)."""
        self.apply(event)
        self.mark_local(event_id)

    def is_local(self, event_id: str) -> bool:
        """True once for an event applied through ``apply_local``."""
        return self._local_ids.pop(event_id, 0) is None

    async def wait(self, job_id: str, timeout_s: float) -> bool:
        """Wait until the job changes (True) or ``timeout_s`` passes (False)."""
        event, count = self._waiters.get(job_id, (asyncio.Event(), 0))
        self._waiters[job_id] = (event, count + 1)
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            entry = self._waiters.get(job_id)
            if entry is not None and entry[0] is event:
                if entry[1] <= 1:
                    del self._waiters[job_id]  # no waiters left: nothing accumulates
                else:
                    self._waiters[job_id] = (event, entry[1] - 1)

    @property
    def waiting(self) -> int:
        return sum(count for _, count in self._waiters.values())


class JobStatusFollower:
    """Background task: job-status and profile.submitted topics -> ``LiveJobs``."""

    def __init__(self, settings: IngestSettings, jobs: LiveJobs) -> None:
        self.settings = settings
        self.jobs = jobs
        self.topic = TOPICS.job_status
        self.submitted_topic = TOPICS.profile_submitted
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._initial_end: dict[TopicPartition, int] | None = None
        self.caught_up = False

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic.name,
            self.submitted_topic.name,
            **kafka_client_kwargs(self.settings),
            client_id=f"{self.settings.service_name}-job-status",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=self.settings.kafka_request_timeout_ms,
            # Progress is user-facing: bound how long a fetch may sit on the broker (the
            # embedded broker answers at the deadline rather than when data arrives).
            fetch_max_wait_ms=self.settings.job_status_fetch_wait_ms,
        )
        await consumer.start()
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="job-status-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    @property
    def assigned_partitions(self) -> int:
        return len(self._consumer.assignment()) if self._consumer is not None else 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _check_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        assignment = consumer.assignment()
        if not assignment:
            return
        if self._initial_end is None:
            self._initial_end = await consumer.end_offsets(list(assignment))
        for tp, end in self._initial_end.items():
            if await consumer.position(tp) < end:
                return
        self.caught_up = True
        log.info("job-status caught up", extra={"jobs": len(self.jobs.store)})

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                for tp, records in batches.items():
                    submitted = tp.topic == self.submitted_topic.name
                    for record in records:
                        self._apply_safely(record.value, record.headers, submitted=submitted)
                if not self.caught_up:
                    await self._check_caught_up(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep following; the broker may come back
                log.warning("job-status follower error", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)

    def _apply_safely(
        self,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]] = (),
        *,
        submitted: bool = False,
    ) -> None:
        """Apply one record; whatever it holds, skip and count it rather than lose the rest
        of the fetched batch (nothing is committed, so a dropped batch would be gone)."""
        try:
            self._apply(value, headers, submitted=submitted)
        except Exception as exc:
            STATUS_EVENTS.labels("invalid").inc()
            log.warning("unusable job-status record skipped", extra={"error": type(exc).__name__})

    def _apply(
        self,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]] = (),
        *,
        submitted: bool = False,
    ) -> None:
        """One job-status record, or (``submitted``) one profile.submitted record as the
        job's ``queued`` status."""
        for name, raw in headers:
            if name == HEADER_EVENT_ID:
                if raw and self.jobs.is_local(raw.decode("utf-8", "replace")):
                    STATUS_EVENTS.labels("local").inc()
                    return
                break
        try:
            _, decoded = decode(value, SUBMITTED_HEADS if submitted else self.topic)
        except EventValidationError as exc:
            STATUS_EVENTS.labels("invalid").inc()
            log.warning("invalid job-status record skipped", extra={"reason": str(exc)[:200]})
            return
        if isinstance(decoded, SubmittedHead):
            payload = queued_status(decoded.job_id, decoded.user_id, decoded.submitted_at)
        else:
            assert isinstance(decoded, JobStatusChanged)
            payload = decoded
        STATUS_EVENTS.labels("applied" if self.jobs.apply(payload) else "duplicate").inc()
