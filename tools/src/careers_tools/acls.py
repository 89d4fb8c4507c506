"""Least-privilege Kafka ACLs, generated from the topic registry (the single source).

Each service has its own principal (``User:<service>``, a SCRAM user) and may do exactly
what the registry says: write the topics it produces, read the topics it consumes (in its
consumer group and the group's retry group), and read, write and create its group's retry
topic and write and create its dead-letter topic. The topic-creation Job has its own admin
principal (``User:careers-admin``): create and configure ``careers.*`` topics, and read
them (``careers-dlq``); KEDA's triggers (``User:careers-keda``) may describe the groups and
topics whose lag they scale on. Nothing else is allowed
(``allow.everyone.if.no.acl.found=false``).

    python -m careers_tools.acls                 # kafka-acls commands (make acls)
    python -m careers_tools.acls --strimzi       # a Strimzi KafkaUser per principal

``apply_acls`` creates them through the Admin protocol (the secured test cluster).
"""

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.protocol.admin import CreateAclsRequest
from careers_contracts import TOPICS, ConsumerGroup
from careers_contracts.topics import TopicRegistry, dead_letter_topic, retry_topic
from careers_runtime.kafka_client import kafka_client_kwargs
from careers_runtime.settings import KafkaSettings

ADMIN = "careers-admin"
KEDA = "careers-keda"  # the autoscaler's triggers (production overlay: careers-kafka)
# The services, each its own principal, each consuming in a group named after it (ingest:
# only its job-status projector's, without retry or dead-letter topics).
SERVICES = (
    "ingest",
    ConsumerGroup.ORCHESTRATOR,
    ConsumerGroup.PROFILE_ANALYZER,
    ConsumerGroup.CAREER_MATCHER,
    ConsumerGroup.CONVEX_SYNC,
)
GROUP_CONSUMERS = tuple(s for s in SERVICES if s != ConsumerGroup.INGEST)
TOPIC_PREFIX = "careers."

# Kafka's wire codes (org.apache.kafka.common.{resource,acl}).
_RESOURCE = {"TOPIC": 2, "GROUP": 3, "CLUSTER": 4}
_PATTERN = {"LITERAL": 3, "PREFIXED": 4}
_OPERATION = {
    "READ": 3,
    "WRITE": 4,
    "CREATE": 5,
    "ALTER": 7,
    "DESCRIBE": 8,
    "DESCRIBE_CONFIGS": 10,
    "ALTER_CONFIGS": 11,
}
_ALLOW = 3


@dataclass(frozen=True, order=True)
class Acl:
    user: str
    resource: str  # TOPIC | GROUP | CLUSTER
    name: str
    operation: str
    pattern: str = "LITERAL"

    @property
    def principal(self) -> str:
        return f"User:{self.user}"


def registry_acls(registry: TopicRegistry = TOPICS) -> list[Acl]:
    """Every ACL the system needs, from the registry; sorted, no duplicates."""
    acls: set[Acl] = set()
    for topic in registry.business_topics():
        for producer in topic.producers:
            if producer in SERVICES:
                acls |= {Acl(producer, "TOPIC", topic.name, op) for op in ("WRITE", "DESCRIBE")}
        for consumer in topic.consumers:
            if consumer in SERVICES:
                acls |= {Acl(consumer, "TOPIC", topic.name, op) for op in ("READ", "DESCRIBE")}
    for group in GROUP_CONSUMERS:
        acls |= {Acl(group, "GROUP", name, "READ") for name in (group, f"{group}-retry")}
        retry = retry_topic(group).name
        acls |= {Acl(group, "TOPIC", retry, op) for op in ("READ", "WRITE", "DESCRIBE", "CREATE")}
        dead = dead_letter_topic(group).name
        acls |= {Acl(group, "TOPIC", dead, op) for op in ("WRITE", "DESCRIBE", "CREATE")}
    # Ingest projects job-status into its read model in one group shared by its replicas
    # (INGEST_JOB_STATUS_GROUP, the registry's "ingest" by default): no retry topic, no
    # dead letters (what it cannot read is recorded and skipped).
    acls.add(Acl(ConsumerGroup.INGEST, "GROUP", ConsumerGroup.INGEST, "READ"))
    for op in ("CREATE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "READ"):
        acls.add(Acl(ADMIN, "TOPIC", TOPIC_PREFIX, op, "PREFIXED"))
    # KEDA's Kafka triggers: the lag of each group on the topics it consumes, read-only.
    for acl in list(acls):
        if acl.user in GROUP_CONSUMERS and acl.operation == "READ":
            acls.add(Acl(KEDA, acl.resource, acl.name, "DESCRIBE"))
    return sorted(acls)


def kafka_acls_commands(acls: Iterable[Acl], bootstrap: str = "$KAFKA_BOOTSTRAP") -> list[str]:
    """One ``kafka-acls.sh --add`` per principal, resource and pattern."""
    grouped: dict[tuple[str, str, str, str], list[str]] = {}
    for acl in acls:
        grouped.setdefault((acl.user, acl.resource, acl.name, acl.pattern), []).append(
            acl.operation
        )
    flags = {"TOPIC": "--topic", "GROUP": "--group", "CLUSTER": "--cluster"}
    lines = []
    for (user, resource, name, pattern), operations in sorted(grouped.items()):
        target = flags[resource] if resource == "CLUSTER" else f"{flags[resource]} '{name}'"
        ops = " ".join(f"--operation {op.title().replace('_', '')}" for op in operations)
        lines.append(
            f"kafka-acls.sh --bootstrap-server {bootstrap} --command-config admin.properties "
            f"--add --allow-principal User:{user} {target} "
            f"--resource-pattern-type {pattern.lower()} {ops}"
        )
    return lines


def strimzi_users(acls: Iterable[Acl], cluster: str = "careers-kafka") -> list[dict[str, Any]]:
    """A ``KafkaUser`` (SCRAM-SHA-512, simple authorization) per principal."""
    by_user: dict[str, list[Acl]] = {}
    for acl in acls:
        by_user.setdefault(acl.user, []).append(acl)
    users = []
    for user, granted in sorted(by_user.items()):
        rules: dict[tuple[str, str, str], list[str]] = {}
        for acl in granted:
            rules.setdefault((acl.resource.lower(), acl.name, acl.pattern.lower()), []).append(
                acl.operation.title().replace("_", "")
            )
        users.append(
            {
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaUser",
                "metadata": {"name": user, "labels": {"strimzi.io/cluster": cluster}},
                "spec": {
                    "authentication": {"type": "scram-sha-512"},
                    "authorization": {
                        "type": "simple",
                        "acls": [
                            {
                                "resource": {"type": kind, "name": name, "patternType": pattern},
                                "operations": sorted(operations),
                            }
                            for (kind, name, pattern), operations in sorted(rules.items())
                        ],
                    },
                },
            }
        )
    return users


async def apply_acls(kafka: "str | KafkaSettings", acls: Sequence[Acl]) -> None:
    """Create ``acls`` with a principal allowed to (a super user); raises on a refusal."""
    producer = AIOKafkaProducer(**kafka_client_kwargs(kafka))
    await producer.start()
    try:
        client = producer.client
        node_id = client.get_random_node()
        for acl in acls:
            request = CreateAclsRequest(
                _RESOURCE[acl.resource],
                acl.name,
                _PATTERN[acl.pattern],
                acl.principal,
                "*",
                _OPERATION[acl.operation],
                _ALLOW,
            )
            response = await client.send(node_id, request)
            for error_code, error_message in response.creation_responses:
                if error_code:
                    raise RuntimeError(f"CreateAcls {acl}: {error_code} {error_message}")
    finally:
        await producer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m careers_tools.acls", description=__doc__)
    parser.add_argument("--strimzi", action="store_true", help="KafkaUser manifests instead")
    parser.add_argument("--bootstrap", default="$KAFKA_BOOTSTRAP", help="for the commands")
    args = parser.parse_args(argv)
    acls = registry_acls()
    if args.strimzi:
        sys.stdout.write(yaml.safe_dump_all(strimzi_users(acls), sort_keys=False))
    else:
        print("# Generated from the topic registry (python -m careers_tools.acls); do not edit.")
        print("\n".join(kafka_acls_commands(acls, args.bootstrap)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
