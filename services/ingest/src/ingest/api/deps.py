"""Dependencies: the app's services and the authenticated caller."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis, RedisCluster

from ingest.auth import AuthError, ClerkVerifier, Principal
from ingest.idempotency_store import IdempotencyStore
from ingest.job_status import JobReadModel, StatusProjector
from ingest.ratelimit import SubmitRateLimiter
from ingest.settings import IngestSettings


@dataclass
class Services:
    settings: IngestSettings
    broker: KafkaBroker
    verifier: ClerkVerifier
    limiter: SubmitRateLimiter
    idempotency: IdempotencyStore
    jobs: JobReadModel
    projector: StatusProjector
    redis: Redis | RedisCluster | None = None
    read_limiter: SubmitRateLimiter | None = None  # job reads and stream opens, per user


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
        header = request.headers.get("authorization")
        if header is None:
            raise AuthError("missing_token", "send 'Authorization: Bearer <Clerk session token>'")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("malformed_header", "the Authorization header must be 'Bearer <token>'")
        services: Services = request.app.state.services
        return await services.verifier.verify(token.strip())


clerk_session = ClerkBearer(
    auto_error=False,
    bearerFormat="JWT",
    scheme_name="ClerkSession",
    description="A Clerk session token (`await getToken()` in the frontend).",
)


CurrentUser = Annotated[Principal, Security(clerk_session)]
