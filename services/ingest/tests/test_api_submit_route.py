"""The submit path (``ingest.api.submit_route``, ``ingest.api.submit``) in process.

The fast layer (``make test-fast``): the ASGI app through ``httpx.ASGITransport``, a real
Redis, FastStream's in-memory broker (conftest's ``inprocess``). The same behaviour through
real processes and a real broker is ``test_ingest_http.py``'s.
"""

import json

from careers_tools.testing.ingest import PROFILE, InProcess, Keys, bearer, new_user

SUBMIT = "/v1/agents/analyze"


async def test_a_valid_submit_is_published_once_and_readable_at_once(
    inprocess: InProcess, keys: Keys
) -> None:
    user = new_user()
    response = await inprocess.client.post(SUBMIT, json=PROFILE, headers=bearer(keys.token(user)))
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    assert response.headers["location"].endswith(f"/v1/jobs/{job_id}")
    assert len(inprocess.published) == 1
    published = inprocess.published[0]
    record = published if isinstance(published, dict) else json.loads(published)
    assert record["data"]["jobId"] == job_id and record["data"]["userId"] == user
    status = await inprocess.client.get(f"/v1/jobs/{job_id}", headers=bearer(keys.token(user)))
    assert status.status_code == 200
    assert status.json()["status"] == "queued"


async def test_no_token_is_refused_before_the_body_is_read(inprocess: InProcess) -> None:
    body = json.dumps({**PROFILE, "summary": "x" * 200_000})
    response = await inprocess.client.post(
        SUBMIT, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert inprocess.published == []


async def test_an_invalid_profile_is_a_problem_naming_the_field(
    inprocess: InProcess, keys: Keys
) -> None:
    response = await inprocess.client.post(
        SUBMIT, json={**PROFILE, "skills": "not a list"}, headers=bearer(keys.token(new_user()))
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert any(e["field"].startswith("skills") for e in problem["errors"]), problem
    assert "not a list" not in response.text, "the submitted value is never echoed"
    assert inprocess.published == []


async def test_an_idempotency_key_replays_the_first_answer(
    inprocess: InProcess, keys: Keys
) -> None:
    headers = {**bearer(keys.token(new_user())), "Idempotency-Key": "fast-layer-key"}
    first = await inprocess.client.post(SUBMIT, json=PROFILE, headers=headers)
    second = await inprocess.client.post(SUBMIT, json=PROFILE, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["jobId"] == second.json()["jobId"]
    assert second.headers.get("idempotent-replayed") == "true"
    assert len(inprocess.published) == 1
    other = await inprocess.client.post(
        SUBMIT, json={**PROFILE, "summary": "Another profile."}, headers=headers
    )
    assert other.status_code == 409
