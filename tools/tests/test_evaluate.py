"""make evaluate: frozen halves are summarised, not listed profile by profile, and pooled."""

import json

from careers_tools import evaluate


def _item(pid: str, category: str, accept: str) -> dict:
    profile = {"summary": "", "skills": [], "experience": [], "education": [], "interests": []}
    title = {"tuning": "Bus Driver", "frozen": "Registered Nurse"}[pid.split("-")[0]]
    profile["experience"] = [
        {"title": title, "organization": "", "startDate": "2019-01", "endDate": None}
    ]
    return {"id": pid, "category": category, "accept": [accept], "profile": profile}


def test_frozen_halves_are_summarised_and_pooled(tmp_path, capsys):
    paths = []
    for v in ("v8", "v9"):
        for half, accept in (("tuning", "53-3052"), ("frozen", "29-1141")):
            path = tmp_path / f"dev-profiles-{v}-{half}.json"
            path.write_text(json.dumps([_item(f"{half}-{v}", "sparse", accept)]))
            paths.append(str(path))
    assert evaluate.main(paths) == 0
    out = capsys.readouterr().out
    assert "tuning-v8" in out and "tuning-v9" in out
    assert "frozen-v8" not in out and "frozen-v9" not in out
    assert "frozen-pooled" in out
    pooled = next(line for line in out.splitlines() if line.startswith("all"))
    assert pooled.rstrip().endswith("2/2   2/2  1.000")
    assert evaluate.main([*paths, "--show-frozen"]) == 0
    assert "frozen-v8" in capsys.readouterr().out
