"""job-status -> the shared job read model (``ingest.read_model``), once per record for the
whole cluster: a consumer group shared by every ingest replica."""

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord
from careers_contracts import TOPICS, JobStatusChanged
from careers_runtime.codec import EventValidationError, decode
from careers_runtime.delivery import UnreadableRecord
from careers_runtime.delivery.subscription import Subscription
from prometheus_client import Counter

from ingest.read_model import JobReadModel
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)

STATUS_EVENTS = Counter(
    "ingest_job_status_events_total",
    "job-status records projected into the read model "
    "(applied, duplicate: not above the job's sequence, foreign: another owner, invalid, "
    "unreadable: bytes the client cannot parse)",
    ["result"],
)


class StatusProjector:
    """job-status -> the read model, once per record for the whole cluster.

    A consumer group (``INGEST_JOB_STATUS_GROUP``) shared by the ingest replicas, through
    the runtime's subscription (commit after the batch is processed; anything escaping
    rewinds the batch): while Redis is unavailable the batch is fetched again with
    backoff, so nothing is lost and projection resumes by itself. Records that are not a
    valid status event are skipped and counted (with the reason logged): retrying cannot
    fix them and they must not hold up the partition.
    """

    def __init__(
        self, settings: IngestSettings, jobs: JobReadModel, topic: str = TOPICS.job_status.name
    ) -> None:
        self.jobs = jobs
        # A join waits for the group's other members; a short request timeout (set for
        # the submit's publish) must not cut it off.
        timeout_ms = max(settings.kafka_request_timeout_ms, settings.kafka_session_timeout_ms * 2)
        self.subscription = Subscription(
            settings.model_copy(update={"kafka_request_timeout_ms": timeout_ms}),
            topics=[topic],
            group_id=settings.ingest_job_status_group,
            process=self.process,
            on_unreadable=self.skip_unreadable,
            batch_timeout_ms=settings.kafka_batch_timeout_ms,
            fetch_max_wait_ms=settings.job_status_fetch_wait_ms,
        )
        self._started = False

    async def start(self) -> None:
        await self.subscription.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            with contextlib.suppress(Exception):
                await self.subscription.stop(grace_s=5.0)

    @property
    def running(self) -> bool:
        task = self.subscription._task
        return self._started and task is not None and not task.done()

    @property
    def assigned_partitions(self) -> int:
        return len(self.subscription.assignment())

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        # One job's records are in one partition, in order; written one after another.
        for record in records:
            event = _decode(record.value)
            if event is None:
                continue
            result = await self.jobs.record(event)  # a RedisError rewinds the batch
            STATUS_EVENTS.labels({1: "applied", 0: "duplicate"}.get(result, "foreign")).inc()

    async def skip_unreadable(self, unreadable: UnreadableRecord) -> None:
        """Bytes aiokafka cannot parse (a header key that is not UTF-8, a corrupt batch):
        no status can come of them and ingest has no dead-letter topic (nothing of a job is
        lost: the orchestrator's next update carries the whole status), so the record is
        recorded by position and reason, counted, and the partition goes on."""
        record = unreadable.record
        STATUS_EVENTS.labels("unreadable").inc()
        log.warning(
            "unreadable job-status record skipped",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "reason": unreadable.reason[:200],
            },
        )


def _decode(value: bytes | None) -> JobStatusChanged | None:
    try:
        _, event = decode(value, TOPICS.job_status)
    except EventValidationError as exc:
        STATUS_EVENTS.labels("invalid").inc()
        log.warning("invalid job-status record skipped", extra={"reason": str(exc)[:200]})
        return None
    except Exception as exc:  # whatever the bytes hold, never the rest of the batch
        STATUS_EVENTS.labels("invalid").inc()
        log.warning("unusable job-status record skipped", extra={"error": type(exc).__name__})
        return None
    assert isinstance(event, JobStatusChanged)
    return event
