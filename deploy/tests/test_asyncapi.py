"""The AsyncAPI documents are current and cover the topic registry."""

import json

from careers_contracts import TOPICS

from .rendering import (
    ROOT,
    SERVICES,
    WORKER_GROUPS,
    load_script,
)


def test_asyncapi_documents_are_current_and_cover_the_registry() -> None:
    export_asyncapi = load_script("export_asyncapi")
    assert export_asyncapi.main(["--check"]) == 0, "run: python scripts/export_asyncapi.py"
    for service in SERVICES:
        doc = json.loads((ROOT / "docs" / "asyncapi" / f"{service}.json").read_text("utf-8"))
        assert doc["asyncapi"] == "3.0.0"
        received = {
            doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
            for op in doc["operations"].values()
            if op["action"] == "receive"
        }
        sent = {
            doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
            for op in doc["operations"].values()
            if op["action"] == "send"
        }
        consumed = {t.name for t in TOPICS.business_topics() if service in t.consumers}
        produced = {t.name for t in TOPICS.business_topics() if service in t.producers}
        if service in WORKER_GROUPS:
            consumed.add(f"careers.{service}.retry.v1")
            produced |= {f"careers.{service}.retry.v1", f"careers.{service}.dead-letter.v1"}
        assert received == consumed, service
        assert sent == produced, service
        for message in doc["components"]["messages"].values():
            ref = message["payload"]["$ref"].rsplit("/", 1)[-1]
            schema = doc["components"]["schemas"][ref]
            assert schema["type"] == "object" and schema["properties"], ref
