"""Bodies of the ingest API's responses (the frontend-facing HTTP contract)."""

from datetime import datetime

from pydantic import Field

from careers_contracts.analysis import Recommendation
from careers_contracts.base import ContractModel
from careers_contracts.events import JobState


class JobLinks(ContractModel):
    self_: str = Field(alias="self", description="GET this for the job's status and result")
    events: str = Field(description="Server-Sent Events stream of the job's progress")


class AnalyzeAccepted(ContractModel):
    job_id: str
    status: JobState
    links: JobLinks


class JobView(ContractModel):
    job_id: str
    status: JobState
    progress: int = Field(ge=0, le=100)
    step: str
    message: str
    created_at: datetime
    updated_at: datetime
    recommendations: list[Recommendation] | None = None
    summary: str | None = None
    reason: str | None = None
    links: JobLinks


class Problem(ContractModel):
    """RFC 9457 problem details, served as application/problem+json."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str | None = Field(default=None, description="Stable machine-readable reason")
    errors: list[dict[str, object]] | None = Field(
        default=None, description="Per-field validation errors: location and message"
    )
