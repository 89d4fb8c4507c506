"""The one place a FastStream ``KafkaBroker`` is configured."""

import logging
import socket

from faststream.kafka import KafkaBroker

from careers_runtime.kafka_client import kafka_security
from careers_runtime.partitioner import key_partitioner
from careers_runtime.settings import ServiceSettings


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    client_id = settings.kafka_client_id or f"{settings.service_name}-{socket.gethostname()}"
    return KafkaBroker(
        settings.bootstrap_list,
        client_id=client_id,
        # TLS/SASL from KAFKA_SECURITY_PROTOCOL and friends (careers_runtime.kafka_client).
        security=kafka_security(settings),
        request_timeout_ms=settings.kafka_request_timeout_ms,
        compression_type=None
        if settings.kafka_compression == "none"
        else settings.kafka_compression,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_bytes,
        acks="all",
        # Kafka's default partitioning (murmur2 of the key), computed faster: ``partitioner``.
        partitioner=key_partitioner,
        # No duplicates or reordering from producer retries; off only on the embedded
        # broker, which cannot do it (KAFKA_ENABLE_IDEMPOTENCE).
        enable_idempotence=settings.kafka_enable_idempotence,
        # Topics come from the registry (created by deploy/ or the embedded launcher);
        # a typo must fail rather than silently auto-create a 4-partition topic.
        allow_auto_create_topics=False,
        # On shutdown FastStream waits this long for in-flight handlers before closing
        # consumers, which then commit and leave their group.
        graceful_timeout=settings.shutdown_grace_s,
        logger=logging.getLogger(f"{settings.service_name}.broker"),
        description=f"Kafka for the {settings.service_name} service",
    )
