"""Chat-style text made matchable: dropped g's and one-letter slips, in lower-case words.

People write "mowin n edgin", "irigation", "pesticide aplicator", "food safty". The
matcher scores a normalised copy of each statement; what it shows (quotes, matched
skills) stays the person's own wording.

The dictionary is the catalog's own language (every word of O*NET's titles, descriptions,
tasks and work activities and of ESCO's occupation labels, with its frequency) plus 44k
everyday English words (``data/english_words.json.gz``, from pyspellchecker's frequency
list), so "patios", "roses" and "mutton" stay as they are. A word that is in neither is corrected only when it is lower case
(not an acronym or a name), at least 4 letters long, and either drops a final "g"
("landscapin" -> "landscaping") or is one edit (insert, delete, replace, swap) away from
known words, the most frequent in the catalog winning. Deterministic; built once.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

_WORD = re.compile(r"[A-Za-z]+")
MIN_LEN = 4
MIN_LEN_EDIT = 5  # shorter words have too many one-edit neighbours
MAX_LEN_EDIT = 20  # longer "words" are not typos
EDIT_BUDGET = 300  # edit searches per profile (~60 ms at most)
MAX_CACHE = 200_000  # remembered words; cleared when full


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _edits1(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return (
        {a + b[1:] for a, b in splits if b}
        | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        | {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
        | {a + c + b for a, b in splits for c in _LETTERS}
    )


class Speller:
    """``texts`` give the domain words and their frequencies; ``words`` more known words."""

    def __init__(self, texts: list[str], words: dict[str, int] | None = None) -> None:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w.casefold() for w in _WORD.findall(text))
        self.freq: dict[str, int] = dict(counts)
        self.words: dict[str, int] = words or {}
        self._cache: dict[str, tuple[str, bool]] = {}

    def known(self, word: str) -> bool:
        if word in self.freq or word in self.words:
            return True
        for suffix in ("s", "es"):  # the general word list has singulars only
            if word.endswith(suffix) and len(word) > len(suffix) + 2:
                stem = word[: -len(suffix)]
                if stem in self.freq or stem in self.words:
                    return True
        return False

    def correct(self, word: str, budget: list[int] | None = None) -> str:
        """The known word meant by a lower-case ``word`` (itself when known or unsure).

        ``budget`` (a one-item list) counts the edit searches left for this profile: a
        search costs ~0.2 ms, and a 150,000-character profile of made-up words must not
        buy 20,000 of them. A word that needs a search spends budget even when its answer
        is cached, so a profile's result never depends on what the process saw before.
        """
        hit = self._cache.get(word)
        if hit is None:
            cheap = self._without_search(word)
            if cheap is not None:
                hit = (cheap, False)
            else:
                if budget is not None and budget[0] <= 0:
                    return word
                if budget is not None:
                    budget[0] -= 1
                hit = (self._search(word), True)
                budget = None  # paid
            if len(self._cache) >= MAX_CACHE:
                self._cache.clear()
            self._cache[word] = hit
        out, searched = hit
        if searched and budget is not None:
            if budget[0] <= 0:
                return word
            budget[0] -= 1
        return out

    def _without_search(self, word: str) -> str | None:
        """The answer when no edit search is needed, else None."""
        if len(word) < MIN_LEN or not word.islower() or self.known(word):
            return word
        if word.endswith("in") and self.known(word + "g"):
            return word + "g"
        if not MIN_LEN_EDIT <= len(word) <= MAX_LEN_EDIT:
            return word
        return None

    def _search(self, word: str) -> str:
        cands = [w for w in _edits1(word) if w in self.freq or w in self.words]
        if not cands:
            return word
        # a word of the catalog first, then the commonest English word
        return min(cands, key=lambda w: (-self.freq.get(w, 0), -self.words.get(w, 0), w))

    def normalise(self, text: str, budget: list[int] | None = None) -> str:
        return _WORD.sub(lambda m: self.correct(m.group(0), budget), text)


def _english_words() -> dict[str, int]:
    """Everyday English words and their frequency (committed; see data/ATTRIBUTION.md)."""
    import gzip
    import json
    from importlib import resources

    raw = resources.files("career_matcher").joinpath("data", "english_words.json.gz")
    words: dict[str, int] = json.loads(gzip.decompress(raw.read_bytes()))["words"]
    return words


@lru_cache(maxsize=1)
def load_speller() -> Speller:
    from career_matcher.domain.catalog import load_catalog
    from career_matcher.domain.glossary import load_glossary

    cat = load_catalog()
    texts = [o["title"] + " " + o["description"] for o in cat.occupations]
    texts += cat.tasks + [d["title"] for d in cat.dwas] + load_glossary().labels
    return Speller(texts, _english_words())
