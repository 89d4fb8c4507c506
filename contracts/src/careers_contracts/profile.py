"""The profile a signed-in user submits (HTTP body of ``POST /v1/agents/analyze``).

Every field is bounded so that one request can never produce an event above the
Kafka message size the registry allows (see ``topics.MAX_EVENT_BYTES``).
"""

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from careers_contracts.base import ContractModel

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
YearMonth = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
]


class _Strict(ContractModel):
    # A client typo ("skils") must be a 422 naming the field, not silently dropped.
    model_config = ConfigDict(extra="forbid")


class Experience(_Strict):
    title: ShortText
    organization: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    start_date: YearMonth = Field(description="Start month, YYYY-MM", examples=["2019-04"])
    end_date: YearMonth | None = Field(
        default=None, description="End month, YYYY-MM; null while the role is current"
    )
    description: LongText = ""

    @model_validator(mode="after")
    def _end_not_before_start(self) -> "Experience":
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("endDate must not be before startDate")
        return self


class Education(_Strict):
    degree: ShortText
    field: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    institution: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    graduation_year: int | None = Field(default=None, ge=1940, le=2100)


class ProfileSubmission(_Strict):
    """A person's profile as the frontend sends it. The user id is never a body field."""

    headline: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None
    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
    skills: list[ShortText] = Field(default_factory=list, max_length=100)
    experience: list[Experience] = Field(default_factory=list, max_length=30)
    education: list[Education] = Field(default_factory=list, max_length=10)
    interests: list[ShortText] = Field(default_factory=list, max_length=50)
    goals: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None
    location: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "headline": "Backend developer moving into data",
                    "summary": "Five years building Python APIs; I enjoy statistics.",
                    "skills": ["Python", "SQL", "Docker"],
                    "experience": [
                        {
                            "title": "Software Engineer",
                            "organization": "Acme",
                            "startDate": "2020-01",
                            "endDate": None,
                            "description": "Built REST APIs and data pipelines.",
                        }
                    ],
                    "education": [
                        {
                            "degree": "BSc",
                            "field": "Computer Science",
                            "institution": "State University",
                            "graduationYear": 2019,
                        }
                    ],
                    "interests": ["machine learning"],
                    "goals": "Become a data scientist",
                    "location": "Berlin, DE",
                }
            ]
        }
    )

    @field_validator("skills", "interests")
    @classmethod
    def _dedupe(cls, values: list[str]) -> list[str]:
        seen: set[str] = set()
        unique = []
        for value in values:
            if value.casefold() not in seen:
                seen.add(value.casefold())
                unique.append(value)
        return unique
