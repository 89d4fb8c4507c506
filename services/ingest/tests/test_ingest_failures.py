"""Dependencies going away: 503 problems with Retry-After, never a 500 or a false 202."""

import asyncio
from collections.abc import Callable

import httpx
import pytest
from careers_tools.embedded_broker import TANSU_CLIENT_ENV, EmbeddedKafka
from careers_tools.local_servers import free_port
from careers_tools.testing.ingest import PROFILE, Ingest, Keys, bearer, new_user

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
