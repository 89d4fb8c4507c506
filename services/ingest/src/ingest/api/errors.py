"""Every error leaves as RFC 9457 ``application/problem+json``, never a stack trace.

``code`` is a stable machine-readable reason the frontend can switch on; validation errors
list each failing field with its location (``body.experience.0.startDate``) but never echo
the submitted value (profile text is personal data).
"""

import logging
from http import HTTPStatus
from typing import Any

from careers_contracts import Problem
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.auth import AuthError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
REALM = "careers"


class ProblemError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


class NothingToStreamError(Exception):
    """The client already saw the job's terminal event: 204 tells EventSource to stop."""


def www_authenticate(code: str) -> str:
    return f'Bearer realm="{REALM}", error="invalid_token", error_description="{code}"'


def problem_response(
    status: int,
    code: str | None,
    detail: str | None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, object]] | None = None,
) -> JSONResponse:
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(mode="json", by_alias=True, exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


# A 422 lists at most this many errors (17k unknown keys once made a 2 MB answer).
MAX_ERRORS = 20


def validation_errors(exc: RequestValidationError) -> list[dict[str, object]]:
    errors: list[dict[str, object]] = []
    for error in exc.errors()[:MAX_ERRORS]:
        loc = error.get("loc", ())
        field = _location(loc[1:]) if len(loc) > 1 else ""
        errors.append(
            {
                "location": _location(loc),
                "in": str(loc[0]) if loc else "body",
                "field": field,
                "message": str(error.get("msg", "invalid")),
                "type": str(error.get("type", "value_error")),
            }
        )
    return errors


_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(
            exc.status,
            exc.code,
            exc.detail,
            instance=request.url.path,
            headers=exc.headers,
            errors=exc.errors,
        )

    @app.exception_handler(AuthError)
    async def _auth(request: Request, exc: AuthError) -> Response:
        from ingest.metrics import AUTH_FAILURES

        AUTH_FAILURES.labels(exc.code).inc()
        services = getattr(request.app.state, "services", None)
        if services is not None:  # counted per client address (``ratelimit.AuthFailures``)
            client = request.scope.get("client")
            services.auth_failures.failed(str(client[0]) if client else "")
        return problem_response(
            401,
            exc.code,
            exc.description,
            instance=request.url.path,
            headers={"WWW-Authenticate": www_authenticate(exc.code)},
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = validation_errors(exc)
        total = len(exc.errors())
        fields = ", ".join(str(e["location"]) for e in errors[:5])
        more = f" (+{total - 5} more)" if total > 5 else ""
        return problem_response(
            422,
            "validation_failed",
            f"Invalid request: {fields}{more}",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(
            exc.status_code,
            _DEFAULT_CODES.get(exc.status_code, "error"),
            detail,
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(NothingToStreamError)
    async def _nothing(request: Request, exc: NothingToStreamError) -> Response:
        return Response(status_code=204)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "unhandled error",
            extra={"error": type(exc).__name__, "path": request.url.path},
        )
        return problem_response(
            500, "internal_error", "Something went wrong on our side.", instance=request.url.path
        )
