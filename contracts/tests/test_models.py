"""Contract models: camelCase on the wire, bounded fields, deterministic ids."""

import random
import uuid
from dataclasses import dataclass

import pytest
from careers_contracts import TOPICS, ProfileSubmission, derive_event_id
from careers_contracts.base import ContractModel
from careers_contracts.envelope import EVENT_ID_NAMESPACE
from careers_contracts.topics import ConsumerGroup, Topic, TopicRegistry, dead_letter_topic
from pydantic import ValidationError

PROFILE = {
    "summary": "Nurse with ten years in intensive care.",
    "skills": ["patient care", "Patient Care", "triage"],
    "experience": [
        {
            "title": "ICU Nurse",
            "organization": "General",
            "startDate": "2014-02",
            "endDate": None,
            "description": "Critical care.",
        }
    ],
    "education": [
        {"degree": "BSN", "field": "Nursing", "institution": "U", "graduationYear": 2013}
    ],
}


def test_profile_round_trips_in_camel_case() -> None:
    profile = ProfileSubmission.model_validate(PROFILE)
    dumped = profile.model_dump(mode="json")
    assert dumped["experience"][0]["startDate"] == "2014-02"
    assert dumped["education"][0]["graduationYear"] == 2013
    assert profile.skills == ["patient care", "triage"], "skills are de-duplicated"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"summary": "x" * 5001}, "summary"),
        ({"skills": ["s"] * 0 + [f"s{i}" for i in range(101)]}, "skills"),
        ({"experience": [{**PROFILE["experience"][0], "startDate": "2014-13"}]}, "startDate"),
        ({"experience": [{**PROFILE["experience"][0], "endDate": "2010-01"}]}, "experience"),
        ({"userId": "user_evil"}, "userId"),
    ],
)
def test_invalid_profiles_name_the_field(patch: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ProfileSubmission.model_validate({**PROFILE, **patch})
    locations = [".".join(map(str, e["loc"])) for e in info.value.errors()]
    assert any(field in loc for loc in locations), locations


def test_event_ids_are_deterministic() -> None:
    assert derive_event_id("a", "analysis") == derive_event_id("a", "analysis")
    assert derive_event_id("a", "analysis") != derive_event_id("a", "match")


def test_event_ids_are_the_uuid5_of_cause_and_step() -> None:
    """The fast derivation is exactly ``uuid.uuid5`` (ids already in Convex stay valid)."""
    rng = random.Random(5)
    steps = ["analysis", "match", "", "ñ/é", "x" * 300]
    for _ in range(5000):
        cause = str(uuid.UUID(int=rng.getrandbits(128)))
        step = rng.choice(steps)
        assert derive_event_id(cause, step) == str(
            uuid.uuid5(EVENT_ID_NAMESPACE, f"{cause}/{step}")
        )
    assert derive_event_id("a", "analysis") != derive_event_id("b", "analysis")


def test_registry_names_are_versioned_and_unique() -> None:
    names = [t.name for t in TOPICS.all_topics()]
    assert len(names) == len(set(names))
    for topic in TOPICS.business_topics():
        assert topic.name.startswith("careers.") and topic.name.endswith(".v1")
        assert topic.key == "jobId"
        assert topic.partitions >= 1
    assert TOPICS.by_name("careers.profile.submitted.v1") is TOPICS.profile_submitted
    assert dead_letter_topic(ConsumerGroup.CONVEX_SYNC).name in names


def test_business_topics_are_every_topic_the_registry_declares() -> None:
    """A topic added to the registry reaches the schemas, topics.json, AsyncAPI and KEDA."""
    declared = [v for v in vars(TOPICS).values() if isinstance(v, Topic)]
    assert TOPICS.business_topics() == declared
    assert len(declared) == 8

    @dataclass(frozen=True)
    class Grown(TopicRegistry):
        extra: Topic = Topic(  # noqa: RUF009 (frozen, as the registry's own fields)
            name="careers.extra.v1",
            payload=ContractModel,
            description="a throwaway topic",
            producers=("x",),
            consumers=("y",),
        )

    grown = Grown()
    assert grown.business_topics()[-1].name == "careers.extra.v1"
    assert grown.by_name("careers.extra.v1") is grown.extra
