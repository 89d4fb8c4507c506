"""Pure logic: job store, idempotency decisions, submission ids, live-job wake-ups."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from careers_contracts import JobStatusChanged, ProfileSubmission
from ingest.domain.idempotency import (
    KEY_PATTERN,
    IdempotencyOutcome,
    IdempotencyRecord,
    decide,
    valid_key,
)
from ingest.domain.jobs import JobStatusStore
from ingest.domain.submission import build_submission, fingerprint, new_job_id
from ingest.idempotency_store import MemoryIdempotencyStore
from ingest.job_status import LiveJobs

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def status(job: str, seq: int, state: str = "analyzing", user: str = "u1", at=NOW):  # type: ignore[no-untyped-def]
    return JobStatusChanged(
        job_id=job,
        user_id=user,
        status=state,  # type: ignore[arg-type]
        sequence=seq,
        progress=min(100, seq * 30),
        step=state,
        message=f"step {seq}",
        at=at + timedelta(seconds=seq),
    )


def test_store_state_is_highest_sequence_whatever_the_order() -> None:
    now = NOW.timestamp() + 100
    forward, backward = JobStatusStore(), JobStatusStore()
    events = [status("j", 0, "queued"), status("j", 1), status("j", 2, "matching")]
    for e in events:
        forward.apply(e, now)
    for e in reversed(events):
        backward.apply(e, now)
    for store in (forward, backward):
        record = store.get("j", now)
        assert record is not None
        assert record.latest.status == "matching"
        assert [e.sequence for e in record.after(-1)] == [0, 1, 2]
        assert [e.sequence for e in record.after(0)] == [1, 2]
        assert record.created_at == NOW


def test_store_ignores_duplicates_and_owner_changes() -> None:
    store = JobStatusStore()
    now = NOW.timestamp() + 100
    assert store.apply(status("j", 1), now) is True
    assert store.apply(status("j", 1), now) is False
    assert store.apply(status("j", 2, user="intruder"), now) is False
    record = store.get("j", now)
    assert record is not None and record.user_id == "u1" and list(record.events) == [1]


def test_store_is_bounded_lru_and_forgets_after_ttl() -> None:
    store = JobStatusStore(max_jobs=3, ttl_s=60)
    now = NOW.timestamp() + 10
    for i in range(5):
        store.apply(status(f"j{i}", 0, "queued"), now)
    assert len(store) == 3
    assert store.get("j0", now) is None and store.get("j4", now) is not None
    assert store.get("j4", now + 120) is None  # TTL measured from the event's time


def test_terminal_detection() -> None:
    store = JobStatusStore()
    now = NOW.timestamp() + 100
    store.apply(status("j", 0, "queued"), now)
    record = store.get("j", now)
    assert record is not None and not record.terminal
    store.apply(status("j", 3, "failed"), now)
    assert record.terminal


def test_idempotency_decisions() -> None:
    done = IdempotencyRecord("abc", "job-1", "completed")
    pending = IdempotencyRecord("abc", "job-1", "pending")
    assert decide(None, "abc") is IdempotencyOutcome.NEW
    assert decide(done, "abc") is IdempotencyOutcome.REPLAY
    assert decide(done, "xyz") is IdempotencyOutcome.MISMATCH
    assert decide(pending, "abc") is IdempotencyOutcome.IN_PROGRESS
    assert decide(pending, "xyz") is IdempotencyOutcome.MISMATCH
    assert IdempotencyRecord.from_json(done.to_json()) == done
    assert valid_key("5f2b7f0e-2f4a") and not valid_key("has space") and not valid_key("")
    assert not valid_key("x" * 256)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("x", True),
        ("x" * 255, True),
        ("!~", True),  # 0x21 and 0x7E, the ends of the range
        ("5f2b7f0e-2f4a-4c1e-9a53-0c6c7b1d2e11", True),
        ("", False),
        ("x" * 256, False),
        ("a b", False),
        ("key\n", False),  # `$` must not accept a trailing newline
        ("\x7f", False),
        ("clé", False),
    ],
)
def test_one_idempotency_key_rule_for_the_fast_path_and_the_declared_header(
    key: str, expected: bool
) -> None:
    from typing import Annotated

    from pydantic import StringConstraints, TypeAdapter, ValidationError

    assert valid_key(key) is expected
    # The declared header's pattern, as pydantic checks it when the fast path declines,
    # accepts and refuses the same keys.
    declared = TypeAdapter(Annotated[str, StringConstraints(pattern=KEY_PATTERN)])
    try:
        declared.validate_python(key)
    except ValidationError:
        assert not expected
    else:
        assert expected


def test_fingerprint_ignores_spelling_but_not_content() -> None:
    camel = ProfileSubmission.model_validate(
        {"summary": " Nurse ", "experience": [{"title": "RN", "startDate": "2019-01"}]}
    )
    snake = ProfileSubmission.model_validate(
        {"summary": "Nurse", "experience": [{"title": "RN", "start_date": "2019-01"}]}
    )
    other = ProfileSubmission.model_validate({"summary": "Nurse!"})
    assert fingerprint(camel) == fingerprint(snake)
    assert fingerprint(camel) != fingerprint(other)


def test_job_ids_and_event_ids_are_deterministic_with_a_key() -> None:
    assert new_job_id("u1", "k", "d") == new_job_id("u1", "k", "d")
    assert new_job_id("u1", "k", "d") != new_job_id("u2", "k", "d")
    # The key reused with another body (its record expired or lost): another job.
    assert new_job_id("u1", "k", "d") != new_job_id("u1", "k", "other")
    assert new_job_id("u1", None) != new_job_id("u1", None)
    profile = ProfileSubmission(summary="x")
    a = build_submission(job_id="j", user_id="u1", profile=profile, idempotency_key="k", now=NOW)
    b = build_submission(job_id="j", user_id="u1", profile=profile, idempotency_key="k", now=NOW)
    assert a.submitted_event_id == b.submitted_event_id
    assert a.queued.sequence == 0 and a.queued.status == "queued" and a.queued.at == NOW
    assert a.submitted.user_id == "u1" and a.submitted.idempotency_key == "k"


async def test_memory_idempotency_store_reserve_is_exclusive_and_expires() -> None:
    store = MemoryIdempotencyStore(ttl_s=60)
    record = IdempotencyRecord("fp", "job", "pending")
    assert await store.reserve("u1", "k", record, ttl_s=0.05) is True
    assert await store.reserve("u1", "k", record, ttl_s=60) is False
    assert await store.reserve("u2", "k", record, ttl_s=60) is True  # keys are per user
    await asyncio.sleep(0.08)
    assert await store.get("u1", "k") is None  # the pending reservation expired
    await store.complete("u1", "k", IdempotencyRecord("fp", "job", "completed"))
    got = await store.get("u1", "k")
    assert got is not None and got.state == "completed"
    await store.release("u1", "k")
    assert await store.get("u1", "k") is None


async def test_live_jobs_wakes_every_waiter_and_cleans_up() -> None:
    live = LiveJobs(JobStatusStore())
    waiters = [asyncio.create_task(live.wait("j", 5)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert live.waiting == 3
    live.apply(status("j", 0, "queued", at=datetime.now(UTC)))
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert live.waiting == 0
    assert await live.wait("j", 0.01) is False
    assert live.waiting == 0


@pytest.mark.parametrize("rate", ["10/minute", "1/second", "100 per hour"])
async def test_rate_limiter_in_process(rate: str) -> None:
    from ingest.ratelimit import SubmitRateLimiter

    limiter = SubmitRateLimiter(rate)
    amount = limiter.item.amount
    results = [await limiter.hit("u1") for _ in range(amount + 1)]
    assert all(r.allowed for r in results[:amount])
    assert not results[-1].allowed and results[-1].retry_after_s >= 1
    assert (await limiter.hit("u2")).allowed  # per user


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/problem+json", True),
        ("text/plain", False),
        ("application/jsonx", False),
        ("", False),
        (None, False),
    ],
)
def test_submit_fast_path_parses_what_fastapi_parses_as_json(
    content_type: str | None, expected: bool
) -> None:
    from ingest.api.submit_route import is_json

    assert is_json(content_type) is expected


@pytest.mark.parametrize("job_id", ["3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", 'odd "id" \\ é\n'])
def test_the_202_body_is_what_the_response_model_writes(job_id: str) -> None:
    from types import SimpleNamespace

    from careers_contracts import AnalyzeAccepted
    from ingest.api.responses import links
    from ingest.api.submit import accepted

    services: Any = SimpleNamespace(jobs=LiveJobs(JobStatusStore()))
    response = accepted(job_id, services, replayed=True)
    expected = AnalyzeAccepted(job_id=job_id, status="queued", links=links(job_id))
    assert response.body == expected.model_dump_json().encode()
    assert response.headers["location"] == f"/v1/jobs/{job_id}"
    assert response.headers["idempotent-replayed"] == "true"
