"""The committed catalog is reproducible: built twice from the pinned wheels (SHA-256
verified by the script) it is byte-identical, and identical to what is committed."""

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Builds the catalog twice from the pinned wheels (make test, not make test-fast).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "services" / "career-matcher" / "scripts" / "build_catalog.py"
COMMITTED = {
    "out": ROOT / "services" / "career-matcher" / "src" / "career_matcher" / "data",
    "esco-out": ROOT / "services" / "profile-analyzer" / "src" / "profile_analyzer" / "data",
    "occupations-out": ROOT / "occupations" / "src" / "careers_occupations" / "data",
}
# the wheels are cached between runs (the script verifies each one's pinned hash)
WHEELS = Path(tempfile.gettempdir()) / "cm-wheels"


def _build(dest: Path) -> dict[str, str]:
    args = [sys.executable, str(SCRIPT), "--wheels", str(WHEELS)]
    for flag in COMMITTED:
        args += [f"--{flag}", str(dest / flag)]
    subprocess.run(args, check=True, capture_output=True, timeout=900)
    return {
        f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(dest.rglob("*"))
        if p.is_file()
    }


def test_catalog_build_is_byte_reproducible(tmp_path):
    first = _build(tmp_path / "a")
    second = _build(tmp_path / "b")
    assert len(first) == 8
    assert first == second
    for flag, committed in COMMITTED.items():
        for name, digest in first.items():
            if name.startswith(f"{flag}/"):
                path = committed / name.split("/", 1)[1]
                assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path
