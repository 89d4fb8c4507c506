"""The topic registry: the one place topic names, keys, partitions and owners are defined.

Services look topics up here (``TOPICS.profile_submitted.name``) instead of hard-coding
names, the embedded broker launcher and deploy/ create them from it, and docs are
generated from it.
"""

from dataclasses import dataclass, field, fields
from datetime import timedelta

from careers_contracts.base import ContractModel
from careers_contracts.events import (
    AgentOutput,
    AnalysisCompleted,
    AnalysisRequested,
    DeadLetter,
    JobStatusChanged,
    MatchCompleted,
    MatchRequested,
    ProfileSubmitted,
    RecommendationsReady,
)

# Kafka's default max.message.bytes is ~1 MiB and the embedded broker enforces no limit,
# so producers enforce ours (careers_runtime.codec.encode, EventTooLargeError) to behave
# the same everywhere.
MAX_EVENT_BYTES = 900 * 1024

DAY_MS = int(timedelta(days=1).total_seconds() * 1000)


class ConsumerGroup:
    """Consumer group ids, one per consuming service (scaled per topic by KEDA)."""

    ORCHESTRATOR = "orchestrator"
    PROFILE_ANALYZER = "profile-analyzer"
    CAREER_MATCHER = "career-matcher"
    CONVEX_SYNC = "convex-sync"
    INGEST = "ingest"

    ALL: tuple[str, ...] = (ORCHESTRATOR, PROFILE_ANALYZER, CAREER_MATCHER, CONVEX_SYNC, INGEST)


@dataclass(frozen=True)
class Topic:
    name: str
    payload: type[ContractModel]
    description: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    key: str = "jobId"
    partitions: int = 6
    retention_ms: int = 7 * DAY_MS
    config: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def event_type(self) -> str:
        """CloudEvents ``type``: the topic name without its version suffix."""
        return self.name.rsplit(".", 1)[0]

    @property
    def version(self) -> int:
        return int(self.name.rsplit(".v", 1)[1])


def retry_topic(group: str) -> Topic:
    """Where a group's failed records wait for their next attempt (delay in headers)."""
    return Topic(
        name=f"careers.{group}.retry.v1",
        payload=ContractModel,
        description=f"Records {group} failed on, re-consumed by {group} after a backoff",
        producers=(group,),
        consumers=(group,),
        partitions=6,
        retention_ms=7 * DAY_MS,
    )


def dead_letter_topic(group: str) -> Topic:
    return Topic(
        name=f"careers.{group}.dead-letter.v1",
        payload=DeadLetter,
        description=f"Records {group} gave up on, with error and attempt history",
        producers=(group,),
        consumers=("careers-dlq (CLI)",),
        partitions=1,
        retention_ms=30 * DAY_MS,
    )


@dataclass(frozen=True)
class TopicRegistry:
    profile_submitted: Topic = Topic(
        name="careers.profile.submitted.v1",
        payload=ProfileSubmitted,
        description="A signed-in user submitted a profile; starts a job",
        producers=("ingest",),
        # Ingest's replicas read it too: each derives a job's "queued" status from it, so a
        # job accepted through one replica is visible through every other.
        consumers=(ConsumerGroup.ORCHESTRATOR, ConsumerGroup.INGEST),
    )
    analysis_requested: Topic = Topic(
        name="careers.analysis.requested.v1",
        payload=AnalysisRequested,
        description="The orchestrator asks the profile analyzer to analyse a profile",
        producers=("orchestrator",),
        consumers=(ConsumerGroup.PROFILE_ANALYZER,),
    )
    analysis_completed: Topic = Topic(
        name="careers.analysis.completed.v1",
        payload=AnalysisCompleted,
        description="The profile analyzer's structured analysis",
        producers=("profile-analyzer",),
        consumers=(ConsumerGroup.ORCHESTRATOR,),
    )
    match_requested: Topic = Topic(
        name="careers.match.requested.v1",
        payload=MatchRequested,
        description="The orchestrator asks the career matcher to rank occupations",
        producers=("orchestrator",),
        consumers=(ConsumerGroup.CAREER_MATCHER,),
    )
    match_completed: Topic = Topic(
        name="careers.match.completed.v1",
        payload=MatchCompleted,
        description="The career matcher's ranked occupations",
        producers=("career-matcher",),
        consumers=(ConsumerGroup.ORCHESTRATOR,),
    )
    agent_outputs: Topic = Topic(
        name="careers.agent-output.recorded.v1",
        payload=AgentOutput,
        description="One agent run, written to Convex agentOutputs",
        producers=("profile-analyzer", "career-matcher"),
        consumers=(ConsumerGroup.CONVEX_SYNC,),
    )
    recommendations: Topic = Topic(
        name="careers.recommendations.ready.v1",
        payload=RecommendationsReady,
        description="A job's final result, written to Convex careerRecommendations",
        producers=("orchestrator",),
        consumers=(ConsumerGroup.CONVEX_SYNC,),
    )
    job_status: Topic = Topic(
        name="careers.job-status.changed.v1",
        payload=JobStatusChanged,
        description="Job progress; ingest serves it as job status and Server-Sent Events",
        producers=("orchestrator",),
        consumers=(ConsumerGroup.INGEST,),
        retention_ms=2 * DAY_MS,
    )

    def business_topics(self) -> list[Topic]:
        """Every topic declared above, in declaration order: a topic added as a field is in
        the schemas, ``deploy/topics.json``, AsyncAPI and KEDA without another edit."""
        declared = (getattr(self, f.name) for f in fields(self))
        return [topic for topic in declared if isinstance(topic, Topic)]

    def all_topics(self) -> list[Topic]:
        groups = [g for g in ConsumerGroup.ALL if g != ConsumerGroup.INGEST]
        return (
            self.business_topics()
            + [retry_topic(g) for g in groups]
            + [dead_letter_topic(g) for g in groups]
        )

    def by_name(self, name: str) -> Topic:
        for topic in self.all_topics():
            if topic.name == name:
                return topic
        raise KeyError(f"unknown topic {name!r}")


TOPICS = TopicRegistry()
