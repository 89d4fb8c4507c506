"""Two orchestrator replicas in one group share the jobs by partition; each job is
advanced by exactly one of them, timeouts included (checkpoints shared in Redis)."""

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from careers_contracts import TOPICS

pytestmark = pytest.mark.broker
CONSUMED = 3 * 6  # profile.submitted, analysis.completed, match.completed
RETRY = 6


def _assigned(port: int) -> int:
    return int(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()["assignedPartitions"])


@pytest.fixture
def group(redis_url: str) -> Iterator[str]:
    name = f"orchestrator-replicas-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"test:{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


async def test_replicas_split_jobs_and_never_share_one(
    agents: Any, start_orchestrator: Any, tmp_path: Path, group: str, redis_url: str
) -> None:
    env = {
        "REDIS_URL": redis_url,
        "ORCHESTRATOR_REDIS_PREFIX": f"test:{group}:",
        "ORCHESTRATOR_FINISHED_TTL_S": "300",
    }
    replicas = await asyncio.gather(
        *(
            asyncio.to_thread(
                start_orchestrator, tmp_path / name, group, name, SERVICE_NAME=name, **env
            )
            for name in ("orchestrator-a", "orchestrator-b")
        )
    )
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        counts = [_assigned(port) for _, port in replicas]
        if sum(counts) == CONSUMED + RETRY and min(counts) >= CONSUMED // 2:
            break
        await asyncio.sleep(0.3)
    else:
        pytest.fail(f"group never balanced: {counts}\n{replicas[0][0].tail()}")

    jobs = [f"{agents.prefix}r{i}" for i in range(12)]
    silent = set(jobs[:3])
    for job in jobs:
        await agents.submit(job, analysis="silent" if job in silent else "answer")
    assert await agents.wait_for(lambda: all(agents.terminal(j) for j in jobs), timeout_s=30)
    await asyncio.sleep(0.5)

    sources: dict[str, set[str]] = {}
    for job in jobs:
        emitted = [s for s in agents.seen if s.payload.job_id == job]  # all by an orchestrator
        sources[job] = {s.source for s in emitted}
        assert len(sources[job]) == 1, f"{job} advanced by {sources[job]}"
        assert len(agents.events(job, TOPICS.recommendations.name)) == 1
        expected = "failed" if job in silent else "completed"
        assert [t.payload.status for t in agents.terminal(job)] == [expected]
        if job in silent:
            attempts = [
                s.payload.attempt for s in agents.events(job, TOPICS.analysis_requested.name)
            ]
            assert attempts == [1, 2, 3], "one replica's timer re-requested, once per attempt"
    assert set().union(*sources.values()) == {"orchestrator-a", "orchestrator-b"}, "work shared"
