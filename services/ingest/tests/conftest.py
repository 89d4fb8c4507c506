"""Fixtures for the ingest tests (helpers live in ``careers_tools.testing.ingest``)."""

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from careers_tools.testing.ingest import Ingest, Keys, start_ingest


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
