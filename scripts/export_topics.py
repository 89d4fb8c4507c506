"""Export the topic registry for deploy/ and docs: ``deploy/topics.json`` and the topics table.

The registry (``careers_contracts.TOPICS``) is the one source of topic names, partitions
and retention. Platform teams that provision topics with their own tooling read
``deploy/topics.json``; ``docs/operations.md`` shows the same data as a table between
``<!-- topics:begin -->`` and ``<!-- topics:end -->``. Both are generated, never hand-edited.

    python scripts/export_topics.py           # write both
    python scripts/export_topics.py --check   # exit 1 if either drifted (run by the tests)
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from careers_contracts import TOPICS
from careers_contracts.topics import ConsumerGroup, Topic

ROOT = Path(__file__).resolve().parents[1]
TOPICS_JSON = ROOT / "deploy" / "topics.json"
OPERATIONS_MD = ROOT / "docs" / "operations.md"
BEGIN, END = "<!-- topics:begin -->", "<!-- topics:end -->"


def _days(ms: int) -> str:
    days = ms / 86_400_000
    return f"{days:g} d"


def consumer_groups() -> dict[str, dict[str, list[str]]]:
    """Each consuming service's groups: its main group and ``<group>-retry``."""
    groups: dict[str, dict[str, list[str]]] = {}
    for group in ConsumerGroup.ALL:
        consumed = [t.name for t in TOPICS.business_topics() if group in t.consumers]
        entry = {group: consumed}
        retry = [t.name for t in TOPICS.all_topics() if t.name == f"careers.{group}.retry.v1"]
        if retry:
            entry[f"{group}-retry"] = retry
        groups[group] = entry
    return groups


def topic_row(topic: Topic) -> dict[str, Any]:
    return {
        "name": topic.name,
        "eventType": topic.event_type,
        "payload": topic.payload.__name__,
        "description": topic.description,
        "key": topic.key,
        "partitions": topic.partitions,
        "retentionMs": topic.retention_ms,
        "config": {"retention.ms": str(topic.retention_ms), **topic.config},
        "producers": list(topic.producers),
        "consumers": list(topic.consumers),
    }


def topics_document() -> dict[str, Any]:
    return {
        "generatedBy": "scripts/export_topics.py from careers_contracts.TOPICS; do not edit",
        "topics": [topic_row(t) for t in TOPICS.all_topics()],
        "consumerGroups": consumer_groups(),
    }


def topics_json() -> str:
    return json.dumps(topics_document(), indent=2) + "\n"


def topics_table() -> str:
    lines = [
        "| Topic | Partitions | Retention | Key | Producers | Consumers |",
        "| --- | ---: | ---: | --- | --- | --- |",
    ]
    for t in TOPICS.all_topics():
        lines.append(
            f"| `{t.name}` | {t.partitions} | {_days(t.retention_ms)} | `{t.key}` "
            f"| {', '.join(t.producers)} | {', '.join(t.consumers)} |"
        )
    return "\n".join(lines)


def render_operations(text: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{OPERATIONS_MD} lacks the {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{topics_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the files drifted")
    args = parser.parse_args(argv)
    wanted = {
        TOPICS_JSON: topics_json(),
        OPERATIONS_MD: render_operations(OPERATIONS_MD.read_text(encoding="utf-8")),
    }
    drifted = [
        path
        for path, text in wanted.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in drifted:
            print(f"drifted: {path.relative_to(ROOT)} (run: python scripts/export_topics.py)")
        return 1 if drifted else 0
    for path in drifted:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
