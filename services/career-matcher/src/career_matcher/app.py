"""The CareerMatcher Kafka service: ``match.requested`` -> ``match.completed`` + record.

For each ``MatchRequested`` (consumer group ``career-matcher``) the handler runs the SpoonOS
matching graph over the request's analysis and profile and returns two events, published
by the shared delivery layer before the offset is committed:

* ``MatchCompleted`` on ``careers.match.completed.v1`` for the orchestrator;
* ``AgentOutput`` on ``careers.agent-output.recorded.v1`` (a Convex ``agentOutputs`` row):
  the recommendations as output, an input summary of counts and categories only.

Ids derive from the request's event id; the ranking is deterministic, so a re-delivered
request yields identical ids and recommendations. The graph runs on a dedicated compute
loop (``careers_runtime.compute``); catalog, embeddings and graph load in ``on_startup``,
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

from careers_contracts import TOPICS, AgentOutput, MatchCompleted, MatchRequested
from careers_contracts.analysis import ProfileAnalysis, Recommendation
from careers_contracts.profile import ProfileSubmission
from careers_contracts.topics import ConsumerGroup
from careers_runtime.app import create_worker_app
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing, PermanentError
from careers_runtime.compute import ComputeLoop, failure_reason, root_cause
from careers_runtime.delivery import consume
from faststream.asgi import AsgiFastStream

from career_matcher.settings import MatcherSettings

log = logging.getLogger(__name__)

AGENT = "career-matcher"
STEP_COMPLETED = "career-matcher/match.completed"
STEP_RECORD = "career-matcher/agent-output"

WARMUP_PROFILE = ProfileSubmission(
    headline="Software developer",
    summary="Builds web services in Python and SQL; interested in data engineering.",
    skills=["Python", "SQL"],
    goals="Grow into data engineering.",
)


@lru_cache(maxsize=1)
def agent_version() -> str:
    """Package version + a digest of the occupation catalog and its precomputed vectors."""
    data = resources.files("career_matcher").joinpath("data")
    digest = hashlib.sha256()
    for name in sorted(p.name for p in data.iterdir() if p.name.endswith((".gz", ".npy"))):
        digest.update(name.encode())
        digest.update(data.joinpath(name).read_bytes())
    return f"{metadata.version('career-matcher')}+catalog.{digest.hexdigest()[:8]}"


def input_summary(request: MatchRequested) -> dict[str, Any]:
    """What went in, as counts, sizes and categories only (never profile text)."""
    a, p = request.analysis, request.profile
    return {
        "requestId": request.request_id,
        "attempt": request.attempt,
        "topK": request.top_k,
        "analysisSkills": len(a.skills),
        "domains": len(a.domains),
        "interests": len(a.interests),
        "flags": len(a.flags),
        "sufficient": a.sufficient,
        "seniority": a.seniority,
        "educationLevel": a.education_level,
        "yearsOfExperience": a.years_of_experience,
        "hasGoals": bool(a.goals),
        "profileSkills": len(p.skills),
        "experience": len(p.experience),
        "summaryChars": len(p.summary),
    }


def output_record(recommendations: list[Recommendation]) -> dict[str, Any]:
    return {
        "count": len(recommendations),
        "recommendations": [r.model_dump(mode="json", by_alias=True) for r in recommendations],
    }


class MatcherService:
    def __init__(self, settings: MatcherSettings, compute: ComputeLoop | None = None) -> None:
        self.settings = settings
        self.compute = compute or ComputeLoop("career-matcher-graph")

    async def start(self) -> None:
        """Load catalog and embeddings, compile the graph and run it once, before joining."""
        self.settings.export_llm_settings()
        self.compute.start()
        started = time.perf_counter()
        await self.compute.run(self._warm_up())
        # The engine logs node errors with the exception text, which may echo input values
        # (profile text); the delivery layer logs a sanitised reason instead.
        logging.getLogger("spoon_ai.graph.engine").setLevel(logging.CRITICAL)
        log.info(
            "matching graph ready",
            extra={
                "agentVersion": agent_version(),
                "warmupS": round(time.perf_counter() - started, 2),
            },
        )

    @staticmethod
    async def _warm_up() -> None:
        from profile_analyzer.domain.analyzer import analyze

        from career_matcher.graph import get_app, run_matching

        get_app()
        await run_matching(analyze(WARMUP_PROFILE, as_of="2025-01"), WARMUP_PROFILE, limit=10)

    async def _match(
        self, analysis: ProfileAnalysis, profile: ProfileSubmission, limit: int
    ) -> list[Recommendation]:
        from career_matcher.graph import run_matching

        return await run_matching(analysis, profile, limit=limit)

    async def handle(self, event: Incoming[MatchRequested]) -> Sequence[Outgoing]:
        request = event.payload
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            recommendations = await self.compute.run(
                self._match(request.analysis, request.profile, request.top_k)
            )
        except Exception as exc:
            reason = failure_reason(root_cause(exc))
            if isinstance(root_cause(exc), ValueError):
                raise PermanentError(f"profile cannot be matched: {reason}") from exc
            raise RuntimeError(f"matching failed: {reason}") from exc
        duration_ms = round((time.perf_counter() - t0) * 1000, 3)
        finished_at = datetime.now(UTC)
        version = agent_version()
        log.info(
            "matching completed",
            extra={
                "requestId": request.request_id,
                "durationMs": duration_ms,
                "recommendations": len(recommendations),
            },
        )
        completed = MatchCompleted(
            job_id=request.job_id,
            user_id=request.user_id,
            request_id=request.request_id,
            recommendations=recommendations,
            agent_version=version,
            duration_ms=duration_ms,
        )
        record = AgentOutput(
            job_id=request.job_id,
            user_id=request.user_id,
            agent=AGENT,
            agent_version=version,
            status="succeeded",
            input_summary=input_summary(request),
            output=output_record(recommendations),
            started_at=started_at,
            finished_at=finished_at,
            duration_ms=duration_ms,
        )
        return [
            event.emit(TOPICS.match_completed, completed, STEP_COMPLETED),
            event.emit(TOPICS.agent_outputs, record, STEP_RECORD),
        ]


def create_app(settings: MatcherSettings | None = None) -> AsgiFastStream:
    settings = settings or MatcherSettings()
    service = MatcherService(settings)
    broker = create_broker(settings)
    consumer = consume(
        broker,
        settings,
        group=ConsumerGroup.CAREER_MATCHER,
        routes={TOPICS.match_requested: service.handle},
    )
    return create_worker_app(settings, broker, [consumer], on_startup=[service.start])
