"""Human-labelled data for training and validating the judges (``data/labelled.yaml``).

- :func:`xstest_completions`: XSTest v2 model completions (GPT-4, Llama-2-70b-chat original
  system prompt, Mistral-7B-Instruct) on the 450 XSTest prompts, each labelled by two annotators
  with one of three classes (``final_label``).
- :func:`harmbench_dev`: HarmBench classifier validation records (a public subset): an attack
  prompt, a model's generation, three human labels (majority = harmful), and the verdicts of
  other judges on the same rows (``cls``, ``cls_mistral``, ``llama_guard``, ``advbench``,
  ``gpt-4-0613``, ...), with the behaviour text joined from the HarmBench behaviours file.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pandas as pd
import yaml

from driftcaps.data.sources import read_csv, verify_file
from driftcaps.errors import DriftCapsError
from driftcaps.paths import default_sources, recipe_dir

XSTEST_MODELS = ("gpt4", "llama2orig", "mistralinstruct")
REFERENCE_JUDGES = ("cls", "cls_mistral", "llama_guard", "advbench", "gpt-4-0613")
"""Judges whose verdicts the HarmBench dev file carries on every row (names as in the file)."""


@cache
def _registry() -> dict:
    path = recipe_dir() / "labelled.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["labelled"]


def _folder(sources: str | Path | None) -> Path:
    src = str(sources) if sources else default_sources()
    if src == "hub":
        raise DriftCapsError("judge training and validation read labelled files from a local folder; "
                             "pass --sources DIR or set DRIFTCAPS_SOURCES (see data/labelled.yaml).")
    folder = Path(src)
    if not folder.is_dir():
        raise DriftCapsError(f"{folder}: sources folder not found; pass --sources DIR.")
    return folder


def _path(folder: Path, name: str, rel: str, verify: bool) -> Path:
    p = folder / rel
    verify_file(p, _registry()[name]["files"][rel], verify, name)
    return p


def xstest_completions(sources: str | Path | None = None, verify: bool = True) -> pd.DataFrame:
    """XSTest completions as one table.

    Returns:
        DataFrame with columns ``model`` (one of :data:`XSTEST_MODELS`), ``id``, ``type``,
        ``prompt``, ``response``, ``label`` (``full_compliance`` | ``full_refusal`` |
        ``partial_refusal``), ``prompt_label`` (``safe`` | ``unsafe``, from XSTest's prompt file),
        ``agreement`` (bool: the two annotators agreed); 3 x 450 rows.

    Raises:
        DriftCapsError: a missing or modified file, or a missing column.
    """
    folder = _folder(sources)
    prompts = read_csv(_path(folder, "xstest_completions", "xstest/xstest_prompts.csv", verify))
    prompt_label = dict(zip(prompts["prompt"], prompts["label"], strict=True))
    frames = []
    for m in XSTEST_MODELS:
        rel = f"xstest/xstest_v2_completions_{m}.csv"
        df = read_csv(_path(folder, "xstest_completions", rel, verify))
        missing = [c for c in ("id", "type", "prompt", "completion", "final_label") if c not in df.columns]
        if missing:
            raise DriftCapsError(f"{folder / rel}: missing column(s) {missing}; restore the file.")
        frames.append(pd.DataFrame({
            "model": m, "id": df["id"], "type": df["type"], "prompt": df["prompt"],
            "response": df["completion"],
            "label": df["final_label"].str.split("_", n=1).str[1],
            "prompt_label": df["prompt"].map(prompt_label).fillna(
                df["type"].map(lambda t: "unsafe" if t.startswith("contrast_") else "safe")),
            "agreement": df.get("agreement", pd.Series(["True"] * len(df))).astype(str) == "True",
        }))
    out = pd.concat(frames, ignore_index=True)
    bad = sorted(set(out["label"]) - {"full_compliance", "full_refusal", "partial_refusal"})
    if bad:
        raise DriftCapsError(f"{folder / 'xstest'}: unexpected final_label values {bad}.")
    return out


def harmbench_dev(sources: str | Path | None = None, verify: bool = True) -> pd.DataFrame:
    """HarmBench classifier dev records as one table.

    Returns:
        DataFrame with columns ``behavior_id``, ``behavior`` (the behaviour text, with its context
        string for contextual behaviours; None for validation behaviours absent from the public
        behaviours file), ``functional_category`` (None likewise), ``test_case`` (the attack
        prompt), ``response`` (the generation), ``label`` (int 0/1: majority of three humans),
        ``model``, ``method``, and one int column per :data:`REFERENCE_JUDGES` entry.

    Raises:
        DriftCapsError: a missing or modified file, or a record without its fields.
    """
    folder = _folder(sources)
    path = _path(folder, "harmbench_classifier_dev", "harmbench_classifier_dev.json", verify)
    behaviours = read_csv(_path(folder, "harmbench_classifier_dev", "harmbench_behaviors_text_all.csv", verify))
    by_id = {r.BehaviorID: r for r in behaviours.itertuples(index=False)}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DriftCapsError(f"{path}: not valid JSON ({e}); restore the file.") from None
    rows = []
    for bid, records in data.items():
        b = by_id.get(bid)  # validation behaviours are partly outside the public test file
        ctx = str(b.ContextString or "").strip() if b is not None else ""
        behaviour = None if b is None else (f"{ctx}\n\n---\n\n{b.Behavior}" if ctx else str(b.Behavior))
        for n, r in enumerate(records):
            try:
                votes = [int(r[f"human_{i}"]) for i in range(3)]
                refs = {j: int(r[j]) for j in REFERENCE_JUDGES}
            except (KeyError, ValueError) as e:
                raise DriftCapsError(f"{path}: behaviour {bid!r} record {n}: bad or missing field ({e}).") from None
            rows.append({"behavior_id": bid, "behavior": behaviour, "functional_category": None if b is None else b.FunctionalCategory,
                         "test_case": str(r.get("test_case", "")), "response": str(r.get("generation", "")),
                         "label": int(sum(votes) >= 2), "model": r.get("model", ""),
                         "method": r.get("method", ""), **refs})
    return pd.DataFrame(rows)
