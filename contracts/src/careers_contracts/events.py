"""Event payloads (the envelope's ``data``), one model per topic.

Compatibility rule for every model here: add optional fields only. Removing or renaming a
field, making an optional one required, or changing a type is a breaking change and needs
a new topic version (``.v2``); ``tests/test_schema_compat.py`` enforces this against the
committed schemas.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from careers_contracts.analysis import ProfileAnalysis, Recommendation
from careers_contracts.base import ContractModel
from careers_contracts.profile import ProfileSubmission

JobState = Literal[
    "queued", "analyzing", "matching", "completed", "needs_more_information", "failed"
]
TERMINAL_STATES: frozenset[str] = frozenset({"completed", "needs_more_information", "failed"})
AgentName = Literal["profile-analyzer", "career-matcher"]


class JobEvent(ContractModel):
    """Every event belongs to exactly one job of one user."""

    job_id: str
    user_id: str = Field(description="Clerk user id (the token's `sub`)")


class ProfileSubmitted(JobEvent):
    submitted_at: datetime
    profile: ProfileSubmission
    idempotency_key: str | None = None


class AnalysisRequested(JobEvent):
    request_id: str = Field(description="Stable across re-requests, so replies can be matched")
    attempt: int = Field(default=1, ge=1)
    profile: ProfileSubmission


class AnalysisCompleted(JobEvent):
    request_id: str
    analysis: ProfileAnalysis
    agent_version: str
    duration_ms: float = Field(ge=0)


class MatchRequested(JobEvent):
    request_id: str
    attempt: int = Field(default=1, ge=1)
    profile: ProfileSubmission
    analysis: ProfileAnalysis
    top_k: int = Field(default=10, ge=1, le=50)


class MatchCompleted(JobEvent):
    request_id: str
    recommendations: list[Recommendation]
    agent_version: str
    duration_ms: float = Field(ge=0)


class AgentOutput(JobEvent):
    """One agent run, as it becomes a row of Convex ``agentOutputs``."""

    agent: AgentName
    agent_version: str
    status: Literal["succeeded", "failed"]
    input_summary: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime
    finished_at: datetime
    duration_ms: float = Field(ge=0)


class RecommendationsReady(JobEvent):
    """A job's final result, as it becomes a row of Convex ``careerRecommendations``."""

    status: Literal["completed", "needs_more_information", "failed"]
    recommendations: list[Recommendation] = Field(default_factory=list)
    summary: str | None = None
    reason: str | None = Field(default=None, description="Why the job did not complete")
    created_at: datetime
    pipeline_version: str


class JobStatusChanged(JobEvent):
    """Progress of a job; ingest serves these as GET /v1/jobs/{id} and SSE."""

    status: JobState
    sequence: int = Field(ge=0, description="Monotonic per job; orders events for SSE ids")
    progress: int = Field(ge=0, le=100)
    step: str
    message: str
    at: datetime
    reason: str | None = None
    recommendations: list[Recommendation] | None = Field(
        default=None, description="Present on the terminal 'completed' event"
    )
    summary: str | None = None


class DeadLetter(ContractModel):
    """A record that could not be processed, with everything needed to inspect and replay it."""

    original_topic: str
    original_partition: int
    original_offset: int
    original_key: str | None
    original_value: str = Field(description="The record value as UTF-8 text (base64 if binary)")
    value_encoding: Literal["utf-8", "base64"] = "utf-8"
    original_headers: dict[str, str] = Field(default_factory=dict)
    consumer_group: str
    error_type: str
    error_message: str
    error_class: Literal["validation", "permanent", "transient", "exhausted"]
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    job_id: str | None = None
    failed_at: datetime
