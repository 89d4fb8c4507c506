"""Reading what a service produced, in tests: one job's envelopes from a set of topics."""

import time

from aiokafka import AIOKafkaConsumer
from careers_contracts import Envelope
from careers_runtime.delivery import SafeFetch
from careers_runtime.kafka_client import as_kafka_settings, kafka_client_kwargs
from careers_runtime.settings import KafkaSettings


async def collect_events(
    kafka: str | KafkaSettings, topics: list[str], job_id: str, want: int, timeout_s: float = 60
) -> list[tuple[str, Envelope]]:
    """(topic, envelope) of the records keyed ``job_id``, from the start of ``topics``,
    once ``want`` arrived or ``timeout_s`` passed (then fewer)."""
    consumer = AIOKafkaConsumer(
        *topics,
        **kafka_client_kwargs(as_kafka_settings(kafka)),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    fetch = SafeFetch(consumer, group=False)  # other tests' unparseable bytes: skipped
    found: list[tuple[str, Envelope]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(found) < want:
            batch = await fetch.getmany(timeout_ms=500, max_records=None)
            for records in batch.records.values():
                for record in records:
                    if record.key == job_id.encode():
                        found.append((record.topic, Envelope.model_validate_json(record.value)))
    finally:
        await consumer.stop()
    return found
