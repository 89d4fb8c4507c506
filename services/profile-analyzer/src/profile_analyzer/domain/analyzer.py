"""ProfileAnalyzer domain: pure, deterministic functions from a submitted profile to an analysis.

No Kafka, no HTTP, no clock reads inside the steps: the reference month (``as_of``) is an
argument so the same input always gives the same output. Contradictions and gaps in the
profile are reported as flags, never silently corrected or guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from careers_contracts.analysis import AnalysisFlag, NormalizedSkill, ProfileAnalysis
from careers_contracts.profile import ProfileSubmission

from profile_analyzer.domain.vocabulary import (
    Vocabulary,
    load_vocabulary,
    specific_words,
    tokens,
)

# ----------------------------------------------------------------------------- input
ProfileLike = ProfileSubmission | dict[str, Any]


def normalise(profile: ProfileLike) -> ProfileSubmission:
    """Validate (dicts) and return the contract model; whitespace is stripped by the model."""
    if isinstance(profile, ProfileSubmission):
        return profile
    return ProfileSubmission.model_validate(profile)


def current_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def _month_index(ym: str) -> int:
    y, m = ym.split("-")
    return int(y) * 12 + int(m) - 1


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?;])\s+|\n+", text or "")
    return [p.strip() for p in parts if p.strip()]


# ----------------------------------------------------------------------------- skills
@dataclass(frozen=True, slots=True)
class TextSource:
    where: str  # "summary", "experience[0]", "goals", ...
    text: str


def text_sources(p: ProfileSubmission) -> list[TextSource]:
    out: list[TextSource] = []
    if p.headline:
        out.append(TextSource("headline", p.headline))
    for s in _sentences(p.summary):
        out.append(TextSource("summary", s))
    for i, e in enumerate(p.experience):
        out.append(TextSource(f"experience[{i}]", e.title))
        for s in _sentences(e.description):
            out.append(TextSource(f"experience[{i}]", f"{e.title}: {s}"))
    for i, ed in enumerate(p.education):
        out.append(TextSource(f"education[{i}]", f"{ed.degree} {ed.field}".strip()))
    return out


def _mentions(phrase_toks: list[str], text: str) -> bool:
    if not phrase_toks:
        return False
    hay = f" {' '.join(tokens(text))} "
    return f" {' '.join(phrase_toks)} " in hay


def extract_skills(p: ProfileSubmission, vocab: Vocabulary | None = None) -> list[NormalizedSkill]:
    """Each listed skill mapped onto ESCO, with the profile text that shows it.

    A skill that the vocabulary does not know keeps the person's own wording, no
    vocabulary id and a low confidence: it is reported, not replaced by a guess.
    """
    vocab = vocab or load_vocabulary()
    sources = text_sources(p)
    merged: dict[str, dict[str, Any]] = {}
    for raw in p.skills:
        m = vocab.lookup(raw)
        raw_toks = tokens(raw)
        evidence = [f"skills: {raw}"]
        # evidence also counts when the ESCO label's own words appear in the text
        label_toks = tokens(m.label) if m.skill else []
        for src in sources:
            if _mentions(raw_toks, src.text) or (
                label_toks and len(label_toks) <= 3 and _mentions(label_toks, src.text)
            ):
                snippet = src.text if len(src.text) <= 160 else src.text[:157] + "..."
                evidence.append(f"{src.where}: {snippet}")
        key = m.skill.id if m.skill and m.skill.id else f"raw:{raw.casefold()}"
        if key in merged:
            merged[key]["evidence"].extend(e for e in evidence if e not in merged[key]["evidence"])
            continue
        confidence = m.confidence
        if len(evidence) > 1:  # shown in history, not only listed
            confidence = min(1.0, confidence + 0.05)
        merged[key] = {
            "label": m.label if m.skill else raw.strip(),
            "vocabulary_id": m.skill.uri if m.skill else None,
            "evidence": evidence,
            "confidence": round(confidence, 2),
        }
    return [NormalizedSkill(**v) for v in merged.values()]


# ----------------------------------------------------------------------------- experience
@dataclass(frozen=True, slots=True)
class ExperienceFacts:
    years: float
    overlaps: list[tuple[int, int]]
    future: list[int]
    long_gaps: list[tuple[int, int]]


def experience_facts(p: ProfileSubmission, as_of: str) -> ExperienceFacts:
    now = _month_index(as_of)
    spans: list[tuple[int, int, int]] = []
    future = []
    for i, e in enumerate(p.experience):
        start = _month_index(e.start_date)
        end = _month_index(e.end_date) if e.end_date else now
        if start > now or (e.end_date and _month_index(e.end_date) > now):
            future.append(i)
        spans.append((max(0, min(start, now)), max(0, min(end, now)), i))
    overlaps = []
    for a in range(len(spans)):
        for b in range(a + 1, len(spans)):
            s1, e1, i1 = spans[a]
            s2, e2, i2 = spans[b]
            if min(e1, e2) - max(s1, s2) >= 2:  # > 1 month of overlap
                overlaps.append((min(i1, i2), max(i1, i2)))
    # union of intervals = months actually worked (concurrent jobs count once)
    months = 0
    gaps = []
    last_end: int | None = None
    for s, end_month, _i in sorted(spans):
        if last_end is None or s > last_end:
            if last_end is not None and s - last_end >= 12:
                gaps.append((last_end, s))
            months += end_month - s
            last_end = end_month
        elif end_month > last_end:
            months += end_month - last_end
            last_end = end_month
    return ExperienceFacts(round(months / 12, 1), sorted(set(overlaps)), future, gaps)


_STUDENT = {"student", "undergraduate", "pupil", "freshman", "sophomore", "high-school", "school"}
_LEAD = {"lead", "head", "director", "manager", "chief", "principal", "supervisor", "vp"}


def seniority(p: ProfileSubmission, years: float, as_of: str) -> str:
    year = int(as_of[:4])
    text_toks = set(tokens(f"{p.headline or ''} {p.summary}"))
    studying = any(ed.graduation_year and ed.graduation_year > year for ed in p.education)
    if years < 0.5 and (studying or not p.education or text_toks & _STUDENT):
        return "student"
    if years < 2:
        return "entry"
    if years < 5:
        return "mid"
    titles = set(tokens(" ".join(e.title for e in p.experience)))
    if years >= 8 and titles & _LEAD:
        return "lead"
    return "senior"


# Degree words as people write them in the US, UK, Ireland, Australia/NZ, India, Canada.
_DEGREES: list[tuple[str, tuple[str, ...]]] = [
    (
        "doctorate",
        ("phd", "ph.d", "doctor", "doctorate", "dphil", "md", "edd", "jd", "mbbs", "bds"),
        # mbbs/bds: the first medical/dental degrees (UK, India, Australia): a licence to
        # practise, so the physician and dentist groups are within reach
    ),
    (
        "master",
        (
            *("master", "ms", "msc", "ma", "mba", "meng", "mph", "msn", "mfa", "med", "mtech"),
            *("mpharm", "mcom", "mca", "llm", "msw", "mphil", "mres", "mlis", "mlitt"),
        ),
    ),
    (
        "bachelor",
        (
            *("bachelor", "bs", "bsc", "ba", "bsn", "beng", "bfa", "bba", "ab", "btech"),
            *("bpharm", "bcom", "barch", "bca", "llb", "bsw", "bed", "hons", "honours"),
        ),
    ),
    ("associate", ("associate", "aa", "as", "aas", "adn", "hnd", "cegep", "foundation")),
    (
        "postsecondary",
        (
            *("certificate", "certification", "diploma", "bootcamp", "vocational", "tafe"),
            *("apprenticeship", "license", "licence", "nvq", "hnc", "journeyperson"),
            *("journeyman", "red", "guilds", "ticket", "trade"),
        ),
    ),
    (
        "secondary",
        (
            *("high", "ged", "secondary", "a-levels", "baccalaureate", "gcse", "gcses"),
            *("ncea", "hsc", "ssc", "cbse", "icse", "xii", "matric", "leaving", "highers"),
        ),
    ),
]
_SCHOOL_LEAVING = frozenset(
    ("high", "leaving", "gcse", "gcses", "ncea", "hsc", "ssc", "cbse", "icse", "xii", "matric")
)
_LEVEL_ORDER = [
    "none",
    "secondary",
    "postsecondary",
    "associate",
    "bachelor",
    "master",
    "doctorate",
]


def education_level(p: ProfileSubmission) -> str:
    best = "none"
    for ed in p.education:
        toks = tokens(ed.degree.replace(".", ""))
        # a school-leaving qualification, whatever it is called ("High School Diploma",
        # "Leaving Certificate", "Class XII"), is secondary even when it says diploma
        if set(toks) & _SCHOOL_LEAVING:
            best = best if _LEVEL_ORDER.index(best) > 1 else "secondary"
            continue
        for level, keys in _DEGREES:
            if any(k.replace(".", "") in toks for k in keys):
                if _LEVEL_ORDER.index(level) > _LEVEL_ORDER.index(best):
                    best = level
                break
    return best


# ----------------------------------------------------------------------------- domains
# Broad fields of work, recognised from generic vocabulary (not from any one profile): the
# table is data, ``profile_analyzer/data/domain_keywords.json`` (field -> its keywords).
@lru_cache(maxsize=1)
def domain_keywords() -> dict[str, frozenset[str]]:
    raw = resources.files("profile_analyzer").joinpath("data", "domain_keywords.json")
    table = json.loads(raw.read_text(encoding="utf-8"))
    return {name: frozenset(keys) for name, keys in table.items()}


def profile_text(p: ProfileSubmission) -> str:
    """All the profile's words that describe the person's work, skills and aims."""
    return " ".join(
        [p.headline or "", p.summary, " ".join(p.skills), " ".join(p.interests), p.goals or ""]
        + [f"{e.title} {e.description}" for e in p.experience]
        + [f"{ed.degree} {ed.field}" for ed in p.education]
    )


def domains(p: ProfileSubmission) -> list[str]:
    text = " ".join(
        [p.headline or "", p.summary, " ".join(p.skills), " ".join(p.interests)]
        + [f"{e.title} {e.description}" for e in p.experience]
        + [f"{ed.degree} {ed.field}" for ed in p.education]
    )
    toks = tokens(text)
    counts = {}
    for name, keys in domain_keywords().items():
        n = sum(1 for t in toks if t in keys)
        if n:
            counts[name] = n
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [name for name, n in ranked if n >= 2 or n == ranked[0][1]][:4]


# ----------------------------------------------------------------------------- flags
def flags(
    p: ProfileSubmission, facts: ExperienceFacts, skills: list[NormalizedSkill], as_of: str
) -> list[AnalysisFlag]:
    out: list[AnalysisFlag] = []
    words = len(tokens(p.summary))
    richness = (
        min(words, 40) / 40
        + min(len(p.skills), 5) / 5
        + min(len(p.experience), 2) / 2
        + (1 if p.education else 0) * 0.5
        + (1 if p.interests or p.goals else 0) * 0.5
    )
    # Ask for more only when nothing can be ranked: no word of the whole profile names a
    # job or a skill ESCO knows. "Roofer." with two skills is little, but rankable.
    rankable = bool(specific_words(profile_text(p)))
    if not rankable:
        out.append(
            AnalysisFlag(
                code="sparse_profile",
                message="The profile has too little to go on: add a longer summary, your skills "
                "and at least one role or course with a description.",
                severity="blocking",
            )
        )
    elif richness < 1.5:
        out.append(
            AnalysisFlag(
                code="sparse_profile",
                message="The profile has little to go on (short summary, few skills, no "
                "history); recommendations will be broad.",
                severity="warning",
            )
        )
    if not p.experience:
        out.append(
            AnalysisFlag(
                code="no_experience",
                severity="info",
                message="No work experience listed; matching uses skills, "
                "education, interests and goals.",
            )
        )
    for a, b in facts.overlaps:
        out.append(
            AnalysisFlag(
                code="overlapping_dates",
                message=f"Roles '{p.experience[a].title}' and '{p.experience[b].title}' overlap in "
                "time; experience years count the overlap once.",
            )
        )
    for i in facts.future:
        out.append(
            AnalysisFlag(
                code="future_dates",
                message=f"Role '{p.experience[i].title}' has dates after {as_of}; those months are "
                "not counted.",
            )
        )
    year = int(as_of[:4])
    for ed in p.education:
        if ed.graduation_year and ed.graduation_year > year + 8:
            out.append(
                AnalysisFlag(
                    code="implausible_graduation_year",
                    message=f"Graduation year {ed.graduation_year} for "
                    f"'{ed.degree}' is far in the future.",
                )
            )
        elif ed.graduation_year and ed.graduation_year > year:
            out.append(
                AnalysisFlag(
                    code="education_in_progress",
                    severity="info",
                    message=f"'{ed.degree}' expected in {ed.graduation_year}.",
                )
            )
    for s, e in facts.long_gaps:
        out.append(
            AnalysisFlag(
                code="employment_gap",
                severity="info",
                message=f"A gap of {(e - s) // 12} year(s) between roles.",
            )
        )
    if p.experience and p.education:
        first_job = min(int(e.start_date[:4]) for e in p.experience)
        for ed in p.education:
            if ed.graduation_year and first_job < ed.graduation_year - 12:
                out.append(
                    AnalysisFlag(
                        code="timeline_inconsistent",
                        message=f"Work history starts in {first_job}, long before '{ed.degree}' "
                        f"({ed.graduation_year}); check the dates.",
                    )
                )
                break
    unmapped = [s.label for s in skills if s.vocabulary_id is None]
    if unmapped:
        out.append(
            AnalysisFlag(
                code="unmapped_skills",
                severity="info",
                message="Not found in the ESCO vocabulary, kept as written: "
                + ", ".join(unmapped[:10]),
            )
        )
    if p.goals and p.experience:
        goal_toks = set(tokens(p.goals))
        hist_toks = set(tokens(" ".join(f"{e.title} {e.description}" for e in p.experience)))
        content = {t for t in goal_toks if len(t) > 3}
        if content and len(content & hist_toks) / len(content) < 0.34:
            out.append(
                AnalysisFlag(
                    code="career_change",
                    severity="info",
                    message="Stated goals point away from the work history; goals are matched "
                    "separately from history.",
                )
            )
    return out


# ----------------------------------------------------------------------------- summary
def summarise(
    p: ProfileSubmission,
    years: float,
    level: str,
    edu: str,
    skills: list[NormalizedSkill],
    doms: list[str],
) -> str:
    parts = []
    role = p.experience[0].title if p.experience else (p.headline or "")
    if p.experience:
        current = [e for e in p.experience if e.end_date is None]
        role = (current or sorted(p.experience, key=lambda e: e.start_date)[-1:])[0].title
        parts.append(f"{role} with {years:g} year(s) of experience ({level}).")
    else:
        parts.append(
            f"{'Student' if level == 'student' else 'Early-career candidate'} "
            "with no listed work experience."
        )
    if skills:
        ranked = sorted(skills, key=lambda s: -len(s.evidence))  # stable: keeps list order
        top = [s.evidence[0].removeprefix("skills: ") for s in ranked]
        parts.append("Key skills: " + ", ".join(top[:6]) + ".")
    if edu != "none":
        fields = ", ".join(f"{ed.degree} {ed.field}".strip() for ed in p.education)
        parts.append(f"Education: {edu} ({fields}).")
    if doms:
        parts.append("Fields: " + ", ".join(doms) + ".")
    if p.interests:
        parts.append("Interests: " + ", ".join(p.interests) + ".")
    if p.goals:
        parts.append(f"Goal: {p.goals.rstrip('.')}.")
    return " ".join(parts)


# ----------------------------------------------------------------------------- entry point
def analyze(profile: ProfileLike, *, as_of: str | None = None) -> ProfileAnalysis:
    """Analyse a profile. Deterministic for a given ``as_of`` month (default: this month)."""
    p = normalise(profile)
    as_of = as_of or current_month()
    skills = extract_skills(p)
    facts = experience_facts(p, as_of)
    level = seniority(p, facts.years, as_of)
    edu = education_level(p)
    doms = domains(p)
    fl = flags(p, facts, skills, as_of)
    blocking = any(f.severity == "blocking" for f in fl)
    return ProfileAnalysis(
        skills=skills,
        years_of_experience=facts.years,
        seniority=level,
        domains=doms,
        interests=list(p.interests),
        goals=p.goals,
        education_level=edu,
        summary=summarise(p, facts.years, level, edu, skills, doms),
        flags=fl,
        sufficient=not blocking,
    )
