"""Pure ASGI middleware (cheaper than ``BaseHTTPMiddleware`` on the hot path)."""

import time
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.api.errors import problem_response
from ingest.metrics import HTTP_REQUESTS, HTTP_SECONDS


class BodySizeLimit:
    """413 for bodies above ``max_bytes``, by Content-Length or while streaming in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        detail = f"The request body is limited to {self.max_bytes} bytes."
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    response = problem_response(400, "bad_request", "Invalid Content-Length.")
                    await response(scope, receive, send)
                    return
                if declared > self.max_bytes:
                    response = problem_response(413, "body_too_large", detail)
                    await response(scope, receive, send)
                    return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPException from body reading as is; the app's
                    # handler renders it as problem+json.
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, limited, send)


class HttpMetrics:
    """Request count and latency per route template (``/v1/jobs/{jobId}``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Labelled children by (method, route, status): ``labels()`` takes a lock and
        # builds a key on every call; the set of combinations is small and fixed.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            key = (scope["method"], template, status)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = (
                    HTTP_REQUESTS.labels(key[0], template, str(status)),
                    HTTP_SECONDS.labels(key[0], template),
                )
            children[0].inc()
            children[1].observe(time.perf_counter() - started)


class StrictTransportSecurity:
    """``Strict-Transport-Security`` on every response (production: HTTPS only).

    TLS ends at the Ingress; the header tells browsers never to use plain http for the
    API's host again.
    """

    def __init__(self, app: ASGIApp, max_age_s: int) -> None:
        self.app = app
        self.header = (
            b"strict-transport-security",
            f"max-age={max_age_s}; includeSubDomains".encode(),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_with_hsts)
