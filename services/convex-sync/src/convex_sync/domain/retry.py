"""When to retry a Convex write, and how long to wait (pure: no clock, no I/O).

Convex answers 429 when rate limited and 503 when overloaded or on an internal conflict;
HTTP actions are never retried by Convex itself. So: 408, 429 and 5xx and transport errors
are retryable, with exponential backoff and jitter, never sooner than ``Retry-After``;
every other 4xx is permanent (the request itself is wrong; retrying cannot fix it).
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum


class WriteOutcome(StrEnum):
    """What one Convex write's HTTP status means for the record: done, retry, dead-letter."""

    OK = "ok"
    RETRY = "retry"
    PERMANENT = "permanent"


RETRYABLE_4XX = frozenset({408, 429})


def classify(status: int) -> WriteOutcome:
    if 200 <= status < 300:
        return WriteOutcome.OK
    if status in RETRYABLE_4XX or status >= 500:
        return WriteOutcome.RETRY
    # Other 4xx, and 1xx/3xx that an HTTP action should never answer (a redirect means
    # a wrong CONVEX_SITE_URL, e.g. .convex.cloud): permanent.
    return WriteOutcome.PERMANENT


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class Backoff:
    base_s: float
    max_s: float

    def delay_s(self, failures: int, retry_after_s: float | None = None) -> float:
        """Wait after the ``failures``-th failed attempt (1, 2, ...).

        Exponential with "equal jitter" (half fixed, half random, so concurrent writers
        spread out but never hammer), capped at ``max_s``; never less than Retry-After.
        """
        ceiling = min(self.max_s, self.base_s * 2 ** max(0, failures - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay


def next_delay(
    backoff: Backoff,
    failures: int,
    retry_after_s: float | None,
    remaining_s: float,
) -> float | None:
    """The wait before the next attempt, or None when it would start past the deadline."""
    delay = backoff.delay_s(failures, retry_after_s)
    if delay > remaining_s:
        return None
    return delay
