"""The one place we read aiokafka's internals (``aiokafka>=0.12``).

``AIOKafkaConsumer.partitions_for_topic`` answers from the consumer's cached cluster
metadata, which holds only the topics the consumer has asked about; aiokafka's public API
has no call that refreshes that cache (``topics()`` fetches metadata into a throw-away
object). ``careers-dlq`` reads the partitions of dead-letter and consumed topics with a
consumer that never subscribed to them, so it refreshes the cache through the consumer's
client, ``consumer._client``, a private attribute. When aiokafka cannot parse a fetch
(a header key that is not UTF-8, a corrupt batch) the salvage path (``delivery.salvage``)
sends one Fetch of its own through the same client and reads the bytes leniently.

Nothing else may reach into aiokafka; an upgrade has to pass
``runtime/tests/test_aiokafka_adapter.py``, which pins what is read here.
"""

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.protocol.fetch import FetchRequest


async def refresh_metadata(consumer: AIOKafkaConsumer) -> None:
    """Fetch the cluster's metadata into the started ``consumer``'s cache now."""
    await consumer._client.force_metadata_update()


async def fetch_raw(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    offset: int,
    max_bytes: int,
    max_wait_ms: int = 250,
) -> tuple[int, bytes]:
    """One Fetch of ``tp`` from ``offset`` sent to its leader through the started
    ``consumer``'s connections: (the partition's error code, its raw record set).

    For salvage only (``delivery.salvage``): aiokafka's public API returns parsed records,
    and it is its parse that failed. Read-uncommitted; a broker returns at least
    the first whole batch even when it is larger than ``max_bytes``. ``max_wait_ms`` must
    not be 0: the embedded broker answers a fetch only at its deadline, and with none
    answers nothing at all (an absent partition reads as an empty record set)."""
    client = consumer._client
    node_id = client.cluster.leader_for_partition(tp)
    if node_id is None or node_id == -1:
        await client.force_metadata_update()
        node_id = client.cluster.leader_for_partition(tp)
        if node_id is None or node_id == -1:
            raise KafkaError(f"no leader known for {tp.topic}[{tp.partition}]")
    request = FetchRequest(
        max_wait_ms, 1, max_bytes, 0, [(tp.topic, [(tp.partition, offset, max_bytes)])]
    )
    response = await client.send(node_id, request)
    for topic, partitions in response.topics:
        for partition, error_code, _highwater, *part_data in partitions:
            if topic == tp.topic and partition == tp.partition:
                return error_code, bytes(part_data[-1] or b"")
    return 0, b""
