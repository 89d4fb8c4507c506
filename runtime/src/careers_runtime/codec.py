"""Turning contract events into Kafka records and back.

A record's value is the CloudEvents-style envelope as JSON (``Envelope``); its key is the
job id, so one job's events stay in one partition, in order. Headers carry the W3C trace
context and the event's id and type.
"""

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from careers_contracts import MAX_EVENT_BYTES, Envelope, JobEvent, Topic, derive_event_id
from opentelemetry import propagate
from pydantic import ValidationError, create_model

HEADER_EVENT_ID = "ce_id"
HEADER_EVENT_TYPE = "ce_type"


class PermanentError(Exception):
    """Processing can never succeed for this record: skip retries, dead-letter it."""

    error_class = "permanent"


class EventValidationError(PermanentError):
    """The record is not a valid event of its topic (bad JSON, wrong type, missing field)."""

    error_class = "validation"


class EventTooLargeError(PermanentError):
    error_class = "permanent"


@dataclass(frozen=True)
class Outgoing:
    """An event a handler wants published. ``event_id`` must be deterministic."""

    topic: Topic
    payload: JobEvent
    event_id: str

    @property
    def key(self) -> str:
        return self.payload.job_id


@dataclass(frozen=True)
class Incoming[P: JobEvent]:
    """A consumed, validated event and where it came from."""

    envelope: Envelope
    payload: P
    topic: str
    partition: int
    offset: int
    headers: Mapping[str, str] = field(default_factory=dict)
    attempt: int = 1

    @property
    def event_id(self) -> str:
        return self.envelope.id

    @property
    def job_id(self) -> str:
        return self.envelope.subject

    def derive_id(self, step: str) -> str:
        """Id of the event this one causes at ``step``: same input, same id, every time."""
        return derive_event_id(self.envelope.id, step)

    def emit(self, topic: Topic, payload: JobEvent, step: str) -> Outgoing:
        return Outgoing(topic=topic, payload=payload, event_id=self.derive_id(step))


_EMPTY_DATA = '"data":{}}'


def encode(
    event: Outgoing, source: str, trace_headers: Mapping[str, str] | None = None
) -> tuple[bytes, dict[str, str]]:
    """Envelope JSON and headers: ``trace_headers``, or else the current trace context
    injected by the global propagators.

    The payload is serialised once, straight into the envelope's ``data`` (``data`` is
    the envelope's last field): the same bytes as dumping it to a dict, validating that
    as the envelope's ``data`` and dumping the envelope, without the round trip.
    """
    envelope = Envelope(
        id=event.event_id,
        type=event.topic.event_type,
        source=source,
        subject=event.payload.job_id,
        schemaversion=event.topic.version,
        data={},
    )
    head = envelope.model_dump_json(by_alias=True)
    data = event.payload.model_dump_json(by_alias=True)
    if head.endswith(_EMPTY_DATA):  # always, unless Envelope gains a field after `data`
        value = f"{head[: -len(_EMPTY_DATA) + len('"data":')]}{data}}}".encode()
    else:  # pragma: no cover - kept correct if the envelope's shape changes
        value = envelope.model_copy(update={"data": json.loads(data)}).model_dump_json().encode()
    if len(value) > MAX_EVENT_BYTES:
        raise EventTooLargeError(
            f"event {event.event_id} for {event.topic.name} is {len(value)} bytes "
            f"(limit {MAX_EVENT_BYTES})"
        )
    headers: dict[str, str] = {
        HEADER_EVENT_ID: envelope.id,
        HEADER_EVENT_TYPE: envelope.type,
    }
    if trace_headers is None:
        propagate.inject(headers)
    else:
        headers.update(trace_headers)
    return value, headers


def decode_headers(raw: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Header values as text: invalid UTF-8 is replaced, a null value becomes ``""``."""
    return {str(k): v.decode("utf-8", "replace") if v else "" for k, v in (raw or ())}


def _first_error(error: ValidationError) -> str:
    details = error.errors(include_url=False)
    first = details[0]
    location = ".".join(str(p) for p in first["loc"]) or "<root>"
    more = f" (+{len(details) - 1} more)" if len(details) > 1 else ""
    return f"{location}: {first['msg']}{more}"


def _envelope_or_reason(value: bytes) -> Envelope:
    """The envelope, or the EventValidationError saying why not (``json`` then pydantic)."""
    try:
        raw: Any = json.loads(value)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise EventValidationError(f"value is not JSON: {type(exc).__name__}: {exc}"[:500]) from exc
    try:
        return Envelope.model_validate(raw)
    except ValidationError as exc:
        raise EventValidationError(f"invalid envelope: {_first_error(exc)}") from exc
    except (ValueError, RecursionError) as exc:  # pragma: no cover - pydantic guards depth
        raise EventValidationError(f"invalid envelope: {type(exc).__name__}") from exc


@functools.cache
def _typed_envelope(topic: Topic) -> type[Envelope]:
    """``Envelope`` whose ``data`` is ``topic``'s payload model (one per topic)."""
    model: type[Envelope] = create_model(  # type: ignore[call-overload]
        f"{topic.payload.__name__}Envelope", __base__=Envelope, data=(topic.payload, ...)
    )
    return model


def decode(value: bytes | None, topic: Topic) -> tuple[Envelope, JobEvent]:
    """Validate a record value as an event of ``topic`` or raise EventValidationError.

    Nothing else escapes, whatever the bytes: a value over ``MAX_EVENT_BYTES`` is refused
    before parsing, and deep nesting (``RecursionError``) or an integer too long to convert
    (``ValueError``) are validation errors like any other unparseable value.
    """
    if value is None:
        raise EventValidationError("empty record value (tombstone) on an event topic")
    if len(value) > MAX_EVENT_BYTES:  # cheap, and before any parsing
        raise EventValidationError(
            f"value is {len(value)} bytes, over the {MAX_EVENT_BYTES}-byte event limit"
        )
    try:
        # One pass, straight from the bytes: the envelope with ``data`` as the topic's
        # payload (no dict of the value, no second validation of ``data``).
        typed = _typed_envelope(topic).model_validate_json(value)
    except (ValueError, RecursionError):  # ValidationError too: say why, step by step
        pass
    else:
        payload = cast(JobEvent, typed.data)
        if typed.type == topic.event_type and payload.job_id == typed.subject:
            return typed, payload
    try:
        envelope = Envelope.model_validate_json(value)
    except (ValueError, RecursionError):
        envelope = _envelope_or_reason(value)
    if envelope.type != topic.event_type:
        raise EventValidationError(
            f"event type {envelope.type!r} does not belong on topic {topic.name}"
        )
    try:
        payload = cast(JobEvent, topic.payload.model_validate(envelope.data))
    except ValidationError as exc:
        raise EventValidationError(f"invalid {envelope.type} data: {_first_error(exc)}") from exc
    except (ValueError, RecursionError) as exc:  # pragma: no cover - pydantic guards depth
        raise EventValidationError(f"invalid {envelope.type} data: {type(exc).__name__}") from exc
    if payload.job_id != envelope.subject:
        raise EventValidationError("envelope subject and data.jobId disagree")
    return envelope, payload
