"""CloudEvents-style envelope carried as the Kafka record value (structured mode).

Trace context travels in Kafka headers (``traceparent``/``tracestate``) as W3C defines;
``ce_id``/``ce_type`` headers repeat the envelope's identity so tools (the dead-letter CLI,
Kafka UIs) can filter without parsing the body.
"""

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from careers_contracts.base import ContractModel

# Event ids are UUIDv5 under this namespace, derived from the causing event's id and the
# step name: a re-delivered cause therefore yields byte-identical ids downstream, which is
# what lets idempotent sinks (Convex upserts keyed by event id) turn at-least-once delivery
# into effectively-once results.
EVENT_ID_NAMESPACE = uuid.UUID("6f1d5a3e-3c44-4a8e-9a57-0d0c9e3b2a11")
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


def derive_event_id(cause_id: str, step: str) -> str:
    """Deterministic id for the event that ``step`` emits because of event ``cause_id``:
    ``str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{cause_id}/{step}"))``, computed without the
    ``UUID`` object (one per event on every hop; 1.5 against 3.5 µs, tested equal)."""
    digest = bytearray(
        hashlib.sha1(  # UUIDv5 is defined on SHA-1; not a security use
            _NAMESPACE_BYTES + f"{cause_id}/{step}".encode(), usedforsecurity=False
        ).digest()
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(ContractModel):
    """Attributes common to every event; ``data`` holds the typed payload."""

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(description="Unique, deterministic event id (UUID)")
    type: str = Field(description="Event type, equal to the topic's event type")
    source: str = Field(description="Producing service, e.g. 'orchestrator'")
    subject: str = Field(description="The job id the event is about (also the Kafka key)")
    time: datetime = Field(default_factory=utcnow)
    schemaversion: int = Field(default=1, ge=1)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
