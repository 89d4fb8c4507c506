"""ProfileAnalyzer domain: skills, experience, flags, determinism."""

import json

import pytest
from careers_occupations import load_occupations
from profile_analyzer.domain.analyzer import analyze, education_level, normalise
from profile_analyzer.domain.vocabulary import load_vocabulary, occupation_words

AS_OF = "2025-11"

BASE = {
    "headline": "Data analyst",
    "summary": "I turn sales data into dashboards with SQL and Python.",
    "skills": ["SQL", "Python", "Excel", "quantum basket weaving"],
    "experience": [
        {
            "title": "Data Analyst",
            "organization": "Acme",
            "startDate": "2021-01",
            "endDate": None,
            "description": "Built dashboards in SQL.",
        },
    ],
    "education": [
        {"degree": "BA", "field": "Economics", "institution": "College", "graduationYear": 2020}
    ],
    "interests": ["statistics"],
    "goals": "Become a data scientist",
}


def test_skills_normalised_to_esco_with_evidence():
    a = analyze(BASE, as_of=AS_OF)
    by_label = {s.label: s for s in a.skills}
    assert by_label["SQL"].vocabulary_id.startswith("http://data.europa.eu/esco/skill/")
    assert any(e.startswith("summary:") for e in by_label["SQL"].evidence)
    assert by_label["Python (computer programming)"].confidence >= 0.9
    # unknown skill kept as written, not guessed, and flagged
    unknown = by_label["quantum basket weaving"]
    assert unknown.vocabulary_id is None and unknown.confidence < 0.5
    assert "unmapped_skills" in {f.code for f in a.flags}


def test_experience_years_seniority_education_goals():
    a = analyze(BASE, as_of=AS_OF)
    assert a.years_of_experience == pytest.approx(4.8)
    assert a.seniority == "mid"
    assert a.education_level == "bachelor"
    assert a.goals == "Become a data scientist"
    assert "data & analytics" in a.domains
    assert a.sufficient
    assert "Data Analyst" in a.summary


def test_overlapping_and_future_dates_flagged():
    p = dict(
        BASE,
        experience=[
            {"title": "A", "startDate": "2019-01", "endDate": "2022-12", "description": ""},
            {"title": "B", "startDate": "2021-01", "endDate": None, "description": ""},
            {"title": "C", "startDate": "2027-01", "endDate": None, "description": ""},
        ],
    )
    a = analyze(p, as_of=AS_OF)
    codes = {f.code for f in a.flags}
    assert {"overlapping_dates", "future_dates"} <= codes
    # the overlap counts once: 2019-01 .. 2025-11 = 6.8 years
    assert a.years_of_experience == pytest.approx(6.8)


def test_sparse_profile_flagged_not_guessed():
    a = analyze(
        {"summary": "hi", "skills": [], "experience": [], "education": [], "interests": []},
        as_of=AS_OF,
    )
    flag = next(f for f in a.flags if f.code == "sparse_profile")
    assert flag.severity == "blocking"
    assert not a.sufficient
    assert a.skills == [] and a.years_of_experience == 0
    assert a.seniority == "student"


@pytest.mark.parametrize(
    "profile",
    [
        {"summary": "Roofer.", "skills": ["shingles"]},
        {"summary": "Nurse"},
        {"summary": "hello", "goals": "Become a chef."},
        {"summary": "High school junior.", "interests": ["weather", "storms"]},
    ],
)
def test_sparse_but_rankable_profiles_are_ranked_with_a_warning(profile):
    a = analyze(profile, as_of=AS_OF)
    flag = next(f for f in a.flags if f.code == "sparse_profile")
    assert flag.severity == "warning"
    assert a.sufficient


@pytest.mark.parametrize("summary", ["hi", "asdf qwerty", "I need help finding work"])
def test_unrankable_profiles_ask_for_more(summary):
    a = analyze({"summary": summary}, as_of=AS_OF)
    assert not a.sufficient
    assert any(f.code == "sparse_profile" and f.severity == "blocking" for f in a.flags)


def test_student_and_education_levels():
    a = analyze(
        {
            "summary": "High-school senior who loves biology.",
            "skills": ["biology"],
            "experience": [],
            "education": [],
            "interests": ["animals"],
        },
        as_of=AS_OF,
    )
    assert a.seniority == "student"
    p = normalise(
        {
            "summary": "x",
            "education": [
                {"degree": "MSc", "field": "CS"},
                {"degree": "Certificate", "field": "Web"},
            ],
        }
    )
    assert education_level(p) == "master"


def test_career_change_flag_when_goals_point_elsewhere():
    p = dict(BASE, goals="Work as a veterinary technician with animals")
    assert "career_change" in {f.code for f in analyze(p, as_of=AS_OF).flags}


def test_deterministic_byte_identical():
    a = analyze(BASE, as_of=AS_OF).model_dump_json(by_alias=True)
    b = analyze(json.loads(json.dumps(BASE)), as_of=AS_OF).model_dump_json(by_alias=True)
    assert a == b
    assert '"yearsOfExperience"' in a  # camelCase contract


def test_vocabulary_lookup():
    v = load_vocabulary()
    assert v.lookup("sql").skill is not None
    assert v.lookup("TypeScript").confidence >= 0.9
    assert v.lookup("zzzz qqqq").skill is None


@pytest.mark.parametrize(
    ("degrees", "level"),
    [
        (["B.Pharm", "Class XII (CBSE)"], "bachelor"),  # India
        (["MBBS"], "doctorate"),  # UK, India, Australia: the first medical degree
        (["BSc (Hons)"], "bachelor"),  # UK
        (["NVQ Level 3"], "postsecondary"),  # UK vocational
        (["HND"], "associate"),  # UK Higher National Diploma
        (["Journeyperson Certificate, Red Seal endorsement"], "postsecondary"),  # Canada
        (["Alberta High School Diploma"], "secondary"),  # a diploma, but school-leaving
        (["Leaving Certificate"], "secondary"),  # Ireland
        (["NCEA Level 2"], "secondary"),  # New Zealand
    ],
)
def test_education_levels_as_written_outside_the_us(degrees, level):
    p = normalise({"summary": "x", "education": [{"degree": d, "field": ""} for d in degrees]})
    assert education_level(p) == level


def test_domain_keyword_table_is_data_of_single_tokens() -> None:
    from profile_analyzer.domain.analyzer import domain_keywords
    from profile_analyzer.domain.vocabulary import tokens

    table = domain_keywords()
    assert table is domain_keywords()  # loaded once
    assert len(table) >= 10 and all(table.values())
    # matched against the profile's tokens: a keyword that is not one token never matches
    assert all(tokens(k) == [k] for keys in table.values() for k in keys)


def test_job_words_come_from_the_shared_occupations_package():
    words = occupation_words()
    assert {"plasterer", "radiographer", "glazier"} <= words
    assert all(w in words for w in load_occupations()[0].labels.split())
