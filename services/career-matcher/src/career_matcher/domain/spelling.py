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

Three more classes of informal writing are handled the same general way:

* *Shorthand* ("n", "w/", "bout", "yrs", "mgr", "tech", "op"): the usual chat and CV
  abbreviations (``ABBREVIATIONS``), each with one clear meaning, are written out.
* *Dropped vowels* ("clr", "mntnce", "bldg"): an unknown word of consonants is the
  catalog's most frequent word with that consonant skeleton.
* *Acronyms* ("CNC", "HVAC", "SCADA"): O*NET spells them out in its own text ("computer
  numerical control (CNC)"); those pairs are found with the Schwartz-Hearst algorithm
  and the long form is added after the acronym. ESCO names one occupation both ways
  ("human resources officer", "HR officer"): those pairs add the acronyms O*NET's text
  does not spell out (``label_acronyms``).
* *British spelling* ("counsellor", "colour", "organisation", "paediatric", "licence"):
  written the American way O*NET uses when only that form is in O*NET's words, so
  "school counsellor" and "school counselor" meet (``us_spelling``).
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
_VOWELS = frozenset("aeiou")

# Common chat and CV shorthand, each with one meaning in a profile. Words, not phrases:
# a general list (SMS and résumé abbreviations), never a profile's own slang.
ABBREVIATIONS = {
    "n": "and",
    "w": "with",
    "b4": "before",
    "bout": "about",
    "abt": "about",
    "thru": "through",
    "tho": "though",
    "cuz": "because",
    "coz": "because",
    "u": "you",
    "ur": "your",
    "yr": "year",
    "yrs": "years",
    "hr": "hour",
    "hrs": "hours",
    "wk": "week",
    "wks": "weeks",
    "mo": "month",
    "mos": "months",
    "nite": "night",
    "nites": "nights",
    "ppl": "people",
    "govt": "government",
    "mgr": "manager",
    "mgrs": "managers",
    "mgmt": "management",
    "asst": "assistant",
    "admin": "administration",
    "dept": "department",
    "maint": "maintenance",
    "tech": "technician",
    "techs": "technicians",
    "op": "operator",
    "ops": "operations",
    "rep": "representative",
    "reps": "representatives",
    "cert": "certificate",
    "certs": "certificates",
    "exp": "experience",
    "svc": "service",
    "info": "information",
    "bizness": "business",
    "biz": "business",
    "lic": "license",
    "equip": "equipment",
    "approx": "approximately",
    "supv": "supervisor",
    "mech": "mechanical",
    "elec": "electrical",
    "apprx": "approximately",
}
_SLASH_WITH = re.compile(r"\b[wW]/(?=\s|\w)")

# British -> American spelling rules (suffix, replacement); applied only when the result is
# one of O*NET's words and the original is not
_US_RULES = (
    ("isations", "izations"),
    ("isation", "ization"),
    ("ising", "izing"),
    ("ised", "ized"),
    ("ises", "izes"),
    ("ise", "ize"),
    ("yse", "yze"),
    ("ysed", "yzed"),
    ("ysing", "yzing"),
    ("our", "or"),
    ("ours", "ors"),
    ("ourer", "orer"),
    ("oured", "ored"),
    ("ouring", "oring"),
    ("llor", "lor"),
    ("llors", "lors"),
    ("lled", "led"),
    ("lling", "ling"),
    ("tre", "ter"),
    ("tres", "ters"),
    ("ogue", "og"),
    ("ogues", "ogs"),
    ("ence", "ense"),
    ("ences", "enses"),
    ("mme", "m"),
    ("mmes", "ms"),
)


def us_spelling(word: str, us_words: dict[str, int] | frozenset[str]) -> str:
    """``word`` as O*NET (American) spells it, when only that form is one of its words."""
    if word in us_words:
        return word
    cands = []
    for old, new in _US_RULES:
        if word.endswith(old) and len(word) > len(old) + 2:
            cands.append(word[: -len(old)] + new)
    for old, new in (("ae", "e"), ("oe", "e")):  # paediatric, anaesthetist, oestrogen
        if old in word[1:]:
            cands.append(word[0] + word[1:].replace(old, new))
    for c in cands:
        # O*NET's words are often plural ("Counselors"): the singular counts too
        if c in us_words or c + "s" in us_words:
            return c
    return word


def _skeleton(word: str) -> str:
    """First letter, then the consonants without repeats: "colour" -> "clr"."""
    out = [word[0]]
    for ch in word[1:]:
        if ch not in _VOWELS and ch != out[-1]:
            out.append(ch)
    return "".join(out)


_ACRONYM = re.compile(r"\(([A-Z][A-Za-z0-9]{1,7})\)")


def _acronym_key(short: str) -> str:
    """ "EKGs" -> "ekg" (a plural in lower case), "BLS" -> "bls"."""
    return (short[:-1] if short.endswith("s") and len(short) > 2 else short).casefold()


def _long_form(short: str, before: str) -> str | None:
    """Schwartz & Hearst (2003): the shortest run of words before "(SF)" whose letters
    spell the short form, each match at or after the start of a word, the first at one."""
    sf = [c.casefold() for c in _acronym_key(short) if c.isalnum()]
    words = before.split()[-(min(len(sf) + 5, 2 * len(sf))) :]
    lf = " ".join(words).casefold()
    i, j = len(sf) - 1, len(lf) - 1
    while i >= 0:
        c = sf[i]
        while j >= 0 and (lf[j] != c or (i == 0 and j > 0 and lf[j - 1].isalnum())):
            j -= 1
        if j < 0:
            return None
        i -= 1
        j -= 1
    start = lf.rfind(" ", 0, j + 1) + 1
    out = lf[start:].strip(" ,;:-")
    return out if len(out.split()) >= 2 else None


def acronyms(texts: list[str]) -> dict[str, str]:
    """Acronym (case-folded) -> its most frequent long form in ``texts``."""
    seen: dict[str, Counter[str]] = {}
    for text in texts:
        for m in _ACRONYM.finditer(text):
            lf = _long_form(m.group(1), text[: m.start()])
            if lf:
                seen.setdefault(_acronym_key(m.group(1)), Counter())[lf] += 1
    return {a: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for a, c in sorted(seen.items())}


def label_acronyms(labels: list[str]) -> dict[str, str]:
    """Acronyms that one occupation's labels also spell out: in "human resources officer
    ... hr officer", "hr" stands before the word that follows "human resources", whose
    initials it is. ``labels`` are lower case, one string per occupation."""
    seen: dict[str, Counter[str]] = {}
    for lab in labels:
        toks = lab.split()
        for k, short in enumerate(toks[:-1]):
            if not (2 <= len(short) <= 5 and short.isalpha()):
                continue
            for m in range(len(short), len(toks)):
                words = toks[m - len(short) : m]
                if (
                    m != k + 1
                    and toks[m] == toks[k + 1]
                    and "".join(w[0] for w in words) == short
                    and all(len(w) > 2 and w.isalpha() for w in words)
                ):
                    seen.setdefault(short, Counter())[" ".join(words)] += 1
    return {a: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for a, c in sorted(seen.items())}


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

    def __init__(
        self,
        texts: list[str],
        words: dict[str, int] | None = None,
        us_texts: list[str] | None = None,
        labels: list[str] | None = None,
    ) -> None:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w.casefold() for w in _WORD.findall(text))
        self.freq: dict[str, int] = dict(counts)
        self.words: dict[str, int] = words or {}
        # O*NET's own (American) words; ``texts`` may include British labels
        us: Counter[str] = Counter()
        for text in us_texts or []:
            us.update(w.casefold() for w in _WORD.findall(text))
        self.us: dict[str, int] = dict(us)
        # O*NET's own long forms first, then those ESCO's labels show
        self.acronyms = label_acronyms(labels or []) | acronyms(us_texts or [])
        self._skeletons: dict[str, str] | None = None
        self._cache: dict[str, tuple[str, bool]] = {}

    def skeleton_word(self, word: str) -> str | None:
        """The catalog's most frequent word whose consonant skeleton is ``word``."""
        if self._skeletons is None:
            best: dict[str, tuple[int, str]] = {}
            for w, f in self.freq.items():
                if len(w) >= 4 and w.isalpha():
                    k = _skeleton(w)
                    if len(k) >= 3 and (k not in best or (-f, w) < (-best[k][0], best[k][1])):
                        best[k] = (f, w)
            self._skeletons = {k: w for k, (_f, w) in best.items()}
        return self._skeletons.get(word)

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
        if word.islower() and word in ABBREVIATIONS:
            return ABBREVIATIONS[word]
        if word.islower() and word not in self.us and self.known(word):
            # a British spelling of one of O*NET's words ("counsellor", "colour")
            return us_spelling(word, self.us)
        if len(word) < 3 or not word.islower() or self.known(word):
            return word
        # dropped vowels ("clr", "mntnce", "bldg"): at most one vowel after the first letter
        if sum(ch in _VOWELS for ch in word[1:]) <= 1 and len(_skeleton(word)) >= 3:
            full = self.skeleton_word(_skeleton(word))
            if full:
                return full
        if len(word) < MIN_LEN:
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

    def _acronym(self, word: str) -> str | None:
        """The long form of an acronym written in capitals, or in lower case when it is
        no word ("CNC", "hvac")."""
        lf = self.acronyms.get(_acronym_key(word)) or self.acronyms.get(word.casefold())
        caps = word.isupper() or (word[:-1].isupper() and word.endswith("s"))
        if lf and (caps or (word.islower() and not self.known(word))):
            return f"{word} {lf}"
        return None

    def normalise(self, text: str, budget: list[int] | None = None) -> str:
        text = _SLASH_WITH.sub("with ", text)

        def fix(m: re.Match[str]) -> str:
            w = m.group(0)
            return self._acronym(w) or self.correct(w, budget)

        return _WORD.sub(fix, text)


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
    us = [o["title"] + " " + o["description"] for o in cat.occupations]
    us += cat.tasks + [d["title"] for d in cat.dwas]
    labels = load_glossary().labels
    return Speller(us + labels, _english_words(), us_texts=us, labels=labels)
