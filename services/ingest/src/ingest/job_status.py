"""Each replica follows the job-status topic and reads profile.submitted; serves jobs from memory.

There is no shared consumer group: every ingest replica reads every partition of both
topics from the earliest retained offset (aiokafka without ``group_id``), so any replica
can answer ``GET /v1/jobs/{id}`` and stream SSE for any job, whichever replica took the
submit. The orchestrator's updates (sequence 1 on) come from the job-status topic, followed
as they come. A job's first status (``queued``, sequence 0) is derived from its
``profile.submitted`` record (only the envelope and the job's ids and time are decoded,
not the profile): the replica that took the submit applies it itself, the others read the
topic at start-up and then only when a request asks for a job they have not seen submitted
(``SubmittedReader``). Nothing is committed; a restarted replica rebuilds its (bounded)
store from the topics.
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
from careers_runtime.delivery import SafeFetch
from careers_runtime.kafka_client import kafka_client_kwargs
from careers_runtime.partitioner import key_partitioner
from prometheus_client import Counter, Gauge

from ingest.domain.jobs import JobStatusRecord, JobStatusStore
from ingest.domain.submission import queued_status
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)

STATUS_EVENTS = Counter(
    "ingest_job_status_events_total", "job-status records consumed by this replica", ["result"]
)
JOBS_TRACKED = Gauge("ingest_jobs_tracked", "Jobs held in this replica's job store")
READ_BACKS = Counter(
    "ingest_submitted_read_backs_total",
    "Requests that read profile.submitted for a job not seen submitted here "
    "(read: records fetched; current: nothing new; timeout; error)",
    ["result"],
)
LOCAL_IDS_KEPT = 10_000
# A read-back fetches only records that exist (below the end it waits for): the last fetch,
# past the end, should not hold the partition long.
READ_BACK_FETCH_WAIT_MS = 10
IDLE_CHECK_S = 30.0


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
    """Background task: the job-status topic -> ``LiveJobs``, plus ``profile.submitted``
    read on demand (``SubmittedReader``) for jobs accepted by another replica."""

    def __init__(self, settings: IngestSettings, jobs: LiveJobs) -> None:
        self.settings = settings
        self.jobs = jobs
        self.topic = TOPICS.job_status
        self.submitted = SubmittedReader(settings, jobs)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._start = StartCatchUp()

    async def start(self) -> None:
        # Progress is user-facing: bound how long a fetch may sit on the broker (the
        # embedded broker answers at the deadline rather than when data arrives).
        consumer = reader(
            self.settings, self.topic.name, "job-status", self.settings.job_status_fetch_wait_ms
        )
        await consumer.start()
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="job-status-follower")
        await self.submitted.start()

    async def stop(self) -> None:
        await self.submitted.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def read_back(self, job_id: str, timeout_s: float) -> bool:
        """Read ``job_id``'s ``profile.submitted`` partition up to its end (see
        ``SubmittedReader.read_back``)."""
        return await self.submitted.read_back(job_id, timeout_s)

    @property
    def caught_up(self) -> bool:
        return self._start.done and self.submitted.caught_up

    @property
    def assigned_partitions(self) -> int:
        status = len(self._consumer.assignment()) if self._consumer is not None else 0
        return status + self.submitted.assigned_partitions

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and self.submitted.running

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        fetch = SafeFetch(consumer, group=False)  # unreadable bytes: logged and skipped
        while True:
            try:
                batches = await fetch.getmany(timeout_ms=500, max_records=500)
                for records in batches.records.values():
                    for record in records:
                        apply_record(self.jobs, record.value, record.headers, submitted=False)
                if not self._start.done and await self._start.check(consumer):
                    log.info("job-status caught up", extra={"jobs": len(self.jobs.store)})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep following; the broker may come back
                log.warning("job-status follower error", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)


class SubmittedReader:
    """``profile.submitted``, read at start-up and then only when a request asks for a job.

    A job accepted by another replica is known here from the orchestrator's updates on the
    job-status topic, but its first status (``queued``, with the submit's time) only exists
    in its ``profile.submitted`` record. Reading every submit of every replica as it comes
    would cost each replica the whole cluster's submit traffic (and, on the embedded broker,
    slows the submits' own acks, docs/benchmarks.md); so once start-up has replayed the
    topic its partitions are paused, and a GET or SSE request for a job this replica has
    not seen submitted resumes the job's partition (the job id is the key) until it reaches
    the end it had when the request came: the job was acknowledged before its 202, so its
    record is below that end.
    """

    def __init__(self, settings: IngestSettings, jobs: LiveJobs) -> None:
        self.settings = settings
        self.jobs = jobs
        self.topic = TOPICS.profile_submitted
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._start = StartCatchUp()
        # partition -> (end offset a request waits for, its future), in arrival order
        self._demands: dict[TopicPartition, list[tuple[int, asyncio.Future[None]]]] = {}
        self._demanded = asyncio.Event()

    async def start(self) -> None:
        # Fetches only run while there is something to read (start-up, a request's
        # read-back): a short wait ends the last one soon after the end is reached.
        consumer = reader(self.settings, self.topic.name, "submitted", READ_BACK_FETCH_WAIT_MS)
        await consumer.start()
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="profile-submitted-reader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for waiting in self._demands.values():
            for _, future in waiting:
                if not future.done():  # a request still waiting serves what is known
                    future.set_result(None)
        self._demands.clear()
        if self._consumer is not None:
            await self._consumer.stop()

    @property
    def caught_up(self) -> bool:
        return self._start.done

    @property
    def assigned_partitions(self) -> int:
        return len(self._consumer.assignment()) if self._consumer is not None else 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def read_back(self, job_id: str, timeout_s: float) -> bool:
        """Read the partition of ``job_id`` up to its current end, waiting at most
        ``timeout_s``: True once read (the job's submit, if it exists, is then applied),
        False on timeout or when the broker cannot answer (the caller serves what it has)."""
        consumer = self._consumer
        if consumer is None or timeout_s <= 0:
            return False
        futures: list[asyncio.Future[None]] = []
        try:
            async with asyncio.timeout(timeout_s):
                ends = await consumer.end_offsets(self._partitions_of(consumer, job_id))
                for tp, end in ends.items():
                    if await consumer.position(tp) >= end:
                        continue
                    future = asyncio.get_running_loop().create_future()
                    self._demands.setdefault(tp, []).append((end, future))
                    futures.append(future)
                    consumer.resume(tp)
                if futures:
                    self._demanded.set()
                    await asyncio.gather(*futures)
        except TimeoutError:
            READ_BACKS.labels("timeout").inc()
            return False
        except Exception as exc:  # the broker is away: GET/SSE still serve what is known
            READ_BACKS.labels("error").inc()
            log.warning("profile.submitted read-back failed", extra={"error": type(exc).__name__})
            return False
        finally:
            for future in futures:
                future.cancel()  # no-op once done; a timed-out request stops waiting
        READ_BACKS.labels("read" if futures else "current").inc()
        return True

    def _partitions_of(self, consumer: AIOKafkaConsumer, job_id: str) -> list[TopicPartition]:
        """The job's partition, chosen as every producer chooses it (``key_partitioner``);
        every assigned partition when the topic's partitions are not known yet."""
        partitions = sorted(consumer.partitions_for_topic(self.topic.name) or ())
        if not partitions:
            return sorted(consumer.assignment())
        chosen = key_partitioner(job_id.encode(), partitions, partitions)
        return [TopicPartition(self.topic.name, chosen)]

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        fetch = SafeFetch(consumer, group=False)  # unreadable bytes: logged and skipped
        while True:
            try:
                if self.caught_up and not self._demands:
                    # Nothing to read: no fetches at all until a request asks (or, now
                    # and then, to pause partitions a metadata change assigned).
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(IDLE_CHECK_S):
                            await self._demanded.wait()
                    self._demanded.clear()
                    self._pause_idle(consumer)
                    continue
                batches = await fetch.getmany(timeout_ms=200, max_records=500)
                for records in batches.records.values():
                    for record in records:
                        apply_record(self.jobs, record.value, record.headers, submitted=True)
                if not self._start.done and await self._start.check(consumer):
                    self._pause_idle(consumer)
                    log.info("profile.submitted caught up", extra={"jobs": len(self.jobs.store)})
                await self._settle(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep reading; the broker may come back
                log.warning("profile.submitted reader error", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)

    async def _settle(self, consumer: AIOKafkaConsumer) -> None:
        """Answer the requests whose end was reached; pause partitions nobody waits on."""
        for tp in list(self._demands):
            position = await consumer.position(tp)
            waiting = []
            for end, future in self._demands[tp]:
                if future.done():
                    continue  # the request gave up (timeout) or was answered
                if position >= end:
                    future.set_result(None)
                else:
                    waiting.append((end, future))
            if waiting:
                self._demands[tp] = waiting
            else:
                del self._demands[tp]
        self._pause_idle(consumer)

    def _pause_idle(self, consumer: AIOKafkaConsumer) -> None:
        if not self.caught_up:
            return
        idle = consumer.assignment() - self._demands.keys() - consumer.paused()
        if idle:
            consumer.pause(*idle)


def reader(
    settings: IngestSettings, topic: str, role: str, fetch_max_wait_ms: int
) -> AIOKafkaConsumer:
    """A consumer of every partition of ``topic`` from the earliest retained offset, in no
    group and committing nothing (each replica reads for itself)."""
    return AIOKafkaConsumer(
        topic,
        **kafka_client_kwargs(settings),
        client_id=f"{settings.service_name}-{role}",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=settings.kafka_request_timeout_ms,
        fetch_max_wait_ms=fetch_max_wait_ms,
    )


class StartCatchUp:
    """Whether a consumer has read up to the ends its partitions had when first checked
    (a replica is ready once it has replayed what the topics held at its start)."""

    def __init__(self) -> None:
        self._ends: dict[TopicPartition, int] | None = None
        self.done = False

    async def check(self, consumer: AIOKafkaConsumer) -> bool:
        if self.done:
            return True
        assignment = consumer.assignment()
        if not assignment:
            return False
        if self._ends is None:
            self._ends = await consumer.end_offsets(list(assignment))
        for tp, end in self._ends.items():
            if await consumer.position(tp) < end:
                return False
        self.done = True
        return True


def apply_record(
    jobs: LiveJobs,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] = (),
    *,
    submitted: bool,
) -> None:
    """Apply one job-status record, or (``submitted``) one profile.submitted record as the
    job's ``queued`` status. Whatever it holds, skip and count it rather than lose the rest
    of the fetched batch (nothing is committed, so a dropped batch would be gone)."""
    try:
        _apply(jobs, value, headers, submitted=submitted)
    except Exception as exc:
        STATUS_EVENTS.labels("invalid").inc()
        log.warning("unusable job-status record skipped", extra={"error": type(exc).__name__})


def _apply(
    jobs: LiveJobs,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]],
    *,
    submitted: bool,
) -> None:
    for name, raw in headers:
        if name == HEADER_EVENT_ID:
            if raw and jobs.is_local(raw.decode("utf-8", "replace")):
                STATUS_EVENTS.labels("local").inc()
                return
            break
    try:
        _, decoded = decode(value, SUBMITTED_HEADS if submitted else TOPICS.job_status)
    except EventValidationError as exc:
        STATUS_EVENTS.labels("invalid").inc()
        log.warning("invalid job-status record skipped", extra={"reason": str(exc)[:200]})
        return
    if isinstance(decoded, SubmittedHead):
        payload = queued_status(decoded.job_id, decoded.user_id, decoded.submitted_at)
    else:
        assert isinstance(decoded, JobStatusChanged)
        payload = decoded
    STATUS_EVENTS.labels("applied" if jobs.apply(payload) else "duplicate").inc()
