"""Fuzzing the record decoder and the delivery policy's header parsing (Hypothesis).

Generated records — arbitrary bytes, JSON near and far from a valid envelope (deep
nesting, huge numbers, wrong types, mutated fields), null values and keys, and headers
with null, non-UTF-8 and garbled retry values, on the main topic and on the retry topic —
go through ``EventConsumer.process_record`` with a recording broker in place of Kafka.
Every one must end exactly one way: handled (outputs published), sent to the retry topic,
or dead-lettered with a reason. Nothing may escape (an escape rewinds the batch and stalls
the partition). Deterministic (``derandomize``) and bounded: ``FUZZ_RECORD_EXAMPLES``.
"""

import asyncio
import json
import os
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from careers_contracts import TOPICS, DeadLetter, ProfileSubmission, ProfileSubmitted
from careers_runtime.broker import create_broker
from careers_runtime.codec import (
    EventValidationError,
    Incoming,
    Outgoing,
    PermanentError,
    decode,
    decode_headers,
    encode,
)
from careers_runtime.delivery import RETRY_HEADERS, EventConsumer
from careers_runtime.delivery.retries import parse_history, retry_origin
from careers_runtime.settings import ServiceSettings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FUZZ_RECORD_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same cases every run: a failure reproduces
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
TOPIC = TOPICS.profile_submitted
GROUP = "fuzz"
RAN: dict[str, int] = {}


def _valid_value(summary: str = "fuzz") -> bytes:
    payload = ProfileSubmitted(
        job_id="job-fuzz",
        user_id="u",
        submitted_at=datetime(2026, 1, 1, tzinfo=UTC),
        profile=ProfileSubmission(summary=summary),
    )
    value, _ = encode(Outgoing(TOPIC, payload, "evt-fuzz"), "fuzz")
    return value


VALID = json.loads(_valid_value())

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_doc = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@st.composite
def mutated_envelope(draw: st.DrawFn) -> bytes:
    """The valid envelope with one field replaced, dropped or nested wrongly."""
    doc = json.loads(json.dumps(VALID))
    where = draw(st.sampled_from(["envelope", "data", "profile"]))
    target = {"envelope": doc, "data": doc["data"], "profile": doc["data"]["profile"]}[where]
    key = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[key]
    else:
        target[key] = draw(json_doc)
    return json.dumps(doc, allow_nan=True).encode()


hostile_values = st.one_of(
    st.none(),
    st.binary(max_size=200),
    json_doc.map(lambda d: json.dumps(d, allow_nan=True).encode()),
    mutated_envelope(),
    st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n + b"]" * (n % 3)),
    st.integers(min_value=4000, max_value=20_000).map(lambda n: b'{"id": ' + b"7" * n + b"}"),
    st.binary(min_size=1, max_size=20).map(lambda b: b'{"id": "' + b + b'"}'),
)

VALID_SENTINEL = b"<a valid event>"
values = st.one_of(st.just(VALID_SENTINEL), hostile_values)  # about half valid

header_value = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda n: str(n).encode()),
    st.sampled_from([b"", b"0", b"1", b"-1", b" 2 ", b"9" * 5000, b"[" * 5000, b"[]", b"[{}]"]),
    st.just(TOPIC.name.encode()),
)
header_name = st.one_of(
    st.sampled_from([*RETRY_HEADERS, "ce_id", "traceparent"]), st.text(max_size=10)
)
garbled_headers = st.lists(st.tuples(header_name, header_value), max_size=8)
retry_headers = st.fixed_dictionaries(
    {
        "x-original-topic": st.sampled_from([TOPIC.name.encode(), b"careers.other.v1"]),
        "x-original-partition": st.integers(0, 5).map(lambda n: str(n).encode()),
        "x-original-offset": st.integers(0, 10**6).map(lambda n: str(n).encode()),
        "x-retry-attempt": st.integers(1, 6).map(lambda n: str(n).encode()),
        "x-retry-not-before-ms": st.just(b"0"),
        "x-retry-history": st.sampled_from([b"[]", b'[{"attempt": 1}]', b"[[[", b"{}"]),
    }
).map(lambda d: list(d.items()))
headers = st.one_of(garbled_headers, retry_headers, st.just([]))


class RecordingBroker:
    """Stands in for the Kafka broker: records what the policy publishes."""

    class config:  # mimics KafkaBroker.config.producer for started_producer()
        producer = None

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, value: bytes, *, topic: str, **_: Any) -> Any:
        self.published.append((topic, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _consumer() -> tuple[EventConsumer, list[str]]:
    handled: list[str] = []

    async def handler(event: Incoming[Any]) -> list[Outgoing]:
        handled.append(event.job_id)
        summary = event.payload.profile.summary
        if summary.startswith("p"):
            raise PermanentError("refused")
        if summary.startswith("t"):
            raise RuntimeError("transient")
        return []

    s = ServiceSettings(service_name="fuzz", retry_backoff_max_s=0.001, retry_backoff_base_s=0.001)
    consumer = EventConsumer(create_broker(s), s, group=GROUP, routes={TOPIC: handler})
    return consumer, handled


@FUZZ
@given(
    value=values,
    raw_headers=headers,
    key=st.one_of(st.just(b"job-fuzz"), st.none(), st.binary(max_size=20)),
    from_retry=st.booleans(),
    summary=st.sampled_from(["fine", "permanent", "transient"]),
)
def test_every_record_is_handled_retried_or_dead_lettered(
    value: bytes | None,
    raw_headers: list[tuple[str, bytes | None]],
    key: bytes | None,
    from_retry: bool,
    summary: str,
) -> None:
    if value == VALID_SENTINEL:
        value = _valid_value(summary)
    consumer, handled = _consumer()
    broker = RecordingBroker()
    consumer.broker = broker  # type: ignore[assignment]
    topic = consumer.retry_topic.name if from_retry else TOPIC.name
    record = ConsumerRecord(
        topic, 0, 42, 0, 0, key, value, None, 0, len(value or b""), tuple(raw_headers)
    )
    asyncio.run(consumer.process_record(record, from_retry=from_retry))  # must not raise

    dead = [v for t, v in broker.published if t == consumer.dead_letter_topic.name]
    retried = [v for t, v in broker.published if t == consumer.retry_topic.name]
    outcome = "dead-lettered" if dead else "retried" if retried else "handled"
    RAN[outcome] = RAN.get(outcome, 0) + 1
    assert len(dead) + len(retried) <= 1, "one outcome per record"
    if dead:
        letter = DeadLetter.model_validate_json(dead[0])
        assert letter.error_message and len(dead[0]) < 1024 * 1024
    if outcome == "handled":
        assert handled, "a record neither handled nor dead-lettered"


@FUZZ
@given(value=values)
def test_decode_raises_only_validation_errors(value: bytes | None) -> None:
    if value == VALID_SENTINEL:
        value = _valid_value()
    try:
        decode(value, TOPIC)
    except EventValidationError as exc:
        reason = str(exc)
    else:
        reason = "valid"
    assert reason


@FUZZ
@given(raw_headers=headers)
def test_header_parsing_never_raises(raw_headers: list[tuple[str, bytes | None]]) -> None:
    parsed = decode_headers(raw_headers)
    origin = retry_origin(parsed)
    assert isinstance(origin, str) or (origin.partition >= 0 and origin.attempt >= 1)
    assert isinstance(parse_history(parsed.get("x-retry-history")), list)


def test_zz_report_cases() -> None:
    """Prints how many fuzzed records ended which way (docs/testing.md quotes it)."""
    print(f"record fuzzer: {EXAMPLES} examples per property; process_record outcomes {RAN}")
