"""Idempotency-Key semantics, independent of where the records are stored.

A record is scoped to one user and one key. It is *reserved* (pending) while the first
request publishes, and *completed* with the job id once the broker acknowledged it; a
failed publish releases it so the client can retry with the same key.
"""

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal

MAX_KEY_CHARS = 255
# The one Idempotency-Key rule: ``valid_key`` runs it on the submit's fast path, and the
# route declares it as the header's ``pattern`` (OpenAPI, and FastAPI's 422 otherwise).
KEY_PATTERN = rf"^[\x21-\x7E]{{1,{MAX_KEY_CHARS}}}$"
_KEY = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class IdempotencyRecord:
    fingerprint: str
    job_id: str
    state: Literal["pending", "completed"]

    def to_json(self) -> dict[str, str]:
        return {"fingerprint": self.fingerprint, "jobId": self.job_id, "state": self.state}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> "IdempotencyRecord":
        state: Literal["pending", "completed"] = (
            "completed" if data.get("state") == "completed" else "pending"
        )
        return cls(fingerprint=data["fingerprint"], job_id=data["jobId"], state=state)


class IdempotencyOutcome(Enum):
    NEW = "new"  # no record: publish a new job
    REPLAY = "replay"  # same body, completed: return the same job, publish nothing
    IN_PROGRESS = "in_progress"  # same body, first request still publishing: 409, retry
    MISMATCH = "mismatch"  # same key, different body: 409


def decide(existing: IdempotencyRecord | None, fingerprint: str) -> IdempotencyOutcome:
    if existing is None:
        return IdempotencyOutcome.NEW
    if existing.fingerprint != fingerprint:
        return IdempotencyOutcome.MISMATCH
    if existing.state == "pending":
        return IdempotencyOutcome.IN_PROGRESS
    return IdempotencyOutcome.REPLAY


def valid_key(key: str) -> bool:
    """Printable ASCII without spaces, 1..255 characters (like Stripe's keys)."""
    return _KEY.fullmatch(key) is not None
