"""Job status and Server-Sent Events across two ingest replicas, fed through the broker.

The test plays the orchestrator: it publishes ``JobStatusChanged`` events to the real
job-status topic; the replicas (separate processes, one consumer group) project them into
the shared read model in Redis, and every replica serves every job from there.
"""

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from careers_contracts import TOPICS, JobStatusChanged, Recommendation, derive_event_id
from careers_runtime.broker import create_broker
from careers_runtime.codec import Outgoing
from careers_runtime.delivery import publish
from careers_runtime.settings import ServiceSettings
from careers_tools.testing.ingest import PROFILE, Ingest, Keys, bearer, new_user, read_topic
from faststream.kafka import KafkaBroker
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def replicas(kafka_bootstrap: str, ingest_factory: Callable[..., Ingest]) -> tuple[Ingest, Ingest]:
    a, b = ingest_factory(kafka_bootstrap, replicas=2)
    return a, b


@pytest.fixture
async def orchestrator(kafka_bootstrap: str) -> AsyncIterator[KafkaBroker]:
    broker = create_broker(
        ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, service_name="orchestrator")
    )
    await broker.start()
    yield broker
    await broker.stop()


RECOMMENDATION = Recommendation(
    occupation_code="15-2051.00",
    title="Data Scientists",
    score=0.91,
    rank=1,
    explanation="Python, SQL and statistics match the tasks.",
    matched_skills=["Python", "statistics"],
    skill_gaps=["machine learning"],
)


async def emit(broker: KafkaBroker, job_id: str, user: str, sequence: int, status: str) -> None:
    terminal = status == "completed"
    event = JobStatusChanged(
        job_id=job_id,
        user_id=user,
        status=status,  # type: ignore[arg-type]
        sequence=sequence,
        progress=100 if terminal else sequence * 30,
        step=status,
        message=f"{status} ({sequence})",
        at=datetime.now(UTC),
        recommendations=[RECOMMENDATION] if terminal else None,
        summary="One strong match" if terminal else None,
    )
    event_id = derive_event_id(job_id, f"status-{sequence}")
    await publish(broker, Outgoing(TOPICS.job_status, event, event_id), "orchestrator")


async def read_sse(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield {
                    "id": fields.get("id"),
                    "event": fields.get("event"),
                    "data": json.loads(fields["data"]),
                }
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def collect(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], into: list[dict[str, Any]]
) -> int:
    """Read the stream to its end into ``into``; return the status code."""
    async with http.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            return response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        async for event in read_sse(response):
            into.append(event)
    return 200


async def test_sse_streams_to_the_terminal_state_from_another_replica_and_resumes(
    replicas: tuple[Ingest, Ingest],
    keys: Keys,
    http: httpx.AsyncClient,
    orchestrator: KafkaBroker,
) -> None:
    a, b = replicas
    user = new_user()
    accepted = await http.post(
        f"{a.url}/v1/agents/analyze", json=PROFILE, headers=bearer(keys.token(user))
    )
    assert accepted.status_code == 202
    job_id = accepted.json()["jobId"]
    events_url = f"{b.url}{accepted.json()['links']['events']}"  # the other replica

    received: list[dict[str, Any]] = []
    reader = asyncio.create_task(collect(http, events_url, bearer(keys.token(user)), received))
    for _ in range(100):  # the queued event arrives through B's own job-status follower
        if received:
            break
        await asyncio.sleep(0.05)
    assert [e["id"] for e in received] == ["0"]
    assert received[0]["event"] == "status" and received[0]["data"]["status"] == "queued"

    for sequence, status in enumerate(["analyzing", "matching", "completed"], start=1):
        await emit(orchestrator, job_id, user, sequence, status)
        await asyncio.sleep(0.05)
    assert await asyncio.wait_for(reader, 15) == 200  # the stream ended by itself

    assert [e["id"] for e in received] == ["0", "1", "2", "3"]
    assert [e["data"]["status"] for e in received] == [
        "queued",
        "analyzing",
        "matching",
        "completed",
    ]
    final = received[-1]["data"]
    assert final["progress"] == 100
    assert final["recommendations"][0]["occupationCode"] == "15-2051.00"

    # Reconnect after event 1: only 2 and 3, then the end.
    resumed: list[dict[str, Any]] = []
    headers = {**bearer(keys.token(user)), "Last-Event-ID": "1"}
    assert await asyncio.wait_for(collect(http, events_url, headers, resumed), 10) == 200
    assert [e["id"] for e in resumed] == ["2", "3"]

    # After the terminal event there is nothing to resume: 204 stops EventSource.
    headers = {**bearer(keys.token(user)), "Last-Event-ID": "3"}
    assert await collect(http, events_url, headers, []) == 204

    # Both replicas agree on the result (one read model).
    for replica in (a, b):
        for _ in range(40):
            view = (
                await http.get(f"{replica.url}/v1/jobs/{job_id}", headers=bearer(keys.token(user)))
            ).json()
            if view["status"] == "completed":
                break
            await asyncio.sleep(0.05)
        assert view["status"] == "completed"
        assert view["recommendations"][0]["title"] == "Data Scientists"
        assert view["summary"] == "One strong match"


async def test_a_job_accepted_by_one_replica_is_visible_through_the_other_at_once(
    replicas: tuple[Ingest, Ingest], keys: Keys, http: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    """No orchestrator here and no job-status record: A wrote the job's ``queued`` status
    into the shared read model before its 202, so B answers for it at once."""
    a, b = replicas
    user = new_user()
    for replica, other in ((a, b), (b, a)):
        accepted = await http.post(
            f"{replica.url}/v1/agents/analyze", json=PROFILE, headers=bearer(keys.token(user))
        )
        assert accepted.status_code == 202
        job_id = accepted.json()["jobId"]
        view = await http.get(f"{other.url}/v1/jobs/{job_id}", headers=bearer(keys.token(user)))
        assert view.status_code == 200, view.text
        assert view.json()["status"] == "queued" and view.json()["progress"] == 0
        local = await http.get(f"{replica.url}/v1/jobs/{job_id}", headers=bearer(keys.token(user)))
        assert local.json() == view.json()  # the same status, derived on either side
        # Someone else's job is still 404 there.
        stranger = await http.get(
            f"{other.url}/v1/jobs/{job_id}", headers=bearer(keys.token(new_user()))
        )
        assert stranger.status_code == 404
        assert await read_topic(kafka_bootstrap, TOPICS.job_status, {job_id}, settle_s=0.2) == []


async def stream_to_completion(
    http: httpx.AsyncClient, url: str, keys: Keys, user: str
) -> list[dict[str, Any]]:
    """The job's whole stream, once it ends with `completed` (reconnecting until the
    projector has written the terminal event)."""
    received: list[dict[str, Any]] = []
    for _ in range(50):
        received.clear()
        assert await asyncio.wait_for(collect(http, url, bearer(keys.token(user)), received), 10)
        if received and received[-1]["data"]["status"] == "completed":
            break
        await asyncio.sleep(0.1)
    return received


async def metric(http: httpx.AsyncClient, replica: Ingest, name: str, **labels: str) -> float:
    text = (await http.get(f"{replica.url}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def test_a_job_older_than_ten_thousand_newer_jobs_is_served_by_any_replica(
    replicas: tuple[Ingest, Ingest],
    keys: Keys,
    http: httpx.AsyncClient,
    orchestrator: KafkaBroker,
    kafka_bootstrap: str,
    ingest_factory: Callable[..., Ingest],
) -> None:
    """Before the shared read model each replica kept its last 10,000 jobs: an older one
    answered 404. Now any replica, even one started afterwards, answers with one read."""
    a, b = replicas
    user = new_user()
    accepted = await http.post(
        f"{a.url}/v1/agents/analyze", json=PROFILE, headers=bearer(keys.token(user))
    )
    job_id = accepted.json()["jobId"]
    for sequence, status in enumerate(["analyzing", "matching", "completed"], start=1):
        await emit(orchestrator, job_id, user, sequence, status)

    # 10,000 newer jobs' updates, as fast as a raw producer sends them.
    newer = await produce_status_records(kafka_bootstrap, 10_000)
    last = newer[-1]
    for _ in range(600):  # projected by the replicas' shared consumer group
        view = await http.get(f"{b.url}/v1/jobs/{last[0]}", headers=bearer(keys.token(last[1])))
        if view.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert view.status_code == 200, view.text

    late = ingest_factory(kafka_bootstrap)  # a replica started after all of it
    for replica in (a, b, late):
        got = await http.get(f"{replica.url}/v1/jobs/{job_id}", headers=bearer(keys.token(user)))
        assert got.status_code == 200, got.text
        assert got.json()["status"] == "completed"
        received: list[dict[str, Any]] = []
        url = f"{replica.url}/v1/jobs/{job_id}/events"
        assert await asyncio.wait_for(collect(http, url, bearer(keys.token(user)), received), 10)
        assert [e["id"] for e in received] == ["0", "1", "2", "3"]  # the full history


async def produce_status_records(bootstrap: str, count: int) -> list[tuple[str, str]]:
    """``count`` completed jobs' status records (job id, owner), sent in batches."""
    from aiokafka import AIOKafkaProducer
    from careers_runtime.codec import encode
    from careers_runtime.kafka_client import kafka_client_kwargs

    producer = AIOKafkaProducer(
        **kafka_client_kwargs(bootstrap), linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    jobs = [(f"old-{uuid.uuid4()}", new_user()) for _ in range(count)]
    try:
        acks = []
        for job_id, user in jobs:
            event = JobStatusChanged(
                job_id=job_id,
                user_id=user,
                status="completed",
                sequence=1,
                progress=100,
                step="completed",
                message="done",
                at=datetime.now(UTC),
            )
            event_id = derive_event_id(job_id, "status-1")
            value, headers = encode(Outgoing(TOPICS.job_status, event, event_id), "test")
            acks.append(
                await producer.send(
                    TOPICS.job_status.name,
                    value,
                    key=job_id.encode(),
                    headers=[(k, v.encode()) for k, v in headers.items()],
                )
            )
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return jobs


async def test_a_stream_on_one_replica_receives_updates_written_elsewhere(
    replicas: tuple[Ingest, Ingest], keys: Keys, http: httpx.AsyncClient, redis_url: str
) -> None:
    """Submitted through A, streamed from B, updated by another writer of the read model
    (here the test itself, as a projector on a third process would)."""
    from careers_runtime.redis_client import redis_from_url
    from ingest.read_model import JobReadModel

    a, b = replicas
    user = new_user()
    accepted = await http.post(
        f"{a.url}/v1/agents/analyze", json=PROFILE, headers=bearer(keys.token(user))
    )
    job_id = accepted.json()["jobId"]
    received: list[dict[str, Any]] = []
    url = f"{b.url}/v1/jobs/{job_id}/events"
    reader = asyncio.create_task(collect(http, url, bearer(keys.token(user)), received))
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.05)
    client = redis_from_url(redis_url)
    try:
        model = JobReadModel(client, 600)
        for sequence, status in enumerate(["analyzing", "completed"], start=1):
            event = JobStatusChanged(
                job_id=job_id,
                user_id=user,
                status=status,  # type: ignore[arg-type]
                sequence=sequence,
                progress=50 * sequence,
                step=status,
                message=status,
                at=datetime.now(UTC),
            )
            assert await model.record(event) == 1
            assert await model.record(event) == 0  # again: changes nothing
    finally:
        await client.aclose()
    assert await asyncio.wait_for(reader, 15) == 200
    assert [e["id"] for e in received] == ["0", "1", "2"]
    assert received[-1]["data"]["status"] == "completed"


async def test_redelivered_and_out_of_order_updates_do_not_confuse_the_stream(
    replicas: tuple[Ingest, Ingest],
    keys: Keys,
    http: httpx.AsyncClient,
    orchestrator: KafkaBroker,
) -> None:
    a, _ = replicas
    user = new_user()
    job_id = (
        await http.post(
            f"{a.url}/v1/agents/analyze", json=PROFILE, headers=bearer(keys.token(user))
        )
    ).json()["jobId"]
    # A re-delivered update (same sequence twice), then the terminal one.
    await emit(orchestrator, job_id, user, 1, "analyzing")
    await emit(orchestrator, job_id, user, 1, "analyzing")
    await emit(orchestrator, job_id, user, 2, "completed")
    received = await stream_to_completion(http, f"{a.url}/v1/jobs/{job_id}/events", keys, user)
    assert [e["id"] for e in received] == ["0", "1", "2"]

    # An event claiming the job for another user is ignored.
    await emit(orchestrator, job_id, "user_intruder", 3, "analyzing")
    await asyncio.sleep(0.3)
    view = await http.get(f"{a.url}/v1/jobs/{job_id}", headers=bearer(keys.token(user)))
    assert view.json()["status"] == "completed"
    stolen = await http.get(
        f"{a.url}/v1/jobs/{job_id}", headers=bearer(keys.token("user_intruder"))
    )
    assert stolen.status_code == 404


async def test_a_stream_ends_when_its_token_expires_and_resumes_with_a_fresh_one(
    replicas: tuple[Ingest, Ingest],
    keys: Keys,
    http: httpx.AsyncClient,
    orchestrator: KafkaBroker,
) -> None:
    """Before the hardening a stream kept delivering long after the token's `exp`."""
    a, _ = replicas
    user = new_user()
    accepted = await http.post(
        f"{a.url}/v1/agents/analyze", json=PROFILE, headers=bearer(keys.token(user))
    )
    job_id = accepted.json()["jobId"]
    url = f"{a.url}{accepted.json()['links']['events']}"
    now = int(time.time())
    short = keys.token(user, iat=now, exp=now + 2)  # expires in 2 s (+5 s leeway: not used)
    received: list[dict[str, Any]] = []
    started = time.monotonic()
    assert await asyncio.wait_for(collect(http, url, bearer(short), received), 15) == 200
    assert 1.0 <= time.monotonic() - started < 8, "the stream ended at the token's expiry"
    assert [e["id"] for e in received] == ["0"]

    await emit(orchestrator, job_id, user, 1, "analyzing")
    resumed: list[dict[str, Any]] = []
    headers = {**bearer(keys.token(user)), "Last-Event-ID": "0"}
    reader = asyncio.create_task(collect(http, url, headers, resumed))
    for _ in range(100):
        if resumed:
            break
        await asyncio.sleep(0.05)
    assert [e["id"] for e in resumed] == ["1"]
    reader.cancel()


async def test_open_streams_are_capped_per_user_across_replicas(
    kafka_bootstrap: str,
    ingest_factory: Callable[..., Ingest],
    keys: Keys,
    http: httpx.AsyncClient,
) -> None:
    """The count is shared (Redis): before, each replica allowed its own few streams."""
    api, other_replica = ingest_factory(kafka_bootstrap, replicas=2, SSE_MAX_STREAMS_PER_USER="2")
    user = new_user()
    token = keys.token(user)
    accepted = await http.post(f"{api.url}/v1/agents/analyze", json=PROFILE, headers=bearer(token))
    url = f"{api.url}{accepted.json()['links']['events']}"
    streams: list[list[dict[str, Any]]] = [[], []]
    readers = [asyncio.create_task(collect(http, url, bearer(token), s)) for s in streams]
    for _ in range(100):
        if all(streams):
            break
        await asyncio.sleep(0.05)
    third = await http.get(url, headers=bearer(token))
    assert third.status_code == 429 and third.json()["code"] == "too_many_streams"
    elsewhere = url.replace(api.url, other_replica.url)
    refused = await http.get(elsewhere, headers=bearer(token))
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_streams"
    other = new_user()
    assert (await http.get(url, headers=bearer(keys.token(other)))).status_code == 404
    readers[0].cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await readers[0]
    for _ in range(100):  # the closed stream's slot comes back
        async with http.stream("GET", url, headers=bearer(token)) as response:
            if response.status_code == 200:
                break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("a closed stream's slot was never released")
    readers[1].cancel()
