"""Consumer lag — what KEDA scales on — from `careers-dlq lag` and the `/metrics` gauge.

N records are produced in batches, M consumed and committed. Apache Kafka reports the exact
end offset, so both read exactly N - M there. The embedded tansu broker reports a
batch-produced partition's end as the start of its last batch + 1 (docs/architecture.md,
"broker facts"), so there lag can only read low: at most N - M, never above.
"""

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from careers_runtime.dlq_cli import consumer_lag
from careers_runtime.lag import LagMonitor
from prometheus_client import REGISTRY

pytestmark = pytest.mark.broker

PRODUCED = 40
CONSUMED = 13


async def _topic_with_records(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    # Batches of 10 (linger): the shape under which tansu's end offset reads low.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await producer.start()
    try:
        for start in range(0, PRODUCED, 10):
            sent = [
                await producer.send(topic, f"record-{i}".encode(), key=b"k")
                for i in range(start, start + 10)
            ]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_lag_is_produced_minus_consumed(
    kafka_bootstrap: str, kafka_kind: str, unique: str
) -> None:
    topic, group = f"careers.test-lag-{unique}.v1", f"test-lag-{unique}"
    await _topic_with_records(kafka_bootstrap, topic)
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        taken = 0
        while taken < CONSUMED:
            batch = await consumer.getmany(tp, timeout_ms=2000, max_records=CONSUMED - taken)
            taken += len(batch.get(tp, []))
        await consumer.commit()

        rows = await consumer_lag(kafka_bootstrap, [group], [topic])
        [(_, _, partition, committed, cli_lag)] = rows
        assert (partition, committed) == (0, CONSUMED)

        monitor = LagMonitor(
            [SimpleNamespace(group=group, subscriptions=[SimpleNamespace(client=consumer)])]
        )  # type: ignore[list-item]
        await monitor.refresh()
        gauge = REGISTRY.get_sample_value(
            "careers_consumer_lag", {"topic": topic, "partition": "0", "group": group}
        )
    finally:
        await consumer.stop()

    if kafka_kind == "apache":
        assert cli_lag == PRODUCED - CONSUMED
        assert gauge == PRODUCED - CONSUMED
    else:  # tansu under-reports the end of a batch-produced partition; never over-reports
        assert 0 <= cli_lag <= PRODUCED - CONSUMED
        assert gauge is not None and 0 <= gauge <= PRODUCED - CONSUMED
