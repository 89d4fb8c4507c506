"""careers-dlq against the real broker: list, show, replay and lag."""

import asyncio
import json
import re
import subprocess
import sys
import tracemalloc
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from careers_contracts import TOPICS, DeadLetter, ProfileSubmission, ProfileSubmitted
from careers_contracts.topics import ConsumerGroup, dead_letter_topic, retry_topic
from careers_runtime._aiokafka_adapter import refresh_metadata
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing, PermanentError
from careers_runtime.delivery import EventConsumer, publish
from careers_runtime.dlq_cli import main, read_dead_letters, scan_dead_letters
from careers_runtime.settings import ServiceSettings
from careers_runtime.topics_admin import ensure_topics
from careers_tools.testing.polling import eventually

pytestmark = pytest.mark.broker


async def test_dead_letter_can_be_listed_inspected_and_replayed(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A group of the registry that consumes profile.submitted: replay writes only to a
    # topic its group consumes (its dead letters from other tests are told apart by job).
    group = ConsumerGroup.ORCHESTRATOR
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    forged_job = f"job-{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        kafka_bootstrap, [retry_topic(group), dead_letter_topic(group), TOPICS.recommendations]
    )
    handled: list[str] = []
    broken = {"on": True}

    async def handler(event: Incoming[ProfileSubmitted]) -> list[Outgoing]:
        if event.job_id != job_id:
            return []
        if broken["on"]:
            raise PermanentError("profile rejected by policy")
        handled.append(event.event_id)
        return []

    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        service_name="dlq-test",
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
    )
    broker = create_broker(settings)
    consumer = EventConsumer(
        broker, settings, group=group, routes={TOPICS.profile_submitted: handler}
    )
    await broker.start()
    await consumer.start()
    try:
        payload = ProfileSubmitted(
            job_id=job_id,
            user_id="user_dlq",
            submitted_at=datetime.now(UTC),
            profile=ProfileSubmission(summary="Dead letter test"),
        )
        await publish(broker, Outgoing(TOPICS.profile_submitted, payload, f"evt-{job_id}"), "test")

        async def dead() -> list:
            return await read_dead_letters(kafka_bootstrap, group)

        async def mine() -> list:
            # A new group reads the topic from the start: other tests' bad records may
            # be dead-lettered here too; this test looks at its own job only.
            return [s for s in await dead() if s.letter.job_id == job_id]

        letters = await eventually(mine, interval_s=0.3)
        assert len(letters) == 1 and letters[0].letter.error_class == "permanent"

        code = await asyncio.to_thread(
            main, ["--bootstrap", kafka_bootstrap, "list", "--group", group]
        )
        out = capsys.readouterr().out
        assert code == 0 and job_id in out and "profile rejected by policy" in out

        offset = letters[0].offset
        code = await asyncio.to_thread(
            main,
            ["--bootstrap", kafka_bootstrap, "show", "--group", group, "--offset", str(offset)],
        )
        shown = json.loads(capsys.readouterr().out)
        assert code == 0 and shown["jobId"] == job_id and shown["errorType"] == "PermanentError"

        # Fix the cause, then replay by job: the consumer now succeeds on the same event.
        broken["on"] = False
        code = await asyncio.to_thread(
            main, ["--bootstrap", kafka_bootstrap, "replay", "--group", group, "--job", job_id]
        )
        assert code == 0 and "1 record(s) replayed" in capsys.readouterr().out

        async def replayed() -> bool:
            return handled == [f"evt-{job_id}"]

        assert await eventually(replayed, interval_s=0.3), (
            "the replayed record reached the handler once"
        )

        # A retry record whose headers name a topic the group does not consume (issue 25:
        # a forged RecommendationsReady replayed onto another user's results).
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(
                retry_topic(group).name,
                b'{"forged": true}',
                key=forged_job.encode(),
                headers=[
                    ("x-original-topic", TOPICS.recommendations.name.encode()),
                    ("x-original-partition", b"0"),
                    ("x-original-offset", b"0"),
                    ("x-retry-attempt", b"2"),
                    ("x-retry-not-before-ms", b"0"),
                ],
            )
        finally:
            await producer.stop()

        async def forged() -> list:
            return [s for s in await dead() if s.letter.job_id == forged_job]

        forged_letters = await eventually(forged, interval_s=0.3)
        assert forged_letters[0].letter.original_topic == TOPICS.recommendations.name
        ends_before = await _ends(kafka_bootstrap, TOPICS.recommendations.name)
        code = await asyncio.to_thread(
            main, ["--bootstrap", kafka_bootstrap, "replay", "--group", group, "--job", forged_job]
        )
        err = capsys.readouterr().err
        assert code == 65, err
        assert "refusing to replay" in err and "not one that orchestrator consumes" in err
        assert await _ends(kafka_bootstrap, TOPICS.recommendations.name) == ends_before
    finally:
        await consumer.stop()
        await broker.stop()

    code = await asyncio.to_thread(
        main,
        [
            "--bootstrap",
            kafka_bootstrap,
            "lag",
            "--group",
            group,
            "--topic",
            TOPICS.profile_submitted.name,
        ],
    )
    out = capsys.readouterr().out
    assert code == 0 and TOPICS.profile_submitted.name in out and "total lag" in out


async def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await refresh_metadata(consumer)
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: end for tp, end in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


def test_unreachable_broker_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--bootstrap", "127.0.0.1:1", "list"])
    assert code == 69  # EX_UNAVAILABLE; 2 is for usage errors
    assert "cannot reach Kafka at 127.0.0.1:1" in capsys.readouterr().err


def test_unreachable_broker_leaves_no_unclosed_client() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-m", "careers_runtime.dlq_cli"]
        + ["--bootstrap", "127.0.0.1:1", "lag"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 69, result.stderr
    assert "Unclosed" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("limit", ["0", "-2", "x"])
def test_limit_must_be_positive(limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["list", "--limit", limit])
    assert exited.value.code == 2
    assert "--limit" in capsys.readouterr().err


def test_help_is_honest_and_version_exists(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(required)" in help_text and "default: every group" not in help_text
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("careers-dlq ")


async def test_list_streams_a_large_dead_letter_topic(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``list --limit N`` reads at most N records per partition; filters apply while
    reading and memory stays flat however many dead letters the topic holds."""
    group = f"dlq-big-{uuid.uuid4().hex[:8]}"
    topic = dead_letter_topic(group)
    await ensure_topics(kafka_bootstrap, [topic])
    count, value_bytes = 1500, 8 * 1024
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=20)
    await producer.start()
    try:
        sends = []
        for i in range(count):
            letter = DeadLetter(
                original_topic=TOPICS.profile_submitted.name,
                original_partition=0,
                original_offset=i,
                original_key=f"job-{i}",
                original_value="v" * value_bytes,
                value_encoding="utf-8",
                original_headers={},
                consumer_group=group,
                error_type="PermanentError",
                error_message="refused",
                error_class="permanent" if i % 2 else "validation",
                attempts=[],
                job_id=f"job-{i}",
                failed_at=datetime.now(UTC),
            )
            sends.append(
                await producer.send(
                    topic.name,
                    letter.model_dump_json(by_alias=True).encode(),
                    key=f"job-{i}".encode(),
                )
            )
        await asyncio.gather(*sends)
    finally:
        await producer.stop()

    code = await asyncio.to_thread(
        main, ["--bootstrap", kafka_bootstrap, "list", "--group", group, "--limit", "5"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "5 dead letter(s)" in out, out
    read = int(re.findall(r"\((\d+) record\(s\) read\)", out)[-1])
    assert 5 <= read <= 5 * topic.partitions, out
    assert f"job-{count - 1}" in out  # the newest

    code = await asyncio.to_thread(
        main,
        [
            "--bootstrap",
            kafka_bootstrap,
            "list",
            "--group",
            group,
            "--job",
            "job-7",
            "--since",
            "1h",
        ],
    )
    out = capsys.readouterr().out
    assert code == 0 and "1 dead letter(s)" in out and "job-7 " in out, out

    def peak_bytes(**options: object) -> int:
        tracemalloc.start()
        try:
            asyncio.run(scan_dead_letters(kafka_bootstrap, group, **options))  # type: ignore[arg-type]
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    stored = count * value_bytes  # what keeping every letter would hold, at least
    flat = await asyncio.to_thread(
        peak_bytes, keep=lambda s: s.letter.error_class == "permanent", newest=5
    )
    everything = await asyncio.to_thread(peak_bytes)
    # Flat: a few fetches' worth, not the topic (keeping everything holds it all).
    assert flat < stored / 3 and flat < everything / 3, (flat, everything, stored)
