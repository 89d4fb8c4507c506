"""GET /v1/jobs/{jobId} and its Server-Sent Events stream (owner only)."""

import logging
import time
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
from ingest.domain.jobs import JobStatusRecord
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


def view(record: JobStatusRecord, event: JobStatusChanged | None = None) -> JobView:
    """The job as of ``event`` (default: its latest state)."""
    event = event or record.latest
    return JobView(
        job_id=record.job_id,
        status=event.status,
        progress=event.progress,
        step=event.step,
        message=event.message,
        created_at=record.created_at,
        updated_at=event.at,
        recommendations=event.recommendations,
        summary=event.summary,
        reason=event.reason,
        links=links(record.job_id),
    )


async def count_read(services: Services, user_id: str) -> None:
    """One hit on the caller's read budget (separate from, and larger than, submits')."""
    limiter = services.read_limiter
    if limiter is None:
        return
    try:
        decision = await limiter.hit(user_id)
    except RedisError as exc:  # reads are served from memory: do not fail them on Redis
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


async def owned_job(job_id: JobId, user: CurrentUser, services: ServicesDep) -> JobStatusRecord:
    """The caller's job, or 404 (also when it exists but belongs to someone else)."""
    await count_read(services, user.sub)
    not_found = ProblemError(404, "job_not_found", "No such job.")
    if len(job_id) > MAX_JOB_ID_CHARS:
        raise not_found
    # A job submitted through another replica: read its submit (this replica reads
    # profile.submitted on demand), then wait briefly rather than 404 a job that exists.
    # Someone else's job waits the same way, so timing does not reveal that it exists.
    deadline = time.monotonic() + services.settings.job_lookup_wait_s
    record = services.jobs.get(job_id)
    if record is None or not record.submit_seen:
        await services.follower.read_back(job_id, deadline - time.monotonic())
        record = services.jobs.get(job_id)
    while record is None or record.user_id != user.sub:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise not_found
        await services.jobs.wait(job_id, remaining)
        record = services.jobs.get(job_id)
    return record


OwnedJob = Annotated[JobStatusRecord, Depends(owned_job)]


@router.get(
    "/v1/jobs/{jobId}",
    operation_id="getJob",
    summary="A job's status, progress and (once completed) its recommendations",
    response_model=JobView,
    responses=problem_responses(401, 404, 422, 429),
)
async def get_job(record: OwnedJob) -> JobView:
    return view(record)


def _last_event_id(value: str | None) -> int:
    try:
        return int(value) if value is not None else -1
    except ValueError:
        return -1  # not one of ours: replay from the start


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
    record: OwnedJob,
    user: CurrentUser,
    services: ServicesDep,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after this sequence", max_length=32),
    ] = None,
) -> EventSourceResponse:
    after = _last_event_id(last_event_id)
    if record.terminal and after >= max(record.events):
        raise NothingToStreamError
    job_id = record.job_id
    jobs = services.jobs
    # A stream lives no longer than the token that opened it: at its expiry the stream
    # ends and the client reconnects with a fresh token and Last-Event-ID.
    expires_at = user.expires_at
    streams = services.open_streams
    if streams.get(user.sub, 0) >= services.settings.sse_max_streams_per_user:
        raise ProblemError(
            429,
            "too_many_streams",
            f"At most {services.settings.sse_max_streams_per_user} open event streams per "
            "user; close one first.",
            headers={"Retry-After": "5"},
        )
    streams[user.sub] = streams.get(user.sub, 0) + 1
    released = False

    def closed() -> None:
        nonlocal released
        if released:
            return
        released = True
        left = streams.get(user.sub, 1) - 1
        if left > 0:
            streams[user.sub] = left
        else:
            streams.pop(user.sub, None)

    async def events() -> AsyncIterator[ServerSentEvent]:
        SSE_STREAMS.inc()
        sent = after
        first = True
        try:
            while True:
                remaining = expires_at - time.time()
                if remaining <= 0:
                    return  # the token expired: the client resumes with a fresh one
                current = jobs.get(job_id)
                if current is None:
                    return  # evicted (TTL): nothing more will come
                for event in current.after(sent):
                    yield ServerSentEvent(
                        data=view(current, event).model_dump_json(by_alias=True),
                        event="status",
                        id=str(event.sequence),
                        retry=RECONNECT_MS if first else None,
                    )
                    first = False
                    sent = event.sequence
                    if event.status in TERMINAL_STATES:
                        return
                await jobs.wait(job_id, min(30.0, remaining))
        finally:
            SSE_STREAMS.dec()
            closed()

    stream = events()
    # Also released if the response never starts iterating (client gone before it began).
    weakref.finalize(stream, closed)
    return EventSourceResponse(
        stream,
        ping=services.settings.sse_ping_s,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
