"""Encoding and validating events (pure logic)."""

import json
from datetime import UTC, datetime

import pytest
from careers_contracts import TOPICS, ProfileSubmission, ProfileSubmitted
from careers_runtime.codec import (
    EventTooLargeError,
    EventValidationError,
    Outgoing,
    decode,
    encode,
)


def _event(job_id: str = "job-1", summary: str = "Teacher") -> Outgoing:
    payload = ProfileSubmitted(
        job_id=job_id,
        user_id="user_1",
        submitted_at=datetime(2026, 1, 1, tzinfo=UTC),
        profile=ProfileSubmission(summary=summary),
    )
    return Outgoing(topic=TOPICS.profile_submitted, payload=payload, event_id="evt-1")


def test_round_trip() -> None:
    value, headers = encode(_event(), source="ingest")
    envelope, payload = decode(value, TOPICS.profile_submitted)
    assert envelope.id == "evt-1" and headers["ce_id"] == "evt-1"
    assert envelope.type == "careers.profile.submitted" and envelope.subject == "job-1"
    assert isinstance(payload, ProfileSubmitted) and payload.user_id == "user_1"
    assert json.loads(value)["data"]["submittedAt"].startswith("2026-01-01")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "value is not JSON"),
        (None, "tombstone"),
        (b'{"id": "x"}', "invalid envelope"),
    ],
)
def test_invalid_values_are_rejected_with_a_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(EventValidationError, match=reason):
        decode(value, TOPICS.profile_submitted)


def test_wrong_topic_and_bad_data_are_rejected() -> None:
    value, _ = encode(_event(), source="ingest")
    with pytest.raises(EventValidationError, match="does not belong on topic"):
        decode(value, TOPICS.analysis_requested)
    doc = json.loads(value)
    del doc["data"]["userId"]
    with pytest.raises(EventValidationError, match="userId: Field required"):
        decode(json.dumps(doc).encode(), TOPICS.profile_submitted)


def test_oversized_events_are_refused_before_the_broker() -> None:
    big = ProfileSubmission(
        summary="x" * 5000, skills=[f"skill {i} " + "y" * 150 for i in range(100)]
    )
    payload = ProfileSubmitted(job_id="j", user_id="u", submitted_at=datetime.now(UTC), profile=big)
    encode(Outgoing(TOPICS.profile_submitted, payload, "e"), "ingest")  # within limits
    huge = ProfileSubmitted.model_construct(
        job_id="j",
        user_id="u",
        submitted_at=datetime.now(UTC),
        profile=ProfileSubmission.model_construct(summary="x" * 1_000_000),
    )
    with pytest.raises(EventTooLargeError):
        encode(Outgoing(TOPICS.profile_submitted, huge, "e"), "ingest")


def test_encode_serialises_the_payload_once_into_the_same_bytes() -> None:
    """The spliced envelope equals dump -> validate as envelope data -> dump."""
    from careers_contracts import Envelope, JobStatusChanged

    status = JobStatusChanged(
        job_id="job-1",
        user_id="user_1",
        status="queued",
        sequence=0,
        progress=0,
        step="queued",
        message='Profile "received" — waiting \u2603',
        at=datetime(2026, 1, 1, 12, 30, 15, 123456, tzinfo=UTC),
    )
    for event in (
        _event(summary='Ünïcødé "quoted" \n text'),
        Outgoing(TOPICS.job_status, status, "e"),
    ):
        value, _ = encode(event, source="ingest")
        envelope = Envelope.model_validate_json(value)
        legacy = Envelope(
            id=envelope.id,
            type=envelope.type,
            source=envelope.source,
            subject=envelope.subject,
            time=envelope.time,
            schemaversion=envelope.schemaversion,
            data=event.payload.model_dump(mode="json", by_alias=True),
        ).model_dump_json(by_alias=True)
        assert value == legacy.encode()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"[" * 100_000, "RecursionError"),  # escaped as RecursionError before
        (b'{"id": ' + b"9" * 5000 + b"}", "not JSON"),  # escaped as ValueError before
        (b'{"id": "\xff\xfe\x80"}', "not JSON"),
        (b"x" * (2 * 1024 * 1024), "event limit"),  # refused before parsing
    ],
)
def test_hostile_values_are_validation_errors(value: bytes, reason: str) -> None:
    with pytest.raises(EventValidationError, match=reason):
        decode(value, TOPICS.profile_submitted)


def test_header_values_never_fail_to_decode() -> None:
    from careers_runtime.codec import decode_headers

    headers = decode_headers([("a", None), ("b", b"\xff\xfe"), ("c", b"ok")])
    assert headers["a"] == "" and headers["c"] == "ok" and "\ufffd" in headers["b"]
