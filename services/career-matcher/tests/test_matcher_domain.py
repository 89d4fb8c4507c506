"""CareerMatcher domain: catalog, scoring, diversity, gaps, determinism, eval threshold."""

import hashlib
import json
import os
from pathlib import Path

import pytest
from career_matcher.domain.catalog import load_catalog, stem, terms
from career_matcher.domain.matcher import MAX_PER_BROAD_GROUP, recommend
from careers_tools.evaluate import (
    HALVES,
    REPO_EVAL_DIR,
    REPO_SETS,
    REPO_VERSIONS,
    eval_dir,
    evaluate,
)
from careers_tools.pipeline import recommend_profile
from profile_analyzer.domain.analyzer import analyze, normalise

AS_OF = "2025-11"
WELDER = {
    "summary": "Certified MIG and TIG welder fabricating steel frames and repairing equipment.",
    "skills": ["MIG welding", "TIG welding", "blueprint reading"],
    "experience": [
        {
            "title": "Welder/Fabricator",
            "organization": "Shop",
            "startDate": "2017-09",
            "endDate": None,
            "description": "Fabricated structural steel.",
        }
    ],
    "education": [],
    "interests": [],
}


def test_catalog_is_complete_and_small():
    cat = load_catalog()
    assert 850 <= len(cat.occupations) <= 1100
    assert len(cat.tasks) == cat.task_vecs.shape[0]
    with_wages = sum(1 for o in cat.occupations if o["wages"])
    assert with_wages / len(cat.occupations) > 0.9
    data = Path(__file__).resolve().parents[1] / "src" / "career_matcher" / "data"
    sizes = [p.stat().st_size for p in data.iterdir() if p.is_file()]
    assert max(sizes) < 5_000_000 and sum(sizes) < 15_000_000


def test_recommendations_shape_and_explanations():
    recs = recommend_profile(WELDER, as_of=AS_OF, limit=10)
    assert [r.rank for r in recs] == list(range(1, 11))
    assert recs[0].occupation_code.startswith(("51-4121", "51-2041", "51-4122"))
    top = recs[0]
    assert 0 < top.score <= 1
    assert top.matched_skills and top.skill_gaps
    assert any(s in top.explanation for s in top.matched_skills)
    assert top.wages is not None and top.wages.annual_median > 0
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True) or len(set(scores)) > 1


def test_diversity_limits_minor_groups():
    recs = recommend_profile(WELDER, as_of=AS_OF, limit=10)
    groups = [r.occupation_code[:6] for r in recs]
    assert max(groups.count(g) for g in set(groups)) <= MAX_PER_BROAD_GROUP


def test_goals_steer_career_changers():
    base = dict(WELDER, summary="Welder for ten years.")
    changer = dict(base, goals="Become a registered nurse caring for patients.")
    before = [r.occupation_code for r in recommend_profile(base, as_of=AS_OF, limit=5)]
    after = [r.occupation_code for r in recommend_profile(changer, as_of=AS_OF, limit=5)]
    assert not any(c.startswith("29-") for c in before)
    assert any(c.startswith("29-") for c in after)


def test_goal_outweighs_history_and_is_the_reason_given():
    changer = dict(
        WELDER,
        summary="Welder for ten years.",
        goals="Become a registered nurse caring for patients.",
    )
    recs = recommend_profile(changer, as_of=AS_OF, limit=5)
    assert recs[0].occupation_code.startswith("29-")
    assert "because you want to become a registered nurse caring for patients" in (
        recs[0].explanation
    )


def test_goal_said_in_the_summary_counts_as_a_goal():
    p = dict(
        WELDER,
        summary="Welder for ten years. Now I want to become a registered nurse.",
    )
    recs = recommend_profile(p, as_of=AS_OF, limit=5)
    assert any(r.occupation_code.startswith("29-1141") for r in recs[:3])
    assert "because you want to" in recs[0].explanation


def test_explanations_are_grounded():
    """Matched skills are the person's own words; gaps are the occupation's own activities."""
    cat = load_catalog()
    by_code = {o["code"]: o for o in cat.occupations}
    profile = dict(
        WELDER,
        skills=[*WELDER["skills"], "CPR and first aid certified", "quantum basket weaving"],
        goals="Move into welding inspection.",
    )
    recs = recommend_profile(profile, as_of=AS_OF, limit=10)
    for r in recs:
        activities = {cat.dwas[d]["title"].rstrip(".") for d in by_code[r.occupation_code]["dwas"]}
        assert set(r.matched_skills) <= set(profile["skills"]), r.matched_skills
        assert set(r.skill_gaps) <= activities, r.skill_gaps
        # skills to build are whole short phrases, never cut off
        assert all("..." not in g and "\u2026" not in g for g in r.skill_gaps)
        assert "..." not in r.explanation and "\u2026" not in r.explanation
        # facts are fields of their own: no score, code or wage figure in the text
        assert r.occupation_code not in r.explanation
        assert f"{r.score:.2f}" not in r.explanation
    assert any(r.matched_skills for r in recs)


def test_matching_from_analysis_only():
    p = normalise(WELDER)
    recs = recommend(analyze(p, as_of=AS_OF), None, limit=5)
    assert any(r.occupation_code.startswith(("51-4121", "51-2041")) for r in recs)


def test_deterministic_byte_identical_json():
    def run() -> str:
        return json.dumps(
            [r.model_dump(mode="json") for r in recommend_profile(WELDER, as_of=AS_OF)],
            sort_keys=True,
        )

    assert run() == run()


# The shared eval sets live beside the repository (../shared/eval), as on CI; a clone
# elsewhere may not have them. On CI a missing set fails the test instead of skipping it.
# The v3 halves are the repository's own (services/career-matcher/eval): the frozen half
# is never tuned on, so its numbers are the honest ones.
# A quality gate, not a smoke test: each set must keep at least the hits in its top 5 and
# the mean reciprocal rank it measured when the gate was last raised (see the README).
@pytest.mark.parametrize(
    ("name", "min_hits", "min_mrr"),
    [
        ("dev-profiles.json", 12, 0.99),
        ("dev-profiles-v2.json", 14, 0.96),
        ("dev-profiles-v3-tuning.json", 17, 0.84),
        ("dev-profiles-v3-frozen.json", 24, 0.91),
        ("dev-profiles-v4-tuning.json", 18, 0.97),
        ("dev-profiles-v4-frozen.json", 18, 0.87),
        ("dev-profiles-v5-tuning.json", 19, 0.90),
        ("dev-profiles-v5-frozen.json", 18, 0.79),
        ("dev-profiles-v6-tuning.json", 23, 0.90),
    ],
)
def test_eval_quality_gate(name: str, min_hits: int, min_mrr: float):
    path = (REPO_EVAL_DIR if name in REPO_SETS else eval_dir()) / name
    if not path.exists() and not os.environ.get("CI"):
        pytest.skip(f"shared eval set {path} not present (it lives outside the repository)")
    items = json.loads(path.read_text())
    res = evaluate(items, as_of=AS_OF)
    misses = [(r["id"], r["top"]) for r in res["rows"] if not r["hit"]]
    assert res["hit@5"] >= min_hits, misses
    assert res["mrr"] >= min_mrr, [(r["id"], r["firstHit"]) for r in res["rows"]]


@pytest.mark.parametrize("version", REPO_VERSIONS)
def test_halves_are_a_fixed_balanced_split(version: str):
    """Within each category, ids sorted by SHA-256: 1st, 3rd, ... frozen, the rest tuning."""
    tuning, frozen = (
        json.loads((REPO_EVAL_DIR / f"dev-profiles-{version}-{h}.json").read_text()) for h in HALVES
    )
    by_cat: dict[str, list[str]] = {}
    for item in tuning + frozen:
        by_cat.setdefault(item["category"], []).append(item["id"])
    assert len(by_cat) == 6 and all(len(ids) >= 4 for ids in by_cat.values())
    frozen_ids = {i["id"] for i in frozen}
    for ids in by_cat.values():
        ordered = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
        assert {i for k, i in enumerate(ordered) if k % 2 == 0} <= frozen_ids
        assert not {i for k, i in enumerate(ordered) if k % 2 == 1} & frozen_ids


CHANGER = {
    "headline": "Backend developer moving into data science",
    "summary": "Five years building Python APIs and SQL-heavy services. I have been doing "
    "statistics courses and Kaggle projects with pandas and scikit-learn.",
    "skills": ["Python", "SQL", "pandas", "statistics", "Docker", "data visualization"],
    "experience": [
        {
            "title": "Backend Developer",
            "organization": "SaaS company",
            "startDate": "2020-01",
            "endDate": None,
            "description": "Built REST APIs in Python and PostgreSQL; wrote reporting queries.",
        }
    ],
    "education": [],
    "interests": [],
    "goals": "Become a data scientist.",
}


def test_matched_skills_are_the_persons_skills_the_occupation_uses():
    """Read as written and as the skill vocabulary labels them ("Python (computer
    programming)"), and meeting their derivations in O*NET's text ("statistical")."""
    recs = recommend_profile(CHANGER, as_of=AS_OF, limit=5)
    ds = next(r for r in recs if r.occupation_code.startswith("15-2051"))
    assert {"Python", "statistics", "data visualization"} <= set(ds.matched_skills)
    assert "Docker" not in ds.matched_skills
    assert ds.skill_gaps and all(len(g.split()) <= 7 and not g.endswith(".") for g in ds.skill_gaps)


def test_explanations_lead_with_what_in_this_profile_led_to_the_match():
    by_goal = recommend_profile(CHANGER, as_of=AS_OF, limit=3)[0]
    assert by_goal.explanation.startswith(
        "Data Scientists: suggested because you want to become a data scientist."
    )
    by_title = recommend_profile(WELDER, as_of=AS_OF, limit=3)
    openings = {r.explanation.split(".")[0] for r in by_title}
    assert len(openings) == 3  # no shared template: each names its own reason
    assert any('"Welder/Fabricator"' in r.explanation for r in by_title)


def test_a_title_word_meets_its_family_in_occupation_titles():
    """ "actuarial analyst" names Actuaries, "electrical" Electricians; a word only shares
    letters with another family ("police" / "policy") and meets nothing."""
    cat = load_catalog()
    j = cat.codes.index("15-2011.00")
    actuarial = frozenset(terms("actuarial analyst"))
    assert cat.title_overlap(actuarial)[j] == 0.0
    assert cat.title_overlap(actuarial, family=True)[j] == 1.0
    fresh = load_catalog.__wrapped__() if hasattr(load_catalog, "__wrapped__") else cat
    assert "electrician" in fresh.title_family(stem("electrical"))
    assert fresh.title_family(stem("policy")) == [stem("policy")]


def test_sentences_do_not_end_at_abbreviations():
    from career_matcher.domain.matcher import _sentences

    assert _sentences("Finishing an M.Ed. in school counseling. Next I want to move.") == [
        "Finishing an M.Ed. in school counseling.",
        "Next I want to move.",
    ]
    assert _sentences("Moved to St. Louis; worked nights") == [
        "Moved to St. Louis;",
        "worked nights",
    ]


def test_how_common_an_occupation_is_counts_as_much_as_the_profile_says_little():
    """BLS employment as a base rate: maids outnumber concierges; a profile of a few words
    gets the full base-rate weight, a long one a small share of it."""
    from career_matcher.domain import matcher as m

    cat = load_catalog()
    rate = dict(zip(cat.codes, cat.base_rate, strict=True))
    assert cat.base_rate.min() >= 0.0 and cat.base_rate.max() == 1.0
    assert rate["37-2012.00"] > rate["39-6012.00"]

    def prior_share(profile: dict) -> float:
        p = normalise(profile)
        q = m.build_query(analyze(p, as_of=AS_OF), p)
        words = sum(len(s.text.split()) for s in q.history + q.aspiration if s.kind in m.OWN_KINDS)
        return min(1.0, m.FEW_WORDS / max(words, 1))

    assert prior_share({**WELDER, "summary": "", "skills": [], "experience": []}) == 1.0
    assert prior_share(CHANGER) < 0.75
