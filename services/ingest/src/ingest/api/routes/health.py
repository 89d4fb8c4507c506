"""/healthz (process up), /readyz (can take traffic), /metrics (Prometheus)."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingest.api.deps import ServicesDep

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz(services: ServicesDep) -> dict[str, str]:
    return {"status": "ok", "service": services.settings.service_name}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> Response:
    """Ready when the broker and Redis answer and the job-status projector runs. Nothing
    is replayed at start-up (the read model is shared), so readiness does not depend on
    how many jobs exist."""
    broker_ok = await services.broker.ping(timeout=2.0)
    redis_ok: bool | None = None
    if services.redis is not None:
        try:
            redis_ok = bool(await asyncio.wait_for(services.redis.ping(), 2.0))  # type: ignore[misc]
        except Exception:
            redis_ok = False
    projector = services.projector
    ready = broker_ok and projector.running and redis_ok is not False
    return JSONResponse(
        {
            "ready": ready,
            "brokerConnected": broker_ok,
            "jobStatusProjector": projector.running,
            "assignedPartitions": projector.assigned_partitions,
            "redis": redis_ok,
        },
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
