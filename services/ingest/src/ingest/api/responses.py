"""Shared response parts: a job's links, and the OpenAPI descriptions of the error
responses (all ``application/problem+json``)."""

from typing import Any

from careers_contracts import JobLinks, Problem

DESCRIPTIONS = {
    400: "Malformed request (body not UTF-8 JSON text, invalid Content-Length)",
    401: "Missing or invalid Clerk session token (`WWW-Authenticate` names the reason)",
    404: "No such job, or it belongs to another user",
    409: "Idempotency-Key reused with a different body, or still in progress",
    413: "Request body too large",
    422: "Invalid request; `errors` lists the failing fields (at most 20) with their location",
    429: "Too many requests (submits count valid or not; reads have their own budget); "
    "retry after `Retry-After` seconds",
    503: "A dependency (broker, Redis) is unavailable; retry after `Retry-After` seconds",
}

HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge"}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries; ``main.custom_openapi`` serves them as problem+json."""
    return {
        status: {
            "model": Problem,
            "description": DESCRIPTIONS[status],
            **({"headers": HEADERS[status]} if status in HEADERS else {}),
        }
        for status in statuses
    }


def links(job_id: str) -> JobLinks:
    """Where a job is read (``links.self``) and followed (``links.events``)."""
    return JobLinks(self_=f"/v1/jobs/{job_id}", events=f"/v1/jobs/{job_id}/events")
