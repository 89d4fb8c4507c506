"""A job as the read model holds it, and how its history is numbered (pure logic).

Every job's status lives in one shared store (Redis, ``ingest.read_model``): the latest
``JobStatusChanged``, its owner and creation time, and its event history. Sequences order a
job's updates: ingest writes ``queued`` (sequence 0) when it accepts the submit, the
orchestrator continues at 1. An update is taken only if its sequence is above the job's
current one, so a job never moves backwards and a re-delivered update changes nothing.

History entries are numbered ``<sequence + 1>-0``: a Redis Stream id, which Redis refuses
unless it is above the stream's last id (the same rule, enforced by the store itself).
"""

from dataclasses import dataclass
from datetime import datetime

from careers_contracts import TERMINAL_STATES, JobStatusChanged

MAX_EVENTS_PER_JOB = 64
QUEUED_SEQUENCE = 0  # a job's first status, written by ingest when it accepts the submit


@dataclass(frozen=True)
class JobSnapshot:
    """A job's current state: who owns it, when it was created, its latest status."""

    job_id: str
    user_id: str
    created_at: datetime
    latest: JobStatusChanged

    @property
    def sequence(self) -> int:
        return self.latest.sequence

    @property
    def terminal(self) -> bool:
        return self.latest.status in TERMINAL_STATES


def history_id(sequence: int) -> str:
    """The history (stream) entry id of ``sequence`` (Redis refuses ``0-0``: hence + 1)."""
    return f"{sequence + 1}-0"


def history_cursor(after_sequence: int) -> str:
    """The stream id to read after, for the events above ``after_sequence`` (-1: all)."""
    return "0-0" if after_sequence < 0 else history_id(after_sequence)


def sequence_of(entry_id: str | bytes) -> int:
    """The sequence a history entry id stands for."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0]) - 1


def parse_last_event_id(value: str | None) -> int:
    """The sequence an SSE client resumes after (``Last-Event-ID``); -1: from the start."""
    try:
        return int(value) if value is not None else -1
    except ValueError:
        return -1  # not one of ours: replay from the start
