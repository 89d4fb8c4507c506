"""Dependencies going away: 503 problems with Retry-After, never a 500 or a false 202."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from careers_tools.embedded_broker import TANSU_CLIENT_ENV, EmbeddedKafka
from careers_tools.local_servers import free_port
from careers_tools.testing.ingest import PROFILE, Ingest, Keys, bearer, ingest_env, new_user

pytestmark = pytest.mark.broker


async def test_broker_down_is_503_not_202(
    ingest_factory: Callable[..., Ingest], keys: Keys, http: httpx.AsyncClient
) -> None:
    # Our own broker, so stopping it affects no one else (its start-up runs its own loop).
    broker = await asyncio.to_thread(EmbeddedKafka().start)
    try:
        api = ingest_factory(
            broker.bootstrap,
            PUBLISH_TIMEOUT_S="2",
            KAFKA_REQUEST_TIMEOUT_MS="2000",
            **TANSU_CLIENT_ENV,
        )
        token = keys.token(new_user())
        ok = await http.post(f"{api.url}/v1/agents/analyze", json=PROFILE, headers=bearer(token))
        assert ok.status_code == 202
        broker.stop()
        down = await http.post(
            f"{api.url}/v1/agents/analyze",
            json=PROFILE,
            headers={**bearer(token), "Idempotency-Key": "retry-me"},
        )
        assert down.status_code == 503, down.text
        assert down.headers["content-type"] == "application/problem+json"
        assert int(down.headers["retry-after"]) >= 1
        assert down.json()["code"] == "unavailable"
        assert (await http.get(f"{api.url}/readyz")).status_code == 503
        # The failed attempt released its key: the retry is not blocked as "in progress".
        again = await http.post(
            f"{api.url}/v1/agents/analyze",
            json=PROFILE,
            headers={**bearer(token), "Idempotency-Key": "retry-me"},
        )
        assert again.status_code == 503 and again.json()["code"] == "unavailable"
    finally:
        broker.stop()


async def test_redis_down_is_503(
    kafka_bootstrap: str,
    ingest_factory: Callable[..., Ingest],
    keys: Keys,
    http: httpx.AsyncClient,
) -> None:
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    api = ingest_factory(kafka_bootstrap, ready_path="/healthz", REDIS_URL=nothing_there)
    response = await http.post(
        f"{api.url}/v1/agents/analyze", json=PROFILE, headers=bearer(keys.token(new_user()))
    )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry-after" in response.headers
    ready = await http.get(f"{api.url}/readyz")
    assert ready.status_code == 503 and ready.json()["redis"] is False
    # Reads of the job read model answer 503 as well (never a 404 for a job that may exist).
    read = await http.get(
        f"{api.url}/v1/jobs/3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        headers=bearer(keys.token(new_user())),
    )
    assert read.status_code == 503 and read.headers["content-type"] == "application/problem+json"
    assert int(read.headers["retry-after"]) >= 1


def test_without_redis_ingest_refuses_to_start(
    kafka_bootstrap: str, keys: Keys, tmp_path: Path
) -> None:
    """The job read model lives in Redis: no REDIS_URL is a configuration error (78)."""
    env = {**os.environ, **ingest_env(keys, kafka_bootstrap, free_port(), redis_url="")}
    done = subprocess.run(
        [sys.executable, "-m", "ingest"], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 78
    output = (done.stdout + done.stderr).decode()
    assert "REDIS_URL" in output and "Traceback" not in output
