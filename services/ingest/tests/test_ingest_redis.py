"""Two replicas sharing rate limits and Idempotency-Keys through a real Redis."""

import asyncio
from collections.abc import Callable

import httpx
import pytest
from careers_contracts import TOPICS
from careers_tools.testing.ingest import PROFILE, Ingest, Keys, bearer, new_user, read_topic

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def replicas(
    kafka_bootstrap: str, redis_url: str, ingest_factory: Callable[..., Ingest]
) -> list[Ingest]:
    instances: list[Ingest] = ingest_factory(
        kafka_bootstrap,
        replicas=2,
        REDIS_URL=redis_url,
        RATE_LIMIT="3/minute",
        IDEMPOTENCY_TTL_S="120",
    )
    return instances


async def submit(
    http: httpx.AsyncClient, replica: Ingest, token: str, key: str | None = None
) -> httpx.Response:
    headers = bearer(token)
    if key:
        headers["Idempotency-Key"] = key
    return await http.post(f"{replica.url}/v1/agents/analyze", json=PROFILE, headers=headers)


async def test_rate_limit_is_shared_across_replicas(
    replicas: list[Ingest], keys: Keys, http: httpx.AsyncClient
) -> None:
    a, b = replicas
    user = new_user()
    statuses = [
        (await submit(http, replica, keys.token(user))).status_code for replica in (a, b, a)
    ]
    assert statuses == [202, 202, 202]
    limited = await submit(http, b, keys.token(user))  # 4th submit, other replica
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    ready = (await http.get(f"{a.url}/readyz")).json()
    assert ready["redis"] is True


async def test_idempotency_key_is_shared_across_replicas(
    replicas: list[Ingest], keys: Keys, http: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    a, b = replicas
    user = new_user()
    first = await submit(http, a, keys.token(user), key="shared-key")
    replay = await submit(http, b, keys.token(user), key="shared-key")
    assert first.status_code == replay.status_code == 202
    assert replay.json()["jobId"] == first.json()["jobId"]
    assert replay.headers["idempotent-replayed"] == "true"
    events = await read_topic(kafka_bootstrap, TOPICS.profile_submitted, user_id=user)
    assert len(events) == 1


async def test_concurrent_submits_with_one_key_publish_once(
    replicas: list[Ingest], keys: Keys, http: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    user = new_user()
    responses = await asyncio.gather(
        *(submit(http, replicas[i % 2], keys.token(user), key="race") for i in range(6))
    )
    accepted = [r for r in responses if r.status_code == 202]
    in_progress = [r for r in responses if r.status_code == 409]
    # Requests that pass the replay check before the winner reserves the key are counted
    # against the user's budget (3/minute here): when more than three do, the rest are 429.
    limited = [r for r in responses if r.status_code == 429]
    assert len(accepted) + len(in_progress) + len(limited) == 6 and accepted
    assert {r.json()["code"] for r in in_progress} <= {"idempotency_key_in_progress"}
    assert {r.json()["code"] for r in limited} <= {"rate_limited"}
    assert len({r.json()["jobId"] for r in accepted}) == 1
    events = await read_topic(kafka_bootstrap, TOPICS.profile_submitted, user_id=user)
    assert len(events) == 1


async def test_three_replicas_share_one_submit_budget(
    kafka_bootstrap: str, ingest_factory: Callable[..., Ingest], keys: Keys, http: httpx.AsyncClient
) -> None:
    """Without a shared store three replicas at 10/minute accepted 30 of 30."""
    three: list[Ingest] = ingest_factory(kafka_bootstrap, replicas=3, RATE_LIMIT="10/minute")
    user = new_user()
    token = keys.token(user)
    statuses = [(await submit(http, three[i % 3], token)).status_code for i in range(30)]
    assert statuses.count(202) == 10 and statuses.count(429) == 20, statuses
    events = await read_topic(kafka_bootstrap, TOPICS.profile_submitted, user_id=user)
    assert len(events) == 10
