"""Transport: the orchestrator's Kafka subscriptions, its timeout loop and its process.

One consumer group (``orchestrator``) reads profile submissions and both agents' replies.
The range assignor puts partition *p* of every one of those topics on the same replica,
and every topic is keyed by job id, so all of a job's events reach one replica, in order.
That replica also owns the job's timeouts: the loop only reads the overdue jobs of the
partitions (murmur2 of the job id, like the producer) currently assigned to it.
"""

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from careers_contracts import TOPICS
from careers_runtime.app import create_worker_app
from careers_runtime.broker import create_broker
from careers_runtime.codec import Outgoing
from careers_runtime.delivery import EventConsumer, publish_all

from orchestrator.domain.workflow import Policy
from orchestrator.graph import Workflow
from orchestrator.service import Orchestrator
from orchestrator.settings import OrchestratorSettings
from orchestrator.store import create_store

log = logging.getLogger(__name__)
CONSUMED_TOPICS = (TOPICS.profile_submitted, TOPICS.analysis_completed, TOPICS.match_completed)


class Ownership:
    """Which partitions' jobs this replica may advance on its own (timeouts): those it
    consumes (a job's partition: ``careers_runtime.partitioner.partition_of``)."""

    def __init__(self, consumer: EventConsumer) -> None:
        self.consumer = consumer
        self.names = {t.name for t in CONSUMED_TOPICS}

    def partitions(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment() if tp.topic in self.names}


class TimeoutLoop:
    def __init__(
        self,
        orchestrator: Orchestrator,
        ownership: Ownership,
        interval_s: float,
        purge_every_s: float = 300.0,
    ) -> None:
        self.orchestrator = orchestrator
        self.ownership = ownership
        self.interval_s = interval_s
        self.purge_every = max(1, int(purge_every_s / interval_s))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="orchestrator-timeouts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(self.interval_s)
            ticks += 1
            try:
                assigned = self.ownership.partitions()
                if assigned:
                    await self.orchestrator.check_timeouts(assigned)
                if ticks % self.purge_every == 0:
                    await self.orchestrator.purge()
            except Exception:
                log.exception("timeout loop iteration failed")


def build(settings: OrchestratorSettings) -> tuple[Any, Orchestrator]:
    broker = create_broker(settings)
    store = create_store(
        redis_url=settings.redis_url,
        redis_prefix=settings.orchestrator_redis_prefix,
        sqlite_path=settings.orchestrator_checkpoint_path,
    )
    policy = Policy(
        step_timeout_s=settings.orchestrator_step_timeout_s,
        max_rerequests=settings.orchestrator_max_rerequests,
        top_k=settings.orchestrator_top_k,
    )

    async def publish(events: list[Outgoing] | Any) -> None:
        await publish_all(broker, events, settings.service_name)

    orchestrator = Orchestrator(
        Workflow(policy),  # imports SpoonOS and compiles the graph once, at start-up
        store,
        publish=publish,
        finished_ttl_s=settings.orchestrator_finished_ttl_s,
    )
    consumer = EventConsumer(
        broker,
        settings,
        group=settings.orchestrator_consumer_group,
        routes={
            TOPICS.profile_submitted: orchestrator.handle_submitted,
            TOPICS.analysis_completed: orchestrator.handle_analysis,
            TOPICS.match_completed: orchestrator.handle_match,
        },
        partition_assignment_strategy=(RangePartitionAssignor,),
    )
    timeouts = TimeoutLoop(
        orchestrator, Ownership(consumer), settings.orchestrator_timer_interval_s
    )

    async def open_store() -> None:
        await store.open()
        log.info("job store open", extra={"backend": type(store).__name__})

    app = create_worker_app(
        settings,
        broker,
        [consumer],
        on_startup=[open_store, timeouts.start],
        on_shutdown=[timeouts.stop],  # before the broker stops: its publishes finish
        after_shutdown=[store.close],  # after in-flight handlers are done with it
    )
    return app, orchestrator
