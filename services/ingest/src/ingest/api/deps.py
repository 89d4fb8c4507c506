"""Dependencies: the app's services and the authenticated caller."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from ingest.auth import AuthError, ClerkVerifier, Principal
from ingest.idempotency_store import IdempotencyStore
from ingest.job_status import JobStatusFollower, LiveJobs
from ingest.ratelimit import SubmitRateLimiter
from ingest.settings import IngestSettings


@dataclass
class Services:
    settings: IngestSettings
    broker: KafkaBroker
    verifier: ClerkVerifier
    limiter: SubmitRateLimiter
    idempotency: IdempotencyStore
    jobs: LiveJobs
    follower: JobStatusFollower
    redis: Redis | None = None


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

# Declares the scheme in OpenAPI (for generated clients); the header is checked below so
# that every failure gets our 401 problem with a reason code.
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    scheme_name="ClerkSession",
    description="A Clerk session token (`await getToken()` in the frontend).",
)


async def current_user(
    request: Request,
    services: ServicesDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    header = request.headers.get("authorization")
    if header is None:
        raise AuthError("missing_token", "send 'Authorization: Bearer <Clerk session token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("malformed_header", "the Authorization header must be 'Bearer <token>'")
    return await services.verifier.verify(token.strip())


CurrentUser = Annotated[Principal, Depends(current_user)]
