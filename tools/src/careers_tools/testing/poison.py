"""Poison records: one of each shape a careless or hostile producer can write.

Used by the delivery tests (each shape on the real broker) and by ``make chaos`` (injected
into a running stack). Every one of them must end in the consuming group's dead-letter
topic with a reason, and the partition must move on.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from careers_contracts import (
    TOPICS,
    ProfileSubmission,
    ProfileSubmitted,
    Topic,
)
from careers_contracts.topics import retry_topic
from careers_runtime.codec import Outgoing, encode
from careers_runtime.kafka_client import producer_kwargs
from careers_runtime.settings import KafkaSettings

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


# Apache Kafka refuses the 10 MB value at produce time (message.max.bytes, ~1 MiB): there
# the broker itself is the guard. Against such a broker the shape is sent again at a size
# over our decoder's limit (900 KiB) and under Kafka's, so the decoder's check still runs.
BROKER_SAFE_OVERSIZED_BYTES = 950 * 1024


async def inject(kafka: "str | KafkaSettings", records: list[Poison]) -> list[Poison]:
    """Produce ``records`` (acknowledged) with a producer that allows the 10 MB one; returns
    the records as produced (the oversized one cut to fit a broker that refused it)."""
    # Not idempotent: after a refused batch aiokafka's idempotent producer fails every
    # later send on that partition with OutOfOrderSequenceNumber.
    options = producer_kwargs(kafka) | {"enable_idempotence": False}
    producer = AIOKafkaProducer(**options, max_request_size=MAX_REQUEST_BYTES)
    await producer.start()
    produced: list[Poison] = []
    try:
        for record in records:
            try:
                await _send(producer, record)
            except MessageSizeTooLargeError:
                if record.value is None or len(record.value) <= BROKER_SAFE_OVERSIZED_BYTES:
                    raise
                record = replace(record, value=record.value[:BROKER_SAFE_OVERSIZED_BYTES])
                await _send(producer, record)
            produced.append(record)
    finally:
        await producer.stop()
    return produced


async def _send(producer: AIOKafkaProducer, record: Poison) -> None:
    await producer.send_and_wait(
        record.topic, record.value, key=record.key, headers=list(record.headers)
    )
