"""GET /v1/jobs/{jobId} and its Server-Sent Events stream (owner only)."""

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Annotated

from careers_contracts import TERMINAL_STATES, JobStatusChanged, JobView
from fastapi import APIRouter, Depends, Header, Path
from redis.exceptions import RedisError
from sse_starlette import EventSourceResponse, ServerSentEvent

from ingest.api.deps import CurrentUser, Services, ServicesDep
from ingest.api.errors import NothingToStreamError, ProblemError
from ingest.api.responses import links, problem_responses
from ingest.domain.jobs import JobSnapshot, parse_last_event_id
from ingest.metrics import RATE_LIMITED, SSE_STREAMS

log = logging.getLogger(__name__)
router = APIRouter(tags=["jobs"])

MAX_JOB_ID_CHARS = 64
RECONNECT_MS = 2000
JobId = Annotated[
    str,
    Path(
        alias="jobId",
        description="The job id returned by analyzeProfile",
        examples=["3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"],
    ),
]


def view(snapshot: JobSnapshot, event: JobStatusChanged | None = None) -> JobView:
    """The job as of ``event`` (default: its latest state)."""
    event = event or snapshot.latest
    return JobView(
        job_id=snapshot.job_id,
        status=event.status,
        progress=event.progress,
        step=event.step,
        message=event.message,
        created_at=snapshot.created_at,
        updated_at=event.at,
        recommendations=event.recommendations,
        summary=event.summary,
        reason=event.reason,
        links=links(snapshot.job_id),
    )


def read_model_unavailable() -> ProblemError:
    return ProblemError(
        503,
        "unavailable",
        "Job status is unavailable right now; retry shortly.",
        headers={"Retry-After": "2"},
    )


async def count_read(services: Services, user_id: str) -> None:
    """One hit on the caller's read budget (separate from, and larger than, submits')."""
    limiter = services.read_limiter
    if limiter is None:
        return
    try:
        decision = await limiter.hit(user_id)
    except RedisError as exc:  # the read itself answers 503 if Redis is really away
        log.warning("read rate limiter unavailable", extra={"error": type(exc).__name__})
        return
    if not decision.allowed:
        RATE_LIMITED.inc()
        raise ProblemError(
            429,
            "rate_limited",
            f"Too many requests: at most {limiter.item.amount} reads per "
            f"{limiter.item.get_expiry()} s. Retry after {decision.retry_after_s} s.",
            headers={"Retry-After": str(decision.retry_after_s)},
        )


async def owned_job(job_id: JobId, user: CurrentUser, services: ServicesDep) -> JobSnapshot:
    """The caller's job (one read of the shared read model), or 404 (also when it exists
    but belongs to someone else)."""
    await count_read(services, user.sub)
    not_found = ProblemError(404, "job_not_found", "No such job.")
    if len(job_id) > MAX_JOB_ID_CHARS:
        raise not_found
    try:
        snapshot = await services.jobs.get(job_id)
    except RedisError as exc:
        log.warning("job read model unavailable", extra={"error": type(exc).__name__})
        raise read_model_unavailable() from exc
    if snapshot is None or snapshot.user_id != user.sub:
        raise not_found
    return snapshot


OwnedJob = Annotated[JobSnapshot, Depends(owned_job)]


@router.get(
    "/v1/jobs/{jobId}",
    operation_id="getJob",
    summary="A job's status, progress and (once completed) its recommendations",
    response_model=JobView,
    responses=problem_responses(401, 404, 422, 429),
)
async def get_job(snapshot: OwnedJob) -> JobView:
    return view(snapshot)


@router.get(
    "/v1/jobs/{jobId}/events",
    operation_id="streamJobEvents",
    summary="Server-Sent Events of a job's progress, ending with its terminal state",
    description=(
        "Each event is `event: status`, `id: <sequence>`, `data: <JobView JSON>`. The stream "
        "ends after the terminal status (`completed`, `needs_more_information`, `failed`). "
        "Reconnect with `Last-Event-ID` to resume after that sequence; if the terminal event "
        "was already delivered the answer is 204 (EventSource stops reconnecting). "
        "A stream also ends when the token that opened it expires (reconnect with a fresh "
        "token and `Last-Event-ID`); each user may hold a few streams open at once (429). "
        "Send the Clerk token in the Authorization header (use a fetch-based SSE client)."
    ),
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "The event stream",
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "example": 'event: status\nid: 1\ndata: {"jobId": "...", "status": '
                    '"analyzing", "progress": 30, ...}\n\n',
                }
            },
        },
        204: {"description": "The terminal event was already delivered (Last-Event-ID)"},
        **problem_responses(401, 404, 422, 429),
    },
)
async def stream_job_events(
    snapshot: OwnedJob,
    user: CurrentUser,
    services: ServicesDep,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after this sequence", max_length=32),
    ] = None,
) -> EventSourceResponse:
    after = parse_last_event_id(last_event_id)
    if snapshot.terminal and after >= snapshot.sequence:
        raise NothingToStreamError
    job_id = snapshot.job_id
    jobs = services.jobs
    settings = services.settings
    # A stream lives no longer than the token that opened it: at its expiry the stream
    # ends and the client reconnects with a fresh token and Last-Event-ID.
    expires_at = user.expires_at
    stream_id = uuid.uuid4().hex
    try:
        opened = await jobs.open_stream(
            user.sub, stream_id, expires_at, settings.sse_max_streams_per_user
        )
    except RedisError as exc:
        raise read_model_unavailable() from exc
    if not opened:
        raise ProblemError(
            429,
            "too_many_streams",
            f"At most {settings.sse_max_streams_per_user} open event streams per "
            "user; close one first.",
            headers={"Retry-After": "5"},
        )
    released = False

    async def close() -> None:
        nonlocal released
        if released:
            return
        released = True
        try:
            await jobs.close_stream(user.sub, stream_id)
        except RedisError:  # it leaves the count when the token would have expired
            log.warning("stream count not released; it expires with the token")

    def closed() -> None:
        if not released:  # the response never started: release in the background
            with contextlib.suppress(RuntimeError):
                task = asyncio.get_running_loop().create_task(close())
                _pending.add(task)
                task.add_done_callback(_pending.discard)

    async def events() -> AsyncIterator[ServerSentEvent]:
        SSE_STREAMS.inc()
        sent = after
        first = True
        block_ms: int | None = None  # the first read returns what is there already
        try:
            while True:
                remaining = expires_at - time.time()
                if remaining <= 0:
                    return  # the token expired: the client resumes with a fresh one
                try:
                    history = await jobs.history_after(job_id, sent, block_ms)
                except RedisError as exc:  # the client reconnects with Last-Event-ID
                    log.warning("event stream lost Redis", extra={"error": type(exc).__name__})
                    return
                for event in history:
                    yield ServerSentEvent(
                        data=view(snapshot, event).model_dump_json(by_alias=True),
                        event="status",
                        id=str(event.sequence),
                        retry=RECONNECT_MS if first else None,
                    )
                    first = False
                    sent = event.sequence
                    if event.status in TERMINAL_STATES:
                        return
                if not history and block_ms is not None:
                    # Nothing for a whole wait: stop if the job expired meanwhile.
                    try:
                        if await jobs.get(job_id) is None:
                            return
                    except RedisError:
                        return
                block_ms = int(1000 * min(settings.sse_block_s, max(remaining, 0.001)))
        finally:
            SSE_STREAMS.dec()
            await close()

    stream = events()
    # Also released if the response never starts iterating (client gone before it began).
    weakref.finalize(stream, closed)
    return EventSourceResponse(
        stream,
        ping=settings.sse_ping_s,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


_pending: set[asyncio.Task[None]] = set()  # background releases, kept until they finish
