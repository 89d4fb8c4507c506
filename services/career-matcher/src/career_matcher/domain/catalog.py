"""The committed occupation catalog (O*NET + OEWS wages) and its precomputed vectors."""

from __future__ import annotations

import bisect
import gzip
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

_TOKEN = re.compile(r"[a-z0-9][a-z0-9+#]*")
STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "other",
        "others",
        "such",
        "that",
        "the",
        "their",
        "them",
        "these",
        "this",
        "to",
        "using",
        "use",
        "used",
        "with",
        "without",
        "within",
        "may",
        "might",
        "can",
        "could",
        "will",
        "would",
        "i",
        "i'm",
        "im",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "they",
        "was",
        "were",
        "been",
        "being",
        "have",
        "has",
        "had",
        "do",
        "does",
        "did",
        "not",
        "no",
        "all",
        "any",
        "each",
        "more",
        "most",
        "some",
        "than",
        "then",
        "also",
        "via",
        "per",
        "etc",
        "e.g",
        "including",
        "includes",
        "include",
        "based",
        "work",
        "working",
        "works",
        "perform",
        "performing",
    ]
)


# a word meets the title words of its family when they share this many first letters
DERIV_MIN = 6


def tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.casefold()) if t not in STOP and len(t) > 1]


@lru_cache(maxsize=1 << 16)
def stem(t: str) -> str:
    """A tiny suffix stripper so 'designs'/'designing'/'designed' meet 'design'."""
    for suf in ("ations", "ation", "ings", "ing", "ers", "ies", "ed", "es", "er", "s"):
        if t.endswith(suf) and len(t) - len(suf) >= 3:
            base = t[: -len(suf)]
            if suf == "ies":
                return base + "y"
            return base
    # adverbs and adjectives meet their stem ("numerically" / "numerical" / "numeric",
    # "statistical" / "statistic")
    for suf, rep in (("ically", "ic"), ("ical", "ic"), ("ally", "al")):
        if t.endswith(suf) and len(t) - len(suf) >= 4:
            return t[: -len(suf)] + rep
    return t


def terms(text: str) -> list[str]:
    return [stem(t) for t in tokenize(text)]


def _normed(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32)
    n = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.maximum(n, 1e-9)


@dataclass
class Catalog:
    occupations: list[dict[str, Any]]
    tasks: list[str]
    dwas: list[dict[str, str]]
    sources: dict[str, str]
    task_vecs: np.ndarray  # (T, d) float32, unit rows
    dwa_vecs: np.ndarray  # (D, d)
    occ_vecs: np.ndarray  # (O, d)
    title_vecs: np.ndarray  # (O, d)
    task_cols: np.ndarray  # task indices in occupation order
    task_off: np.ndarray  # start offset per occupation in task_cols
    dwa_cols: np.ndarray
    dwa_off: np.ndarray
    dwa_idf: np.ndarray  # specificity of each DWA (rare across occupations = specific)
    # TF-IDF inverted index: term -> (occupation indices, weights)
    postings: dict[str, tuple[np.ndarray, np.ndarray]]
    idf: dict[str, float]
    title_terms: list[frozenset[str]]
    codes: list[str]
    # how common each occupation is: log employment (BLS OEWS) scaled to 0..1 over the catalog
    base_rate: np.ndarray
    # filled on first use: terms of an occupation's whole text, of each DWA title
    _doc_terms: dict[int, frozenset[str]] = field(default_factory=dict)
    _dwa_terms: dict[int, frozenset[str]] = field(default_factory=dict)

    def doc_terms(self, j: int) -> frozenset[str]:
        """Every term of occupation ``j``'s title, description, tasks and activities."""
        got = self._doc_terms.get(j)
        if got is None:
            o = self.occupations[j]
            texts = [self.tasks[i] for i in o["tasks"]] + [self.dwas[i]["title"] for i in o["dwas"]]
            got = frozenset(terms(" ".join([*texts, o["title"], o["description"]])))
            self._doc_terms[j] = got
        return got

    _sorted_terms: dict[int, list[str]] = field(default_factory=dict)

    def sorted_doc_terms(self, j: int) -> list[str]:
        """``doc_terms(j)`` in order, to find the terms a word begins (bisect)."""
        got = self._sorted_terms.get(j)
        if got is None:
            got = self._sorted_terms[j] = sorted(self.doc_terms(j))
        return got

    _title_index: dict[str, np.ndarray] = field(default_factory=dict)
    _title_vocab: list[str] = field(default_factory=list)

    def _title_postings(self) -> dict[str, np.ndarray]:
        """Title term -> the occupations whose title has it (built on first use)."""
        if not self._title_index:
            post: dict[str, list[int]] = {}
            for j, tt in enumerate(self.title_terms):
                for t in tt:
                    post.setdefault(t, []).append(j)
            self._title_index.update({t: np.array(js, dtype=np.int64) for t, js in post.items()})
            self._title_vocab.extend(sorted(self._title_index))
        return self._title_index

    def title_overlap(self, words: frozenset[str], family: bool = False) -> np.ndarray:
        """Per occupation: the share of its title's terms that ``words`` contains; with
        ``family``, a word also counts for the title words of its family ("actuarial" for
        "Actuaries") - for the person's own words, not for definitions quoted for them."""
        index = self._title_postings()
        counts = np.zeros(len(self.title_terms), dtype=np.float64)
        matched = {u for t in words for u in self.title_family(t)} if family else set(words)
        for t in matched:
            js = index.get(t)
            if js is not None:
                counts[js] += 1.0
        sizes = np.array([len(tt) for tt in self.title_terms], dtype=np.float64)
        return np.where(sizes > 0, counts / np.maximum(sizes, 1.0), 0.0)

    def title_family(self, t: str) -> list[str]:
        """``t`` and the title terms of its word family ("actuarial" / "actuary",
        "electric" / "electrician"): a shared beginning of at least DERIV_MIN letters that
        leaves at most one letter of the shorter word ("policy" is not "police")."""
        self._title_postings()
        out = [t]
        if len(t) < DERIV_MIN:
            return out
        vocab = self._title_vocab
        k = bisect.bisect_left(vocab, t[:DERIV_MIN])
        while k < len(vocab) and vocab[k].startswith(t[:DERIV_MIN]):
            u = vocab[k]
            k += 1
            if u == t:
                continue
            shared = next((i for i, (a, b) in enumerate(zip(t, u, strict=False)) if a != b), None)
            shared = min(len(t), len(u)) if shared is None else shared
            if shared >= min(len(t), len(u)) - 1:
                out.append(u)
        return out

    def dwa_terms(self, d: int) -> frozenset[str]:
        got = self._dwa_terms.get(d)
        if got is None:
            got = self._dwa_terms[d] = frozenset(terms(self.dwas[d]["title"]))
        return got

    def tfidf_scores(self, query: list[str]) -> np.ndarray:
        out = np.zeros(len(self.occupations), dtype=np.float32)
        tf: dict[str, float] = {}
        for t in query:
            tf[t] = tf.get(t, 0.0) + 1.0
        q = {t: (1 + math.log(c)) * self.idf[t] for t, c in tf.items() if t in self.idf}
        norm = math.sqrt(sum(v * v for v in q.values())) or 1.0
        for t in sorted(q):
            docs, w = self.postings[t]
            out[docs] += w * (q[t] / norm)
        return out


def _read(name: str) -> bytes:
    return resources.files("career_matcher").joinpath("data", name).read_bytes()


def _npy(name: str) -> np.ndarray:
    import io

    return np.load(io.BytesIO(_read(name)), allow_pickle=False)


def _base_rate(occs: list[dict[str, Any]]) -> np.ndarray:
    """log10 of each occupation's employment, scaled to 0..1 (the smallest known figure for
    an occupation without one)."""
    known = [o["employment"] for o in occs if o.get("employment")]
    logs = np.log10([o.get("employment") or min(known) for o in occs])
    return ((logs - logs.min()) / max(float(logs.max() - logs.min()), 1e-9)).astype(np.float32)


def _occ_doc(o: dict[str, Any], tasks: list[str], dwas: list[dict[str, str]]) -> list[str]:
    text = " ".join(
        [o["title"]] * 3
        + [o["description"]]
        + [tasks[i] for i in o["tasks"]]
        + [dwas[i]["title"] for i in o["dwas"]]
    )
    return terms(text)


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    data = json.loads(gzip.decompress(_read("occupations.json.gz")))
    occs, tasks, dwas = data["occupations"], data["tasks"], data["dwas"]

    def csr(key: str) -> tuple[np.ndarray, np.ndarray]:
        cols = np.fromiter((i for o in occs for i in o[key]), dtype=np.int32)
        lens = np.array([len(o[key]) for o in occs], dtype=np.int64)
        off = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        return cols, off

    task_cols, task_off = csr("tasks")
    dwa_cols, dwa_off = csr("dwas")
    df = np.bincount(dwa_cols, minlength=len(dwas)).astype(np.float32)
    dwa_idf = np.log((1 + len(occs)) / (1 + df)).astype(np.float32)

    # TF-IDF over occupation documents (sublinear tf, l2-normalised)
    docs = [_occ_doc(o, tasks, dwas) for o in occs]
    dfc: dict[str, int] = {}
    for d in docs:
        for t in set(d):
            dfc[t] = dfc.get(t, 0) + 1
    n = len(docs)
    idf = {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in dfc.items()}
    post: dict[str, tuple[list[int], list[float]]] = {}
    for j, d in enumerate(docs):
        tf: dict[str, int] = {}
        for t in d:
            tf[t] = tf.get(t, 0) + 1
        w = {t: (1 + math.log(c)) * idf[t] for t, c in tf.items()}
        norm = math.sqrt(sum(v * v for v in w.values())) or 1.0
        for t, v in w.items():
            p = post.setdefault(t, ([], []))
            p[0].append(j)
            p[1].append(v / norm)
    postings = {
        t: (np.array(a, dtype=np.int32), np.array(b, dtype=np.float32))
        for t, (a, b) in post.items()
    }
    return Catalog(
        occupations=occs,
        tasks=tasks,
        dwas=dwas,
        sources=data["sources"],
        task_vecs=_normed(_npy("task_vectors.npy")),
        dwa_vecs=_normed(_npy("dwa_vectors.npy")),
        occ_vecs=_normed(_npy("occ_vectors.npy")),
        title_vecs=_normed(_npy("title_vectors.npy")),
        task_cols=task_cols,
        task_off=task_off,
        dwa_cols=dwa_cols,
        dwa_off=dwa_off,
        dwa_idf=dwa_idf,
        postings=postings,
        idf=idf,
        title_terms=[frozenset(terms(o["title"])) for o in occs],
        codes=[o["code"] for o in occs],
        base_rate=_base_rate(occs),
    )
