"""Event and HTTP contracts shared by every service."""

from careers_contracts.analysis import (
    AnalysisFlag,
    NormalizedSkill,
    ProfileAnalysis,
    Recommendation,
    Wages,
)
from careers_contracts.base import ContractModel
from careers_contracts.envelope import Envelope, derive_event_id
from careers_contracts.events import (
    TERMINAL_STATES,
    AgentOutput,
    AnalysisCompleted,
    AnalysisRequested,
    DeadLetter,
    JobEvent,
    JobState,
    JobStatusChanged,
    MatchCompleted,
    MatchRequested,
    ProfileSubmitted,
    RecommendationsReady,
)
from careers_contracts.http import AnalyzeAccepted, JobLinks, JobView, Problem
from careers_contracts.profile import Education, Experience, ProfileSubmission
from careers_contracts.topics import MAX_EVENT_BYTES, TOPICS, ConsumerGroup, Topic

__all__ = [
    "MAX_EVENT_BYTES",
    "TERMINAL_STATES",
    "TOPICS",
    "AgentOutput",
    "AnalysisCompleted",
    "AnalysisFlag",
    "AnalysisRequested",
    "AnalyzeAccepted",
    "ConsumerGroup",
    "ContractModel",
    "DeadLetter",
    "Education",
    "Envelope",
    "Experience",
    "JobEvent",
    "JobLinks",
    "JobState",
    "JobStatusChanged",
    "JobView",
    "MatchCompleted",
    "MatchRequested",
    "NormalizedSkill",
    "Problem",
    "ProfileAnalysis",
    "ProfileSubmission",
    "ProfileSubmitted",
    "Recommendation",
    "RecommendationsReady",
    "Topic",
    "Wages",
    "derive_event_id",
]
