"""Topics in deploy/ come from the registry: both topic jobs run its creation code,
``deploy/topics.json`` and the operations table are generated from it."""

import json
import subprocess
import sys

import pytest
from careers_contracts import TOPICS

from .rendering import (
    COMPOSE_FILE,
    K8S,
    ROOT,
    compose_document,
    load_script,
    of_kind,
    render,
)


def test_topic_jobs_create_the_registry_topics() -> None:
    """Both topic jobs run the registry's own creation code; no hand-copied topic list."""
    compose = compose_document()
    command = compose["services"]["topics"]["command"]
    assert command[:3] == ["python", "-m", "careers_runtime.topics_admin"]
    job = of_kind(render("base"), "Job")["careers-topics"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "careers_runtime.topics_admin"]
    # No topic name is hard-coded in deploy/ except the KEDA triggers (checked above).
    for path in [COMPOSE_FILE, *K8S.rglob("*.yaml")]:
        if path.name == "scaledobjects.yaml":
            continue
        assert "careers." not in path.read_text(encoding="utf-8").replace("careers_runtime", ""), (
            path
        )


def test_topics_json_and_operations_table_match_the_registry() -> None:
    export_topics = load_script("export_topics")
    assert export_topics.main(["--check"]) == 0, "run: python scripts/export_topics.py"
    exported = json.loads((ROOT / "deploy" / "topics.json").read_text(encoding="utf-8"))
    assert [(t["name"], t["partitions"], t["retentionMs"]) for t in exported["topics"]] == [
        (t.name, t.partitions, t.retention_ms) for t in TOPICS.all_topics()
    ]
    assert exported["consumerGroups"]["orchestrator"]["orchestrator-retry"] == [
        "careers.orchestrator.retry.v1"
    ]


@pytest.mark.broker
async def test_topics_admin_cli_creates_registry_topics(kafka_bootstrap: str) -> None:
    """The command both topic jobs run, as a real process against a real broker."""
    from aiokafka.admin import AIOKafkaAdminClient
    from careers_runtime.kafka_client import kafka_client_kwargs

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "careers_runtime.topics_admin",
            "--bootstrap",
            kafka_bootstrap,
            "--replication-factor",
            "1",
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["total"] == len(TOPICS.all_topics())
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(kafka_bootstrap))
    await admin.start()
    try:
        names = [t.name for t in TOPICS.all_topics()]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    assert partitions == {t.name: t.partitions for t in TOPICS.all_topics()}
    # Idempotent: a second run creates nothing.
    again = subprocess.run(
        [sys.executable, "-m", "careers_runtime.topics_admin", "--bootstrap", kafka_bootstrap],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["created"] == []
