"""Fixtures for the ingest tests (helpers live in ``careers_tools.testing.ingest``)."""

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from careers_contracts import TOPICS
from careers_tools.local_servers import free_port
from careers_tools.testing.ingest import Ingest, InProcess, Keys, ingest_env, start_ingest
from faststream.kafka import TestKafkaBroker
from ingest.api.deps import Services
from ingest.main import create_app
from ingest.settings import IngestSettings


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys.create(tmp_path_factory.mktemp("clerk-dev"))


@pytest.fixture(scope="module")
def ingest_factory(
    keys: Keys, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Callable[..., Ingest]]:
    """``ingest_factory(bootstrap, RATE_LIMIT="3/minute")`` starts a real ingest process
    (``replicas=2``: a list of them) on the session's Redis (``REDIS_URL=...`` to choose
    another); all are stopped at the end of the module."""
    started: list[Ingest] = []
    logs = tmp_path_factory.mktemp("ingest-logs")

    def start(
        bootstrap: str, ready_path: str = "/readyz", replicas: int = 1, **extra: str
    ) -> Ingest | list[Ingest]:
        extra.setdefault("REDIS_URL", redis_url)
        url = extra.pop("REDIS_URL")
        instances = start_ingest(
            keys, bootstrap, logs, ready_path, replicas, redis_url=url, **extra
        )
        started.extend(instances)
        return instances[0] if replicas == 1 else instances

    yield start
    for instance in started:
        instance.process.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


@pytest.fixture
async def inprocess(
    keys: Keys, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[InProcess]:
    """The fast layer: no process, no broker; a test runs in milliseconds. Kafka points at
    a closed loopback port, so the app's background connect never starts the real broker;
    the test broker takes the publishes instead."""
    env = ingest_env(keys, f"127.0.0.1:{free_port()}", free_port(), redis_url, LOG_LEVEL="ERROR")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("INTERNAL_HTTP_PORT", raising=False)
    app = create_app(IngestSettings())
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        published: list[Any] = []

        @services.broker.subscriber(TOPICS.profile_submitted.name)
        async def record(body: Any) -> None:
            published.append(body)

        async with TestKafkaBroker(services.broker):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
                yield InProcess(client, services, published)
