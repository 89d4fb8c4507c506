"""Pure logic: event -> Convex document, idempotency keys, retry classification and delays."""

import json
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from careers_contracts import AgentOutput, Recommendation, RecommendationsReady, Wages
from careers_contracts.topics import dead_letter_topic
from convex_sync.domain.documents import (
    AGENT_OUTPUTS_PATH,
    CAREER_RECOMMENDATIONS_PATH,
    agent_output_document,
    iso,
    recommendations_document,
)
from convex_sync.domain.retry import WriteOutcome, classify, next_delay, parse_retry_after
from convex_sync.settings import ConvexSyncSettings
from pydantic import ValidationError

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def agent_output(**overrides: object) -> AgentOutput:
    fields: dict[str, object] = {
        "job_id": "job-1",
        "user_id": "user_a",
        "agent": "career-matcher",
        "agent_version": "2.1.0",
        "status": "succeeded",
        "input_summary": {"skills": 3},
        "output": {"top": ["15-1252.00"]},
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=2),
        "duration_ms": 2000.0,
    }
    fields.update(overrides)
    return AgentOutput.model_validate(fields)


def ready(**overrides: object) -> RecommendationsReady:
    fields: dict[str, object] = {
        "job_id": "job-1",
        "user_id": "user_a",
        "status": "completed",
        "recommendations": [
            Recommendation(
                occupation_code="15-1252.00",
                title="Software Developers",
                score=0.82,
                rank=1,
                explanation="Strong match",
                matched_skills=["python"],
                skill_gaps=["kubernetes"],
                wages=Wages(annual_median=132270, year=2024),
            )
        ],
        "summary": "One strong match",
        "created_at": T0,
        "pipeline_version": "0.1.0",
    }
    fields.update(overrides)
    return RecommendationsReady.model_validate(fields)


def test_agent_output_document_has_the_convex_shape_and_a_semantic_key() -> None:
    write = agent_output_document(agent_output(), trace_id="ab" * 16)
    assert write.path == AGENT_OUTPUTS_PATH
    assert write.idempotency_key == "job-1/career-matcher"
    assert write.document == {
        "idempotencyKey": "job-1/career-matcher",
        "jobId": "job-1",
        "userId": "user_a",
        "agent": "career-matcher",
        "agentVersion": "2.1.0",
        "status": "succeeded",
        "inputSummary": {"skills": 3},
        "output": {"top": ["15-1252.00"]},
        "startedAt": "2025-03-01T12:00:00.123456Z",
        "finishedAt": "2025-03-01T12:00:02.123456Z",
        "durationMs": 2000.0,
        "traceId": "ab" * 16,
    }
    json.dumps(write.document)  # plain JSON, nothing left for a custom encoder


def test_rerun_of_the_same_agent_maps_to_the_same_key_other_agent_to_another() -> None:
    first = agent_output_document(agent_output())
    rerun = agent_output_document(agent_output(agent_version="2.1.1", duration_ms=5))
    other = agent_output_document(agent_output(agent="profile-analyzer"))
    assert first.idempotency_key == rerun.idempotency_key
    assert other.idempotency_key == "job-1/profile-analyzer" != first.idempotency_key
    assert "traceId" not in first.document, "no span, no traceId (not an empty string)"


def test_recommendations_document_is_camel_case_keyed_by_job() -> None:
    write = recommendations_document(ready(), trace_id=None)
    assert write.path == CAREER_RECOMMENDATIONS_PATH
    assert write.idempotency_key == "job-1"
    doc = write.document
    assert doc["idempotencyKey"] == "job-1" and doc["createdAt"] == "2025-03-01T12:00:00.123456Z"
    assert doc["pipelineVersion"] == "0.1.0" and doc["summary"] == "One strong match"
    assert "reason" not in doc and "traceId" not in doc
    rec = doc["recommendations"][0]
    assert rec["occupationCode"] == "15-1252.00" and rec["matchedSkills"] == ["python"]
    assert rec["skillGaps"] == ["kubernetes"]
    assert rec["wages"]["annualMedian"] == 132270 and rec["wages"]["year"] == 2024


def test_failed_job_keeps_reason_and_empty_recommendations() -> None:
    doc = recommendations_document(
        ready(status="failed", recommendations=[], summary=None, reason="matcher timed out")
    ).document
    assert doc["recommendations"] == [] and doc["reason"] == "matcher timed out"
    assert "summary" not in doc


def test_versions_longer_than_convex_allows_are_clipped_not_rejected() -> None:
    long = "orchestrator-0.1.0; profile-analyzer-0.1.0+vocab.1a2b3c4d; career-matcher-0.1.0+catalog.5e6f7a8b"
    doc = recommendations_document(ready(pipeline_version=long)).document
    assert len(doc["pipelineVersion"]) == 64
    assert doc["pipelineVersion"] == long[:63] + "~"
    out = agent_output_document(agent_output(agent_version="v" * 80)).document
    assert out["agentVersion"] == "v" * 63 + "~"
    assert recommendations_document(ready()).document["pipelineVersion"] == "0.1.0"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2025, 1, 31, 12, 0, tzinfo=UTC), "2025-01-31T12:00:00Z"),
        # other offsets are normalised to UTC
        (
            datetime(2025, 1, 31, 14, 0, tzinfo=timezone(timedelta(hours=2))),
            "2025-01-31T12:00:00Z",
        ),
        # naive datetimes are taken as UTC (Convex requires a zone)
        (datetime(2025, 1, 31, 12, 0, 0, 500000), "2025-01-31T12:00:00.500000Z"),
    ],
)
def test_timestamps_are_iso_8601_with_a_zone(moment: datetime, expected: str) -> None:
    assert iso(moment) == expected


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, WriteOutcome.OK),
        (201, WriteOutcome.OK),
        (408, WriteOutcome.RETRY),
        (429, WriteOutcome.RETRY),
        (500, WriteOutcome.RETRY),
        (502, WriteOutcome.RETRY),
        (503, WriteOutcome.RETRY),
        (504, WriteOutcome.RETRY),
        (400, WriteOutcome.PERMANENT),
        (401, WriteOutcome.PERMANENT),
        (404, WriteOutcome.PERMANENT),
        (409, WriteOutcome.PERMANENT),
        (413, WriteOutcome.PERMANENT),
        (302, WriteOutcome.PERMANENT),
    ],
)
def test_status_classification(status: int, outcome: WriteOutcome) -> None:
    assert classify(status) is outcome


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7
    assert parse_retry_after(format_datetime(now - timedelta(seconds=7), usegmt=True), now) == 0
    assert parse_retry_after("-4", now) == 0
    for junk in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(junk, now) is None


def test_retry_after_is_a_floor_and_the_deadline_a_ceiling() -> None:
    assert next_delay(0.2, 3, remaining_s=10) == 3
    assert next_delay(0.2, 0, remaining_s=10) == 0.2, "the backoff when Retry-After is shorter"
    assert next_delay(0.2, None, remaining_s=10) == 0.2
    assert next_delay(0.2, 3, remaining_s=2) is None, "would start past the deadline"
    assert next_delay(0.2, None, remaining_s=0) is None


def test_settings_require_a_secret_and_keep_it_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVEX_SYNC_SECRET", raising=False)
    with pytest.raises(ValidationError, match="convex_sync_secret"):
        ConvexSyncSettings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("CONVEX_SYNC_SECRET", "s3cr3t-value")
    settings = ConvexSyncSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.convex_sync_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in str(settings)
    assert settings.service_name == "convex-sync"
    assert dead_letter_topic(settings.convex_sync_consumer_group).name == (
        "careers.convex-sync.dead-letter.v1"
    )


def test_settings_reject_retries_longer_than_the_handler_timeout() -> None:
    with pytest.raises(ValidationError, match="HANDLER_TIMEOUT_S"):
        ConvexSyncSettings(
            convex_sync_secret="x",  # type: ignore[arg-type]
            convex_max_retry_s=55,
            convex_timeout_s=10,
            handler_timeout_s=60,
        )


@pytest.mark.parametrize(
    ("url", "secret", "reason"),
    [
        ("http://example.convex.site", "a" * 8 + "0123456789abcdef" * 3, "https://"),
        ("https://example.convex.site", "REPLACE_ME", "at least 32"),
        ("https://example.convex.site", "short-but-random-9f3k", "at least 32"),
        ("https://example.convex.site", "replace-me-with-a-real-secret-value-0123", "placeholder"),
        ("https://example.convex.site", "dev-convex-sync-secret-dev-convex-sync", "placeholder"),
        ("https://example.convex.site", "a" * 40, "placeholder"),
    ],
)
def test_production_rejects_placeholder_short_secrets_and_plain_http(
    url: str, secret: str, reason: str
) -> None:
    """Before the hardening a placeholder secret and http:// were accepted in production."""
    with pytest.raises(ValidationError, match=reason):
        ConvexSyncSettings(
            environment="production",
            convex_site_url=url,
            convex_sync_secret=secret,  # type: ignore[arg-type]
            _env_file=None,  # type: ignore[call-arg]
        )
    ConvexSyncSettings(  # dev and tests stay lenient
        environment="test",
        convex_site_url=url,
        convex_sync_secret=secret,  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )


def test_production_accepts_a_real_secret_over_https() -> None:
    settings = ConvexSyncSettings(
        environment="production",
        kafka_security_protocol="SSL",  # the shared production checks (test_config_errors)
        convex_site_url="https://example.convex.site",
        convex_sync_secret="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    assert settings.convex_site_url.startswith("https://")
