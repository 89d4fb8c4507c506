"""The submit's one request path (``SubmitFastPath``): authenticate before the body is
read, then validate and submit; FastAPI's declared handler only renders the errors of a
request this path has authenticated, counted and found invalid."""

import json
import logging
from typing import Any

from careers_contracts import ProfileSubmission
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.api.deps import AUTHENTICATED, Services, client_address, refuse_if_blocked
from ingest.api.errors import ProblemError
from ingest.api.submit import count_submit, submit_profile, unavailable
from ingest.auth import AuthError
from ingest.domain.idempotency import valid_key

log = logging.getLogger(__name__)


def is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json`` (what FastAPI parses as JSON)."""
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


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


def check_structure(raw: bytes) -> None:
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


class SubmitFastPath:
    """Pure ASGI: every ``POST /v1/agents/analyze``, in one order.

    1. An address past its failed-authentication budget: 429, nothing else looked at.
    2. The bearer token is verified *before the body is read*: a request without a valid
       token costs a header parse and a (cached) verification, whatever its body (issue
       25: the body was validated, twice, before the token was checked). A failure is a
       401 problem, counted against the client address (``ratelimit.AuthFailures``).
    3. The body is read (the body cap, outside, applies) and a well-formed request (JSON
       content type, a valid ``Idempotency-Key`` if any, a body that validates) goes
       straight to the use case (``submit.submit_profile``), without Starlette's
       routing or FastAPI's request/response wrapping (a third of a submit's CPU).
    4. Anything else is counted against the caller's submit budget (429 past it: an
       invalid body is no free CPU), hostile structure is refused (422) before a
       validator builds errors for it, and the request, body replayed and caller
       attached, goes to the app, whose declared handler renders the 400/413/422 exactly
       as the OpenAPI document says. It reaches the use case only through this path.

    Installed innermost among the app's middleware (metrics, CORS and the body cap wrap
    it). The use case's refusals (409, 429, 503, 413) are rendered by the app's
    registered exception handlers, as behind the router.
    """

    def __init__(self, app: ASGIApp, route: APIRoute) -> None:
        self.app = app
        self.route = route  # the declared submit route (its path; for the HTTP metrics)
        self.path = route.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        # One pass over the raw headers (lower-case names, as the server gives them; the
        # first of repeated ones, as Starlette's Headers.get): what the submit reads.
        authorization = content_type = key = None
        trace: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif name == b"content-type":
                if content_type is None:
                    content_type = value.decode("latin-1")
            elif name == b"idempotency-key":
                if key is None:
                    key = value.decode("latin-1")
            elif name in _TRACE_HEADERS:
                trace.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        scope["route"] = self.route  # as the router would (the metrics' route label)
        services: Services = scope["app"].state.services
        address = client_address(scope)
        try:
            refuse_if_blocked(services, address)
            if authorization is None:
                raise AuthError(
                    "missing_token", "send 'Authorization: Bearer <Clerk session token>'"
                )
            scheme, _, token = authorization.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise AuthError(
                    "malformed_header", "the Authorization header must be 'Bearer <token>'"
                )
            user = await services.verifier.verify(token)
        except (AuthError, ProblemError) as exc:  # the body is never read
            await self._render(exc, scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client left: nothing to answer
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except Exception as exc:  # the body cap (413) while streaming in, as behind the router
            await self._render(exc, scope, receive, send)
            return
        raw = b"".join(chunks)
        json_body = is_json(content_type)
        try:
            if json_body and (key is None or valid_key(key)):
                try:
                    profile = ProfileSubmission.model_validate_json(raw)
                except ValidationError:
                    pass  # the declared handler reports it, field by field
                else:
                    response = await submit_profile(services, profile, user, key, headers=trace)
                    await response(scope, receive, send)
                    return
            try:
                await count_submit(services, user)
            except RedisError as exc:
                log.warning("redis unavailable", extra={"error": type(exc).__name__})
                raise unavailable("The rate limiter") from exc
            if json_body:
                check_structure(raw)
        except Exception as exc:
            await self._render(exc, scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[AUTHENTICATED] = user
        state["submit_counted"] = True
        await self.app(scope, _replay(raw, receive), send)

    async def _render(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """``exc`` answered by the app's registered handler, as the router's exception
        middleware would; an unexpected error goes on up (the server error middleware)."""
        handler = _handler_for(scope["app"], exc)
        if handler is None:
            raise exc
        response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)


# The caller's trace context (W3C trace context and baggage), continued by the submit span.
_TRACE_HEADERS = (b"traceparent", b"tracestate", b"baggage")


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that yields the already read body first (then the real one)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _handler_for(app: Any, exc: Exception) -> Any:
    """The app's registered handler for ``exc`` (most specific class first), except the
    catch-all: an unexpected error goes up to the server error middleware as usual."""
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None
