"""POST /v1/agents/analyze: the declaration; the use case is ``ingest.api.submit``."""

from typing import Annotated, Any

from careers_contracts import AnalyzeAccepted, ProfileSubmission
from fastapi import APIRouter, Body, Header, Request, Response
from fastapi.routing import APIRoute

from ingest.api.deps import CurrentUser
from ingest.api.responses import problem_responses
from ingest.api.submit import submit_profile
from ingest.domain.idempotency import KEY_PATTERN

router = APIRouter(tags=["jobs"])

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
    # Reached only through ``SubmitFastPath`` (authenticated, counted) for a request whose
    # body FastAPI then validates: normally it fails here with the declared 4xx.
    return await submit_profile(
        request.app.state.services,
        profile,
        user,
        idempotency_key,
        headers=request.headers,
        counted=getattr(request.state, "submit_counted", False),
    )


def submit_route() -> APIRoute:
    """The declared submit route (``SubmitFastPath`` answers valid requests for it)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.endpoint is analyze_profile:
            return route
    raise LookupError("analyze_profile is not on the router")
