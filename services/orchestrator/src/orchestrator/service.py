"""The orchestrator's application layer: events in, the job's graph stepped, events out.

One step per job at a time (striped in-process locks; across replicas the store's
compare-and-set), and every step is safe to repeat:

- Consumed records (``handle_*``): load the job, step its graph, save the new checkpoint
  together with a ledger entry ``event id -> (record coordinates, events emitted)``, then
  return the events for the runtime to publish (it commits the offset after that). If the
  process dies between the save and the commit, the same record (same coordinates) comes
  back and gets the *stored* events again, byte-identical; a genuine duplicate (same event
  id, other coordinates) or a reply the job no longer waits for changes nothing.
- Timeouts (``check_timeouts``): publish first, then save. A crash in between repeats the
  same step with the same deterministic ids (job id + step + attempt).
"""

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from careers_contracts import (
    TOPICS,
    AnalysisCompleted,
    JobEvent,
    MatchCompleted,
    ProfileSubmitted,
)
from careers_runtime.codec import Incoming, Outgoing, PermanentError
from careers_runtime.logging import job_id_var
from prometheus_client import Counter

from orchestrator.domain import workflow as wf
from orchestrator.graph import StepResult, Workflow
from orchestrator.store import ConflictError, JobRecord, JobStore

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[Outgoing]], Awaitable[None]]

JOBS_STARTED = Counter("orchestrator_jobs_started_total", "Jobs started")
JOBS_FINISHED = Counter("orchestrator_jobs_finished_total", "Jobs finished", ["status"])
REREQUESTS = Counter("orchestrator_rerequests_total", "Timed-out steps asked again", ["step"])
IGNORED = Counter(
    "orchestrator_ignored_total", "Events that changed nothing (duplicate, late)", ["kind"]
)
REPLAYED = Counter(
    "orchestrator_replayed_total", "Re-delivered records answered from the job's ledger"
)


class UnknownJobError(PermanentError):
    """A reply for a job this orchestrator never started (or forgot): dead-lettered."""


# The topics the workflow emits on, by name (``TOPICS.by_name`` builds its list per call).
_TOPICS = {t.name: t for t in TOPICS.business_topics()}


def to_outgoing(outbox: dict[str, Any]) -> list[Outgoing]:
    """A step's outbox as events. A fresh step's payloads are the events it built; a
    ledger entry read back from the store holds their JSON, validated again here."""
    events = []
    for event_id, item in outbox.items():
        topic = _TOPICS.get(item["topic"]) or TOPICS.by_name(item["topic"])
        payload = item["payload"]
        if not isinstance(payload, topic.payload):
            payload = topic.payload.model_validate(payload)
        assert isinstance(payload, JobEvent)
        events.append(Outgoing(topic=topic, payload=payload, event_id=event_id))
    return events


class Orchestrator:
    def __init__(
        self,
        workflow: Workflow,
        store: JobStore,
        *,
        publish: Publish,
        finished_ttl_s: float,
        clock: Callable[[], float] = time.time,
        lock_stripes: int = 256,
    ) -> None:
        self.workflow = workflow
        self.store = store
        self.publish = publish
        self.finished_ttl_s = finished_ttl_s
        self.clock = clock
        # Bounded: a fixed set of locks, not one per job.
        self._locks = [asyncio.Lock() for _ in range(lock_stripes)]

    def _lock(self, job_id: str) -> asyncio.Lock:
        return self._locks[zlib.crc32(job_id.encode()) % len(self._locks)]

    # --------------------------------------------------------------- handlers

    async def handle_submitted(self, event: Incoming[ProfileSubmitted]) -> Sequence[Outgoing]:
        return await self._apply(event, None)

    async def handle_analysis(self, event: Incoming[AnalysisCompleted]) -> Sequence[Outgoing]:
        reply = event.payload
        signal = wf.reply_signal("analysis", event.event_id, reply.request_id, reply)
        return await self._apply(event, signal)

    async def handle_match(self, event: Incoming[MatchCompleted]) -> Sequence[Outgoing]:
        reply = event.payload
        signal = wf.reply_signal("match", event.event_id, reply.request_id, reply)
        return await self._apply(event, signal)

    async def _apply(
        self, event: Incoming[Any], signal: dict[str, Any] | None
    ) -> Sequence[Outgoing]:
        job_id = event.job_id
        coords = f"{event.topic}/{event.partition}/{event.offset}"
        async with self._lock(job_id):
            record = await self.store.load(job_id)
            entry = record.applied.get(event.event_id) if record else None
            if entry is not None:
                if entry["coords"] == coords:
                    # Processed before a crash or a failed publish: emit the same events.
                    REPLAYED.inc()
                    log.info("re-delivered record: re-emitting its events")
                    return to_outgoing(entry.get("outputs") or {})
                IGNORED.labels("duplicate").inc()
                log.info("duplicate event ignored", extra={"event_id": event.event_id})
                return ()

            now = self.clock()
            if signal is None:
                if record is not None:
                    IGNORED.labels("duplicate_submission").inc()
                    log.warning("job already started; submission ignored")
                    return ()
                record = JobRecord(job_id=job_id)
                result = await self.workflow.start(
                    wf.new_job(event.payload), now=now, cause_id=event.event_id
                )
                JOBS_STARTED.inc()
            else:
                if record is None:
                    raise UnknownJobError(
                        f"{event.envelope.type} for job {job_id}, which the orchestrator "
                        "does not know (never started, or finished longer ago than "
                        "ORCHESTRATOR_FINISHED_TTL_S)"
                    )
                if record.finished or record.checkpoint is None:
                    IGNORED.labels("late").inc()
                    log.info("reply for a finished job ignored", extra={"status": record.status})
                    return ()
                result = await self.workflow.resume(
                    job_id, record.checkpoint, signal, now=now, cause_id=event.event_id
                )
                if not result.outbox:
                    IGNORED.labels("not_awaited").inc()
                    log.info("reply ignored", extra={"reason": result.ignored})
                    return ()

            expected = record.version
            self._advance(record, result, now)
            record.applied[event.event_id] = {"coords": coords, "outputs": result.outbox}
            if record.finished:
                # Earlier steps' events were published before this record was handled
                # (one key's records run in order); keep only the final step's events.
                for other_id, other in record.applied.items():
                    if other_id != event.event_id:
                        other["outputs"] = {}
            await self.store.save(record, expected_version=expected, ttl_s=self.finished_ttl_s)
            self._count(result, record)
            return to_outgoing(result.outbox)

    # --------------------------------------------------------------- timeouts

    async def check_timeouts(self, partitions: Collection[int] | None, limit: int = 200) -> int:
        """Step the overdue jobs of ``partitions`` (this replica's; None: all), at most
        ``limit`` of the most overdue; returns how many were stepped. Only the owned
        partitions' jobs are read, so another replica's backlog never takes their turn."""
        now = self.clock()
        stepped = 0
        for job_id in await self.store.due(now, limit, partitions):
            try:
                if await self._timeout(job_id, now):
                    stepped += 1
            except ConflictError:
                log.info("job advanced elsewhere during its timeout", extra={"job": job_id})
            except Exception:
                log.exception("timeout step failed; will retry", extra={"job": job_id})
        return stepped

    async def _timeout(self, job_id: str, now: float) -> bool:
        token = job_id_var.set(job_id)  # correlate the timer's log lines like handlers'
        try:
            return await self._timeout_locked(job_id, now)
        finally:
            job_id_var.reset(token)

    async def _timeout_locked(self, job_id: str, now: float) -> bool:
        async with self._lock(job_id):
            record = await self.store.load(job_id)
            if record is None or record.finished or record.checkpoint is None:
                return False
            values = record.checkpoint["values"]
            if not wf.is_waiting_due(values, now):
                return False
            cause = wf.timeout_cause_id(job_id, values["waiting"], values.get("attempt", 1))
            result = await self.workflow.resume(
                job_id, record.checkpoint, wf.TICK, now=now, cause_id=cause
            )
            if not result.outbox:
                return False
            await self.publish(to_outgoing(result.outbox))
            expected = record.version
            step = values["waiting"]
            self._advance(record, result, now)
            if record.finished:
                for entry in record.applied.values():
                    entry["outputs"] = {}
                record.applied[cause] = {"coords": "timeout", "outputs": result.outbox}
            await self.store.save(record, expected_version=expected, ttl_s=self.finished_ttl_s)
            if record.finished:
                log.warning("step timed out for good; job failed", extra={"step": step})
            else:
                REREQUESTS.labels(step).inc()
                log.info("step timed out; asked again", extra={"step": step})
            self._count(result, record)
            return True

    async def purge(self) -> int:
        return await self.store.purge(self.clock())

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _advance(record: JobRecord, result: StepResult, now: float) -> None:
        record.status = str(result.values.get("status"))
        record.updated_at = now
        if result.finished:
            record.checkpoint = None  # drops the profile and analysis with it
            record.deadline = None
            record.finished_at = now
        else:
            record.checkpoint = {"values": result.values, "next": [result.next_node]}
            record.deadline = result.values.get("deadline")

    @staticmethod
    def _count(result: StepResult, record: JobRecord) -> None:
        if result.finished:
            JOBS_FINISHED.labels(record.status).inc()
