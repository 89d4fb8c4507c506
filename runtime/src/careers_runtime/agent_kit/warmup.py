"""The sample every agent runs once before its consumer joins the group."""

from careers_contracts.analysis import ProfileAnalysis
from careers_contracts.profile import ProfileSubmission

#: Reference month of the warm-up run (fixed: warm-up output is never published).
WARMUP_AS_OF = "2025-01"

WARMUP_PROFILE = ProfileSubmission(
    headline="Software developer",
    summary="Builds web services in Python and SQL; interested in data engineering.",
    skills=["Python", "SQL"],
    goals="Grow into data engineering.",
)

#: What profile-analyzer makes of ``WARMUP_PROFILE`` as of ``WARMUP_AS_OF``: the matcher's
#: warm-up input, so it needs no analyzer code (profile-analyzer's tests pin the equality).
WARMUP_ANALYSIS = ProfileAnalysis.model_validate(
    {
        "skills": [
            {
                "label": "Python (computer programming)",
                "vocabularyId": "http://data.europa.eu/esco/skill/ccd0a1d9-afda-43d9-b901-96344886e14d",
                "evidence": ["skills: Python", "summary: Builds web services in Python and SQL;"],
                "confidence": 1.0,
            },
            {
                "label": "SQL",
                "vocabularyId": "http://data.europa.eu/esco/skill/598de5b0-5b58-4ea7-8058-a4bc4d18c742",
                "evidence": ["skills: SQL", "summary: Builds web services in Python and SQL;"],
                "confidence": 1.0,
            },
        ],
        "yearsOfExperience": 0.0,
        "seniority": "student",
        "domains": ["software & IT", "data & analytics"],
        "interests": [],
        "goals": "Grow into data engineering.",
        "educationLevel": "none",
        "summary": "Student with no listed work experience. Key skills: Python, SQL. "
        "Fields: software & IT, data & analytics. Goal: Grow into data engineering.",
        "flags": [
            {
                "code": "sparse_profile",
                "message": "The profile has little to go on (short summary, few skills, no "
                "history); recommendations will be broad.",
                "severity": "warning",
            },
            {
                "code": "no_experience",
                "message": "No work experience listed; matching uses skills, education, "
                "interests and goals.",
                "severity": "info",
            },
        ],
        "sufficient": True,
    }
)
