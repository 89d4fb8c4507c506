"""pytest plugin (auto-loaded via the ``pytest11`` entry point).

Fixtures:
- ``kafka_bootstrap``: a real Kafka-protocol broker for the session (see
  ``embedded_broker.kafka_for_tests``); never skips — no broker fails the suite.
- ``unique``: a short unique suffix for group ids and job ids, so tests sharing the
  session's broker do not see each other's records.
"""

import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    from careers_runtime.embedded_broker import kafka_for_tests

    with kafka_for_tests() as bootstrap:
        yield bootstrap


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]
