"""POST /v1/agents/analyze: validate, rate-limit, publish ``profile.submitted``, answer 202."""

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from careers_contracts import TOPICS, AnalyzeAccepted, JobLinks, ProfileSubmission
from careers_runtime.codec import EventTooLargeError, Outgoing
from careers_runtime.delivery import enqueue, publish
from fastapi import APIRouter, Body, Header, Request, Response
from fastapi.routing import APIRoute
from opentelemetry import propagate, trace
from pydantic import ValidationError
from redis.exceptions import RedisError

from ingest.api.deps import CurrentUser, Services, clerk_session
from ingest.api.errors import ProblemError
from ingest.api.responses import problem_responses
from ingest.auth import Principal
from ingest.domain.idempotency import KEY_PATTERN, IdempotencyRecord, Outcome, decide, valid_key
from ingest.domain.submission import build_submission, fingerprint, new_job_id
from ingest.metrics import RATE_LIMITED, SUBMITS

SUBMITS_ACCEPTED = SUBMITS.labels("accepted")

log = logging.getLogger(__name__)
tracer = trace.get_tracer("careers.ingest")


def _is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json`` (what FastAPI parses as JSON)."""
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class SubmitRoute(APIRoute):
    """The submit route: FastAPI's declaration (OpenAPI, errors), a leaner request path.

    FastAPI's generic handler parses the body with ``json.loads``, validates the dict,
    and resolves the security dependency and the header parameter through its dependency
    machinery: together about a third of a submit's CPU. For a well-formed request (JSON
    content type, valid ``Idempotency-Key`` if any) this handler validates the raw bytes
    in one step (``model_validate_json``), then authenticates with the same
    ``clerk_session`` check and runs the same endpoint logic. Anything else (invalid JSON,
    a failing field, another content type, a malformed header) goes to FastAPI's own
    handler for the declared endpoint, so every error (422 naming each failing field,
    401 before field errors, 400, 413) is exactly what the declaration produces. The body
    is read once: Starlette caches it on the request both handlers share.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        declared = super().get_route_handler()

        async def handler(request: Request) -> Response:
            raw = await request.body()
            headers = request.headers
            key = headers.get("idempotency-key")
            if _is_json(headers.get("content-type")) and (key is None or valid_key(key)):
                try:
                    profile = ProfileSubmission.model_validate_json(raw)
                except ValidationError:
                    pass  # FastAPI's handler reports it, field by field
                else:
                    user = await clerk_session(request)
                    return await submit_profile(request, profile, user, key)
            # Something is invalid. Authenticate first (401 before field errors), count it
            # against the caller's submit budget (429 past it: an invalid body is no free
            # CPU) and refuse hostile structure before validation builds errors for it.
            user = await clerk_session(request)
            services: Services = request.app.state.services
            try:
                await _count_submit(services, user)
            except RedisError as exc:
                log.warning("redis unavailable", extra={"error": type(exc).__name__})
                raise unavailable("The rate limiter") from exc
            request.state.submit_counted = True
            if _is_json(headers.get("content-type")):
                _check_structure(raw)
            return await declared(request)

        return handler


# A valid profile is at most 4 levels deep and has ~450 keys and items; anything far past
# that is refused before validation (which would build one error per unknown key).
MAX_BODY_DEPTH = 6
MAX_BODY_NODES = 2000


def _too_complex(detail: str) -> ProblemError:
    return ProblemError(
        422,
        "validation_failed",
        detail,
        errors=[
            {
                "location": "body",
                "in": "body",
                "field": "",
                "message": detail,
                "type": "body_too_complex",
            }
        ],
    )


def _check_structure(raw: bytes) -> None:
    """422 for JSON that is too deep or has too many keys/items to validate cheaply.

    Unparseable JSON is left to FastAPI's handler (one ``json_invalid`` error), except
    nesting deep enough to raise ``RecursionError`` in the parser, which is refused here.
    """
    try:
        document = json.loads(raw)
    except RecursionError:
        raise _too_complex(f"The body is nested more than {MAX_BODY_DEPTH} levels.") from None
    except ValueError:
        return
    budget = MAX_BODY_NODES
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            items: Any = node.values()
        elif isinstance(node, list):
            items = node
        else:
            continue
        if depth > MAX_BODY_DEPTH:
            raise _too_complex(f"The body is nested more than {MAX_BODY_DEPTH} levels.")
        budget -= len(node)
        if budget < 0:
            raise _too_complex(f"The body has more than {MAX_BODY_NODES} keys and items.")
        stack.extend((child, depth + 1) for child in items)


async def _count_submit(services: Services, user: Principal) -> None:
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


router = APIRouter(tags=["jobs"], route_class=SubmitRoute)


def links(job_id: str) -> JobLinks:
    return JobLinks(self_=f"/v1/jobs/{job_id}", events=f"/v1/jobs/{job_id}/events")


def accepted(job_id: str, services: Services, *, replayed: bool = False) -> Response:
    """The 202 ``AnalyzeAccepted`` response, serialised once (no response-model round trip)."""
    record = services.jobs.get(job_id)
    body = AnalyzeAccepted(
        job_id=job_id,
        status=record.latest.status if record is not None else "queued",
        links=links(job_id),
    )
    headers = {"Location": f"/v1/jobs/{job_id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        body.model_dump_json(), status_code=202, media_type="application/json", headers=headers
    )


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
    if outcome is Outcome.REPLAY and existing is not None:
        SUBMITS.labels("replayed").inc()
        return accepted(existing.job_id, services, replayed=True)
    _refuse(outcome)
    return None


def _refuse(outcome: Outcome) -> None:
    if outcome is Outcome.MISMATCH:
        raise ProblemError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different body; use a new key.",
        )
    if outcome is Outcome.IN_PROGRESS:
        raise ProblemError(
            409,
            "idempotency_key_in_progress",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )


PROFILE_EXAMPLES: dict[str, Any] = {
    "career changer": {
        "summary": "A backend developer who wants to move into data science",
        "value": ProfileSubmission.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
    },
    "minimal": {
        "summary": "Only the required field",
        "value": {"summary": "Nurse with ten years in intensive care, curious about informatics."},
    },
}


@router.post(
    "/v1/agents/analyze",
    operation_id="analyzeProfile",
    summary="Submit a profile for career analysis",
    description=(
        "Starts an asynchronous job for the signed-in user (the token's `sub`). Answers 202 "
        "once the `profile.submitted` event is acknowledged by the broker. Follow "
        "`links.events` (Server-Sent Events) or poll `links.self` for progress.\n\n"
        "With an `Idempotency-Key`, a retry within 24 h returns the same job and submits "
        "nothing new; the same key with a different body is 409."
    ),
    status_code=202,
    response_model=AnalyzeAccepted,
    responses={
        202: {"headers": {"Location": {"description": "The job", "schema": {"type": "string"}}}},
        **problem_responses(400, 401, 409, 413, 422, 429, 503),
    },
)
async def analyze_profile(
    request: Request,
    profile: Annotated[ProfileSubmission, Body(openapi_examples=PROFILE_EXAMPLES)],
    user: CurrentUser,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=KEY_PATTERN,
            description="Client-chosen key (e.g. a UUID) making retries safe for 24 h",
            examples=["5f2b7f0e-2f4a-4c1e-9a53-0c6c7b1d2e11"],
        ),
    ] = None,
) -> Response:
    return await submit_profile(request, profile, user, idempotency_key)


async def submit_profile(
    request: Request, profile: ProfileSubmission, user: Principal, idempotency_key: str | None
) -> Response:
    """The submit itself, for an authenticated caller and a validated body."""
    services: Services = request.app.state.services
    # The body's hash only matters for an Idempotency-Key (same key, other body = 409).
    digest = fingerprint(profile) if idempotency_key is not None else None
    try:
        if idempotency_key is not None and digest is not None:
            replay = await _replay_or_refuse(services, user.sub, idempotency_key, digest)
            if replay is not None:
                return replay

        if not getattr(request.state, "submit_counted", False):
            await _count_submit(services, user)

        job_id = new_job_id(user.sub, idempotency_key)
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
    with tracer.start_as_current_span(
        "POST /v1/agents/analyze",
        context=propagate.extract(request.headers),
        kind=trace.SpanKind.SERVER,
        attributes={"careers.job_id": job_id, "http.route": "/v1/agents/analyze"},
    ):
        await _submit(services, user.sub, profile, idempotency_key, job_id, digest)
    SUBMITS_ACCEPTED.inc()
    return accepted(job_id, services)


async def _submit(
    services: Services,
    user_id: str,
    profile: ProfileSubmission,
    idempotency_key: str | None,
    job_id: str,
    digest: str | None,
) -> None:
    """Publish the job's events; the job exists once ``profile.submitted`` is acked."""
    submission = build_submission(
        job_id=job_id,
        user_id=user_id,
        profile=profile,
        idempotency_key=idempotency_key,
        now=datetime.now(UTC),
    )
    try:
        await _publish(
            services,
            Outgoing(TOPICS.profile_submitted, submission.submitted, submission.submitted_event_id),
        )
    except EventTooLargeError as exc:
        await _release(services, user_id, idempotency_key)
        raise ProblemError(413, "body_too_large", "The profile is too large.") from exc
    except Exception as exc:
        await _release(services, user_id, idempotency_key)
        log.warning("publish failed", extra={"error": type(exc).__name__, "job_id": job_id})
        raise unavailable("The event broker") from exc

    # The job exists from here on. Its `queued` status is a convenience (the orchestrator's
    # own updates follow): a failure to publish it must not turn an accepted job into an
    # error, so the 202 does not wait for its ack (it is still produced with acks=all; a
    # failure is logged and recorded on its producer span).
    services.jobs.apply_local(submission.queued, submission.queued_event_id)
    try:
        async with asyncio.timeout(services.settings.publish_timeout_s):
            ack = await enqueue(
                services.broker,
                Outgoing(TOPICS.job_status, submission.queued, submission.queued_event_id),
                services.settings.service_name,
            )
        ack.add_done_callback(_queued_acked)
    except Exception as exc:
        log.warning("queued status not published", extra={"error": type(exc).__name__})
    if idempotency_key is not None and digest is not None:
        completed = IdempotencyRecord(fingerprint=digest, job_id=job_id, state="completed")
        try:
            await services.idempotency.complete(user_id, idempotency_key, completed)
        except RedisError as exc:
            # The job id is derived from the key, so a retry still lands on the same job.
            log.warning("idempotency record not completed", extra={"error": type(exc).__name__})


def _queued_acked(ack: "asyncio.Future[Any]") -> None:
    if not ack.cancelled() and (exc := ack.exception()) is not None:
        log.warning("queued status not published", extra={"error": type(exc).__name__})


async def _release(services: Services, user_id: str, key: str | None) -> None:
    if key is None:
        return
    try:
        await services.idempotency.release(user_id, key)
    except RedisError:
        log.warning("idempotency record not released; it expires on its own")
