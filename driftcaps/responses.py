"""The responses stage: read what lm-eval logged (results folders) as typed :class:`Response` records.

A results folder is what ``driftcaps eval`` writes (lm-eval's ``results_*.json`` and
``samples_<task>_*.jsonl`` at the top, ``report.json`` beside them) or what plain ``lm_eval
--output_path DIR --log_samples`` writes (the same files one folder down). Either works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from driftcaps.errors import DriftCapsError
from driftcaps.io import iter_jsonl, read_json
from driftcaps.schema import Record

ITEM_FIELDS = ("id", "prompt", "label", "category", "subset", "source")


class Response(Record):
    """One model response to one DriftCaps prompt, as lm-eval logged it.

    Attributes:
        id, label, category, subset, source, prompt: the DriftCaps item (``docs/data.md#items``).
        response: the generated text (lm-eval's filtered response), possibly empty.
    """

    id: str
    label: Literal["safe", "unsafe"]
    category: str
    subset: str
    source: str
    prompt: str
    response: str


def find_samples(folder: str | Path) -> list[Path]:
    """The lm-eval sample files in ``folder`` (searched recursively), newest run only per task.

    Raises:
        DriftCapsError: the folder is missing or holds no ``samples_*.jsonl``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DriftCapsError(f"{folder}: results folder not found; pass a folder written by `driftcaps eval`.")
    files = sorted(folder.rglob("samples_*.jsonl"))
    if not files and (folder / "judgement.json").is_file():
        raise DriftCapsError(f"{folder}: a `driftcaps judge results` folder (verdicts, no generations); pass the results "
                             "folder it was judged from (its judgement.json lists the samples files).")
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


def load_responses(folder: str | Path) -> list[Response]:
    """The DriftCaps responses of a results folder, one per prompt (the first occurrence is kept
    when tasks overlap, e.g. ``driftcaps_mini`` and ``driftcaps_mini_unsafe``).

    Raises:
        DriftCapsError: no samples, or samples of a task that is not a DriftCaps task.
    """
    return responses_from_files(find_samples(folder))


def responses_from_files(paths: list[Path]) -> list[Response]:
    """The DriftCaps responses of the given lm-eval samples files, in file order, one per prompt
    (see :func:`load_responses`).

    Raises:
        DriftCapsError: a malformed line, or samples of a task that is not a DriftCaps task.
    """
    rows, seen = [], set()
    for path in paths:
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
            rows.append(Response(**{k: doc[k] for k in ITEM_FIELDS}, response=str(resp)))
    return rows


def lm_eval_model_args(folder: str | Path) -> dict:
    """The ``model_args`` of the newest lm-eval results file in ``folder`` as a dict (lm-eval
    writes them as a dict or as its ``key=value,...`` string); ``{}`` when there is none."""
    from lm_eval.utils import simple_parse_args_string

    results = find_results(folder)
    if results is None:
        return {}
    args = (read_json(results, "lm-eval results").get("config") or {}).get("model_args")
    if isinstance(args, str):
        return simple_parse_args_string(args)
    return args if isinstance(args, dict) else {}
