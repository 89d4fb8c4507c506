"""careers-dlq: inspect and replay dead letters, and show consumer lag.

    careers-dlq list   [--group G] [--job J] [--since 2h] [--error-class C] [--limit N]
    careers-dlq show   --group G --offset N
    careers-dlq replay --group G [--job J] [--error-class C] [--offset N] [--dry-run]
    careers-dlq lag    [--group G]

The broker comes from --bootstrap or KAFKA_BOOTSTRAP_SERVERS; TLS and SASL from the
same KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* variables as the services. Reading
never commits offsets (the CLI has no consumer group). Exit codes: 0 done, 1 nothing found
(show), 2 usage error, 69 Kafka unreachable (EX_UNAVAILABLE), 70 another Kafka error. Replay re-publishes each dead letter's original
value, key and headers to its original topic, with ``x-replayed-from`` naming the dead
letter; consumers are idempotent, so replaying something that already succeeded is safe.
Replay writes only where the record belonged: a topic of the registry that the dead
letter's group consumes. A dead letter naming any other topic (a forged
``x-original-topic`` on a retry record, a letter of another group) is refused with the
reason and nothing is replayed (exit 65); retry headers are never replayed.
"""

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import re
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from careers_contracts import TOPICS, DeadLetter
from careers_contracts.topics import ConsumerGroup, dead_letter_topic
from pydantic import ValidationError

from careers_runtime._aiokafka_adapter import refresh_metadata
from careers_runtime.delivery.retries import RETRY_HEADERS
from careers_runtime.delivery.salvage import SafeFetch
from careers_runtime.kafka_client import (
    as_kafka_settings,
    explain_kafka_failure,
    kafka_client_kwargs,
    producer_kwargs,
)
from careers_runtime.settings import KafkaSettings

DLQ_GROUPS = tuple(g for g in ConsumerGroup.ALL if g != ConsumerGroup.INGEST)
EX_UNAVAILABLE = 69  # sysexits.h: the broker cannot be reached
EX_SOFTWARE = 70
EX_DATAERR = 65  # sysexits.h: a dead letter names a topic its group does not consume


async def _start(client: Any) -> None:
    """Start an aiokafka client; close it again if that fails (no "Unclosed" warnings)."""
    try:
        await client.start()
    except BaseException:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
        raise


@dataclass(frozen=True)
class StoredLetter:
    group: str
    offset: int
    letter: DeadLetter


@dataclass
class Scan:
    """What a scan kept (oldest first) and how many records it read to get them."""

    letters: list[StoredLetter]
    read: int = 0


Keep = Callable[[StoredLetter], bool]
SCAN_FETCH_BYTES = 512 * 1024


async def scan_dead_letters(
    kafka: str | KafkaSettings,
    group: str,
    *,
    keep: Keep | None = None,
    job: str | None = None,
    since: datetime | None = None,
    newest: int | None = None,
    tail: bool = False,
) -> Scan:
    """Stream ``group``'s dead-letter topic, filtering while reading: ``job`` by the
    record's key (before its JSON is parsed), ``since`` by the record's timestamp, then
    ``keep``. ``newest``: keep only the newest N matches (memory stays flat however large
    the topic). ``tail``: with no filter, read only the last ``newest`` records of each
    partition (at most what is printed, per partition). Unreadable records are skipped."""
    topic = dead_letter_topic(group).name
    consumer = AIOKafkaConsumer(
        **kafka_client_kwargs(as_kafka_settings(kafka)),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # What one fetch may bring in: with the newest-N window, the scan's memory.
        fetch_max_bytes=SCAN_FETCH_BYTES,
        max_partition_fetch_bytes=SCAN_FETCH_BYTES,
    )
    await _start(consumer)
    kept: deque[StoredLetter] = deque(maxlen=newest)
    scan = Scan([])
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await refresh_metadata(consumer)
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return scan
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        if tail and newest is not None:
            starts = await consumer.beginning_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(starts[tp], ends[tp] - newest))
        else:
            await consumer.seek_to_beginning(*tps)
        if since is not None:  # where the broker can tell, start at the first newer record
            with contextlib.suppress(Exception):
                found = await consumer.offsets_for_times(
                    {tp: int(since.timestamp() * 1000) for tp in tps}
                )
                for tp, at in found.items():
                    if at is not None and at.offset > await consumer.position(tp):
                        consumer.seek(tp, at.offset)
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        job_key = job.encode() if job is not None else None
        fetch = SafeFetch(consumer, group=False)
        idle = 0
        while idle < 3:
            batch = await fetch.getmany(timeout_ms=300, max_records=500)
            if not batch.records:
                idle += 1
            else:
                idle = 0
            for records in batch.records.values():
                scan.read += len(records)
                for record in records:
                    if job_key is not None and record.key != job_key:
                        continue
                    if since_ms is not None and record.timestamp < since_ms:
                        continue
                    try:
                        letter = DeadLetter.model_validate_json(record.value or b"")
                    except ValueError:
                        continue
                    item = StoredLetter(group, record.offset, letter)
                    if keep is None or keep(item):
                        kept.append(item)
            # The embedded broker under-reports end offsets; read until idle instead
            # of trusting them, but stop early when they are reached on real Kafka.
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)) and ends:
                idle += 1
        scan.letters = sorted(kept, key=lambda s: s.offset)
        return scan
    finally:
        await consumer.stop()


async def read_dead_letters(kafka: str | KafkaSettings, group: str) -> list[StoredLetter]:
    """Every dead letter currently retained for ``group``, oldest first."""
    return (await scan_dead_letters(kafka, group)).letters


def _matches(item: StoredLetter, args: argparse.Namespace) -> bool:
    letter = item.letter
    if getattr(args, "job", None) and letter.job_id != args.job:
        return False
    if getattr(args, "error_class", None) and letter.error_class != args.error_class:
        return False
    return not (getattr(args, "offset", None) is not None and item.offset != args.offset)


def _filtered(args: argparse.Namespace) -> bool:
    return any(
        getattr(args, name, None) is not None for name in ("job", "error_class", "offset", "since")
    )


async def _select(args: argparse.Namespace, newest: int | None = None) -> Scan:
    groups = [args.group] if args.group else list(DLQ_GROUPS)
    found = Scan([])
    for group in groups:
        scan = await scan_dead_letters(
            args.kafka,
            group,
            keep=lambda s: _matches(s, args),
            job=getattr(args, "job", None),
            since=getattr(args, "since", None),
            newest=newest,
            tail=newest is not None and not _filtered(args),
        )
        found.letters += scan.letters
        found.read += scan.read
    return found


async def cmd_list(args: argparse.Namespace) -> int:
    scan = await _select(args, newest=args.limit)
    letters = scan.letters[-args.limit :]
    if not letters:
        print(f"no dead letters ({scan.read} record(s) read)")
        return 0
    print(f"{'GROUP':<17} {'OFFSET':>6}  {'CLASS':<10} {'JOB':<38} {'TOPIC':<32} ERROR")
    for s in letters:
        letter = s.letter
        error = f"{letter.error_type}: {letter.error_message}".replace("\n", " ")[:80]
        print(
            f"{s.group:<17} {s.offset:>6}  {letter.error_class:<10} {letter.job_id or '-':<38} "
            f"{letter.original_topic:<32} {error}"
        )
    print(f"{len(letters)} dead letter(s) ({scan.read} record(s) read)")
    return 0


async def cmd_show(args: argparse.Namespace) -> int:
    letters = (await _select(args)).letters
    if not letters:
        print(f"no dead letter at offset {args.offset} for {args.group}", file=sys.stderr)
        return 1
    for s in letters:
        print(json.dumps(s.letter.model_dump(mode="json"), indent=2))
    return 0


def replay_refusal(item: StoredLetter) -> str | None:
    """Why ``item`` must not be replayed, or None: it may only go back to a registry topic
    its own group consumes (the topic comes from the record's headers, which anyone able
    to write the consumed or retry topic could forge)."""
    letter = item.letter
    if letter.consumer_group != item.group:
        return (
            f"it names group {letter.consumer_group[:100]!r} but was read from "
            f"{dead_letter_topic(item.group).name}"
        )
    allowed = [t.name for t in TOPICS.business_topics() if item.group in t.consumers]
    if letter.original_topic not in allowed:
        return (
            f"its original topic {letter.original_topic[:200]!r} is not one that "
            f"{item.group} consumes ({', '.join(allowed) or 'none in the registry'})"
        )
    return None


async def cmd_replay(args: argparse.Namespace) -> int:
    letters = (await _select(args)).letters
    if not letters:
        print("nothing to replay")
        return 0
    refused = [(s, reason) for s in letters if (reason := replay_refusal(s)) is not None]
    if refused:
        for s, reason in refused:
            print(
                f"careers-dlq: refusing to replay {s.group}@{s.offset}: {reason}", file=sys.stderr
            )
        print(
            "careers-dlq: nothing replayed; select the others with --offset or --job",
            file=sys.stderr,
        )
        return EX_DATAERR
    producer = AIOKafkaProducer(**producer_kwargs(args.kafka))
    if not args.dry_run:
        await _start(producer)
    try:
        for s in letters:
            letter = s.letter
            value = (
                base64.b64decode(letter.original_value)
                if letter.value_encoding == "base64"
                else letter.original_value.encode()
            )
            # Retry headers are the policy's own: a replayed record starts afresh.
            headers = [
                (k, v.encode())
                for k, v in letter.original_headers.items()
                if k not in RETRY_HEADERS and k != "x-replayed-from"
            ]
            headers.append(
                ("x-replayed-from", f"{dead_letter_topic(s.group).name}@{s.offset}".encode())
            )
            action = "would replay" if args.dry_run else "replayed"
            if not args.dry_run:
                await producer.send_and_wait(
                    letter.original_topic,
                    value=value,
                    key=letter.original_key.encode() if letter.original_key else None,
                    headers=headers,
                )
            print(f"{action} {s.group}@{s.offset} -> {letter.original_topic} (job {letter.job_id})")
    finally:
        if not args.dry_run:
            await producer.stop()
    print(f"{len(letters)} record(s) {'to replay' if args.dry_run else 'replayed'}")
    return 0


def _topics_of(group: str) -> list[str]:
    base = group.removesuffix("-retry")
    if group.endswith("-retry"):
        return [f"careers.{base}.retry.v1"]
    return [t.name for t in TOPICS.business_topics() if base in t.consumers]


async def consumer_lag(
    kafka: str | KafkaSettings, groups: Sequence[str], topics: Sequence[str] = ()
) -> list[tuple[str, str, int, int, int]]:
    """(group, topic, partition, committed, lag) for each partition of each group's topics."""
    client = kafka_client_kwargs(as_kafka_settings(kafka))
    admin = AIOKafkaAdminClient(**client)
    await _start(admin)
    consumer = AIOKafkaConsumer(**client, enable_auto_commit=False)
    try:
        await _start(consumer)
    except BaseException:
        await admin.close()
        raise
    rows = []
    try:
        for group in groups:
            tps = []
            for topic in topics or _topics_of(group):
                partitions = consumer.partitions_for_topic(topic)
                if partitions is None:
                    await refresh_metadata(consumer)
                    partitions = consumer.partitions_for_topic(topic) or set()
                tps += [TopicPartition(topic, p) for p in sorted(partitions)]
            if not tps:
                continue
            # Pass partitions explicitly: without them the embedded broker drops the
            # connection (see docs/architecture.md, "broker facts").
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                meta = committed.get(tp)
                offset = meta.offset if meta is not None and meta.offset >= 0 else 0
                rows.append((group, tp.topic, tp.partition, offset, max(0, ends[tp] - offset)))
    finally:
        # aiokafka's group-less consumer re-raises its own task's cancellation on stop
        # when it never had an assignment; nothing is left running either way.
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
        await admin.close()
    return rows


async def cmd_lag(args: argparse.Namespace) -> int:
    groups = [args.group] if args.group else [g for g in ConsumerGroup.ALL if g != "ingest"]
    rows = await consumer_lag(args.kafka, groups, args.topic or ())
    print(f"{'GROUP':<22} {'TOPIC':<34} {'PART':>4} {'COMMITTED':>10} {'LAG':>6}")
    for group, topic, partition, committed, lag in rows:
        print(f"{group:<22} {topic:<34} {partition:>4} {committed:>10} {lag:>6}")
    print(f"total lag {sum(r[4] for r in rows)}")
    return 0


def _whole_number(minimum: int, rule: str) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum`` (``rule`` says so)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {rule}, not {value}")
        return value

    return parse


_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _since(text: str) -> datetime:
    """An argparse type: ``30m``/``2h``/``7d`` ago, or an ISO 8601 time (UTC if naive)."""
    duration = _DURATION.fullmatch(text.strip())
    if duration:
        seconds = int(duration.group(1)) * _UNIT_S[duration.group(2)]
        return datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration (30m, 2h, 7d) or an ISO 8601 time: {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_positive_int = _whole_number(1, "at least 1")
_offset = _whole_number(0, "0 or more")


def _version() -> str:
    try:
        return version("careers-runtime")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="careers-dlq",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--bootstrap", help="host:port list (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def filters(p: argparse.ArgumentParser, *, group_required: bool = False) -> None:
        p.add_argument(
            "--group",
            required=group_required,
            help="consumer group whose dead letters to read"
            + (" (required)" if group_required else " (default: every group)")
            + f"; one of {', '.join(DLQ_GROUPS)}",
        )
        p.add_argument("--job", help="only this job id")
        p.add_argument(
            "--since",
            type=_since,
            help="only dead letters written since then: 30m, 2h, 7d, or an ISO 8601 time",
        )
        p.add_argument(
            "--error-class", choices=["validation", "permanent", "transient", "exhausted"]
        )

    p_list = sub.add_parser("list", help="list dead letters")
    filters(p_list)
    p_list.add_argument(
        "--limit", type=_positive_int, default=100, help="show the newest N (default 100)"
    )
    p_show = sub.add_parser("show", help="print one dead letter in full")
    filters(p_show, group_required=True)
    p_show.add_argument("--offset", type=_offset, required=True)
    p_replay = sub.add_parser("replay", help="re-publish dead letters to their original topic")
    filters(p_replay, group_required=True)
    p_replay.add_argument("--offset", type=_offset, help="only the dead letter at this offset")
    p_replay.add_argument("--dry-run", action="store_true")
    p_lag = sub.add_parser("lag", help="consumer lag per group and partition")
    p_lag.add_argument("--group", help="one consumer group (default: every service's)")
    p_lag.add_argument(
        "--topic",
        action="append",
        help="topic(s) to report (default: the group's topics in the registry)",
    )
    return parser


COMMANDS = {"list": cmd_list, "show": cmd_show, "replay": cmd_replay, "lag": cmd_lag}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The client logs every failed connection attempt; the CLI reports the outcome itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        args.kafka = as_kafka_settings(args.bootstrap) if args.bootstrap else KafkaSettings()
    except ValidationError as exc:
        # Names the variable; hide_input_in_errors keeps passwords out of the message.
        print(f"careers-dlq: invalid Kafka settings: {exc}", file=sys.stderr)
        return 2
    where = args.kafka.kafka_bootstrap_servers
    try:
        return asyncio.run(COMMANDS[args.command](args))
    except (OSError, ConnectionError, KafkaConnectionError):
        reason = asyncio.run(explain_kafka_failure(args.kafka))
        print(f"careers-dlq: cannot reach Kafka at {where}: {reason}", file=sys.stderr)
        return EX_UNAVAILABLE
    except Exception as exc:
        if type(exc).__module__.startswith("aiokafka"):
            print(f"careers-dlq: Kafka error at {where}: {exc!r}", file=sys.stderr)
            return EX_SOFTWARE
        raise


if __name__ == "__main__":
    sys.exit(main())
