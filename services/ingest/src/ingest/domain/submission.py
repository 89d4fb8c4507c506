"""What a submit produces: the job id, the events and their deterministic ids."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from careers_contracts import (
    JobStatusChanged,
    ProfileSubmission,
    ProfileSubmitted,
    derive_event_id,
)

from ingest.domain.jobs import QUEUED_SEQUENCE

# Job ids for submits with an Idempotency-Key are UUIDv5 under this namespace, from the
# user and the key: even if the idempotency store were lost, a retried submit yields the
# same job id and the same event ids, which downstream idempotent sinks collapse.
JOB_ID_NAMESPACE = uuid.UUID("0b3f7c2e-51f4-4c55-9d0e-7f7b8a1e6c42")


def new_job_id(user_id: str, idempotency_key: str | None, digest: str | None = None) -> str:
    """A new random id without an Idempotency-Key; with one, derived from the user, the
    key *and the body's fingerprint*: a retry of the same request lands on the same job
    even when its idempotency record was never completed, while the key reused with
    another body after its record expired or was lost (a Redis flush) is a new job, never
    the old job's id with another profile (issue 25)."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(JOB_ID_NAMESPACE, json.dumps([user_id, idempotency_key, digest])))


def fingerprint(profile: ProfileSubmission) -> str:
    """Hash of the validated body: the same profile (any JSON spelling) -> the same hash."""
    canonical = json.dumps(
        profile.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


QUEUED_MESSAGE = "Profile received; waiting for analysis"


def queued_status(job_id: str, user_id: str, at: datetime) -> JobStatusChanged:
    """A job's first status (sequence 0), derived from its ``profile.submitted``.

    Not published: the replica that took the submit applies it locally, every other
    replica derives it from the ``profile.submitted`` record it follows (the same fields,
    so the same status everywhere); the orchestrator continues at sequence 1.
    """
    return JobStatusChanged(
        job_id=job_id,
        user_id=user_id,
        status="queued",
        sequence=QUEUED_SEQUENCE,
        progress=0,
        step="queued",
        message=QUEUED_MESSAGE,
        at=at,
    )


@dataclass(frozen=True)
class Submission:
    job_id: str
    submitted: ProfileSubmitted
    submitted_event_id: str
    queued: JobStatusChanged


def build_submission(
    *,
    job_id: str,
    user_id: str,
    profile: ProfileSubmission,
    idempotency_key: str | None,
    now: datetime,
) -> Submission:
    submitted_id = derive_event_id(job_id, "profile-submitted")
    return Submission(
        job_id=job_id,
        submitted=ProfileSubmitted(
            job_id=job_id,
            user_id=user_id,
            submitted_at=now,
            profile=profile,
            idempotency_key=idempotency_key,
        ),
        submitted_event_id=submitted_id,
        queued=queued_status(job_id, user_id, now),
    )
