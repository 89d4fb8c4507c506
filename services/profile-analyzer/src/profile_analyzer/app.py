"""The ProfileAnalyzer Kafka service: ``analysis.requested`` -> ``analysis.completed`` + record.

For each ``AnalysisRequested`` (consumer group ``profile-analyzer``) the handler runs the
SpoonOS analysis graph and returns two events, published by the shared delivery layer
before the offset is committed:

* ``AnalysisCompleted`` on ``careers.analysis.completed.v1`` for the orchestrator;
* ``AgentOutput`` on ``careers.agent-output.recorded.v1`` (a Convex ``agentOutputs`` row):
  the analysis as output, an input summary of counts and sizes only (never profile text).

Both ids derive from the request's event id, and the analysis' reference month is the
request's event time, so a re-delivered request yields identical ids and analysis.
The graph runs on a dedicated compute loop (``careers_runtime.compute``) so a long profile
never stalls heartbeats or health checks; it is compiled and warmed up in ``on_startup``,
before the consumer joins its group, so ``/readyz`` turns 200 only when the agent is ready.
A ``ValueError`` from the domain is permanent (dead-lettered); anything else is retried.
"""

import hashlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata, resources
from typing import Any

from careers_contracts import TOPICS, AgentOutput, AnalysisCompleted, AnalysisRequested
from careers_contracts.analysis import ProfileAnalysis
from careers_contracts.profile import ProfileSubmission
from careers_contracts.topics import ConsumerGroup
from careers_runtime.app import create_worker_app
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing, PermanentError
from careers_runtime.compute import ComputeLoop, failure_reason, root_cause
from careers_runtime.delivery import consume
from faststream.asgi import AsgiFastStream

from profile_analyzer.settings import AnalyzerSettings

log = logging.getLogger(__name__)

AGENT = "profile-analyzer"
STEP_COMPLETED = "profile-analyzer/analysis.completed"
STEP_RECORD = "profile-analyzer/agent-output"

WARMUP_PROFILE = ProfileSubmission(
    headline="Software developer",
    summary="Builds web services in Python and SQL; interested in data engineering.",
    skills=["Python", "SQL"],
    goals="Grow into data engineering.",
)


@lru_cache(maxsize=1)
def agent_version() -> str:
    """Package version + a digest of the skill vocabulary it normalises to."""
    data = resources.files("profile_analyzer").joinpath("data", "esco_skills.json.gz")
    digest = hashlib.sha256(data.read_bytes()).hexdigest()[:8]
    return f"{metadata.version('profile-analyzer')}+esco.{digest}"


def reference_month(event: Incoming[Any]) -> str:
    """The month experience is counted up to: the request's time, stable on re-delivery."""
    when = event.envelope.time
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m")


def input_summary(request: AnalysisRequested, as_of: str) -> dict[str, Any]:
    """What went in, as counts and sizes only: this lands in Convex and in logs' neighbours."""
    p = request.profile
    return {
        "requestId": request.request_id,
        "attempt": request.attempt,
        "asOf": as_of,
        "hasHeadline": bool(p.headline),
        "summaryChars": len(p.summary),
        "skills": len(p.skills),
        "experience": len(p.experience),
        "experienceChars": sum(len(e.description) for e in p.experience),
        "education": len(p.education),
        "interests": len(p.interests),
        "hasGoals": bool(p.goals),
        "hasLocation": bool(p.location),
    }


def output_record(analysis: ProfileAnalysis) -> dict[str, Any]:
    return analysis.model_dump(mode="json", by_alias=True)


class AnalyzerService:
    def __init__(self, settings: AnalyzerSettings, compute: ComputeLoop | None = None) -> None:
        self.settings = settings
        self.compute = compute or ComputeLoop("profile-analyzer-graph")

    async def start(self) -> None:
        """Import SpoonOS, compile the graph and run it once, before joining the group."""
        self.settings.export_llm_settings()
        self.compute.start()
        started = time.perf_counter()
        await self.compute.run(self._warm_up())
        # The engine logs node errors with the exception text, which for validation errors
        # echoes input values (profile text); the delivery layer logs a sanitised reason.
        logging.getLogger("spoon_ai.graph.engine").setLevel(logging.CRITICAL)
        log.info(
            "analysis graph ready",
            extra={
                "agentVersion": agent_version(),
                "warmupS": round(time.perf_counter() - started, 2),
            },
        )

    @staticmethod
    async def _warm_up() -> None:
        from profile_analyzer.graph import get_app, run_analysis

        get_app()
        await run_analysis(WARMUP_PROFILE, as_of="2025-01")

    async def _analyse(self, profile: ProfileSubmission, as_of: str) -> ProfileAnalysis:
        from profile_analyzer.graph import run_analysis

        return await run_analysis(profile, as_of=as_of)

    async def handle(self, event: Incoming[AnalysisRequested]) -> Sequence[Outgoing]:
        request = event.payload
        as_of = reference_month(event)
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            analysis = await self.compute.run(self._analyse(request.profile, as_of))
        except Exception as exc:
            reason = failure_reason(root_cause(exc))
            if isinstance(root_cause(exc), ValueError):
                raise PermanentError(f"profile cannot be analysed: {reason}") from exc
            raise RuntimeError(f"analysis failed: {reason}") from exc
        duration_ms = round((time.perf_counter() - t0) * 1000, 3)
        finished_at = datetime.now(UTC)
        version = agent_version()
        log.info(
            "analysis completed",
            extra={
                "requestId": request.request_id,
                "durationMs": duration_ms,
                "skills": len(analysis.skills),
                "sufficient": analysis.sufficient,
            },
        )
        completed = AnalysisCompleted(
            job_id=request.job_id,
            user_id=request.user_id,
            request_id=request.request_id,
            analysis=analysis,
            agent_version=version,
            duration_ms=duration_ms,
        )
        record = AgentOutput(
            job_id=request.job_id,
            user_id=request.user_id,
            agent=AGENT,
            agent_version=version,
            status="succeeded",
            input_summary=input_summary(request, as_of),
            output=output_record(analysis),
            started_at=started_at,
            finished_at=finished_at,
            duration_ms=duration_ms,
        )
        return [
            event.emit(TOPICS.analysis_completed, completed, STEP_COMPLETED),
            event.emit(TOPICS.agent_outputs, record, STEP_RECORD),
        ]


def create_app(settings: AnalyzerSettings | None = None) -> AsgiFastStream:
    settings = settings or AnalyzerSettings()
    service = AnalyzerService(settings)
    broker = create_broker(settings)
    consumer = consume(
        broker,
        settings,
        group=ConsumerGroup.PROFILE_ANALYZER,
        routes={TOPICS.analysis_requested: service.handle},
    )
    return create_worker_app(settings, broker, [consumer], on_startup=[service.start])
