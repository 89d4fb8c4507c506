"""Events to Convex documents, in the shape deploy/convex/README.md documents.

Idempotency keys are *semantic* (what the document is about), not event ids: a re-run of
an agent or a re-requested step produces a new event with a new id, but must still land on
the same document. Convex keeps the first write for a key (``created: false`` afterwards),
so at-least-once delivery leaves exactly one document.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from careers_contracts import AgentOutput, RecommendationsReady
from pydantic_core import to_json

AGENT_OUTPUTS_PATH = "/agent-outputs"
CAREER_RECOMMENDATIONS_PATH = "/career-recommendations"
# POST /sync/batch: many documents per request, each tagged with its table.
BATCH_PATH = "/sync/batch"
TABLES = {AGENT_OUTPUTS_PATH: "agentOutputs", CAREER_RECOMMENDATIONS_PATH: "careerRecommendations"}

# Convex's validator (deploy/convex/convex/lib/validation.ts LIMITS.versionLength) caps
# version strings at 64 characters, which the event contracts do not. A version is
# metadata: clipping it beats dead-lettering a user's whole result over it.
MAX_VERSION_LENGTH = 64


@dataclass(frozen=True)
class ConvexWrite:
    """One HTTP-action call: where to POST and the JSON document to send."""

    path: str
    idempotency_key: str
    document: dict[str, Any]

    @cached_property
    def body(self) -> bytes:
        """The document as JSON, serialised once (retries and batches reuse it)."""
        return to_json(self.document)

    @cached_property
    def batch_item(self) -> bytes:
        """This document as one item of a ``POST /sync/batch`` body."""
        return b'{"table":"' + TABLES[self.path].encode() + b'","document":' + self.body + b"}"


def agent_output_key(job_id: str, agent: str) -> str:
    return f"{job_id}/{agent}"


def recommendations_key(job_id: str) -> str:
    return job_id


def clip_version(version: str) -> str:
    """A version string that fits Convex's limit (clipped with a trailing '~')."""
    if len(version) <= MAX_VERSION_LENGTH:
        return version
    return version[: MAX_VERSION_LENGTH - 1] + "~"


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def agent_output_document(event: AgentOutput, trace_id: str | None = None) -> ConvexWrite:
    key = agent_output_key(event.job_id, event.agent)
    document: dict[str, Any] = {
        "idempotencyKey": key,
        "jobId": event.job_id,
        "userId": event.user_id,
        "agent": event.agent,
        "agentVersion": clip_version(event.agent_version),
        "status": event.status,
        "inputSummary": event.input_summary,
        "output": event.output,
        "startedAt": iso(event.started_at),
        "finishedAt": iso(event.finished_at),
        "durationMs": event.duration_ms,
    }
    if trace_id:
        document["traceId"] = trace_id
    return ConvexWrite(AGENT_OUTPUTS_PATH, key, document)


def recommendations_document(
    event: RecommendationsReady, trace_id: str | None = None
) -> ConvexWrite:
    key = recommendations_key(event.job_id)
    document: dict[str, Any] = {
        "idempotencyKey": key,
        "jobId": event.job_id,
        "userId": event.user_id,
        "status": event.status,
        "recommendations": [
            r.model_dump(mode="json", by_alias=True) for r in event.recommendations
        ],
        "createdAt": iso(event.created_at),
        "pipelineVersion": clip_version(event.pipeline_version),
    }
    if event.summary is not None:
        document["summary"] = event.summary
    if event.reason is not None:
        document["reason"] = event.reason
    if trace_id:
        document["traceId"] = trace_id
    return ConvexWrite(CAREER_RECOMMENDATIONS_PATH, key, document)
