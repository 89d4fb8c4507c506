"""What the agents produce: a profile analysis and ranked career recommendations."""

from typing import Literal

from pydantic import Field

from careers_contracts.base import ContractModel

Seniority = Literal["student", "entry", "mid", "senior", "lead"]
EducationLevel = Literal[
    "none", "secondary", "postsecondary", "associate", "bachelor", "master", "doctorate"
]


class NormalizedSkill(ContractModel):
    """A skill mapped onto the ESCO vocabulary, with the text that shows it."""

    label: str = Field(description="Preferred label in the skill vocabulary")
    vocabulary_id: str | None = Field(default=None, description="ESCO concept URI when known")
    evidence: list[str] = Field(
        default_factory=list, description="Snippets of the profile that show the skill"
    )
    confidence: float = Field(ge=0, le=1)


class AnalysisFlag(ContractModel):
    """Something about the profile the user should know (sparse, contradictory...)."""

    code: str = Field(examples=["sparse_profile", "overlapping_dates"])
    message: str
    severity: Literal["info", "warning", "blocking"] = "warning"


class ProfileAnalysis(ContractModel):
    skills: list[NormalizedSkill] = Field(default_factory=list)
    years_of_experience: float = Field(ge=0)
    seniority: Seniority
    domains: list[str] = Field(default_factory=list)
    interests: list[str] = Field(default_factory=list)
    goals: str | None = Field(
        default=None, description="The person's stated goals, kept apart from their history"
    )
    education_level: EducationLevel = "none"
    summary: str
    flags: list[AnalysisFlag] = Field(default_factory=list)
    sufficient: bool = Field(
        description="False when the profile is too sparse to recommend careers from"
    )


class Wages(ContractModel):
    """BLS OEWS national wage figures (USD) for the occupation, where published."""

    annual_median: float | None = None
    annual_mean: float | None = None
    hourly_median: float | None = None
    year: int | None = None


class Recommendation(ContractModel):
    occupation_code: str = Field(description="O*NET-SOC code", examples=["15-2051.00"])
    title: str
    score: float = Field(ge=0, le=1)
    rank: int = Field(ge=1)
    explanation: str
    matched_skills: list[str] = Field(default_factory=list)
    skill_gaps: list[str] = Field(default_factory=list)
    wages: Wages | None = None
