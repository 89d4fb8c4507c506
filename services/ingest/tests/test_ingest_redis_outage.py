"""Redis stopped and restarted under load: every submit is answered 202 or 503, no
accepted job is lost or published twice, reads answer 503 meanwhile, and service
resumes by itself when Redis is back."""

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from careers_contracts import TOPICS
from careers_tools.local_servers import free_port
from careers_tools.testing.ingest import PROFILE, Ingest, Keys, bearer, new_user, read_topic
from careers_tools.testing.redis_server import LocalRedis

pytestmark = pytest.mark.broker


async def test_redis_stopped_and_restarted_under_load(
    kafka_bootstrap: str,
    ingest_factory: Callable[..., Ingest],
    keys: Keys,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    port = free_port()
    # Durable (append-only file, fsync always) so the restart keeps what was written, as a
    # production Redis with persistence or a replica would.
    durable = ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path)]
    redis = LocalRedis(port, log_file=tmp_path / "redis.log", extra_args=durable).start()
    try:
        api = ingest_factory(
            kafka_bootstrap,
            REDIS_URL=redis.url,
            RATE_LIMIT="100000/minute",
            READ_RATE_LIMIT="100000/minute",
        )
        user = new_user()
        token = keys.token(user, exp=int(time.time()) + 600)
        answers: list[tuple[int, str | None, float]] = []
        stop = asyncio.Event()

        async def submitter() -> None:
            while not stop.is_set():
                response = await http.post(
                    f"{api.url}/v1/agents/analyze",
                    json=PROFILE,
                    headers={**bearer(token), "Idempotency-Key": uuid.uuid4().hex},
                )
                job = response.json().get("jobId") if response.status_code == 202 else None
                if response.status_code == 503:
                    assert response.headers["content-type"] == "application/problem+json"
                    assert int(response.headers["retry-after"]) >= 1
                    await asyncio.sleep(0.05)
                answers.append((response.status_code, job, time.monotonic()))

        workers = [asyncio.create_task(submitter()) for _ in range(4)]
        await asyncio.sleep(1.5)
        accepted_before = sum(1 for a in answers if a[0] == 202)
        redis.stop()
        stopped_at = time.monotonic()
        await asyncio.sleep(2.0)
        some_job = next(job for status, job, _ in answers if job is not None)
        read = await http.get(f"{api.url}/v1/jobs/{some_job}", headers=bearer(token))
        assert read.status_code == 503, read.text
        assert read.headers["content-type"] == "application/problem+json"
        assert (await http.get(f"{api.url}/readyz")).status_code == 503
        redis.start()  # the same port: ingest reconnects by itself
        restarted_at = time.monotonic()
        await asyncio.sleep(3.0)
        stop.set()
        await asyncio.gather(*workers)

        print(
            f"redis outage: {sum(1 for a in answers if a[0] == 202)} accepted, "
            f"{sum(1 for a in answers if a[0] == 503)} answered 503"
        )
        statuses = {status for status, _, _ in answers}
        assert statuses <= {202, 503}, statuses
        during = [a for a in answers if stopped_at + 0.5 < a[2] < restarted_at]
        assert during and all(status == 503 for status, _, _ in during)
        assert accepted_before > 0
        assert any(s == 202 and t > restarted_at for s, _, t in answers), "did not recover"
        accepted = [job for status, job, _ in answers if status == 202]
        assert len(accepted) == len(set(accepted))
        published = await read_topic(kafka_bootstrap, TOPICS.profile_submitted, user_id=user)
        ids = [payload.job_id for _, payload in published]
        assert sorted(ids) == sorted(accepted), "lost or duplicated"
        async with httpx.AsyncClient(timeout=20) as client:
            for job in accepted:  # every accepted job readable again, through Redis
                view = await client.get(f"{api.url}/v1/jobs/{job}", headers=bearer(token))
                assert view.status_code == 200, view.text
    finally:
        redis.stop()
