"""Pure logic: job history ids, idempotency decisions, submission ids."""

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
from ingest.domain.jobs import (
    JobSnapshot,
    history_cursor,
    history_id,
    parse_last_event_id,
    sequence_of,
)
from ingest.domain.submission import build_submission, fingerprint, new_job_id
from ingest.idempotency_store import MemoryIdempotencyStore

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


def test_history_ids_follow_sequences() -> None:
    assert history_id(0) == "1-0" and history_id(41) == "42-0"
    assert history_cursor(-1) == "0-0" and history_cursor(0) == "1-0"
    assert [sequence_of(history_id(n)) for n in (0, 1, 7)] == [0, 1, 7]
    assert sequence_of(b"3-0") == 2


@pytest.mark.parametrize(("header", "expected"), [(None, -1), ("3", 3), ("junk", -1), ("0", 0)])
def test_last_event_id_parses_to_a_sequence(header: str | None, expected: int) -> None:
    assert parse_last_event_id(header) == expected


def test_a_snapshot_is_terminal_once_its_latest_status_is() -> None:
    queued = JobSnapshot("j", "u1", NOW, status("j", 0, "queued"))
    failed = JobSnapshot("j", "u1", NOW, status("j", 3, "failed"))
    assert not queued.terminal and queued.sequence == 0
    assert failed.terminal and failed.sequence == 3


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


@pytest.mark.parametrize("rate", ["10/minute", "1/second", "100 per hour"])
async def test_rate_limiter_in_process(rate: str) -> None:
    from ingest.ratelimit import UserRateLimiter

    limiter = UserRateLimiter(rate)
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

    services: Any = SimpleNamespace()
    response = accepted(job_id, services, replayed=True)
    expected = AnalyzeAccepted(job_id=job_id, status="queued", links=links(job_id))
    assert response.body == expected.model_dump_json().encode()
    assert response.headers["location"] == f"/v1/jobs/{job_id}"
    assert response.headers["idempotent-replayed"] == "true"
