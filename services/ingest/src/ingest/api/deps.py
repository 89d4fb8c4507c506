"""Dependencies: the app's services and the authenticated caller."""

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis, RedisCluster

from ingest.api.errors import ProblemError
from ingest.auth import AuthError, ClerkVerifier, Principal
from ingest.idempotency_store import IdempotencyStore
from ingest.projector import StatusProjector
from ingest.ratelimit import AuthFailures, UserRateLimiter
from ingest.read_model import JobReadModel
from ingest.settings import IngestSettings


@dataclass
class Services:
    settings: IngestSettings
    broker: KafkaBroker
    verifier: ClerkVerifier
    limiter: UserRateLimiter
    idempotency: IdempotencyStore
    jobs: JobReadModel
    projector: StatusProjector
    redis: Redis | RedisCluster | None = None
    read_limiter: UserRateLimiter | None = None  # job reads and stream opens, per user
    auth_failures: AuthFailures = field(default_factory=lambda: AuthFailures("20/minute"))


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


class ClerkBearer(HTTPBearer):
    """The ``ClerkSession`` bearer scheme in OpenAPI (for generated clients) *and* the check.

    One dependency per request instead of three (scheme, services, verifier): FastAPI's
    dependency resolution is a noticeable part of a submit's CPU. The header is parsed
    here so that every failure gets our 401 problem with a reason code.
    """

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        known = request.scope.get("state", {}).get(AUTHENTICATED)
        if known is not None:  # the submit path authenticated it before reading the body
            return known  # type: ignore[no-any-return]
        services: Services = request.app.state.services
        refuse_if_blocked(services, client_address(request.scope))
        header = request.headers.get("authorization")
        if header is None:
            raise AuthError("missing_token", "send 'Authorization: Bearer <Clerk session token>'")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("malformed_header", "the Authorization header must be 'Bearer <token>'")
        return await services.verifier.verify(token.strip())


# Where the submit path leaves the caller it authenticated (``scope["state"]``).
AUTHENTICATED = "careers_principal"


def client_address(scope: Any) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def refuse_if_blocked(services: Services, address: str) -> None:
    """429 for an address past its failed-authentication budget (``AuthFailures``)."""
    retry = services.auth_failures.retry_after(address)
    if retry is not None:
        raise ProblemError(
            429,
            "too_many_failed_authentications",
            f"Too many failed authentications from this address; retry after {retry} s.",
            headers={"Retry-After": str(retry)},
        )


clerk_session = ClerkBearer(
    auto_error=False,
    bearerFormat="JWT",
    scheme_name="ClerkSession",
    description="A Clerk session token (`await getToken()` in the frontend).",
)


CurrentUser = Annotated[Principal, Security(clerk_session)]
