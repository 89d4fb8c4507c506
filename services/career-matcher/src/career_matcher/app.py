"""The CareerMatcher Kafka service: ``match.requested`` -> ``match.completed`` + record.

For each ``MatchRequested`` (consumer group ``career-matcher``) the SpoonOS matching graph
ranks occupations for the request's analysis and profile, and two events are returned,
published by the shared delivery layer before the offset is committed: ``MatchCompleted``
for the orchestrator and an ``AgentOutput`` record (a Convex ``agentOutputs`` row: the
recommendations as output, counts and categories only as input summary). The flow shared
by both agents lives in ``careers_runtime.agent``; the ranking is deterministic, so a
re-delivered request yields identical recommendations.
"""

import hashlib
from functools import lru_cache
from importlib import metadata, resources
from typing import Any

from careers_contracts import TOPICS, MatchCompleted, MatchRequested
from careers_contracts.analysis import Recommendation
from careers_contracts.topics import ConsumerGroup
from careers_runtime.agent import AgentService, create_agent_app
from careers_runtime.agent_kit import WARMUP_ANALYSIS, WARMUP_PROFILE
from careers_runtime.codec import Incoming
from faststream.asgi import AsgiFastStream

from career_matcher.settings import MatcherSettings

STEP_COMPLETED = "career-matcher/match.completed"


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


class MatcherService(AgentService[MatchRequested, list[Recommendation]]):
    agent = "career-matcher"
    group = ConsumerGroup.CAREER_MATCHER
    request_topic = TOPICS.match_requested
    completed_topic = TOPICS.match_completed
    completed_step = STEP_COMPLETED
    verb = "matched"

    def __init__(self, settings: MatcherSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.llm = settings.llm

    def version(self) -> str:
        return agent_version()

    async def warm_up(self) -> None:
        """Load catalog and embeddings, compile the graph and run it once."""
        from career_matcher.graph import get_app, run_matching

        get_app()
        await run_matching(WARMUP_ANALYSIS, WARMUP_PROFILE, limit=10, llm=self.llm)

    async def compute_result(self, event: Incoming[MatchRequested]) -> list[Recommendation]:
        from career_matcher.graph import run_matching

        request = event.payload
        return await run_matching(
            request.analysis, request.profile, limit=request.top_k, llm=self.llm
        )

    def completed_event(
        self,
        request: MatchRequested,
        result: list[Recommendation],
        version: str,
        duration_ms: float,
    ) -> MatchCompleted:
        return MatchCompleted(
            job_id=request.job_id,
            user_id=request.user_id,
            request_id=request.request_id,
            recommendations=result,
            agent_version=version,
            duration_ms=duration_ms,
        )

    def input_summary(self, event: Incoming[MatchRequested]) -> dict[str, Any]:
        return input_summary(event.payload)

    def output_record(self, result: list[Recommendation]) -> dict[str, Any]:
        return output_record(result)

    def log_fields(self, result: list[Recommendation]) -> dict[str, Any]:
        return {"recommendations": len(result)}


def create_app(settings: MatcherSettings | None = None) -> AsgiFastStream:
    settings = settings or MatcherSettings()
    return create_agent_app(settings, MatcherService(settings))
