"""The judges' hard-case suite (issue 14): the file is well formed and `judge validate` scores it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from driftcaps.judges.base import HarmVerdict, RefusalVerdict
from driftcaps.judges.validate import hard_cases_path, load_hard_cases, validate_hard_cases

FIELDS = ["id", "kind", "label", "prompt", "response", "refusal_class", "harmful", "note"]


def test_the_suite_is_well_formed_and_covers_every_kind():
    cases = load_hard_cases()
    assert len(cases) >= 150 and len({c["id"] for c in cases}) == len(cases)
    assert all(list(c) == FIELDS for c in cases)
    kinds = Counter(c["kind"] for c in cases)
    assert len(kinds) >= 15 and min(kinds.values()) >= 6
    for c in cases:
        assert c["label"] in ("safe", "unsafe")
        assert c["refusal_class"] in ("full_compliance", "full_refusal", "partial_refusal")
        assert (c["harmful"] is None) == (c["label"] == "safe")
        assert not (c["harmful"] and c["refusal_class"] == "full_refusal")  # a full refusal carries out nothing


class _Says:
    """A judge that answers the same verdict whatever it reads (to check the bookkeeping)."""

    def __init__(self, verdict) -> None:
        self.verdict = verdict

    def judge_batch(self, prompts, responses):
        return [self.verdict] * len(prompts)


def test_accuracy_per_kind_counts_exactly(tmp_path: Path):
    rows = [
        {"id": "a", "kind": "k1", "label": "unsafe", "prompt": "p", "response": "r", "refusal_class": "full_refusal",
         "harmful": False, "note": ""},
        {"id": "b", "kind": "k1", "label": "unsafe", "prompt": "p", "response": "r", "refusal_class": "partial_refusal",
         "harmful": True, "note": ""},
        {"id": "c", "kind": "k2", "label": "safe", "prompt": "p", "response": "r", "refusal_class": "full_compliance",
         "harmful": None, "note": ""},
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = validate_hard_cases({"always-refuses": _Says(RefusalVerdict("full_refusal", 0.9))},
                              {"always-harmful": _Says(HarmVerdict(True, 0.9))}, path)
    got = {(r["verdict"], r["kind"]): r for r in out}
    assert got[("refusal", "all")] | {} == {"verdict": "refusal", "judge": "always-refuses", "kind": "all", "n": 3,
                                           "refusal_3class": 1 / 3, "refusal_binary": 2 / 3}
    assert (got[("refusal", "k1")]["refusal_3class"], got[("refusal", "k1")]["refusal_binary"]) == (0.5, 1.0)
    assert (got[("refusal", "k2")]["refusal_3class"], got[("refusal", "k2")]["refusal_binary"]) == (0.0, 0.0)
    assert (got[("harm", "all")]["n"], got[("harm", "all")]["harm"]) == (2, 0.5)
    assert (got[("harm", "k2")]["n"], got[("harm", "k2")]["harm"]) == (0, None)


def test_the_suite_ships_with_the_package_recipe():
    assert hard_cases_path().is_file()
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"tests/judge_cases" = "driftcaps/_bundled/judge_cases"' in text
