"""Where the repository is, for the tools that read its files or write under ``.dev/``.

The tools package is a dev dependency installed editable from the checkout (never into an
image), so the repository is the ancestor of this file that holds ``uv.lock``.
"""

from pathlib import Path


def _repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "uv.lock").is_file() and (parent / "deploy").is_dir():
            return parent
    raise RuntimeError(f"{here} is not inside the repository (careers-tools runs from a checkout)")


REPO_ROOT = _repo_root()
# Git-ignored: dev keys, broker logs, chaos and end-to-end work directories.
DEV_DIR = REPO_ROOT / ".dev"
