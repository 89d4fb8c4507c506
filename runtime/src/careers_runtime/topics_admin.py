"""Create the registry's topics on a broker (idempotent)."""

import asyncio
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from careers_contracts import TOPICS, Topic

from careers_runtime.kafka_client import (
    as_kafka_settings,
    explain_kafka_failure,
    kafka_client_kwargs,
)
from careers_runtime.settings import KafkaSettings

log = logging.getLogger(__name__)


async def ensure_topics(
    kafka: str | KafkaSettings,
    topics: list[Topic] | None = None,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create missing topics with their registry partition counts; return names created.

    ``kafka``: settings, or a bootstrap string (security then from the environment)."""
    settings = as_kafka_settings(kafka)
    topics = topics if topics is not None else TOPICS.all_topics()
    deadline = asyncio.get_running_loop().time() + timeout_s
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings), request_timeout_ms=10_000)
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                # aiokafka only says "Unable to bootstrap"; say why, naming the setting.
                raise KafkaConnectionError(await explain_kafka_failure(settings)) from None
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
            await _wait_for_leaders(admin, [t.name for t in missing], deadline)
        log.info(
            "topics ready", extra={"topics_created": len(missing), "topics_total": len(topics)}
        )
        return [t.name for t in missing]
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], deadline: float) -> None:
    """Until every partition of the new topics has a leader. Apache Kafka elects them a
    moment after CreateTopics returns; a producer writing in between gets
    NotLeaderForPartition, and an idempotent one can then fail the retried batch with
    OutOfOrderSequenceNumber. Waiting here means a created topic is a usable topic."""
    loop = asyncio.get_running_loop()
    while True:
        described: list[Any] = await admin.describe_topics(names)
        leaderless = [
            t.get("topic")
            for t in described
            if t.get("error_code", 0) != 0
            or not t.get("partitions")
            or any(p.get("leader", -1) < 0 for p in t["partitions"])
        ]
        if not leaderless or loop.time() > deadline:
            return
        await asyncio.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    """``python -m careers_runtime.topics_admin``: create every registry topic (idempotent).

    Used by deploy/compose's and deploy/k8s's topic-creation jobs, so the topics they
    create always come from the registry (names, partitions, retention), never a copy.
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="python -m careers_runtime.topics_admin",
        description="Create the topic registry's topics on a Kafka cluster (idempotent).",
    )
    parser.add_argument(
        "--bootstrap",
        help="host:port list (default: $KAFKA_BOOTSTRAP_SERVERS; TLS/SASL from KAFKA_SECURITY_*)",
    )
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for Kafka")
    parser.add_argument(
        "--list", action="store_true", help="print the registry's topics as JSON and exit"
    )
    args = parser.parse_args(argv)
    if args.list:
        rows = [
            {"name": t.name, "partitions": t.partitions, "retentionMs": t.retention_ms}
            for t in TOPICS.all_topics()
        ]
        print(json.dumps(rows, indent=2))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = as_kafka_settings(args.bootstrap) if args.bootstrap else KafkaSettings()
    created = asyncio.run(
        ensure_topics(settings, replication_factor=args.replication_factor, timeout_s=args.timeout)
    )
    print(json.dumps({"created": created, "total": len(TOPICS.all_topics())}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
