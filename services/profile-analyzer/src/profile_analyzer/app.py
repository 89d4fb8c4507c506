"""The ProfileAnalyzer Kafka service: ``analysis.requested`` -> ``analysis.completed`` + record.

For each ``AnalysisRequested`` (consumer group ``profile-analyzer``) the SpoonOS analysis
graph runs and two events are returned, published by the shared delivery layer before the
offset is committed: ``AnalysisCompleted`` for the orchestrator and an ``AgentOutput``
record (a Convex ``agentOutputs`` row: the analysis as output, counts and sizes only as
input summary). The flow shared by both agents lives in ``careers_runtime.agent``.

The analysis' reference month is the request's event time, so a re-delivered request
yields an identical analysis.
"""

import hashlib
from datetime import UTC
from functools import lru_cache
from importlib import metadata, resources
from typing import Any

from careers_contracts import TOPICS, AnalysisCompleted, AnalysisRequested
from careers_contracts.analysis import ProfileAnalysis
from careers_contracts.topics import ConsumerGroup
from careers_runtime.agent import AgentService, create_agent_app
from careers_runtime.agent_kit import WARMUP_AS_OF, WARMUP_PROFILE
from careers_runtime.codec import Incoming
from faststream.asgi import AsgiFastStream

from profile_analyzer.settings import AnalyzerSettings

STEP_COMPLETED = "profile-analyzer/analysis.completed"


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
    """What went in, as counts and sizes only: this lands in Convex."""
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


class AnalyzerService(AgentService[AnalysisRequested, ProfileAnalysis]):
    agent = "profile-analyzer"
    group = ConsumerGroup.PROFILE_ANALYZER
    request_topic = TOPICS.analysis_requested
    completed_topic = TOPICS.analysis_completed
    completed_step = STEP_COMPLETED
    verb = "analysed"

    def __init__(self, settings: AnalyzerSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.llm = settings.llm

    def version(self) -> str:
        return agent_version()

    async def warm_up(self) -> None:
        from profile_analyzer.graph import get_app, run_analysis

        get_app()
        await run_analysis(WARMUP_PROFILE, as_of=WARMUP_AS_OF, llm=self.llm)

    async def compute_result(self, event: Incoming[AnalysisRequested]) -> ProfileAnalysis:
        from profile_analyzer.graph import run_analysis

        return await run_analysis(event.payload.profile, as_of=reference_month(event), llm=self.llm)

    def completed_event(
        self, request: AnalysisRequested, result: ProfileAnalysis, version: str, duration_ms: float
    ) -> AnalysisCompleted:
        return AnalysisCompleted(
            job_id=request.job_id,
            user_id=request.user_id,
            request_id=request.request_id,
            analysis=result,
            agent_version=version,
            duration_ms=duration_ms,
        )

    def input_summary(self, event: Incoming[AnalysisRequested]) -> dict[str, Any]:
        return input_summary(event.payload, reference_month(event))

    def output_record(self, result: ProfileAnalysis) -> dict[str, Any]:
        return output_record(result)

    def log_fields(self, result: ProfileAnalysis) -> dict[str, Any]:
        return {"skills": len(result.skills), "sufficient": result.sufficient}


def create_app(settings: AnalyzerSettings | None = None) -> AsgiFastStream:
    settings = settings or AnalyzerSettings()
    return create_agent_app(settings, AnalyzerService(settings))
