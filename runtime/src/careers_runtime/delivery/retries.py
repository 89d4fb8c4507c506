"""Retry and dead-letter policy: what a failed record becomes, as data (no I/O).

A failing record is re-published to its group's retry topic with the headers below (its
attempt, a not-before time from ``RetryPolicy``, where it came from and its error
history), or, once retrying cannot help, wrapped in a ``DeadLetter`` that always fits a
Kafka record. Parsing those headers back never raises: garbled retry headers are a
reason to dead-letter, not an exception that would stall the partition.
"""

import base64
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiokafka import ConsumerRecord
from careers_contracts import DeadLetter

from careers_runtime.backoff import Backoff

H_ATTEMPT = "x-retry-attempt"
H_NOT_BEFORE = "x-retry-not-before-ms"
H_ORIGINAL_TOPIC = "x-original-topic"
H_ORIGINAL_PARTITION = "x-original-partition"
H_ORIGINAL_OFFSET = "x-original-offset"
H_HISTORY = "x-retry-history"
RETRY_HEADERS = (
    H_ATTEMPT,
    H_NOT_BEFORE,
    H_ORIGINAL_TOPIC,
    H_ORIGINAL_PARTITION,
    H_ORIGINAL_OFFSET,
    H_HISTORY,
)

# A dead letter carries at most this much of the original value (base64 grows it by a
# third) and of its headers, so it always fits Kafka's default 1 MiB record limit.
DEAD_LETTER_VALUE_BYTES = 512 * 1024
DEAD_LETTER_HEADERS_CHARS = 64 * 1024
MAX_HISTORY_CHARS = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_s: float
    max_s: float

    def backoff_s(self, attempt: int) -> float:
        """Delay before ``attempt`` (2, 3, ...): the shared backoff after ``attempt - 1``
        failures (from ``base_s``, capped at ``max_s``, equal jitter)."""
        return Backoff(self.base_s, self.max_s).delay_s(attempt - 1)


class RecordOrigin(NamedTuple):
    """Where a record really came from: itself, or for a retried record its retry headers.

    (A NamedTuple: built once per record, it must cost next to nothing.)
    """

    topic: str
    partition: int
    offset: int
    attempt: int
    not_before_ms: int
    retried: bool = False


def _int_header(headers: dict[str, str], name: str, low: int, high: int) -> int | str:
    """A header as an int in [low, high], or the reason it is not one (never raises)."""
    text = headers.get(name)
    if text is None:
        return f"retried record without {name} header"
    text = text.strip()
    # Length first: int() of a long digit string is quadratic and refuses 4,300+ digits.
    if not 0 < len(text) <= 20 or not text.lstrip("-").isdigit() or not text.isascii():
        return f"garbled {name} header {text[:50]!r}"
    number = int(text)
    if not low <= number <= high:
        return f"{name} header {number} out of range"
    return number


_MAX_INT64 = 2**63 - 1


def retry_origin(headers: dict[str, str]) -> "RecordOrigin | str":
    """Parse a retry-topic record's headers; a string is why they are unusable."""
    topic = headers.get(H_ORIGINAL_TOPIC)
    if not topic:
        return f"retried record without {H_ORIGINAL_TOPIC} header"
    fields: list[int] = []
    for name, low, high in (
        (H_ORIGINAL_PARTITION, 0, 2**31 - 1),
        (H_ORIGINAL_OFFSET, 0, _MAX_INT64),
        (H_ATTEMPT, 1, 1_000_000),
        (H_NOT_BEFORE, 0, _MAX_INT64),
    ):
        value = _int_header(headers, name, low, high)
        if isinstance(value, str):
            return value
        fields.append(value)
    partition, offset, attempt, not_before = fields
    return RecordOrigin(topic, partition, offset, attempt, not_before, retried=True)


def parse_history(text: str | None) -> list[Any]:
    """The ``x-retry-history`` header's attempts; unreadable history is noted, never raised."""
    if not text:
        return []
    if len(text) > MAX_HISTORY_CHARS:
        return [{"error": f"x-retry-history header of {len(text)} chars dropped"}]
    try:
        history = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return [{"error": f"unreadable x-retry-history header: {type(exc).__name__}"}]
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        return [{"error": "x-retry-history header is not a list of attempts"}]
    return history[-100:]


def attempt_history(headers: dict[str, str], origin: RecordOrigin, exc: BaseException) -> list[Any]:
    """The record's earlier attempts (a retried record's history header) plus this one."""
    history = parse_history(headers.get(H_HISTORY)) if origin.retried else []
    history.append(
        {
            "attempt": origin.attempt,
            "error": f"{type(exc).__name__}: {exc}"[:1000],
            "at": datetime.now(UTC).isoformat(),
        }
    )
    return history


def retry_headers(
    headers: dict[str, str], origin: RecordOrigin, exc: Exception, next_attempt: int, delay_s: float
) -> dict[str, str]:
    """The record's headers for the retry topic: its own, minus stale retry headers, plus
    the next attempt, its not-before time, where it came from and its history."""
    out = {k: v for k, v in headers.items() if k not in RETRY_HEADERS}
    out.update(
        {
            H_ATTEMPT: str(next_attempt),
            H_NOT_BEFORE: str(int((time.time() + delay_s) * 1000)),
            H_ORIGINAL_TOPIC: origin.topic,
            H_ORIGINAL_PARTITION: str(origin.partition),
            H_ORIGINAL_OFFSET: str(origin.offset),
            H_HISTORY: json.dumps(attempt_history(headers, origin, exc)),
        }
    )
    return out


def dead_letter(
    record: ConsumerRecord[Any, Any],
    headers: dict[str, str],
    origin: RecordOrigin,
    exc: BaseException,
    error_class: str,
    group: str,
) -> DeadLetter:
    """The dead letter for ``record``: the original record (value and headers truncated to
    fit a Kafka record), the error and every attempt."""
    value: bytes = record.value or b""
    note = ""
    if len(value) > DEAD_LETTER_VALUE_BYTES:  # a dead letter must fit a Kafka record
        note = f" [original value of {len(value)} bytes truncated]"
        value = value[:DEAD_LETTER_VALUE_BYTES]
    try:
        text, encoding = value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(value).decode(), "base64"
    key = record.key.decode("utf-8", "replace")[:500] if record.key else None
    kept: dict[str, str] = {}
    budget = DEAD_LETTER_HEADERS_CHARS
    for k, v in headers.items():
        if k in RETRY_HEADERS:
            continue
        if (budget := budget - len(k) - len(v)) < 0:
            note += " [original headers truncated]"
            break
        kept[k] = v
    return DeadLetter(
        original_topic=origin.topic[:500],
        original_partition=origin.partition,
        original_offset=origin.offset,
        original_key=key,
        original_value=text,
        value_encoding=encoding,  # type: ignore[arg-type]
        original_headers=kept,
        consumer_group=group,
        error_type=type(exc).__name__,
        error_message=(str(exc)[:4000] + note),
        error_class=error_class,  # type: ignore[arg-type]
        attempts=attempt_history(headers, origin, exc),
        job_id=key,
        failed_at=datetime.now(UTC),
    )
