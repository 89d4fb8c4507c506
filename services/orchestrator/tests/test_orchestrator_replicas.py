"""Two orchestrator replicas in one group share the jobs by partition; each job is
advanced by exactly one of them, timeouts included (checkpoints shared in Redis)."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from careers_contracts import TOPICS, DeadLetter
from careers_runtime.dlq_cli import read_dead_letters
from careers_tools.testing.redis_server import delete_prefixed

pytestmark = pytest.mark.broker
CONSUMED = 3 * 6  # profile.submitted, analysis.completed, match.completed
RETRY = 6


def _assigned(port: int) -> int:
    return int(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()["assignedPartitions"])


@pytest.fixture
def group(redis_url: str) -> Iterator[str]:
    name = f"orchestrator-replicas-{uuid.uuid4().hex[:8]}"
    yield name
    delete_prefixed(redis_url, f"test:{name}:")


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


async def _dead_letters(bootstrap: str, group: str, prefix: str) -> list[DeadLetter]:
    """The group's dead letters for this test's jobs (``careers-dlq list``'s reader)."""
    stored = await read_dead_letters(bootstrap, group)
    return [s.letter for s in stored if (s.letter.original_key or "").startswith(prefix)]


async def _wait_balanced(ports: list[int], replicas: Any) -> None:
    deadline = time.monotonic() + 60
    counts: list[int] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            counts = [_assigned(port) for port in ports]
            if sum(counts) == CONSUMED + RETRY and min(counts) > 0:
                return
        await asyncio.sleep(0.3)
    pytest.fail(f"group never balanced over {len(ports)}: {counts}\n{replicas[0].tail()}")


async def _hold_jobs(agents: Any, tag: str, count: int) -> list[str]:
    """``count`` jobs, each waiting on a career-matcher that does not answer (yet)."""
    jobs = [f"{agents.prefix}{tag}{i}" for i in range(count)]
    for job in jobs:
        await agents.submit(job, match="hold")
    held = await agents.wait_for(
        lambda: {h[1].job_id for h in agents.held} >= set(jobs), timeout_s=60
    )
    assert held, f"not every job reached the matcher: {len(agents.held)}"
    return jobs


async def test_scaling_out_and_a_killed_replica_lose_no_job(
    agents: Any, start_orchestrator: Any, tmp_path: Path, group: str, redis_url: str
) -> None:
    """Measured before the shared, partition-tagged store: with per-pod SQLite, 15/24 jobs
    completed when the orchestrator scaled 1 -> 3 while they waited on the matcher, and
    8/24 (33 replies dead-lettered as UnknownJobError) after a SIGKILL and a fresh
    replacement. Here: every job completes, nothing is dead-lettered."""
    env = {
        "REDIS_URL": redis_url,
        "ORCHESTRATOR_REDIS_PREFIX": f"test:{group}:",
        "ORCHESTRATOR_FINISHED_TTL_S": "300",
        "ORCHESTRATOR_STEP_TIMEOUT_S": "120",  # the matcher is stopped, not slow
    }

    def start(name: str) -> tuple[Any, int]:
        result: tuple[Any, int] = start_orchestrator(
            tmp_path / name, group, name, SERVICE_NAME=name, **env
        )
        return result

    first = start("orchestrator-a")
    # 1 -> 3 while 24 jobs wait on the matcher.
    jobs = await _hold_jobs(agents, "scale", 24)
    more = await asyncio.gather(
        *(asyncio.to_thread(start, n) for n in ("orchestrator-b", "orchestrator-c"))
    )
    replicas = [first, *more]
    await _wait_balanced([port for _, port in replicas], [p for p, _ in replicas])
    for job in jobs:
        await agents.release(job)
    assert await agents.wait_for(lambda: all(agents.terminal(j) for j in jobs), timeout_s=60), (
        f"{sum(1 for j in jobs if agents.terminal(j))}/24 completed"
    )
    assert all([t.payload.status for t in agents.terminal(j)] == ["completed"] for j in jobs)

    # SIGKILL one of three while 24 more wait, and start a fresh replacement.
    jobs = await _hold_jobs(agents, "kill", 24)
    replicas[1][0].kill()
    replacement = await asyncio.to_thread(start, "orchestrator-d")
    survivors = [replicas[0], replicas[2], replacement]
    await _wait_balanced([port for _, port in survivors], [p for p, _ in survivors])
    for job in jobs:
        await agents.release(job)
    assert await agents.wait_for(lambda: all(agents.terminal(j) for j in jobs), timeout_s=60), (
        f"{sum(1 for j in jobs if agents.terminal(j))}/24 completed"
    )
    assert all([t.payload.status for t in agents.terminal(j)] == ["completed"] for j in jobs)
    await asyncio.sleep(1.0)
    letters = await _dead_letters(agents.bootstrap, group, agents.prefix)
    assert [(d.error_type, d.original_key) for d in letters] == []
