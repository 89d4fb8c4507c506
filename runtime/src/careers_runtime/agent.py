"""What every agent service shares: request in, completed event + agent-output record out.

An agent subclasses ``AgentService`` with its domain specifics (the graph call, the
completed event, the input summary); this class does the rest the same way for all:
warm-up before joining the group (so ``/readyz`` means "ready to compute"), running the
graph on a dedicated compute loop (heartbeats and health checks stay responsive), timing,
sanitised error mapping (a ``ValueError`` from the domain is permanent and dead-lettered,
anything else is retried) and the ``AgentOutput`` record that becomes a Convex
``agentOutputs`` row. Ids derive from the request's event id, so a re-delivered request
yields byte-identical events.
"""

import abc
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from careers_contracts import TOPICS, AgentOutput, JobEvent, Topic
from faststream.asgi import AsgiFastStream

from careers_runtime.app import create_worker_app
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing, PermanentError
from careers_runtime.compute import ComputeLoop, failure_reason, root_cause
from careers_runtime.delivery import EventConsumer
from careers_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


def record_step(agent: str) -> str:
    """The step the agent-output record's event id derives from (stable across releases)."""
    return f"{agent}/agent-output"


class AgentService[Request: JobEvent, Result](abc.ABC):
    #: Agent name as it appears in agentOutputs ("profile-analyzer", "career-matcher").
    agent: str
    #: Consumer group, request topic and completed-event topic.
    group: str
    request_topic: Topic
    completed_topic: Topic
    #: Step names from which the emitted events' ids derive (stable across releases).
    completed_step: str
    #: Verb for error messages: "analysed", "matched".
    verb: str

    def __init__(self, settings: ServiceSettings, compute: ComputeLoop | None = None) -> None:
        self.settings = settings
        self.compute = compute or ComputeLoop(f"{self.agent}-graph")

    # ------------------------------------------------------------ agent specifics

    @abc.abstractmethod
    def version(self) -> str:
        """Package version + a digest of the data the agent computes with."""

    @abc.abstractmethod
    async def warm_up(self) -> None:
        """Import, load and compile everything, and run once on a sample (compute loop)."""

    @abc.abstractmethod
    async def compute_result(self, event: Incoming[Request]) -> Result:
        """The domain computation (runs on the compute loop)."""

    @abc.abstractmethod
    def completed_event(
        self, request: Request, result: Result, version: str, duration_ms: float
    ) -> JobEvent:
        """The reply to the orchestrator."""

    @abc.abstractmethod
    def input_summary(self, event: Incoming[Request]) -> dict[str, Any]:
        """What went in, as counts, sizes and categories only — never profile text."""

    @abc.abstractmethod
    def output_record(self, result: Result) -> dict[str, Any]:
        """The result as it is stored in agentOutputs."""

    def log_fields(self, result: Result) -> dict[str, Any]:
        return {}

    # -------------------------------------------------------------- shared flow

    async def start(self) -> None:
        """Warm up before the consumer joins its group, so readiness means ready."""
        self.compute.start()
        started = time.perf_counter()
        await self.compute.run(self.warm_up())
        log.info(
            f"{self.agent} graph ready",
            extra={
                "agentVersion": self.version(),
                "warmupS": round(time.perf_counter() - started, 2),
            },
        )

    async def handle(self, event: Incoming[Request]) -> Sequence[Outgoing]:
        request = event.payload
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            result = await self.compute.run(self.compute_result(event))
        except Exception as exc:
            reason = failure_reason(root_cause(exc))
            if isinstance(root_cause(exc), ValueError):
                raise PermanentError(f"profile cannot be {self.verb}: {reason}") from exc
            raise RuntimeError(f"{self.agent} failed: {reason}") from exc
        duration_ms = round((time.perf_counter() - t0) * 1000, 3)
        version = self.version()
        log.info(
            f"{self.agent} completed",
            extra={
                "requestId": getattr(request, "request_id", None),
                "durationMs": duration_ms,
                **self.log_fields(result),
            },
        )
        record = AgentOutput(
            job_id=request.job_id,
            user_id=request.user_id,
            agent=self.agent,  # type: ignore[arg-type]
            agent_version=version,
            status="succeeded",
            input_summary=self.input_summary(event),
            output=self.output_record(result),
            started_at=started_at,
            finished_at=datetime.now(UTC),
            duration_ms=duration_ms,
        )
        completed = self.completed_event(request, result, version, duration_ms)
        return [
            event.emit(self.completed_topic, completed, self.completed_step),
            event.emit(TOPICS.agent_outputs, record, record_step(self.agent)),
        ]


def create_agent_app(settings: ServiceSettings, service: AgentService[Any, Any]) -> AsgiFastStream:
    broker = create_broker(settings)
    consumer = EventConsumer(
        broker, settings, group=service.group, routes={service.request_topic: service.handle}
    )
    return create_worker_app(settings, broker, [consumer], on_startup=[service.start])
