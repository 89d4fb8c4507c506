"""The ingest API through real HTTP (``python -m ingest`` on loopback) and the real broker."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from careers_contracts import TOPICS, ProfileSubmitted
from careers_runtime.kafka_client import kafka_client_kwargs
from careers_tools.local_servers import free_port
from careers_tools.processes import ServiceProcess
from careers_tools.testing.ingest import (
    PROFILE,
    Ingest,
    Keys,
    bearer,
    forged_tokens,
    ingest_env,
    new_user,
    read_topic,
)

pytestmark = pytest.mark.broker
ANALYZE = "/v1/agents/analyze"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(kafka_bootstrap: str, ingest_factory: Callable[..., Ingest]) -> Ingest:
    return ingest_factory(kafka_bootstrap, RATE_LIMIT="3/minute")


async def submit(
    http: httpx.AsyncClient, api: Ingest, token: str, body: object = PROFILE, key: str | None = None
) -> httpx.Response:
    headers = bearer(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await http.post(f"{api.url}{ANALYZE}", json=body, headers=headers)


async def test_valid_token_publishes_one_event_and_a_replayed_key_publishes_none(
    api: Ingest, keys: Keys, http: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    user = new_user()
    token = keys.token(user)
    first = await submit(http, api, token, key="key-1")
    assert first.status_code == 202, first.text
    job_id = first.json()["jobId"]
    assert first.json()["links"] == {
        "self": f"/v1/jobs/{job_id}",
        "events": f"/v1/jobs/{job_id}/events",
    }
    assert first.headers["location"] == f"/v1/jobs/{job_id}"

    replay = await submit(http, api, keys.token(user), key="key-1")  # a fresh token, same key
    assert replay.status_code == 202
    assert replay.json()["jobId"] == job_id
    assert replay.headers["idempotent-replayed"] == "true"

    submitted = await read_topic(kafka_bootstrap, TOPICS.profile_submitted, {job_id})
    assert len(submitted) == 1
    envelope, payload = submitted[0]
    assert isinstance(payload, ProfileSubmitted)
    assert payload.user_id == user  # from the verified token, never the body
    assert payload.idempotency_key == "key-1"
    assert payload.profile.summary == PROFILE["summary"]
    assert envelope.subject == job_id and envelope.source == "ingest"

    # One record per submit: the job's `queued` status is not published; every replica
    # derives it from profile.submitted (test_ingest_sse: visible through another replica).
    statuses = await read_topic(kafka_bootstrap, TOPICS.job_status, {job_id}, settle_s=0.3)
    assert statuses == []
    view = await http.get(f"{api.url}/v1/jobs/{job_id}", headers=bearer(keys.token(user)))
    assert view.status_code == 200 and view.json()["status"] == "queued"


async def test_submits_without_a_key_are_separate_jobs(
    api: Ingest, keys: Keys, http: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    user = new_user()
    responses = [await submit(http, api, keys.token(user)) for _ in range(2)]
    assert [r.status_code for r in responses] == [202, 202]
    job_ids = {r.json()["jobId"] for r in responses}
    assert len(job_ids) == 2
    events = await read_topic(kafka_bootstrap, TOPICS.profile_submitted, job_ids)
    assert sorted(p.job_id for _, p in events) == sorted(job_ids)


async def test_same_key_with_a_different_body_is_409(
    api: Ingest, keys: Keys, http: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    user = new_user()
    first = await submit(http, api, keys.token(user), key="k")
    assert first.status_code == 202
    changed = await submit(http, api, keys.token(user), {**PROFILE, "goals": "Other"}, key="k")
    assert changed.status_code == 409
    assert changed.headers["content-type"] == PROBLEM
    assert changed.json()["code"] == "idempotency_key_reused"
    # The same key is per user: another user may use it freely.
    other = await submit(http, api, keys.token(new_user()), key="k")
    assert other.status_code == 202 and other.json()["jobId"] != first.json()["jobId"]
    events = await read_topic(kafka_bootstrap, TOPICS.profile_submitted, user_id=user)
    assert len(events) == 1


async def test_attack_matrix_is_401_and_publishes_nothing(
    api: Ingest, keys: Keys, http: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    cases: dict[str, tuple[dict[str, str], str]] = {
        "no token": ({}, "missing_token"),
        "basic scheme": ({"Authorization": "Basic dXNlcjpwYXNz"}, "malformed_header"),
        "empty bearer": ({"Authorization": "Bearer"}, "malformed_header"),
        "unknown kid is irrelevant with a PEM; wrong key is not": (
            bearer(forged_tokens(keys)["signed by another key"][0]),
            "invalid_signature",
        ),
    }
    for name, (token, code) in forged_tokens(keys).items():
        cases[name] = (bearer(token), code)
    for name, (headers, code) in cases.items():
        response = await http.post(f"{api.url}{ANALYZE}", json=PROFILE, headers=headers)
        assert response.status_code == 401, (name, response.text)
        assert response.headers["content-type"] == PROBLEM, name
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ") and f'error_description="{code}"' in challenge
        assert response.json()["code"] == code, name
        assert "Traceback" not in response.text
    # Reads are protected the same way.
    response = await http.get(f"{api.url}/v1/jobs/anything")
    assert response.status_code == 401
    for user in ("user_attack", "user_admin", ""):
        assert (
            await read_topic(kafka_bootstrap, TOPICS.profile_submitted, user_id=user, settle_s=0.3)
            == []
        )


async def test_invalid_bodies_are_422_naming_each_failing_field(
    api: Ingest, keys: Keys, http: httpx.AsyncClient
) -> None:
    # Invalid submits count against the user's budget (3/minute here): a user per request.
    def token() -> str:
        return keys.token(new_user())

    body = {
        "skils": ["typo"],
        "experience": [{"title": "Dev", "startDate": "2020-13"}],
        "education": [{"degree": "BSc", "graduationYear": 1800}],
    }
    response = await submit(http, api, token(), body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    locations = {e["location"] for e in problem["errors"]}
    assert {
        "body.summary",
        "body.skils",
        "body.experience.0.startDate",
        "body.education.0.graduationYear",
    } <= locations
    assert "typo" not in response.text  # submitted values are never echoed

    too_many = {**PROFILE, "skills": [f"skill {i}" for i in range(101)]}
    response = await submit(http, api, token(), too_many)
    assert response.status_code == 422
    assert [e["location"] for e in response.json()["errors"]] == ["body.skills"]

    response = await http.post(
        f"{api.url}{ANALYZE}",
        content=b'{"summary": ',
        headers={**bearer(token()), "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["code"] == "validation_failed"

    response = await submit(http, api, token(), key="has spaces in it")
    assert response.status_code == 422
    assert [e["location"] for e in response.json()["errors"]] == ["header.Idempotency-Key"]


async def test_the_token_is_checked_before_the_body_is_read(
    api: Ingest, keys: Keys, http: httpx.AsyncClient
) -> None:
    """Issue 25: the body was validated (twice) before the token was checked. Now an
    unauthenticated submit is refused before its body is read at all: a body that would
    be 422 (or 413 while streaming in) is a 401, and so is one that never finishes."""
    hostile = b"{" + b",".join(b'"k%d":0' % i for i in range(24_500)) + b"}"
    response = await http.post(
        f"{api.url}{ANALYZE}",
        content=hostile,
        headers={"Content-Type": "application/json", "Authorization": "Bearer nope"},
    )
    assert response.status_code == 401 and response.json()["code"] == "malformed_token"

    # A body that never arrives in full: the 401 comes without waiting for it.
    host, port = api.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {ANALYZE} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: 200000\r\n\r\n".encode()
            + b'{"summary": "'
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 401"), status_line


async def test_failed_authentications_are_limited_per_client_address(
    kafka_bootstrap: str, ingest_factory: Callable[..., Ingest], keys: Keys, http: httpx.AsyncClient
) -> None:
    limited = ingest_factory(kafka_bootstrap, AUTH_FAILURE_RATE_LIMIT="3/minute")
    for _ in range(3):
        response = await http.post(f"{limited.url}{ANALYZE}", json=PROFILE)
        assert response.status_code == 401
    # Past the budget the address is refused before its token is even looked at, on
    # every route, valid token or not; other addresses are not affected (one client here).
    for method, path, headers in (
        ("POST", ANALYZE, {}),
        ("POST", ANALYZE, bearer(keys.token(new_user()))),
        ("GET", "/v1/jobs/anything", bearer(keys.token(new_user()))),
    ):
        response = await http.request(method, f"{limited.url}{path}", json=PROFILE, headers=headers)
        assert response.status_code == 429, (method, path, response.text)
        assert response.json()["code"] == "too_many_failed_authentications"
        assert 0 < int(response.headers["retry-after"]) <= 60


async def test_submit_fast_path_keeps_the_declared_order_of_checks(
    api: Ingest, keys: Keys, http: httpx.AsyncClient
) -> None:
    """Valid requests skip FastAPI's generic handler; everything else behaves as declared."""
    # Any invalid body is only looked at for an authenticated caller (401 first) ...
    response = await http.post(
        f"{api.url}{ANALYZE}", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401 and response.json()["code"] == "missing_token"
    response = await http.post(
        f"{api.url}{ANALYZE}",
        content=b"{",
        headers={**bearer(keys.token(new_user())), "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["code"] == "validation_failed"
    # ... as is a parseable one.
    response = await http.post(f"{api.url}{ANALYZE}", json={"skils": []})
    assert response.status_code == 401 and response.json()["code"] == "missing_token"
    response = await http.post(f"{api.url}{ANALYZE}", json=PROFILE)
    assert response.status_code == 401 and response.json()["code"] == "missing_token"
    # Not JSON by its content type: FastAPI's answer (the body is not an object).
    response = await http.post(
        f"{api.url}{ANALYZE}",
        content=json.dumps(PROFILE).encode(),
        headers={**bearer(keys.token(new_user())), "Content-Type": "text/plain"},
    )
    assert response.status_code == 422 and response.json()["code"] == "validation_failed"
    # `+json` media types and parameters are JSON, as in FastAPI.
    response = await http.post(
        f"{api.url}{ANALYZE}",
        content=json.dumps(PROFILE).encode(),
        headers={
            **bearer(keys.token(new_user())),
            "Content-Type": "application/merged+json; charset=utf-8",
        },
    )
    assert response.status_code == 202


async def test_bodies_over_the_cap_are_413(
    api: Ingest, keys: Keys, http: httpx.AsyncClient
) -> None:
    token = keys.token(new_user())
    huge = json.dumps({**PROFILE, "summary": "x" * 300_000}).encode()
    response = await http.post(
        f"{api.url}{ANALYZE}",
        content=huge,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for i in range(0, len(huge), 16_384):
            yield huge[i : i + 16_384]

    response = await http.post(
        f"{api.url}{ANALYZE}",
        content=chunks(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


async def test_submits_are_rate_limited_per_user(
    api: Ingest, keys: Keys, http: httpx.AsyncClient
) -> None:
    user = new_user()
    statuses = [(await submit(http, api, keys.token(user))).status_code for _ in range(3)]
    assert statuses == [202, 202, 202]
    limited = await submit(http, api, keys.token(user))
    assert limited.status_code == 429
    assert limited.headers["content-type"] == PROBLEM
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["code"] == "rate_limited"
    assert (await submit(http, api, keys.token(new_user()))).status_code == 202


async def test_invalid_bodies_count_against_the_submit_budget(
    api: Ingest, keys: Keys, http: httpx.AsyncClient
) -> None:
    """Before the hardening an invalid body was never counted: 422 forever, never 429."""
    user = new_user()
    statuses = [
        (await submit(http, api, keys.token(user), {"skils": []})).status_code for _ in range(3)
    ]
    assert statuses == [422, 422, 422]
    limited = await submit(http, api, keys.token(user), {"skils": []})
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert (await submit(http, api, keys.token(user))).status_code == 429  # one budget


async def test_error_bodies_are_bounded(api: Ingest, keys: Keys, http: httpx.AsyncClient) -> None:
    """17k unknown keys once answered a 2 MB 422 for ~120 ms of CPU."""
    unknown = {"summary": "x", **{f"k{i}": i for i in range(1500)}}
    response = await submit(http, api, keys.token(new_user()), unknown)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert len(response.json()["errors"]) == 20 and len(response.content) < 8_000
    assert "(+1495 more)" in response.json()["detail"]

    for hostile in (
        {"summary": "x", **{f"k{i}": i for i in range(17_000)}},  # too many keys
        {"summary": "x", "skills": [[[[[[["deep"]]]]]]]},  # too deep
    ):
        response = await submit(http, api, keys.token(new_user()), hostile)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert [e["type"] for e in problem["errors"]] == ["body_too_complex"]

    nested = b'{"summary": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # RecursionError: 500
    response = await http.post(
        f"{api.url}{ANALYZE}",
        content=nested,
        headers={**bearer(keys.token(new_user())), "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM


async def test_reads_have_their_own_budget(
    kafka_bootstrap: str, ingest_factory: Callable[..., Ingest], keys: Keys, http: httpx.AsyncClient
) -> None:
    limited = ingest_factory(kafka_bootstrap, READ_RATE_LIMIT="3/minute")
    token = keys.token(new_user())
    statuses = [
        (await http.get(f"{limited.url}/v1/jobs/nope", headers=bearer(token))).status_code
        for _ in range(4)
    ]
    assert statuses == [404, 404, 404, 429]
    assert (await submit(http, limited, token)).status_code == 202  # submits still allowed


async def test_only_the_owner_can_read_a_job(
    api: Ingest, keys: Keys, http: httpx.AsyncClient
) -> None:
    owner = new_user()
    job_id = (await submit(http, api, keys.token(owner))).json()["jobId"]
    mine = await http.get(f"{api.url}/v1/jobs/{job_id}", headers=bearer(keys.token(owner)))
    assert mine.status_code == 200
    view = mine.json()
    assert view["jobId"] == job_id and view["status"] == "queued" and view["progress"] == 0
    theirs, missing = await asyncio.gather(
        http.get(f"{api.url}/v1/jobs/{job_id}", headers=bearer(keys.token(new_user()))),
        http.get(f"{api.url}/v1/jobs/{'0' * 36}", headers=bearer(keys.token(owner))),
    )
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() | {"instance": None} == missing.json() | {"instance": None}
    stream = await http.get(
        f"{api.url}/v1/jobs/{job_id}/events", headers=bearer(keys.token(new_user()))
    )
    assert stream.status_code == 404


async def test_cors_allows_only_the_configured_origins(
    api: Ingest, http: httpx.AsyncClient
) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
    }
    ok = await http.options(
        f"{api.url}{ANALYZE}", headers={"Origin": "http://localhost:3000", **preflight}
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "idempotency-key" in ok.headers["access-control-allow-headers"].lower()
    evil = await http.options(
        f"{api.url}{ANALYZE}", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in evil.headers
    # Errors carry CORS headers too, so the browser lets the frontend read them.
    denied = await http.post(
        f"{api.url}{ANALYZE}", json=PROFILE, headers={"Origin": "http://localhost:3000"}
    )
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "www-authenticate" in denied.headers["access-control-expose-headers"].lower()


async def test_accepted_submits_carry_cors_headers_and_traces_continue(
    api: Ingest, keys: Keys, http: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    """A valid submit is answered by ``SubmitFastPath`` (before the router): the outer
    middleware (CORS) still applies and the caller's trace context still continues."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await http.post(
        f"{api.url}{ANALYZE}",
        json=PROFILE,
        headers={
            **bearer(keys.token(new_user())),
            "Origin": "http://localhost:3000",
            "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
        },
    )
    assert response.status_code == 202
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "location" in response.headers["access-control-expose-headers"].lower()
    assert response.headers["vary"] == "Origin"
    job_id = response.json()["jobId"]
    consumer = AIOKafkaConsumer(
        TOPICS.profile_submitted.name,
        **kafka_client_kwargs(kafka_bootstrap),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        headers: dict[str, bytes] = {}
        for _ in range(50):
            batches = await consumer.getmany(timeout_ms=200)
            for record in (r for rs in batches.values() for r in rs):
                if record.key == job_id.encode():
                    headers = {k: v for k, v in record.headers if v is not None}
            if headers:
                break
    finally:
        await consumer.stop()
    assert headers["traceparent"].decode().split("-")[1] == trace_id


async def test_health_metrics_and_openapi(api: Ingest, http: httpx.AsyncClient) -> None:
    assert (await http.get(f"{api.url}/healthz")).json()["status"] == "ok"
    ready = (await http.get(f"{api.url}/readyz")).json()
    assert ready["ready"] and ready["brokerConnected"] and ready["jobStatusProjector"]
    assert ready["redis"] is True
    metrics = (await http.get(f"{api.url}/metrics")).text
    assert 'ingest_http_requests_total{method="POST",route="/v1/agents/analyze",status="202"}' in (
        metrics
    )
    assert 'careers_messages_produced_total{topic="careers.profile.submitted.v1"}' in metrics
    assert "ingest_auth_failures_total" in metrics
    spec = (await http.get(f"{api.url}/openapi.json")).json()
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert operations == {"analyzeProfile", "getJob", "streamJobEvents"}
    assert spec["components"]["securitySchemes"]["ClerkSession"]["scheme"] == "bearer"
    unknown = await http.get(f"{api.url}/nope")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    # The dev JWKS route exists only with ENVIRONMENT=dev.
    assert (await http.get(f"{api.url}/dev-clerk/.well-known/jwks.json")).status_code == 404


async def test_production_serves_probes_and_metrics_internally_and_sends_hsts(
    kafka_bootstrap: str, keys: Keys, http: httpx.AsyncClient, tmp_path: Path, redis_url: str
) -> None:
    """Before the hardening /metrics was on the public port and no HSTS was sent."""
    public, internal = free_port(), free_port()
    env = ingest_env(
        keys,
        kafka_bootstrap,
        public,
        redis_url=redis_url,
        ENVIRONMENT="production",
        INTERNAL_HTTP_PORT=str(internal),
        HTTP_HOST="127.0.0.1",
        REDIS_URL=redis_url,
        KAFKA_ALLOW_PLAINTEXT="true",  # the test broker has no TLS listener
    )
    process = ServiceProcess("ingest", env, tmp_path / "ingest.log").start()
    try:
        process.wait_http(f"http://127.0.0.1:{internal}/readyz", timeout_s=45)
        metrics = await http.get(f"http://127.0.0.1:{internal}/metrics")
        assert metrics.status_code == 200 and "ingest_http_requests_total" in metrics.text
        for path in ("/metrics", "/healthz", "/readyz"):
            response = await http.get(f"http://127.0.0.1:{public}{path}")
            assert response.status_code == 404, path
            assert response.headers["strict-transport-security"].startswith("max-age=")
        token = keys.token(new_user())
        accepted = await http.post(
            f"http://127.0.0.1:{public}{ANALYZE}", json=PROFILE, headers=bearer(token)
        )
        assert accepted.status_code == 202
        assert "includeSubDomains" in accepted.headers["strict-transport-security"]
        # No live API map in production unless DOCS_ENABLED=true.
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await http.get(f"http://127.0.0.1:{public}{path}")).status_code == 404, path
    finally:
        process.stop()


async def test_hsts_only_in_production(api: Ingest, http: httpx.AsyncClient) -> None:
    assert "strict-transport-security" not in (await http.get(f"{api.url}/healthz")).headers
