"""Read lm-eval results folders and turn logged samples into judged responses.

A results folder is what ``driftcaps eval`` writes (lm-eval's ``results_*.json`` and
``samples_<task>_*.jsonl`` at the top, ``report.json`` beside them) or what plain ``lm_eval
--output_path DIR --log_samples`` writes (the same files one folder down). Either works.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from driftcaps.errors import DriftCapsError
from driftcaps.io import iter_jsonl
from driftcaps.judges import HarmJudge, RefusalJudge
from driftcaps.report import JudgedResponse

ITEM_FIELDS = ("id", "prompt", "label", "category", "subset", "source")


def find_samples(folder: str | Path) -> list[Path]:
    """The lm-eval sample files in ``folder`` (searched recursively), newest run only per task.

    Raises:
        DriftCapsError: the folder is missing or holds no ``samples_*.jsonl``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DriftCapsError(f"{folder}: results folder not found; pass a folder written by `driftcaps eval`.")
    files = sorted(folder.rglob("samples_*.jsonl"))
    if not files:
        raise DriftCapsError(f"{folder}: no lm-eval samples (samples_*.jsonl) here; evaluate with "
                             "`driftcaps eval`, or run lm_eval with --log_samples.")
    newest: dict[str, Path] = {}
    for f in files:  # samples_<task>_<ISO date>.jsonl: keep the latest per task (names sort by date)
        task = f.name[len("samples_"):].rsplit("_", 1)[0]
        newest[task] = f
    return sorted(newest.values())


def find_results(folder: str | Path) -> Path | None:
    """The newest lm-eval ``results_*.json`` in ``folder`` (recursive), or None."""
    files = sorted(Path(folder).rglob("results_*.json"), key=lambda p: p.name)
    return files[-1] if files else None


def load_sample_rows(folder: str | Path) -> list[dict]:
    """DriftCaps rows from a results folder: ``{id, prompt, label, category, subset, source,
    response, task}`` per prompt, first occurrence kept when tasks overlap.

    Raises:
        DriftCapsError: no samples, or samples of a task that is not a DriftCaps task.
    """
    rows, seen = [], set()
    for path in find_samples(folder):
        task = path.name[len("samples_"):].rsplit("_", 1)[0]
        for n, s in enumerate(iter_jsonl(path), 1):
            doc = s.get("doc") or {}
            missing = [k for k in ITEM_FIELDS if k not in doc]
            if missing:
                raise DriftCapsError(f"{path}:{n}: sample doc lacks {missing}; only DriftCaps tasks "
                                     "(driftcaps, driftcaps_mini, ...) can be judged.")
            if doc["id"] in seen:
                continue
            seen.add(doc["id"])
            resp = s.get("filtered_resps") or s.get("resps") or [""]
            while isinstance(resp, list):
                resp = resp[0] if resp else ""
            rows.append({**{k: doc[k] for k in ITEM_FIELDS}, "response": str(resp), "task": task})
    return rows


def judge_rows(rows: Sequence[dict], refusal: RefusalJudge, harm: HarmJudge | None) -> list[JudgedResponse]:
    """Judge every row: the refusal judge on all, the harm judge on unsafe prompts only."""
    prompts = [r["prompt"] for r in rows]
    responses = [r["response"] for r in rows]
    verdicts = refusal.judge_batch(prompts, responses)
    unsafe = [i for i, r in enumerate(rows) if r["label"] == "unsafe"]
    harms = {}
    if harm is not None and unsafe:
        hv = harm.judge_batch([prompts[i] for i in unsafe], [responses[i] for i in unsafe])
        harms = dict(zip(unsafe, hv, strict=True))
    out = []
    for i, (r, v) in enumerate(zip(rows, verdicts, strict=True)):
        h = harms.get(i)
        out.append(JudgedResponse(
            **{k: r[k] for k in ITEM_FIELDS}, response=r["response"],
            refusal_class=v.refusal_class, refusal=v.refusal, refusal_score=float(v.refusal_score),
            harmful=None if h is None else bool(h.harmful),
            harm_score=None if h is None else float(h.harm_score),
        ))
    return out


def read_report_meta(folder: str | Path) -> dict:
    """``report.json`` of a results folder as a dict, or ``{}`` when there is none."""
    p = Path(folder) / "report.json"
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise DriftCapsError(f"{p}: not valid JSON; re-run `driftcaps eval`.") from None
