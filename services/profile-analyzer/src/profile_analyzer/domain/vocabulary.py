"""The ESCO skill vocabulary (committed data, built by career-matcher's build_catalog.py)."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from careers_occupations import load_occupations

_TOKEN = re.compile(r"[a-z0-9][a-z0-9+#.]*[a-z0-9+#]|[a-z0-9]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


@dataclass(frozen=True, slots=True)
class EscoSkill:
    id: str
    label: str
    alt: str
    definition: str

    @property
    def uri(self) -> str | None:
        return f"http://data.europa.eu/esco/skill/{self.id}" if self.id else None


@dataclass(frozen=True, slots=True)
class SkillMatch:
    skill: EscoSkill | None
    label: str
    confidence: float


def _strip_qualifier(label: str) -> str:
    return re.sub(r"\s*\([^)]*\)\s*$", "", label).strip()


class Vocabulary:
    """Lexical lookup of free-text skills in ESCO labels (preferred + alternative)."""

    def __init__(self, skills: list[EscoSkill]) -> None:
        self.skills = skills
        self.by_label: dict[str, list[int]] = {}
        self.by_token: dict[str, list[int]] = {}
        self._alt_tokens: list[str] = []
        for i, s in enumerate(skills):
            for key in {s.label.casefold(), _strip_qualifier(s.label).casefold()}:
                self.by_label.setdefault(" ".join(tokens(key)), []).append(i)
            toks = tokens(f"{s.label} {s.alt}")
            self._alt_tokens.append(" " + " ".join(toks) + " ")
            for t in set(toks):
                self.by_token.setdefault(t, []).append(i)

    def lookup(self, text: str) -> SkillMatch:
        """Map a free-text skill to an ESCO concept, or report it unmapped (never guessed)."""
        toks = tokens(text)
        if not toks:
            return SkillMatch(None, text.strip(), 0.0)
        key = " ".join(toks)
        exact = self.by_label.get(key)
        if exact:
            best = min(
                exact,
                key=lambda i: (not self.skills[i].id, len(self.skills[i].alt), self.skills[i].id),
            )
            return SkillMatch(self.skills[best], self.skills[best].label, 0.95)
        # phrase inside the labels of a concept (alternative labels)
        cands = set(self.by_token.get(toks[0], []))
        for t in toks[1:]:
            cands &= set(self.by_token.get(t, []))
        phrase = f" {key} "
        hits = [i for i in cands if phrase in self._alt_tokens[i]]
        proper = text.strip()[:1].isupper() and len(toks) == 1
        starts = [
            i
            for i in hits
            if self._alt_tokens[i].startswith(phrase)
            and (not proper or self.skills[i].label[:1].isupper() or text.isupper())
        ]
        if starts:  # the first (preferred) label begins with the text: "statistics ..."
            best = min(
                starts,
                key=lambda i: (not self.skills[i].id, len(self._alt_tokens[i]), self.skills[i].id),
            )
            return SkillMatch(self.skills[best], self.skills[best].label, 0.85)

        def jaccard(i: int) -> float:
            lt = set(tokens(self.skills[i].label))
            return len(lt & set(toks)) / len(lt | set(toks))

        hits = [i for i in hits if len(toks) >= 2 and jaccard(i) >= 0.34]
        if hits:
            best = min(
                hits, key=lambda i: (-jaccard(i), len(self._alt_tokens[i]), self.skills[i].id)
            )
            return SkillMatch(self.skills[best], self.skills[best].label, 0.7)
        # strong word overlap with a preferred label
        pool: set[int] = set()
        for t in toks:
            if len(self.by_token.get(t, [])) < 400:
                pool |= set(self.by_token.get(t, []))
        best_i, best_j = -1, 0.0
        for i in sorted(pool):
            lt = set(tokens(self.skills[i].label))
            jac = len(lt & set(toks)) / len(lt | set(toks))
            if jac > best_j:
                best_i, best_j = i, jac
        if best_i >= 0 and best_j >= 0.6:
            return SkillMatch(self.skills[best_i], self.skills[best_i].label, 0.6)
        return SkillMatch(None, text.strip(), 0.3)


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    raw = resources.files("profile_analyzer").joinpath("data", "esco_skills.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    return Vocabulary(
        [EscoSkill(s["id"], s["label"], s["alt"], s["definition"]) for s in data["skills"]]
    )


# words that say nothing about a line of work, even when ESCO happens to use them
_VAGUE = frozenset(
    [
        "the",
        "and",
        "for",
        "you",
        "your",
        "with",
        "need",
        "needs",
        "help",
        "work",
        "works",
        "working",
        "job",
        "jobs",
        "looking",
        "want",
        "hello",
        "thanks",
        "please",
        "any",
        "something",
        "anything",
        "good",
        "great",
        "like",
        "just",
        "get",
        "find",
        "finding",
        "career",
        "careers",
        "new",
        "nothing",
        "know",
        "not",
        "yet",
        "sure",
        "idea",
        "ideas",
    ]
)
MAX_CONCEPTS_FOR_SPECIFIC = 200  # a word in more ESCO skills than this is too general


@lru_cache(maxsize=1)
def occupation_words() -> frozenset[str]:
    """Every word of ESCO's occupation labels (British English job titles)."""
    return frozenset(t for o in load_occupations() for t in tokens(o.labels))


def specific_words(text: str, vocab: Vocabulary | None = None) -> list[str]:
    """The words of ``text`` that name a job or a skill ESCO knows (not vague ones)."""
    vocab = vocab or load_vocabulary()
    jobs = occupation_words()
    out = []
    for t in tokens(text):
        if len(t) < 3 or t in _VAGUE or t.isdigit():
            continue
        n = len(vocab.by_token.get(t, ()))
        if t in jobs or 0 < n <= MAX_CONCEPTS_FOR_SPECIFIC:
            out.append(t)
    return out
