"""The matcher's vocabulary for how people write: ESCO glossary, spelling, goal wording."""

import numpy as np
import pytest
from career_matcher.domain.glossary import load_glossary
from career_matcher.domain.matcher import want_phrase
from career_matcher.domain.spelling import load_speller
from careers_occupations import load_occupations
from careers_tools.pipeline import recommend_profile

AS_OF = "2025-11"


def test_glossary_reads_the_shared_occupations_package():
    glossary, occupations = load_glossary(), load_occupations()
    assert glossary.ids == [o.id for o in occupations]
    assert glossary.definitions == [o.definition for o in occupations]


@pytest.mark.parametrize(
    ("title", "words"),
    [
        ("Senior Medical Representative", "sell medical devices"),
        ("Diagnostic Radiographer (Band 5)", "diagnostic imaging"),
        ("Plasterer", "plaster"),
        ("Quantity Surveyor", "cost"),
        ("Estate Agent", "propert"),
        ("HGV Class 1 Driver", "trucks"),
    ],
)
def test_glossary_reads_british_titles(title, words):
    glosses = load_glossary().lookup(title)
    assert glosses and any(words in g.definition.lower() for g in glosses), glosses


@pytest.mark.parametrize(
    "title",
    ["High school senior", "Return to Practice placement", "Shift", "Drive the RCV once I pass"],
)
def test_glossary_ignores_what_is_not_a_job(title):
    assert load_glossary().lookup(title) == []


def test_ambiguous_alternative_label_must_fit_the_profile():
    g = load_glossary()
    assert g.lookup("instrument operator", frozenset({"survey", "traverse"})) == []


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("mowin n edgin", "mowing and edging"),
        ("pesticide aplicator", "pesticide applicator"),
        ("food safty", "food safety"),
        ("irigation", "irrigation"),
        # real words, acronyms and names stay as written
        ("lamb and mutton on the chain", "lamb and mutton on the chain"),
        ("pavers for patios", "pavers for patios"),
        ("ECDIS and HPLC in SolidWorks", "ECDIS and HPLC in SolidWorks"),
    ],
)
def test_spelling_normalises_chat_text(text, meant):
    assert load_speller().normalise(text) == meant


def test_informal_profile_is_matched_and_shown_in_its_own_words():
    profile = {
        "summary": "been doin lawn care 5 yrs, mowin n edgin, mulch n shrubs, irigation fixes",
        "skills": ["mowin", "irigation", "hedge trimmin"],
        "experience": [
            {
                "title": "lawn guy",
                "startDate": "2020-04",
                "endDate": None,
                "description": "mow n maintenance routes",
            }
        ],
    }
    recs = recommend_profile(profile, as_of=AS_OF, limit=5)
    assert recs[0].occupation_code.startswith("37-")
    shown = {s for r in recs for s in r.matched_skills}
    assert shown and shown <= set(profile["skills"])


def test_a_uk_lorry_driver_finds_heavy_truck_driving():
    profile = {
        "summary": "Class 1 HGV driver, 9 years, tramping Monday to Friday, curtainsiders "
        "and fridges, Driver CPC up to date, digi tacho.",
        "skills": ["HGV Class 1", "Driver CPC", "tachograph"],
        "experience": [
            {
                "title": "HGV Class 1 Driver",
                "startDate": "2016-01",
                "endDate": None,
                "description": "Trunking and multi-drop deliveries across the UK.",
            }
        ],
    }
    codes = [r.occupation_code for r in recommend_profile(profile, as_of=AS_OF, limit=5)]
    assert "53-3032.00" in codes, codes


def test_want_phrase_speaks_to_the_person():
    assert (
        want_phrase("Get my MMC and crew tugs.") == "because you want to get your MMC and crew tugs"
    )
    assert want_phrase("UX or UI designer.") == (
        'because you want to reach your goal: "UX or UI designer"'
    )


def test_spelling_work_is_bounded_and_independent_of_history():
    from career_matcher.domain.spelling import Speller

    words = {"mowing": 5, "irrigation": 5, "applicator": 5}
    text = "mowin irigation aplicator"
    fresh = Speller([], words).normalise(text, [1])
    primed = Speller([], words)
    primed.normalise("aplicator irigation")  # another profile, unbounded, fills the cache
    assert fresh == primed.normalise(text, [1]) == "mowing irrigation aplicator"


def test_a_british_foreman_is_a_supervisor_and_is_quoted_as_written():
    assert load_glossary().synonym("foreman") == "supervisor"
    profile = {
        "summary": "Started as a labourer and became the site foreman. Ran crews of 20 on "
        "housing jobs.",
        "skills": ["site management", "scheduling"],
        "experience": [
            {"title": "Site Foreman", "startDate": "2015-01", "endDate": None, "description": ""}
        ],
    }
    recs = recommend_profile(profile, as_of=AS_OF, limit=5)
    assert recs[0].occupation_code == "47-1011.00"
    assert "supervisor" not in recs[0].explanation.split("Skills")[0].split('"')[1].lower()


@pytest.mark.parametrize(
    ("written", "scored"),
    [
        # chat shorthand, written out
        ("8 yrs domestic n commercial w 3 guys", "8 years domestic and commercial with 3 guys"),
        ("forklift op", "forklift operator"),
        ("hvac tech", "hvac technician"),
        ("a job w/ benefits", "a job with  benefits"),
        # dropped vowels: the catalog's word with that consonant skeleton
        ("clr correction", "color correction"),
        ("mntnce mgr", "maintenance manager"),
        # British spelling in the American words O*NET uses
        ("school counsellor", "school counselor"),
        ("colour organisation licence paediatric", "color organization license pediatric"),
        # an acronym O*NET spells out in its own text keeps its long form beside it
        ("CNC programming", "CNC computer numerical control programming"),
        ("BLS and IEPs", "BLS basic cardiac life support and IEPs individual educational plans"),
        # real words, names and acronyms O*NET never spells out stay
        ("Worked at Costco", "Worked at Costco"),
        ("MPI hygiene", "MPI hygiene"),
    ],
)
def test_informal_text_is_normalised_as_a_class(written, scored):
    assert load_speller().normalise(written, [300]) == scored


def test_acronyms_come_from_the_catalogs_own_text():
    acr = load_speller().acronyms
    assert acr["cnc"] == "computer numerical control"
    assert acr["scada"] == "supervisory control and data acquisition"
    assert len(acr) > 50


@pytest.mark.parametrize(
    ("title", "label"),
    [
        ("Refuse Collection Operative", "refuse collector"),
        ("Special Needs Assistant", "special educational needs assistant"),
        ("Kindergarten teacher", "early years teacher"),
    ],
)
def test_a_gloss_carries_escos_preferred_label(title, label):
    assert label in [g.label for g in load_glossary().lookup(title)]


def test_preferred_label_is_where_the_labels_and_the_definition_agree():
    from career_matcher.domain.glossary import preferred_label

    assert preferred_label(
        "refuse collector household refuse collector", "Refuse collectors remove"
    ) == ("refuse collector")
    assert (
        preferred_label("nursery nanny childminder", "Nursery nannies look after")
        == "nursery nanny"
    )
    assert preferred_label("fireman firefighter", "Firemen put out fires") == "fireman"


def test_escos_label_counts_as_a_title_and_nowhere_else():
    """ESCO's name for the person's title competes with O*NET's titles; it is not something
    the person did, so it adds nothing to activities, coverage or TF-IDF."""
    from career_matcher.domain.catalog import load_catalog
    from career_matcher.domain.matcher import Statement, _side
    from career_matcher.embeddings import load_embedder

    cat, emb = load_catalog(), load_embedder()
    own = [Statement("Loading waste on a 3-person crew.", 0.8, "experience")]
    with_label = [*own, Statement("refuse collector", 1.0, "label")]
    a = _side(cat, own, emb.embed([s.text for s in own]))
    b = _side(cat, with_label, emb.embed([s.text for s in with_label]))
    for part in ("activity", "description", "coverage", "tfidf"):
        assert np.allclose(a.parts[part], b.parts[part], atol=1e-6), part
    j = cat.codes.index("53-7081.00")
    assert b.parts["title"][j] > a.parts["title"][j]


def test_escos_labels_spell_out_acronyms_that_onets_text_does_not():
    from career_matcher.domain.spelling import label_acronyms, load_speller

    found = label_acronyms(["human resources officer hr officer personnel officer", "of for"])
    assert found == {"hr": "human resources"}
    assert load_speller().normalise("HR assistant") == "HR human resources assistant"
    # O*NET's own long form wins where both spell it out
    assert "computer numerical control" in load_speller().normalise("CNC programming")


def test_a_wish_in_chat_style_is_a_goal():
    from career_matcher.domain.matcher import ASPIRATION_CUE

    assert ASPIRATION_CUE.search("tryin to get to sales manager")
    assert ASPIRATION_CUE.search("thinkin bout pastry school")
    assert not ASPIRATION_CUE.search("sold phones n plans")


def test_a_title_names_the_job_and_the_place_is_context():
    """ "A&P mechanic at an airline": the title part scores "A&P mechanic"; "an airline"
    stays as weaker context, and the person's own words are what is quoted."""
    from career_matcher.domain.matcher import PLACE_WEIGHT, build_query
    from profile_analyzer.domain.analyzer import analyze, normalise

    raw = {
        "summary": "",
        "skills": [],
        "experience": [],
        "education": [],
        "interests": [],
        "goals": "A&P mechanic at an airline",
    }
    profile = normalise(raw)
    q = build_query(analyze(profile, as_of="2025-11"), profile)
    goal = next(
        s for s in q.aspiration if s.kind == "goal" and s.own == "A&P mechanic at an airline"
    )
    assert goal.text == "A&P mechanic"
    place = [s for s in q.aspiration if s.kind == "place"]
    assert place and place[0].text == "an airline" and place[0].weight == PLACE_WEIGHT


def test_a_one_line_summary_that_opens_with_the_job_names_it():
    """ "Property manager for two apartment communities." is the person's title when nothing
    else names their job; with a role listed, the summary adds no second title."""
    from career_matcher.domain.matcher import build_query
    from profile_analyzer.domain.analyzer import analyze, normalise

    raw = {"summary": "Property manager for two apartment communities.", "skills": []}
    raw |= {"experience": [], "education": [], "interests": []}
    p = normalise(raw)
    titles = [
        s.text for s in build_query(analyze(p, as_of="2025-11"), p).history if s.kind == "title"
    ]
    assert titles == ["Property manager"]
    role = {"title": "Leasing Agent", "organization": "", "startDate": "2020-01", "endDate": None}
    p = normalise({**raw, "experience": [{**role, "description": ""}]})
    titles = [
        s.text for s in build_query(analyze(p, as_of="2025-11"), p).history if s.kind == "title"
    ]
    assert titles == ["Leasing Agent"]
    p = normalise({**raw, "summary": "I fix bikes and cleaning offices on the night crew."})
    assert not [s for s in build_query(analyze(p, as_of="2025-11"), p).history if s.kind == "title"]
