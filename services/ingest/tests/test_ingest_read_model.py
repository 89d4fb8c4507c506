"""The job read model on a real Redis: never backwards, re-deliveries change nothing,
owners are kept, history and TTL (the same script on a single node and a cluster)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.exceptions
from careers_contracts import JobStatusChanged
from careers_runtime.redis_client import redis_from_url
from ingest.read_model import JobReadModel

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def status(job: str, seq: int, state: str = "analyzing", user: str = "u1") -> JobStatusChanged:
    return JobStatusChanged(
        job_id=job,
        user_id=user,
        status=state,  # type: ignore[arg-type]
        sequence=seq,
        progress=min(100, seq * 30),
        step=state,
        message=f"step {seq}",
        at=NOW + timedelta(seconds=seq),
    )


@pytest.fixture
async def model(redis_url: str) -> AsyncIterator[JobReadModel]:
    client = redis_from_url(redis_url)
    yield JobReadModel(client, 60, prefix=f"test-{uuid.uuid4().hex[:6]}:")
    await client.aclose()


async def test_a_job_never_moves_backwards_and_repeats_change_nothing(
    model: JobReadModel,
) -> None:
    job = f"j-{uuid.uuid4()}"
    assert await model.record(status(job, 0, "queued")) == 1
    assert await model.record(status(job, 2, "matching")) == 1
    assert await model.record(status(job, 1)) == 0  # late: older than the current state
    assert await model.record(status(job, 2, "matching")) == 0  # re-delivered
    snapshot = await model.get(job)
    assert snapshot is not None
    assert snapshot.latest.status == "matching" and snapshot.sequence == 2
    assert snapshot.created_at == NOW and snapshot.user_id == "u1"
    assert [e.sequence for e in await model.history_after(job, -1)] == [0, 2]
    assert [e.sequence for e in await model.history_after(job, 0)] == [2]
    assert await model.history_after(job, 2) == []


async def test_another_owner_cannot_take_a_job(model: JobReadModel) -> None:
    job = f"j-{uuid.uuid4()}"
    await model.record(status(job, 0, "queued"))
    assert await model.record(status(job, 5, "completed", user="intruder")) == -1
    snapshot = await model.get(job)
    assert snapshot is not None and snapshot.user_id == "u1" and snapshot.sequence == 0


async def test_a_blocking_read_wakes_on_the_next_update(model: JobReadModel) -> None:
    job = f"j-{uuid.uuid4()}"
    await model.record(status(job, 0, "queued"))
    waiting = asyncio.create_task(model.history_after(job, 0, block_ms=5000))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await model.record(status(job, 1))
    assert [e.sequence for e in await asyncio.wait_for(waiting, 5)] == [1]
    assert await model.history_after(job, 1, block_ms=100) == []  # nothing: times out


async def test_keys_expire_with_the_ttl_and_forget_removes_a_job(model: JobReadModel) -> None:
    job = f"j-{uuid.uuid4()}"
    await model.record(status(job, 0, "queued"))
    for key in (model.status_key(job), model.history_key(job)):
        assert 0 < await model.redis.ttl(key) <= 60
    await model.forget(job)
    assert await model.get(job) is None and await model.history_after(job, -1) == []


async def test_open_streams_are_counted_per_user_across_callers(model: JobReadModel) -> None:
    user = f"user_{uuid.uuid4().hex[:6]}"
    far = 10**10
    assert await model.open_stream(user, "s1", far, 2)
    assert await model.open_stream(user, "s2", far, 2)
    assert not await model.open_stream(user, "s3", far, 2)
    await model.close_stream(user, "s1")
    assert await model.open_stream(user, "s3", far, 2)
    # A stream whose token expired (its replica died without closing it) no longer counts.
    other = f"user_{uuid.uuid4().hex[:6]}"
    assert await model.open_stream(other, "dead", 1.0, 1)
    assert await model.open_stream(other, "alive", far, 1)


async def test_a_password_protected_redis_works_through_the_url(tmp_path: Path) -> None:
    """AUTH from REDIS_URL for every client ingest builds: the read model and the limiter."""
    from careers_tools.testing.redis_server import LocalRedis
    from ingest.ratelimit import UserRateLimiter

    with LocalRedis(
        log_file=tmp_path / "redis.log", extra_args=["--requirepass", "s3cret"]
    ) as server:
        url = f"redis://:s3cret@127.0.0.1:{server.port}/0"
        client = redis_from_url(url)
        try:
            model = JobReadModel(client, 60)
            job = f"j-{uuid.uuid4()}"
            assert await model.record(status(job, 0, "queued")) == 1
            snapshot = await model.get(job)
            assert snapshot is not None and snapshot.sequence == 0
        finally:
            await client.aclose()
        limiter = UserRateLimiter("1/minute", url)
        assert (await limiter.hit("u1")).allowed and not (await limiter.hit("u1")).allowed
        wrong = redis_from_url(f"redis://:wrong@127.0.0.1:{server.port}/0")
        with pytest.raises(redis.exceptions.AuthenticationError):
            await wrong.ping()
        await wrong.aclose()
