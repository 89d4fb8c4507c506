"""Create the registry's topics on a broker (idempotent)."""

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from careers_contracts import TOPICS, Topic

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap: str,
    topics: list[Topic] | None = None,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create missing topics with their registry partition counts; return names created."""
    topics = topics if topics is not None else TOPICS.all_topics()
    deadline = asyncio.get_running_loop().time() + timeout_s
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            name=t.name,
                            num_partitions=t.partitions,
                            replication_factor=replication_factor,
                            topic_configs={"retention.ms": str(t.retention_ms), **t.config},
                        )
                        for t in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # another process created them concurrently
        log.info(
            "topics ready", extra={"topics_created": len(missing), "topics_total": len(topics)}
        )
        return [t.name for t in missing]
    finally:
        await admin.close()
