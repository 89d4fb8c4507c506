"""CareerMatcher domain: rank O*NET occupations for a profile analysis.

Hybrid score, computed separately for the person's *history* (summary, roles, skills,
education) and their *aspirations* (stated goals, interests), so a career changer is
matched to where they want to go while their history still counts:

* ``activity``  - each profile statement vs the occupation's task statements and detailed
                  work activities (DWAs), best match per statement, weighted mean
* ``description`` - profile centroid vs occupation title + description
* ``coverage``  - share of the occupation's DWAs (weighted by specificity) the person shows
* ``tfidf``     - lexical TF-IDF cosine against the occupation document
* ``title``     - the person's titles / goal phrases vs the occupation title

Each part is scaled to 0..1 over the whole catalog, then combined with fixed weights.
A reachability factor prefers entry points for students, a diversity step keeps the top
results from being variants of one SOC broad occupation (e.g. five kinds of registered
nurse), and gaps are the occupation's most
specific activities the person does not show. Same input -> identical output (ties are
broken by code, floats rounded).
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from careers_contracts.analysis import ProfileAnalysis, Recommendation, Wages
from careers_contracts.profile import ProfileSubmission

from career_matcher.domain.catalog import Catalog, load_catalog, stem, terms
from career_matcher.domain.glossary import Glossary, load_glossary, names_a_job
from career_matcher.domain.spelling import EDIT_BUDGET, load_speller
from career_matcher.embeddings import Embedder, load_embedder

# weights of the parts (sum 1); tuned as general weights, never per profile
WEIGHTS = {"activity": 0.30, "description": 0.15, "coverage": 0.15, "tfidf": 0.20, "title": 0.20}
# a goal names where to go, usually by a title: the title counts more on that side
ASP_WEIGHTS = {
    "activity": 0.25,
    "description": 0.15,
    "coverage": 0.10,
    "tfidf": 0.15,
    "title": 0.35,
}
GOAL_SHARE = 0.7  # share of the aspiration side when the person states goals: they lead
IMPLIED_GOAL_SHARE = 0.6  # ... when the goal is only said in the summary ("I want to ...")
INTEREST_SHARE = 0.3
UNNAMED_GOAL_SHARE = 0.3  # ... when it is only said in the summary and names no job  # share of the aspiration side when there are only interests
# a summary sentence that says where the person wants to go ("Now aiming for ...",
# "keen on ...", "tryna get my licence ...", "thinking about pastry school")
_CUES = (
    r"\b(want(?:s|ed)? to|wanna|would like to|i'?d like to|hop(?:e|ing) to|aim(?:ing)? "
    r"(?:for|to)|aspir(?:e|ing)|keen (?:on|to)|looking to|plan(?:ning)? to|intend to|"
    r"tryna|trying to get|thinking (?:bout|about|of)|dream(?:ing)? (?:of|job)|"
    r"my goal|goal is|next step|ideally|working towards?|"
    r"move into|moving into|transition(?:ing)? (?:to|into)|switch(?:ing)? to)\b"
)
# chat-style text drops the g ("tryin to get", "lookin for"): every -ing of a cue also
# matches without it
ASPIRATION_CUE = re.compile(_CUES.replace("ing", "in[g']?"), re.IGNORECASE)
COVER_SIM = 0.62  # a DWA counts as shown when a statement is this close to it
GAP_SIM = 0.55  # a DWA below this for every statement is a gap
MAX_PER_BROAD_GROUP = 2
EXPERIENCED_ONLY = re.compile(r"\b(Chief|Managers?|Supervisors?|Directors?|Executives?)\b")
GRADUATE_DEGREE = re.compile(r"\bPostsecondary\b")  # college teaching needs a graduate degree
# SOC groups whose practice needs a doctoral or professional degree: physicians and
# surgeons (29-12xx), dentists (29-102x)
DOCTORAL_SOC = ("29-12", "29-102")
REACH_PENALTY = 0.85
# a profile of at most FEW_WORDS words of its own gets the full base-rate weight, a longer
# one proportionally less
BASE_RATE_WEIGHT = 0.06
FEW_WORDS = 30
OWN_KINDS = frozenset(
    ["summary", "experience", "title", "skill", "education", "goal", "interest", "place"]
)


@dataclass
class Statement:
    text: str
    weight: float
    # summary | experience | title | skill | education | goal | interest | gloss | label | place
    kind: str
    shown: str = ""  # the person's own wording when ``text`` (what is scored) was normalised

    @property
    def own(self) -> str:
        return self.shown or self.text


@dataclass
class Query:
    history: list[Statement] = field(default_factory=list)
    aspiration: list[Statement] = field(default_factory=list)
    skills: list[str] = field(default_factory=list)
    # the analyzer's vocabulary label of each listed skill ("Python (computer
    # programming)"), a second, normalised view used to tell which skills an occupation uses
    skill_labels: dict[str, str] = field(default_factory=dict)
    label_vecs: dict[int, np.ndarray] = field(default_factory=dict)  # statement -> vector
    has_goals: bool = False
    implied_goals: bool = False  # goals found only in the summary
    goal_text: str = ""  # the person's own words for where they want to go
    goal_names_job: bool = False  # a goal names an occupation (ESCO has a label for it)
    has_titles: bool = False  # the person names their own job (headline, roles, "Roofer.")


# where or for whom the work is done, after the job's name ("mechanic at an airline",
# "Housekeeper at a hotel", "nurse in a care home")
_WHERE = re.compile(
    r"\s+(?:at|in|with|for|on)\s+((?:an?|the|my|our|local|a local)\s+.+)$", re.IGNORECASE
)


# a summary that opens with the person's job ("Property manager for two apartment
# communities", "Staff accountant at an insurance broker"): up to five words, then a comma,
# a place or the end
_LEAD_TITLE = re.compile(
    r"^(?!(?:i|i'm|im|my|we|me)\b)([a-z][\w&'-]*(?:\s+[\w&'-]+){0,4}?)"
    r"(?=\s*(?:[,;:.(]|\s(?:at|in|for|with|on|since|from)\s|$))",
    re.IGNORECASE,
)
PLACE_WEIGHT = 0.3  # the place named after a title or goal, relative to the title


def _split_goal(goal: str) -> list[str]:
    parts = [goal.strip()]
    for piece in re.split(r",|;|\bor\b|\band\b|/", goal):
        piece = piece.strip(" .")
        if piece and piece.casefold() != goal.strip(" .").casefold() and len(piece) > 1:
            parts.append(piece)
    return parts


# a full stop that ends an abbreviation, not a sentence: dotted initials ("M.Ed.", "B.Sc.",
# "U.S.", "e.g.") and the short forms that come before a name ("Dr.", "St.")
_ABBREVIATION = re.compile(r"(?:\b(?:[A-Za-z]{1,3}\.){2,}|\b(?:Dr|Mr|Mrs|Ms|Mt|St|vs)\.)$")


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    for piece in re.split(r"(?<=[.!?;])\s+|\n+", text or ""):
        piece = piece.strip()
        if not piece:
            continue
        if out and _ABBREVIATION.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


GLOSS_WEIGHT = 1.0  # an ESCO description of a title the person wrote, per mention


def _add_glosses(stmts: list[Statement], glossary: Glossary, context: frozenset[str]) -> None:
    """Append ESCO's description of each occupation the titles (or goals) name.

    Each mention of a title adds its description again, as each mention of the title
    itself counts again: the meaning weighs what the words weigh.
    """
    for s in list(stmts):
        if s.kind not in ("title", "goal"):
            continue
        # a common British word for the job, in the usual words ("Site Foreman" -> "Site
        # supervisor"), as one more title
        words = s.text.split()
        swapped = [glossary.synonym(w.casefold().strip(".,;:()")) or w for w in words]
        if s.kind == "title" and swapped != words:
            stmts.append(Statement(" ".join(swapped), s.weight, "title", shown=s.own))
        glosses = glossary.lookup(s.text, context)
        for g in glosses:
            w = GLOSS_WEIGHT * s.weight / len(glosses)
            stmts.append(Statement(g.definition, w, "gloss"))
            if g.label and g.label != g.phrase:
                stmts.append(Statement(g.label, w, "label"))


def build_query(
    analysis: ProfileAnalysis,
    profile: ProfileSubmission | None = None,
    glossary: Glossary | None = None,
) -> Query:
    """Separate what the person has done from where they want to go."""
    glossary = glossary or load_glossary()
    q = Query()
    skills = [
        s.evidence[0].removeprefix("skills: ") if s.evidence else s.label for s in analysis.skills
    ]
    q.skills = skills
    q.skill_labels = {
        (s.evidence[0].removeprefix("skills: ") if s.evidence else s.label): s.label
        for s in analysis.skills
        if s.vocabulary_id
    }
    if profile is not None:
        leads: list[Statement] = []
        if profile.headline:
            q.history.append(Statement(profile.headline, 1.0, "title"))
        for s in _sentences(profile.summary):
            cue = ASPIRATION_CUE.search(s)
            if cue:
                # where they want to go is what follows the cue ("... I want to | become X")
                wish = s[cue.end() :].strip(" :,-.") if len(s[cue.end() :].split()) >= 2 else s
                for g in _split_goal(wish):
                    q.aspiration.append(Statement(g, 1.0, "goal"))
                q.implied_goals = True
                q.goal_text = q.goal_text or wish
            else:
                # a summary of a word or three ("Roofer.", "Nurse") is a title
                kind = "title" if len(s.split()) <= 3 else "summary"
                q.history.append(Statement(s, 1.0, kind))
                lead = _LEAD_TITLE.match(s) if kind == "summary" else None
                if lead and names_a_job(lead.group(1).split()[-1].casefold()):
                    leads.append(Statement(lead.group(1), 1.0, "title"))
        for e in profile.experience:
            q.history.append(Statement(e.title, 1.0, "title"))
            for s in _sentences(e.description):
                q.history.append(Statement(s, 0.8, "experience"))
        # the job a summary opens with, when nothing else names the person's job
        if not any(s.kind == "title" for s in q.history):
            q.history.extend(leads[:1])
        for ed in profile.education:
            if ed.field:
                q.history.append(Statement(f"{ed.degree} in {ed.field}", 0.5, "education"))
    else:
        for s in _sentences(analysis.summary):
            if not s.startswith(("Goal:", "Interests:")):
                q.history.append(Statement(s, 0.8, "summary"))
    for s in skills:
        q.history.append(Statement(s, 0.6, "skill"))
    if analysis.goals:
        q.has_goals = True
        q.goal_text = analysis.goals
        for g in _split_goal(analysis.goals):
            q.aspiration.append(Statement(g, 1.0, "goal"))
    for i in analysis.interests:
        q.aspiration.append(Statement(i, 0.5, "interest"))
    # a title or goal names the job; where it is done is context, not the job's name
    for side in (q.history, q.aspiration):
        for st in list(side):
            m = _WHERE.search(st.text) if st.kind in ("title", "goal") else None
            if m and m.start() > 0:
                st.shown, st.text = st.own, st.text[: m.start()]
                side.append(Statement(m.group(1), PLACE_WEIGHT * st.weight, "place"))
    # the profile's specific words (in at most 15% of occupations, or unknown to O*NET)
    cat = load_catalog()
    rare = math.log((1 + len(cat.codes)) / (1 + 0.15 * len(cat.codes))) + 1.0
    # score chat-style text as meant ("mowin" -> "mowing"); show it as written
    speller = load_speller()
    budget = [EDIT_BUDGET]
    for st in q.history + q.aspiration:
        fixed = speller.normalise(st.text, budget)
        if fixed != st.text:
            st.shown, st.text = st.own, fixed
    context = frozenset(
        t for s in q.history + q.aspiration for t in terms(s.text) if cat.idf.get(t, rare) >= rare
    )
    _add_glosses(q.history, glossary, context)
    n_asp = len(q.aspiration)
    _add_glosses(q.aspiration, glossary, context)
    # a goal names a job when ESCO glosses it or one of its words is a job noun that is
    # part of an O*NET title ("nurse", "paralegal"); "be a lead or get on days" does not
    title_words = _title_words(cat)
    q.goal_names_job = len(q.aspiration) > n_asp or any(
        names_a_job(w) and stem(w) in title_words
        for s in q.aspiration
        if s.kind == "goal"
        for w in re.findall(r"[a-z]+", s.text.casefold())
    )
    q.has_titles = any(s.kind == "title" for s in q.history)
    return q


_TITLE_WORDS: dict[int, frozenset[str]] = {}


def _title_words(cat: Catalog) -> frozenset[str]:
    """Every term of O*NET's occupation titles (once per catalog)."""
    got = _TITLE_WORDS.get(id(cat))
    if got is None:
        got = _TITLE_WORDS[id(cat)] = frozenset(t for tt in cat.title_terms for t in tt)
    return got


# ----------------------------------------------------------------------------- scoring
def _scale(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


@dataclass
class SideScores:
    parts: dict[str, np.ndarray]  # each (O,), raw
    best_task: np.ndarray  # (S, O) best task/DWA sim per statement and occupation
    dwa_max: np.ndarray  # (len(dwa_cols),) best statement sim per occupation-DWA pair


def _side(cat: Catalog, stmts: list[Statement], vecs: np.ndarray) -> SideScores:
    # ESCO's name for a title the person wrote counts as a title, and only there
    w = np.array([0.0 if s.kind == "label" else s.weight for s in stmts], dtype=np.float32)
    sims_t = vecs @ cat.task_vecs.T  # (S, T)
    sims_d = vecs @ cat.dwa_vecs.T  # (S, D)
    best_t = np.maximum.reduceat(sims_t[:, cat.task_cols], cat.task_off, axis=1)
    pair_d = sims_d[:, cat.dwa_cols]  # (S, pairs)
    best_d = np.maximum.reduceat(pair_d, cat.dwa_off, axis=1)
    best = np.maximum(best_t, best_d)  # (S, O)
    activity = (w[:, None] * best).sum(0) / w.sum()

    centroid = (w[:, None] * vecs).sum(0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-9)
    description = cat.occ_vecs @ centroid

    dwa_max = np.where(w[:, None] > 0, pair_d, -1.0).max(0)
    shown = (dwa_max >= COVER_SIM).astype(np.float32) * cat.dwa_idf[cat.dwa_cols]
    total = np.add.reduceat(cat.dwa_idf[cat.dwa_cols], cat.dwa_off)
    coverage = np.add.reduceat(shown, cat.dwa_off) / np.maximum(total, 1e-9)

    query_terms = [
        t
        for s in stmts
        if s.kind != "label"
        for t in terms(s.text)
        for _ in range(1 if s.weight < 1 else 2)
    ]
    tfidf = cat.tfidf_scores(query_terms)

    title_stmts = [
        i for i, s in enumerate(stmts) if s.kind in ("title", "goal", "interest", "gloss", "label")
    ]
    if title_stmts:
        tsim = (vecs[title_stmts] @ cat.title_vecs.T).max(0)
        overlap = np.max(
            [
                cat.title_overlap(frozenset(terms(stmts[i].text)), family=stmts[i].kind != "gloss")
                for i in title_stmts
            ],
            axis=0,
        ).astype(np.float32)
        title = 0.6 * tsim + 0.4 * overlap
    else:
        title = np.zeros(len(cat.occupations), dtype=np.float32)
    return SideScores(
        {
            "activity": activity,
            "description": description,
            "coverage": coverage,
            "tfidf": tfidf,
            "title": title,
        },
        best,
        dwa_max,
    )


def _combine(side: SideScores, weights: dict[str, float] = WEIGHTS) -> np.ndarray:
    total: np.ndarray = np.sum([weights[k] * _scale(v) for k, v in side.parts.items()], axis=0)
    return total


@dataclass
class Scored:
    total: np.ndarray
    history: SideScores
    aspiration: SideScores | None
    hist_vecs: np.ndarray
    asp_vecs: np.ndarray | None
    asp_share: float


def score_all(
    cat: Catalog, q: Query, embedder: Embedder, seniority: str, education: str = "none"
) -> Scored:
    hist = q.history or [Statement("general work", 0.1, "summary")]
    hv = embedder.embed([s.text for s in hist])
    h = _side(cat, hist, hv)
    total = _combine(h)
    a = av = None
    share = 0.0
    if q.aspiration:
        av = embedder.embed([s.text for s in q.aspiration])
        a = _side(cat, q.aspiration, av)
        share = (
            GOAL_SHARE if q.has_goals else IMPLIED_GOAL_SHARE if q.implied_goals else INTEREST_SHARE
        )
        # a title the person gives outweighs a wish said in passing that names no job
        # ("wanna be a lead or get on days", "a job with benefits")
        if q.implied_goals and not q.has_goals and q.has_titles and not q.goal_names_job:
            share = UNNAMED_GOAL_SHARE
        weights = ASP_WEIGHTS if q.has_goals or q.implied_goals else WEIGHTS
        total = (1 - share) * total + share * _combine(a, weights)
    reach = np.ones(len(cat.occupations), dtype=np.float32)
    for j, o in enumerate(cat.occupations):
        if (
            (seniority in ("student", "entry") and EXPERIENCED_ONLY.search(o["title"]))
            or (education not in ("master", "doctorate") and GRADUATE_DEGREE.search(o["title"]))
            or (education != "doctorate" and o["code"].startswith(DOCTORAL_SOC))
        ):
            reach[j] = REACH_PENALTY
    total = total * reach
    # how common each occupation is, as much as the profile says little: with a few words
    # ("animals", "hotel housekeeping") the common jobs of the field come first
    words = sum(len(s.text.split()) for s in q.history + q.aspiration if s.kind in OWN_KINDS)
    total = total + BASE_RATE_WEIGHT * min(1.0, FEW_WORDS / max(words, 1)) * cat.base_rate
    return Scored(total, h, a, hv, av, share)


def diversify(order: list[int], cat: Catalog, limit: int) -> list[int]:
    """Greedy: at most MAX_PER_BROAD_GROUP per SOC broad occupation (``29-114``) in the top
    ``limit``. Per minor group (``53-30``) it hid the right job behind its siblings: a
    lorry driver's heavy-truck drivers behind light-truck and taxi drivers."""
    picked: list[int] = []
    skipped: list[int] = []
    per_group: dict[str, int] = {}
    for j in order:
        g = cat.codes[j][:6]
        if per_group.get(g, 0) < MAX_PER_BROAD_GROUP:
            picked.append(j)
            per_group[g] = per_group.get(g, 0) + 1
        else:
            skipped.append(j)
        if len(picked) == limit:
            return picked
    return (picked + skipped)[:limit]


# ----------------------------------------------------------------------------- explain
GAP_MAX_WORDS = 7  # a skill to build is a short phrase
MAX_QUOTE = 110  # longer task statements are not quoted; their short activity is


def _clip(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 3].rstrip() + "..."


def _phrase(text: str) -> str:
    """An O*NET activity as a phrase: whole, without its final full stop."""
    return " ".join(text.split()).rstrip(" .")


def _clause(text: str, n: int = 100) -> str:
    """The person's words, whole; a long sentence down to its first clauses (never cut
    mid-clause, never with an ellipsis)."""
    text = " ".join(text.split()).rstrip(" .;,")
    if len(text) <= n:
        return text
    out = ""
    for piece in re.split(r"(?<=[,;:])\s+|\s+[-\u2013]\s+", text):
        nxt = f"{out} {piece}".strip() if out else piece
        if len(nxt) > n:
            break
        out = nxt
    return out.rstrip(" ,;:") or text


def _named_in(words: set[str], doc: frozenset[str], ordered: list[str]) -> bool:
    """All of a skill's words, or two of them, are in the occupation's data; a word also
    meets its derivations there ("statistics" / "statistical", "program" / "programming").
    ``ordered`` is ``doc`` sorted, to find the longer words a word begins."""

    def has(w: str) -> bool:
        if w in doc:
            return True
        if len(w) < 5:
            return False
        # a shorter word of the data that ``w`` begins with, or a longer one beginning with it
        if any(w[:k] in doc for k in range(5, len(w))):
            return True
        k = bisect.bisect_left(ordered, w)
        return k < len(ordered) and ordered[k].startswith(w)

    hits = sum(has(w) for w in words)
    return hits == len(words) or hits >= 2


def _label_sims(q: Query, stmts: list[Statement], mat: np.ndarray) -> dict[int, float]:
    """Best similarity of each skill's vocabulary label to the occupation's work."""
    if not q.label_vecs:
        return {}
    return {i: float((v @ mat.T).max()) for i, v in q.label_vecs.items()}


def _details(cat: Catalog, j: int, sc: Scored, q: Query, embedder: Embedder) -> dict[str, Any]:
    occ = cat.occupations[j]
    t_idx = occ["tasks"]
    d_idx = occ["dwas"]
    texts = [cat.tasks[i] for i in t_idx] + [cat.dwas[i]["title"] for i in d_idx]
    mat = np.vstack([cat.task_vecs[t_idx], cat.dwa_vecs[d_idx]])
    stmts = q.history + q.aspiration
    vecs = sc.hist_vecs if sc.asp_vecs is None else np.vstack([sc.hist_vecs, sc.asp_vecs])
    if not q.history:
        vecs = vecs[1:] if sc.asp_vecs is not None else vecs
    sims = vecs[: len(stmts)] @ mat.T  # (S, tasks+dwas)

    # best evidence pair: a non-skill statement and the activity it is closest to
    pairs = sorted(
        (
            (float(sims[i].max()), i, int(sims[i].argmax()))
            for i, s in enumerate(stmts)
            if s.kind in ("summary", "experience", "title", "goal")
        ),
        key=lambda p: (-round(p[0], 4), p[1]),
    )
    # matched skills: the person's listed skills the occupation uses - close to one of its
    # tasks or activities, or named in its data - read as written (spelling normalised)
    # and as the skill vocabulary's label for it ("Python (computer programming)")
    doc_terms = cat.doc_terms(j)
    label_sims = _label_sims(q, stmts, mat)
    ordered = cat.sorted_doc_terms(j)
    matched = []
    for i, s in enumerate(stmts):
        if s.kind != "skill":
            continue
        sim = max(float(sims[i].max()), label_sims.get(i, 0.0))
        views = [set(terms(s.text))]
        if q.skill_labels.get(s.own):
            views.append(set(terms(q.skill_labels[s.own])))
        lexical = any(_named_in(st, doc_terms, ordered) for st in views if st)
        if sim >= 0.55 or lexical:
            matched.append((-(sim + (0.2 if lexical else 0.0)), i, s.own))
    matched_skills = [t for _k, _i, t in sorted(matched)][:8]

    # gaps: the occupation's most specific DWAs that none of the person's own statements
    # comes close to (ESCO glosses of their titles are not evidence of what they did), and
    # that none of them names (two shared words: "first aid" in "CPR and first aid")
    own = [i for i, s in enumerate(stmts) if s.kind not in ("gloss", "label")]
    dsims = sims[own, len(t_idx) :].max(0) if own else np.zeros(len(d_idx))
    own_terms = [set(terms(stmts[i].text)) for i in own]

    def named(d: int) -> bool:
        dt = cat.dwa_terms(d)
        return any(len(dt & ot) >= 2 for ot in own_terms)

    # skills to build: whole, short phrases ("Prepare data for analysis"), the most
    # specific first; a long activity only when there are not enough short ones
    gaps = sorted(
        (
            (
                len(cat.dwas[d]["title"].split()) > GAP_MAX_WORDS,
                -float(cat.dwa_idf[d]),
                k,
                _phrase(cat.dwas[d]["title"]),
            )
            for k, d in enumerate(d_idx)
            if dsims[k] < GAP_SIM and not named(d)
        ),
    )
    covered = [_phrase(cat.dwas[d]["title"]) for k, d in enumerate(d_idx) if dsims[k] >= COVER_SIM]
    # the closest pairs of the person's own sentence and the occupation's work, best first
    quotes: list[tuple[str, str, float]] = []
    for sim, i, k in pairs:
        if len(quotes) == 3:
            break
        if len(texts[k]) > MAX_QUOTE and len(d_idx):
            # a long task statement: quote the closest of its short work activities instead
            k = len(t_idx) + int(sims[i, len(t_idx) :].argmax())
        q_own = _clause(stmts[i].own)
        if all(q_own != prev for prev, _t, _s in quotes):
            quotes.append((q_own, _phrase(texts[k]), sim))
    # the person's title (or goal) that reads most like this occupation's title
    own_title: tuple[str, str, float] | None = None
    tvec = cat.title_vecs[j]
    cands = [(float(vecs[i] @ tvec), i) for i, s in enumerate(stmts) if s.kind in ("title", "goal")]
    if cands:
        tsim, i = max(cands, key=lambda c: (round(c[0], 4), -c[1]))
        own_title = (stmts[i].kind, _clause(stmts[i].own), tsim)
    return {
        "pairs": quotes,
        "named": own_title,
        "matched": matched_skills,
        "gaps": [g for _l, _s, _k, g in gaps][:5],
        "covered": covered,
        "n_dwas": len(d_idx),
    }


# verbs a stated goal usually starts with ("Become a ...", "Move into ...", "Get my ...")
_GOAL_VERBS = frozenset(
    [
        "become",
        "be",
        "move",
        "get",
        "join",
        "work",
        "start",
        "find",
        "land",
        "switch",
        "transition",
        "pursue",
        "go",
        "return",
        "train",
        "study",
        "open",
        "run",
        "lead",
        "build",
        "teach",
        "help",
        "grow",
        "manage",
        "design",
        "develop",
        "forecast",
        "make",
        "own",
        "earn",
        "qualify",
        "enter",
        "break",
        "stay",
        "keep",
        "do",
        "use",
        "write",
        "care",
        "crew",
        "fly",
        "drive",
        "sell",
    ]
)
_WANT_PREFIX = re.compile(
    r"^(?:i\s+)?(?:really\s+)?(?:want|wish|hope|plan|would like|'d like|d like)\s+to\s+|^to\s+",
    re.IGNORECASE,
)


_SECOND_PERSON = {"i": "you", "i'm": "you're", "im": "you're", "me": "you", "my": "your"}
_SECOND_PERSON |= {"myself": "yourself", "mine": "yours", "i've": "you've", "ive": "you've"}


def want_phrase(goal: str) -> str:
    """ "because you want to ..." completed with the person's own goal words."""
    g = " ".join(goal.split()).rstrip(" .!")
    g = _WANT_PREFIX.sub("", g)
    g = " ".join(_SECOND_PERSON.get(w.casefold(), w) for w in g.split(" "))
    first = g.split(" ", 1)[0].casefold() if g else ""
    if first in _GOAL_VERBS:
        return "because you want to " + g[:1].lower() + g[1:]
    return f'because you want to reach your goal: "{_clip(g, 100)}"'


def explain(cat: Catalog, j: int, sc: Scored, det: dict[str, Any], score: float, q: Query) -> str:
    """Plain words, no numbers (scores, codes and wages are fields of their own), led by
    what in this profile weighs most for this occupation: the goal, a title the person
    gave, something they wrote, or their skills."""
    occ = cat.occupations[j]
    title = occ["title"]
    parts_h = {k: float(_scale(v)[j]) for k, v in sc.history.parts.items()}
    parts_a = (
        {k: float(_scale(v)[j]) for k, v in sc.aspiration.parts.items()} if sc.aspiration else {}
    )
    reasons: list[tuple[float, str]] = []
    tail: list[str] = []
    if parts_a and q.goal_text:
        asp = sum(WEIGHTS[k] * v for k, v in parts_a.items())
        hist = sum(WEIGHTS[k] * v for k, v in parts_h.items())
        if asp >= hist or asp >= 0.55:
            reasons.append((asp + 0.2, f"{title}: suggested {want_phrase(q.goal_text)}."))
        else:
            tail.append("It fits what you have done so far more than your stated goal.")
    title_part = max(parts_h.get("title", 0.0), parts_a.get("title", 0.0))
    goal_led = bool(reasons)
    if det["named"] and title_part >= 0.8 and not (goal_led and det["named"][0] == "goal"):
        kind, words, _tsim = det["named"]
        whose = "goal" if kind == "goal" else "title"
        reasons.append((title_part, f'Your {whose} "{words}" names this kind of work: {title}.'))
    named_words = det["named"][1] if det["named"] and title_part >= 0.8 else None
    # the same words are not quoted twice (a title already named, the goal already said)
    fresh = [
        p
        for p in det["pairs"]
        if p[0] != named_words and not (goal_led and p[0].casefold() in q.goal_text.casefold())
    ]
    quoted = None
    if fresh:
        stmt, quoted, sim = fresh[0]
        reasons.append((sim, f'"{stmt}" is close to what {title} do: "{quoted}".'))
    if det["matched"]:
        strength = 0.5 + 0.08 * len(det["matched"])
        reasons.append((strength, f"{title} use your skills {_join(det['matched'][:5])}."))
    if not reasons:
        reasons.append((0.0, f"{title} is close to your profile as a whole."))
    reasons.sort(key=lambda r: -round(r[0], 4))
    out = [r for _s, r in reasons]
    if det["covered"]:
        out.append(
            f"You already show {len(det['covered'])} of its {det['n_dwas']} work activities, "
            f'such as "{det["covered"][0]}".'
        )
    out.extend(tail)
    gaps = [g for g in det["gaps"] if g != quoted]
    if gaps:
        out.append("Skills to build: " + "; ".join(gaps[:3]) + ".")
    return " ".join(out)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _wages(occ: dict[str, Any]) -> Wages | None:
    w = occ.get("wages")
    if not w:
        return None
    return Wages(
        annual_median=w["annualMedian"],
        annual_mean=w["annualMean"],
        hourly_median=w["hourlyMedian"],
        year=w["year"],
    )


# ----------------------------------------------------------------------------- entry point
def rank_order(cat: Catalog, sc: Scored) -> list[int]:
    """All occupations by score (rounded, so platform float noise cannot reorder), then code."""
    rounded = np.round(sc.total.astype(np.float64), 6)
    return sorted(range(len(cat.codes)), key=lambda j: (-rounded[j], cat.codes[j]))


def build_recommendations(
    cat: Catalog, q: Query, sc: Scored, top: list[int], embedder: Embedder
) -> list[Recommendation]:
    stmts = q.history + q.aspiration
    idx = [i for i, s in enumerate(stmts) if s.kind == "skill" and q.skill_labels.get(s.own)]
    if idx:  # the skills' vocabulary labels, embedded once for all recommendations
        vecs = embedder.embed([q.skill_labels[stmts[i].own] for i in idx])
        q.label_vecs = dict(zip(idx, vecs, strict=True))
    recs = []
    for rank, j in enumerate(top, start=1):
        score = round(float(np.clip(sc.total[j], 0.0, 1.0)), 4)
        det = _details(cat, j, sc, q, embedder)
        occ = cat.occupations[j]
        recs.append(
            Recommendation(
                occupation_code=occ["code"],
                title=occ["title"],
                score=score,
                rank=rank,
                explanation=explain(cat, j, sc, det, score, q),
                matched_skills=det["matched"],
                skill_gaps=det["gaps"],
                wages=_wages(occ),
            )
        )
    return recs


def recommend(
    analysis: ProfileAnalysis,
    profile: ProfileSubmission | None = None,
    *,
    limit: int = 10,
    catalog: Catalog | None = None,
    embedder: Embedder | None = None,
) -> list[Recommendation]:
    """Top ``limit`` recommendations for an analysis (and the profile, when available)."""
    cat = catalog or load_catalog()
    emb = embedder or load_embedder()
    q = build_query(analysis, profile)
    sc = score_all(cat, q, emb, analysis.seniority, analysis.education_level)
    top = diversify(rank_order(cat, sc)[: max(limit * 5, 50)], cat, limit)
    return build_recommendations(cat, q, sc, top, emb)
