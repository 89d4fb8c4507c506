"""Through the real broker: FastStream publisher and subscribers in separate processes.

Two worker processes join one consumer group and split the topic's partitions; a
FastStream publisher in this process sends contract events keyed by job id; every event
arrives exactly once, in the partition the registry's key hashing decides, and a record
that is not a valid event lands in the dead-letter topic with the reason.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiokafka.partitioner import murmur2
from careers_contracts import TOPICS, DeadLetter
from careers_runtime.broker import create_broker
from careers_runtime.codec import Outgoing
from careers_runtime.delivery import publish_all
from careers_runtime.settings import ServiceSettings
from careers_tools.testing.dead_letters import wait_for_dead_letters
from careers_tools.testing.echo import echo_handled, echo_worker, profile_submitted
from careers_tools.testing.polling import wait_until
from opentelemetry import context as otel_context
from opentelemetry import propagate

pytestmark = pytest.mark.broker
TOPIC = TOPICS.profile_submitted


@pytest.fixture(scope="module")
def group_workers(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    workdir = tmp_path_factory.mktemp("echo")
    group = f"echo-{uuid.uuid4().hex[:8]}"
    out = workdir / "handled.jsonl"
    workers = []
    for i in range(2):
        workers.append(
            echo_worker(
                kafka_bootstrap,
                group,
                out,
                workdir / f"worker{i}.log",
                RETRY_BACKOFF_BASE_S="0.1",
                RETRY_MAX_ATTEMPTS="2",
                LOG_LEVEL="INFO",
            )
        )
    try:
        for process, port in workers:
            process.wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=60)
        # Both members must hold partitions before we publish, so the split is observable.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counts = [
                httpx.get(f"http://127.0.0.1:{p}/readyz").json()["assignedPartitions"]
                for _, p in workers
            ]
            # Each member holds half of the main topic and half of the retry topic (two
            # groups): a sum alone can be met before the second member joins the main one.
            if counts == [TOPIC.partitions, TOPIC.partitions]:
                break
            time.sleep(0.3)
        else:
            pytest.fail(f"group never balanced: {counts}\n{workers[0][0].tail()}")
        yield {"group": group, "out": out, "workers": workers, "bootstrap": kafka_bootstrap}
    finally:
        for process, _ in workers:
            process.stop()


async def _publish(bootstrap: str, events: list[Outgoing]) -> None:
    broker = create_broker(ServiceSettings(kafka_bootstrap_servers=bootstrap, service_name="test"))
    await broker.start()
    try:
        await publish_all(broker, events, "test")
    finally:
        await broker.stop()


async def test_group_of_two_splits_partitions_and_sees_each_event_once(group_workers: dict) -> None:
    prefix = f"rt-{uuid.uuid4().hex[:6]}-"
    job_ids = [f"{prefix}{i}" for i in range(60)]
    await _publish(group_workers["bootstrap"], [profile_submitted(j) for j in job_ids])

    rows = await asyncio.to_thread(
        wait_until,
        lambda: (
            len(echo_handled(group_workers["out"], prefix)) >= 60
            and echo_handled(group_workers["out"], prefix)
        ),
    )
    rows = echo_handled(group_workers["out"], prefix)
    assert sorted(r["jobId"] for r in rows) == sorted(job_ids), "each event exactly once"
    by_pid: dict[int, set[int]] = {}
    for row in rows:
        expected = (murmur2(row["jobId"].encode()) & 0x7FFFFFFF) % TOPIC.partitions
        assert row["partition"] == expected, "keyed by job id, Java-compatible murmur2"
        by_pid.setdefault(row["pid"], set()).add(row["partition"])
    assert len(by_pid) == 2, "both group members handled events"
    first, second = by_pid.values()
    assert not first & second, "members own disjoint partitions"


async def test_workers_continue_the_publishers_trace_without_an_exporter(
    group_workers: dict,
) -> None:
    """No OTLP endpoint: the workers record no spans but still join the caller's trace."""
    trace_id = uuid.uuid4().hex
    parent = propagate.extract({"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"})
    job_id = f"tr-{uuid.uuid4().hex[:6]}"
    token = otel_context.attach(parent)
    try:
        await _publish(group_workers["bootstrap"], [profile_submitted(job_id)])
    finally:
        otel_context.detach(token)
    rows = await asyncio.to_thread(wait_until, lambda: echo_handled(group_workers["out"], job_id))
    assert [r["traceId"] for r in rows] == [trace_id]


async def _dead_letters(bootstrap: str, group: str, job_id: str) -> list[DeadLetter]:
    return await wait_for_dead_letters(bootstrap, group, job_id)


async def test_invalid_event_is_dead_lettered_with_the_reason(group_workers: dict) -> None:
    job_id = f"bad-{uuid.uuid4().hex[:6]}"
    broker = create_broker(ServiceSettings(kafka_bootstrap_servers=group_workers["bootstrap"]))
    await broker.start()
    try:
        envelope = {
            "specversion": "1.0",
            "id": "e1",
            "type": TOPIC.event_type,
            "source": "test",
            "subject": job_id,
            "data": {"jobId": job_id},
        }
        await broker.publish(json.dumps(envelope).encode(), topic=TOPIC.name, key=job_id.encode())
    finally:
        await broker.stop()
    letters = await _dead_letters(group_workers["bootstrap"], group_workers["group"], job_id)
    assert len(letters) == 1
    letter = letters[0]
    assert letter.error_class == "validation"
    assert "userId: Field required" in letter.error_message
    assert letter.original_topic == TOPIC.name and json.loads(letter.original_value)["id"] == "e1"


async def test_failing_handler_retries_then_dead_letters_with_history(group_workers: dict) -> None:
    job_id = f"fail-{uuid.uuid4().hex[:6]}"
    await _publish(group_workers["bootstrap"], [profile_submitted(job_id)])
    letters = await _dead_letters(group_workers["bootstrap"], group_workers["group"], job_id)
    assert len(letters) == 1
    letter = letters[0]
    assert letter.error_class == "exhausted"
    assert [a["attempt"] for a in letter.attempts] == [1, 2], "bounded: RETRY_MAX_ATTEMPTS=2"
    assert "induced failure" in letter.attempts[-1]["error"]
    assert letter.original_topic == TOPIC.name, "retry hops keep the original coordinates"
