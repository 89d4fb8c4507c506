"""Malformed record bytes on every consumed topic, read by the real services (issue 25).

Before a single job is submitted, each malformed shape (a header key that is not UTF-8,
a corrupt batch, lengths that disagree, a control batch; written byte by byte,
``careers_tools.testing.poison``) is put on every partition of every topic a service
consumes, and of every group's retry topic. Then users submit. Every job must complete
and land in Convex (no partition stalled, no record lost around the bytes), each group
must dead-letter every unreadable record it met, on every partition, and every group's
committed offsets must reach the ends of its topics (no lag left).
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from careers_contracts import TOPICS
from careers_contracts.topics import retry_topic
from careers_runtime.dlq_cli import consumer_lag, read_dead_letters
from careers_tools.acls import GROUP_CONSUMERS
from careers_tools.testing.poison import control_batch, malformed_shapes, produce_raw
from careers_tools.testing.polling import wait_until
from careers_tools.testing.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

PROFILE = {
    "summary": "Backend engineer who builds APIs and data pipelines.",
    "skills": ["Python", "SQL", "Kubernetes"],
}
UNREADABLE = ("header-key-not-utf8", "second-header-key-not-utf8")


def _consumed(group: str) -> list[str]:
    return [t.name for t in TOPICS.business_topics() if group in t.consumers]


async def _inject(settings: object) -> dict[str, int]:
    """Every shape on every partition of every consumed and retry topic; how many of
    the always-unreadable shapes each topic got."""
    shapes = [s for s in malformed_shapes(lambda job: b"{}", "e2e-malformed")]
    planted: dict[str, int] = {}
    topics = {t.name: t.partitions for t in TOPICS.business_topics() if t.consumers}
    topics |= {retry_topic(g).name: retry_topic(g).partitions for g in GROUP_CONSUMERS}
    for topic, partitions in topics.items():
        for partition in range(partitions):
            for name, batch, _reason in shapes:
                code = await produce_raw(settings, topic, partition, batch)  # type: ignore[arg-type]
                if code == 0 and name in UNREADABLE:
                    planted[topic] = planted.get(topic, 0) + 1
            await produce_raw(settings, topic, partition, control_batch())  # type: ignore[arg-type]
    return planted


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, kafka_kind: str) -> Iterator[LocalStack]:
    workdir: Path = tmp_path_factory.mktemp("e2e-malformed")
    with LocalStack(workdir, kafka=kafka_kind) as running:
        yield running


def test_every_service_reads_past_malformed_bytes(stack: LocalStack) -> None:
    settings = stack.kafka_settings()
    planted = asyncio.run(_inject(settings))
    assert planted, "no broker took the malformed shapes"
    jobs = {stack.submit(PROFILE, f"user_malformed_{i}"): f"user_malformed_{i}" for i in range(3)}
    assert wait_until(lambda: stack.landed(jobs), timeout_s=150, interval_s=0.5), stack.logs()
    for job, user in jobs.items():
        assert stack.job(job, user).json()["status"] == "completed"

    def dead_lettered() -> bool:
        for group in GROUP_CONSUMERS:
            letters = asyncio.run(read_dead_letters(settings, group))
            for topic in [*_consumed(group), retry_topic(group).name]:
                found = sum(
                    1
                    for s in letters
                    if s.letter.original_topic == topic and "is not UTF-8" in s.letter.error_message
                )
                if found < planted.get(topic, 0):
                    return False
        return True

    assert wait_until(dead_lettered, timeout_s=60, interval_s=1.0), stack.logs()

    def no_lag() -> bool:
        rows = asyncio.run(consumer_lag(settings, list(GROUP_CONSUMERS)))
        return bool(rows) and all(lag == 0 for *_, lag in rows)

    assert wait_until(no_lag, timeout_s=60, interval_s=1.0), asyncio.run(
        consumer_lag(settings, list(GROUP_CONSUMERS))
    )
