"""The submit use case: one profile in, a job out (or a problem).

For an authenticated caller and a validated body: the Idempotency-Key (replay, 409, or
reserve; completed once the job exists, released when the publish fails), the caller's
submit budget, the ``profile.submitted`` publish (the job exists once it is acked; the one
record a submit produces), the job's local ``queued`` status, and the 202. The route (``routes/analyze.py``) and its
fast request path (``submit_route.py``) only get the request into this shape.
"""

import asyncio
import functools
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from careers_contracts import TOPICS, ProfileSubmission
from careers_runtime.codec import EventTooLargeError, Outgoing
from careers_runtime.delivery import publish
from careers_runtime.telemetry import PropagatingTracerProvider
from fastapi import Response
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from redis.exceptions import RedisError

from ingest.api.deps import Services
from ingest.api.errors import ProblemError
from ingest.auth import Principal
from ingest.domain.idempotency import IdempotencyOutcome, IdempotencyRecord, decide
from ingest.domain.submission import build_submission, fingerprint, new_job_id
from ingest.metrics import RATE_LIMITED, SUBMITS

SUBMITS_ACCEPTED = SUBMITS.labels("accepted")
# JSON strings as pydantic writes them (UTF-8, not \u-escaped), for the 202 body.
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# The headers that carry a caller's trace context (W3C trace context and baggage): without
# them there is nothing to continue, and the extraction is skipped.
TRACE_HEADERS = ("traceparent", "baggage")

log = logging.getLogger(__name__)
tracer = trace.get_tracer("careers.ingest")


async def submit_profile(
    services: Services,
    profile: ProfileSubmission,
    user: Principal,
    idempotency_key: str | None,
    *,
    headers: Mapping[str, str],
    counted: bool = False,
) -> Response:
    """The submit itself. ``headers`` carry the caller's trace context; ``counted`` says the
    request was already counted against the caller's submit budget."""
    # The body's hash only matters for an Idempotency-Key (same key, other body = 409).
    digest = fingerprint(profile) if idempotency_key is not None else None
    try:
        if idempotency_key is not None and digest is not None:
            replay = await _replay_or_refuse(services, user.sub, idempotency_key, digest)
            if replay is not None:
                return replay

        if not counted:
            await count_submit(services, user)

        job_id = new_job_id(user.sub, idempotency_key, digest)
        if idempotency_key is not None and digest is not None:
            pending = IdempotencyRecord(fingerprint=digest, job_id=job_id, state="pending")
            pending_ttl_s = 2 * services.settings.publish_timeout_s + 5
            if not await services.idempotency.reserve(
                user.sub, idempotency_key, pending, pending_ttl_s
            ):
                # A concurrent request with the same key won the race.
                replay = await _replay_or_refuse(services, user.sub, idempotency_key, digest)
                if replay is not None:
                    return replay
                raise ProblemError(
                    409,
                    "idempotency_key_in_progress",
                    "Retry shortly.",
                    headers={"Retry-After": "1"},
                )
    except RedisError as exc:
        log.warning("redis unavailable", extra={"error": type(exc).__name__})
        raise unavailable("The rate limiter or idempotency store") from exc

    # The job's trace starts here (continuing the frontend's traceparent, if any); the
    # events carry it in their Kafka headers to every service downstream.
    caller = propagate.extract(headers) if any(h in headers for h in TRACE_HEADERS) else None
    if spans_recorded():
        with tracer.start_as_current_span(
            "POST /v1/agents/analyze",
            context=caller,
            kind=trace.SpanKind.SERVER,
            attributes={"careers.job_id": job_id, "http.route": "/v1/agents/analyze"},
        ):
            await _submit(services, user.sub, profile, idempotency_key, job_id, digest)
    elif caller is not None:
        # Nothing records spans: the server span would be an id nobody can look up. The
        # producer span continues the caller's trace directly (the same trace id, the
        # same sampling flag in the Kafka headers); without a caller it starts the trace.
        token = otel_context.attach(caller)
        try:
            await _submit(services, user.sub, profile, idempotency_key, job_id, digest)
        finally:
            otel_context.detach(token)
    else:
        await _submit(services, user.sub, profile, idempotency_key, job_id, digest)
    SUBMITS_ACCEPTED.inc()
    return accepted(job_id, services)


@functools.cache
def spans_recorded() -> bool:
    """False when the process only propagates trace context (no exporter configured:
    ``careers_runtime.telemetry.PropagatingTracerProvider``); asked once tracing is set up."""
    return not isinstance(trace.get_tracer_provider(), PropagatingTracerProvider)


async def count_submit(services: Services, user: Principal) -> None:
    """One hit on the caller's submit budget; 429 once it is spent."""
    decision = await services.limiter.hit(user.sub)
    if not decision.allowed:
        RATE_LIMITED.inc()
        raise ProblemError(
            429,
            "rate_limited",
            f"Too many submits: at most {services.limiter.item.amount} per "
            f"{services.limiter.item.get_expiry()} s. Retry after {decision.retry_after_s} s.",
            headers={"Retry-After": str(decision.retry_after_s)},
        )


def accepted(
    job_id: str, services: Services, *, replayed: bool = False, status: str = "queued"
) -> Response:
    """The 202 ``AnalyzeAccepted`` response, serialised once (no response-model round trip:
    the same bytes as ``AnalyzeAccepted.model_dump_json()``, tested)."""
    location = f"/v1/jobs/{job_id}"
    body = (
        f'{{"jobId":{_json(job_id)},"status":{_json(status)},'
        f'"links":{{"self":{_json(location)},"events":{_json(location + "/events")}}}}}'
    )
    headers = {"Location": location}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(body, status_code=202, media_type="application/json", headers=headers)


def unavailable(what: str) -> ProblemError:
    return ProblemError(
        503,
        "unavailable",
        f"{what} is unavailable; nothing was submitted. Retry with the same Idempotency-Key.",
        headers={"Retry-After": "2"},
    )


async def _publish(services: Services, event: Outgoing) -> None:
    await asyncio.wait_for(
        publish(services.broker, event, services.settings.service_name),
        timeout=services.settings.publish_timeout_s,
    )


async def _replay_or_refuse(
    services: Services, user_id: str, key: str, digest: str
) -> Response | None:
    """The first submit's 202 again for a replayed key, 409 for a key reused with another
    body or still in progress, None for a key not seen yet."""
    existing = await services.idempotency.get(user_id, key)
    outcome = decide(existing, digest)
    if outcome is IdempotencyOutcome.REPLAY and existing is not None:
        SUBMITS.labels("replayed").inc()
        snapshot = await services.jobs.get(existing.job_id)
        status = snapshot.latest.status if snapshot is not None else "queued"
        return accepted(existing.job_id, services, replayed=True, status=status)
    _refuse(outcome)
    return None


def _refuse(outcome: IdempotencyOutcome) -> None:
    if outcome is IdempotencyOutcome.MISMATCH:
        raise ProblemError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different body; use a new key.",
        )
    if outcome is IdempotencyOutcome.IN_PROGRESS:
        raise ProblemError(
            409,
            "idempotency_key_in_progress",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )


async def _submit(
    services: Services,
    user_id: str,
    profile: ProfileSubmission,
    idempotency_key: str | None,
    job_id: str,
    digest: str | None,
) -> None:
    """Publish ``profile.submitted``: the job exists once it is acked.

    One record per submit. The job's first status (``queued``, sequence 0) goes into the
    shared read model (``ingest.read_model``) before the publish, so a GET right after the
    202 finds the job through any replica; if the publish fails it is removed again (the
    job does not exist) and the caller gets 503.
    """
    submission = build_submission(
        job_id=job_id,
        user_id=user_id,
        profile=profile,
        idempotency_key=idempotency_key,
        now=datetime.now(UTC),
    )
    try:
        await services.jobs.record(submission.queued)
    except RedisError as exc:
        await _release(services, user_id, idempotency_key)
        log.warning("job read model unavailable", extra={"error": type(exc).__name__})
        raise unavailable("The job store") from exc
    try:
        await _publish(
            services,
            Outgoing(TOPICS.profile_submitted, submission.submitted, submission.submitted_event_id),
        )
    except EventTooLargeError as exc:
        await _forget(services, job_id)
        await _release(services, user_id, idempotency_key)
        raise ProblemError(413, "body_too_large", "The profile is too large.") from exc
    except Exception as exc:
        await _forget(services, job_id)
        await _release(services, user_id, idempotency_key)
        log.warning("publish failed", extra={"error": type(exc).__name__, "job_id": job_id})
        raise unavailable("The event broker") from exc

    # The job exists from here on.
    if idempotency_key is not None and digest is not None:
        completed = IdempotencyRecord(fingerprint=digest, job_id=job_id, state="completed")
        try:
            await services.idempotency.complete(user_id, idempotency_key, completed)
        except RedisError as exc:
            # The job id is derived from the key, so a retry still lands on the same job.
            log.warning("idempotency record not completed", extra={"error": type(exc).__name__})


async def _release(services: Services, user_id: str, key: str | None) -> None:
    if key is None:
        return
    try:
        await services.idempotency.release(user_id, key)
    except RedisError:
        log.warning("idempotency record not released; it expires on its own")


async def _forget(services: Services, job_id: str) -> None:
    """Remove the ``queued`` status of a job whose publish failed (it does not exist)."""
    try:
        await services.jobs.forget(job_id)
    except RedisError:
        log.warning("queued status of an unpublished job not removed; it expires on its own")
