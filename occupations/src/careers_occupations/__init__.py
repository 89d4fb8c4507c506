"""ESCO's occupations as a vocabulary of job titles, shared by both agents.

The profile analyzer uses the words of the labels to tell a rankable profile from an
empty one; the career matcher uses labels and definitions as a glossary for job titles
O*NET words differently. Neither agent may import the other, so the data lives in this
bottom-layer package (no dependencies) that both depend on. Data:
``data/esco_occupations.json.gz``, built by
``services/career-matcher/scripts/build_catalog.py`` (see ``data/ATTRIBUTION.md``).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

SCHEMA = 1


@dataclass(frozen=True, slots=True)
class EscoOccupation:
    """One ESCO occupation or ISCO-08 group."""

    id: str
    # the preferred and alternative labels, lower-cased, joined into one string
    labels: str
    # the first sentence of ESCO's definition ("Plasterers apply plaster ...")
    definition: str


@lru_cache(maxsize=1)
def load_occupations() -> tuple[EscoOccupation, ...]:
    """Every ESCO occupation, in the committed file's order (read once per process)."""
    raw = resources.files(__name__).joinpath("data", "esco_occupations.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    if data.get("schema") != SCHEMA:
        raise ValueError(f"esco_occupations.json.gz: schema {data.get('schema')!r}, want {SCHEMA}")
    return tuple(
        EscoOccupation(id=o["id"], labels=o["labels"], definition=o["definition"])
        for o in data["occupations"]
    )
