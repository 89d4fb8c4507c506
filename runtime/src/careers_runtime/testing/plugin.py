"""pytest plugin (auto-loaded via the ``pytest11`` entry point).

Fixtures:
- ``kafka_bootstrap``: a real Kafka-protocol broker for the session (see
  ``embedded_broker.kafka_for_tests``); never skips — no broker fails the suite.
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
    from careers_runtime.testing.convex_standin import ConvexStandin


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    import os

    from careers_runtime.embedded_broker import kafka_for_tests
    from careers_runtime.kafka_client import TANSU_CLIENT_ENV

    # Without KAFKA_BOOTSTRAP_SERVERS the suite starts tansu, which cannot do idempotent
    # producers: turn them off for every client of the session (in-process settings and
    # the service processes, which inherit the environment).
    embedded = not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    saved = {k: os.environ.get(k) for k in TANSU_CLIENT_ENV}
    if embedded:
        os.environ.update(TANSU_CLIENT_ENV)
    try:
        with kafka_for_tests() as bootstrap:
            yield bootstrap
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def convex_standin(tmp_path_factory: pytest.TempPathFactory) -> "Iterator[ConvexStandin]":
    from careers_runtime.testing.convex_standin import ConvexStandin

    log_path = tmp_path_factory.mktemp("convex-standin") / "standin.log"
    with ConvexStandin(log_path=log_path) as standin:
        yield standin


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]
