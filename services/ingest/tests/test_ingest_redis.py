"""Two replicas sharing rate limits and Idempotency-Keys through a real Redis."""

import asyncio
from collections.abc import Callable

import httpx
import pytest
from careers_contracts import TOPICS
from careers_runtime.redis_client import redis_from_url
from careers_tools.testing.ingest import PROFILE, Ingest, Keys, bearer, new_user, read_topic
from ingest.idempotency_store import record_key

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


async def test_a_key_whose_record_is_gone_never_rebinds_its_job(
    replicas: list[Ingest],
    keys: Keys,
    http: httpx.AsyncClient,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    """Issue 25: after the key's record expired (or Redis was flushed) the same key with
    another body got the old job id: a second profile.submitted with the old event id and
    another body, silently dropped downstream. Now it is a new job."""
    a, _ = replicas
    user = new_user()
    first = await submit(http, a, keys.token(user), key="expiring-key")
    assert first.status_code == 202
    redis = redis_from_url(redis_url)
    try:
        await redis.delete(record_key(user, "expiring-key", "ingest:idem:"))  # as on expiry
    finally:
        await redis.aclose()
    other = {**PROFILE, "summary": "A different profile under the same key."}
    headers = {**bearer(keys.token(user)), "Idempotency-Key": "expiring-key"}
    second = await http.post(f"{a.url}/v1/agents/analyze", json=other, headers=headers)
    assert second.status_code == 202
    old, new = first.json()["jobId"], second.json()["jobId"]
    assert new != old, "the key rebound the old job"
    events = await read_topic(kafka_bootstrap, TOPICS.profile_submitted, {old, new})
    by_job = {payload.job_id: payload for _, payload in events}
    assert len(events) == 2 and by_job[new].profile.summary == other["summary"]
    assert by_job[old].profile.summary == PROFILE["summary"]
