"""The ACLs generated from the topic registry (``careers_tools.acls``): exactly what each
service's role needs (the secured cluster's end-to-end test: tests/e2e/test_e2e_acls.py)."""

import yaml
from careers_contracts import TOPICS
from careers_contracts.topics import dead_letter_topic, retry_topic
from careers_tools.acls import (
    ADMIN,
    GROUP_CONSUMERS,
    KEDA,
    SERVICES,
    kafka_acls_commands,
    main,
    registry_acls,
    strimzi_users,
)


def _granted(user: str, operation: str) -> set[str]:
    return {
        a.name
        for a in registry_acls()
        if a.user == user and a.operation == operation and a.resource == "TOPIC"
    }


def test_each_service_writes_only_what_the_registry_says_it_produces() -> None:
    for service in SERVICES:
        produced = {t.name for t in TOPICS.business_topics() if service in t.producers}
        own = (
            {retry_topic(service).name, dead_letter_topic(service).name}
            if service in GROUP_CONSUMERS
            else set()
        )
        assert _granted(service, "WRITE") == produced | own, service
    assert TOPICS.recommendations.name not in _granted("ingest", "WRITE")
    assert _granted("ingest", "WRITE") == {TOPICS.profile_submitted.name}


def test_each_service_reads_what_it_consumes_in_its_own_groups() -> None:
    acls = registry_acls()
    for service in SERVICES:
        consumed = {t.name for t in TOPICS.business_topics() if service in t.consumers}
        retry = {retry_topic(service).name} if service in GROUP_CONSUMERS else set()
        assert _granted(service, "READ") == consumed | retry, service
        groups = {a.name for a in acls if a.user == service and a.resource == "GROUP"}
        # ingest: its job-status projector's group only (no retry group).
        assert groups == (
            {service, f"{service}-retry"} if service in GROUP_CONSUMERS else {"ingest"}
        )
    # Only the admin principal may create beyond a service's own retry/dead-letter topics,
    # and KEDA only describes.
    assert {a.operation for a in acls if a.user == KEDA} == {"DESCRIBE"}
    assert all(a.pattern == "LITERAL" for a in acls if a.user != ADMIN)


def test_make_acls_prints_commands_and_strimzi_users(capsys) -> None:  # type: ignore[no-untyped-def]
    acls = registry_acls()
    commands = kafka_acls_commands(acls)
    assert all(c.startswith("kafka-acls.sh ") and "--allow-principal User:" in c for c in commands)
    assert main([]) == 0
    assert "User:ingest --topic 'careers.profile.submitted.v1'" in capsys.readouterr().out
    assert main(["--strimzi"]) == 0
    users = list(yaml.safe_load_all(capsys.readouterr().out))
    assert {u["metadata"]["name"] for u in users} == {*SERVICES, ADMIN, KEDA}
    assert users == strimzi_users(acls)
    assert all(u["spec"]["authentication"]["type"] == "scram-sha-512" for u in users)
