"""When to retry a Convex write, and how long to wait (pure: no clock, no I/O).

Convex answers 429 when rate limited and 503 when overloaded or on an internal conflict;
HTTP actions are never retried by Convex itself. So: 408, 429 and 5xx and transport errors
are retryable, after the shared exponential backoff, never sooner than ``Retry-After``;
every other 4xx is permanent (the request itself is wrong; retrying cannot fix it).
"""

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


def next_delay(backoff_s: float, retry_after_s: float | None, remaining_s: float) -> float | None:
    """The wait before the next attempt: the backoff (``careers_runtime.backoff``, chosen
    by the caller), never less than Retry-After, or None when it would start past the
    deadline."""
    delay = backoff_s if retry_after_s is None else max(backoff_s, retry_after_s)
    if delay > remaining_s:
        return None
    return delay
