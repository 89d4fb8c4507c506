"""What an ingest replica's start-up costs while the topics hold many jobs (the Done-when
test and ``make bench-scale``).

``fill_topics`` writes ``jobs`` complete jobs the way the system would have (one
``profile.submitted`` and the orchestrator's ``analyzing`` and ``completed`` job-status
records, recommendations included) with a raw producer: one encoded template per record
kind, the ids swapped per job, sent in large batches. ``measure_startup`` starts one ingest
process, waits for ``/readyz`` and reads its CPU time and RSS from ``/proc``.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from careers_contracts import (
    TOPICS,
    JobStatusChanged,
    ProfileSubmission,
    ProfileSubmitted,
    Recommendation,
    Topic,
)
from careers_runtime.codec import Outgoing, encode
from careers_runtime.kafka_client import kafka_client_kwargs

from careers_tools.local_servers import free_port
from careers_tools.processes import ServiceProcess
from careers_tools.testing.ingest import PROFILE, Keys, ingest_env

TEMPLATE_JOB = "00000000-0000-4000-8000-000000000000"
TEMPLATE_EVENT = "11111111-1111-4111-8111-111111111111"


def _templates() -> list[tuple[Topic, bytes, list[tuple[str, bytes]]]]:
    now = datetime.now(UTC)
    recommendations = [
        Recommendation(
            occupation_code=f"15-20{i:02d}.00",
            title=f"Occupation {i}",
            score=0.9 - i / 50,
            rank=i + 1,
            explanation="Python, SQL and statistics match the tasks of this occupation.",
            matched_skills=["Python", "SQL", "statistics"],
            skill_gaps=["machine learning", "cloud platforms"],
        )
        for i in range(10)
    ]
    events: list[Outgoing] = [
        Outgoing(
            TOPICS.profile_submitted,
            ProfileSubmitted(
                job_id=TEMPLATE_JOB,
                user_id="user_scale",
                submitted_at=now,
                profile=ProfileSubmission.model_validate(PROFILE),
            ),
            TEMPLATE_EVENT,
        ),
        *(
            Outgoing(
                TOPICS.job_status,
                JobStatusChanged(
                    job_id=TEMPLATE_JOB,
                    user_id="user_scale",
                    status=status,  # type: ignore[arg-type]
                    sequence=sequence,
                    progress=progress,
                    step=status,
                    message=status,
                    at=now,
                    recommendations=recommendations if status == "completed" else None,
                    summary="Ten matches" if status == "completed" else None,
                ),
                TEMPLATE_EVENT,
            )
            for sequence, status, progress in ((1, "analyzing", 30), (3, "completed", 100))
        ),
    ]
    out = []
    for event in events:
        value, headers = encode(event, "scale")
        out.append((event.topic, value, [(k, v.encode()) for k, v in headers.items()]))
    return out


async def fill_topics(bootstrap: str, jobs: int) -> float:
    """Write ``jobs`` complete jobs; returns the seconds it took."""
    started = time.monotonic()
    templates = _templates()
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(bootstrap),
        linger_ms=50,
        max_batch_size=512 * 1024,
        compression_type="lz4",
        acks=1,
    )
    await producer.start()
    try:
        pending = []
        for _ in range(jobs):
            job = str(uuid.uuid4()).encode()
            for topic, value, headers in templates:
                event = str(uuid.uuid4()).encode()
                record = value.replace(TEMPLATE_JOB.encode(), job).replace(
                    TEMPLATE_EVENT.encode(), event
                )
                fixed = [(k, v.replace(TEMPLATE_EVENT.encode(), event)) for k, v in headers]
                pending.append(await producer.send(topic.name, record, key=job, headers=fixed))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.monotonic() - started


async def commit_at_end(bootstrap: str, group: str, topics: list[Topic]) -> None:
    """Commit ``group`` at the topics' ends: a replica joining an existing projector group
    (a scale-up, a restart) resumes there, not at the beginning of the history."""
    consumer = AIOKafkaConsumer(
        **kafka_client_kwargs(bootstrap), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in ends.items()})
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Startup:
    cpu_s: float  # user + system CPU of the process until ready
    rss_mib: float  # resident memory once ready
    ready_s: float  # wall time from start to /readyz 200


def _cpu_s(pid: int) -> float:
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_startup(
    keys: Keys, bootstrap: str, redis_url: str, workdir: Path, group: str, **extra: str
) -> Startup:
    """One ingest process started, measured once ready, stopped."""
    port = free_port()
    env = ingest_env(
        keys, bootstrap, port, redis_url, INGEST_JOB_STATUS_GROUP=group, LOG_LEVEL="WARNING"
    )
    env.update(extra)
    process = ServiceProcess("ingest", env, workdir / f"ingest-{port}.log")
    started = time.monotonic()
    process.start()
    try:
        process.wait_http(f"http://127.0.0.1:{port}/readyz", timeout_s=120)
        ready_s = time.monotonic() - started
        assert process.process is not None
        time.sleep(1.0)  # settled: what a running replica holds
        pid = process.process.pid
        return Startup(_cpu_s(pid), _rss_mib(pid), ready_s)
    finally:
        process.stop()
