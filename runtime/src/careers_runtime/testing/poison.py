"""Poison records: one of each shape a careless or hostile producer can write.

Used by the delivery tests (each shape on the real broker) and by ``make chaos`` (injected
into a running stack). Every one of them must end in the consuming group's dead-letter
topic with a reason, and the partition must move on.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from careers_contracts import (
    TOPICS,
    ProfileSubmission,
    ProfileSubmitted,
    Topic,
)
from careers_contracts.topics import retry_topic

from careers_runtime.codec import Outgoing, encode

# The producer must be allowed to send the 10 MB record (Kafka's default broker limit
# would refuse it; the embedded broker has none, which is what makes the shape possible).
MAX_REQUEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Poison:
    name: str
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    reason: str = ""  # a fragment of the dead letter's error message


def _valid_profile(job_id: str) -> bytes:
    payload = ProfileSubmitted(
        job_id=job_id,
        user_id="poison",
        submitted_at=datetime.now(UTC),
        profile=ProfileSubmission(summary="poison"),
    )
    value, _ = encode(Outgoing(TOPICS.profile_submitted, payload, f"{job_id}-evt"), "poison")
    return value


def poison_records(topic: Topic, group: str, prefix: str) -> list[Poison]:
    """One record of each poison shape for ``group`` consuming ``topic`` (whose payload is
    ``ProfileSubmitted``); keys are ``<prefix>-<shape>``."""

    def key(name: str) -> bytes:
        return f"{prefix}-{name}".encode()

    def valid(name: str) -> bytes:
        value = _valid_profile(f"{prefix}-{name}")
        return value.replace(
            TOPICS.profile_submitted.event_type.encode(), topic.event_type.encode()
        )

    wrong_value = _valid_profile(f"{prefix}-wrong-type").replace(
        TOPICS.profile_submitted.event_type.encode(), b"careers.not-this-topic"
    )
    retry = retry_topic(group).name
    return [
        Poison(
            "deep-nesting", topic.name, key("deep-nesting"), b"[" * 100_000, (), "RecursionError"
        ),
        Poison(
            "huge-integer",
            topic.name,
            key("huge-integer"),
            b'{"id": ' + b"9" * 50_000 + b"}",
            (),
            "not JSON",
        ),
        Poison(
            "invalid-utf8",
            topic.name,
            key("invalid-utf8"),
            b'{"id": "\xff\xfe\x80"}',
            (),
            "not JSON",
        ),
        Poison("wrong-type", topic.name, key("wrong-type"), wrong_value, (), "does not belong"),
        Poison(
            "oversized", topic.name, key("oversized"), b"x" * (10 * 1024 * 1024), (), "event limit"
        ),
        Poison("null-value", topic.name, key("null-value"), None, (), "tombstone"),
        Poison("no-key", topic.name, None, valid("no-key"), (), "no key"),
        Poison(
            # Retry headers on a main-topic record are not its own: they must be ignored.
            "garbled-headers-main",
            topic.name,
            key("garbled-headers-main"),
            b"{not json",
            (
                ("x-original-partition", b"abc"),
                ("x-original-offset", b"9" * 5000),
                ("x-retry-history", b"[" * 100_000),
                ("x-null-header", None),
                ("ce_id", b"\xff\xfe"),
            ),
            "not JSON",
        ),
        Poison(
            "garbled-retry-headers",
            retry,
            key("garbled-retry-headers"),
            valid("garbled-retry-headers"),
            (
                ("x-original-topic", topic.name.encode()),
                ("x-original-partition", b"abc"),
                ("x-original-offset", b"9" * 5000),
                ("x-retry-attempt", b"2"),
                ("x-retry-not-before-ms", b"0"),
                ("x-retry-history", b"[" * 100_000),
            ),
            "garbled x-original-partition",
        ),
    ]


async def inject(bootstrap: str, records: list[Poison]) -> None:
    """Produce ``records`` (acknowledged) with a producer that allows the 10 MB one."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=MAX_REQUEST_BYTES)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=list(record.headers)
            )
    finally:
        await producer.stop()
