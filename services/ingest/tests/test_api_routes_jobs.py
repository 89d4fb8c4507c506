"""Job reads (``ingest.api.routes.jobs``) in process: owner only, problems for the rest.

The fast layer (``make test-fast``, conftest's ``inprocess``). Event streams are
``test_ingest_sse.py``'s, through real processes: httpx's ASGI transport hands a response
over only once the app has finished it, and a stream runs until its job ends.
"""

from careers_tools.testing.ingest import PROFILE, InProcess, Keys, bearer, new_user


async def _submit(inprocess: InProcess, keys: Keys, user: str) -> str:
    response = await inprocess.client.post(
        "/v1/agents/analyze", json=PROFILE, headers=bearer(keys.token(user))
    )
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


async def test_a_job_is_its_owners_alone(inprocess: InProcess, keys: Keys) -> None:
    owner, other = new_user(), new_user()
    job_id = await _submit(inprocess, keys, owner)
    mine = await inprocess.client.get(f"/v1/jobs/{job_id}", headers=bearer(keys.token(owner)))
    assert mine.status_code == 200 and mine.json()["jobId"] == job_id
    theirs = await inprocess.client.get(f"/v1/jobs/{job_id}", headers=bearer(keys.token(other)))
    assert theirs.status_code == 404, "another user's job does not exist for them"
    assert theirs.json() == (
        await inprocess.client.get(
            "/v1/jobs/job_00000000000000000000000000", headers=bearer(keys.token(other))
        )
    ).json() | {"instance": theirs.json().get("instance")}


async def test_reads_need_a_valid_token(inprocess: InProcess, keys: Keys) -> None:
    job_id = await _submit(inprocess, keys, new_user())
    missing = await inprocess.client.get(f"/v1/jobs/{job_id}")
    assert missing.status_code == 401
    expired = await inprocess.client.get(
        f"/v1/jobs/{job_id}", headers=bearer(keys.token(new_user(), exp=1))
    )
    assert expired.status_code == 401
    assert expired.json()["code"] in {"token_expired", "invalid_token"}
