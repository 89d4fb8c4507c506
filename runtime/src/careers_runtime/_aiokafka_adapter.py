"""The one place we read aiokafka's internals (``aiokafka>=0.12``).

``AIOKafkaConsumer.partitions_for_topic`` answers from the consumer's cached cluster
metadata, which holds only the topics the consumer has asked about; aiokafka's public API
has no call that refreshes that cache (``topics()`` fetches metadata into a throw-away
object). ``careers-dlq`` reads the partitions of dead-letter and consumed topics with a
consumer that never subscribed to them, so it refreshes the cache through the consumer's
client, ``consumer._client``, a private attribute.

Nothing else may reach into aiokafka; an upgrade has to pass
``runtime/tests/test_aiokafka_adapter.py``, which pins what is read here.
"""

from aiokafka import AIOKafkaConsumer


async def refresh_metadata(consumer: AIOKafkaConsumer) -> None:
    """Fetch the cluster's metadata into the started ``consumer``'s cache now."""
    await consumer._client.force_metadata_update()
