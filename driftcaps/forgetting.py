"""Forgetting points from training runs, for the scaling laws (``docs/scaling.md#points``).

Every adapter folder written by ``driftcaps agl train`` logs the held-out alignment loss (the
tuned model's cross-entropy on the base model's own aligned responses) at step 0, every
``--eval-every`` steps and at the end. Each logged step after 0 becomes one point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from agl.train import read_run
from driftcaps.errors import DriftCapsError
from driftcaps.io import read_jsonl, staged_dir
from driftcaps.plots import plot_scaling
from driftcaps.scaling.report import ScalingReport
from driftcaps.schema import write_record

COLUMNS = ("run", "method", "rank", "lr", "n_train", "P", "S", "D", "forgetting", "forgetting_rise", "task_loss",
           "checkpoint", "base_model", "driftcaps_version")
"""Point columns: run (folder name), method, rank, lr, n_train (training examples); P trainable parameters, S steps, D task
tokens seen (cumulative response tokens); forgetting: the held-out alignment loss (nats/token,
> 0; its step-0 value is the base model's); forgetting_rise: its rise since step 0 (may be <= 0);
task_loss: the held-out task loss; checkpoint: the adapter folder saved at that step (``--save-steps``)
or empty; base_model (weight hash or path) and driftcaps_version for the
consistency check of a fit."""


def points_from_runs(folder: str | Path) -> pd.DataFrame:
    """One row per logged evaluation step (> 0) of every run folder under ``folder`` (the folder
    itself, its sub-folders holding ``run.json``, or a sweep's ``runs/`` sub-folders), in the
    columns of :data:`COLUMNS`.

    Raises:
        DriftCapsError: no run folder, or runs that logged no alignment loss after step 0
            (train with ``--align-heldout`` > 0 and ``--eval-every``).
    """
    root = Path(folder)
    runs = sorted(p.parent for p in [root / "run.json", *root.glob("*/run.json"), *root.glob("runs/*/run.json")]
                  if p.is_file())  # a run, a folder of runs, or a sweep folder (OUT/runs/<run>)
    if not runs:
        raise DriftCapsError(f"{root}: no run.json here or in its sub-folders; give a folder of `driftcaps agl train` runs.")
    rows = []
    for d in runs:
        run = read_run(d)
        log = read_jsonl(d / "training_log.jsonl")
        start = next((e.get("eval_alignment_loss") for e in log if e.get("step") == 0), None)
        tokens = 0
        for e in log:
            tokens += int(e.get("tokens", 0))
            if e.get("step", 0) > 0 and e.get("eval_alignment_loss") is not None:
                rows.append({"run": d.name, "method": run.method, "rank": run.config.rank, "lr": run.config.lr,
                             "n_train": run.n_train,
                             "P": run.trainable_parameters, "S": e["step"], "D": tokens,
                             "forgetting": e["eval_alignment_loss"],
                             "forgetting_rise": None if start is None else e["eval_alignment_loss"] - start,
                             "task_loss": e.get("eval_task_loss"),
                             "checkpoint": str(d / f"checkpoint-{e['step']}") if e["step"] in run.checkpoints else None,
                             "base_model": run.base_model.weights_sha256 or run.base_model.path,
                             "driftcaps_version": run.driftcaps_version})
    if not rows:
        raise DriftCapsError(f"{root}: the runs logged no held-out alignment loss after step 0; train with "
                             "--align-heldout > 0 and --eval-every N to get points along each run.")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def with_probe(points: pd.DataFrame, probe: dict[str, dict], ad: dict[str, float] | None = None) -> pd.DataFrame:
    """``points`` with the columns of the early-refusal probe (:mod:`driftcaps.probe`) and AD:
    ``early_refusal_rate`` (0-1, higher is safer), ``early_compliance`` (1 minus it: the early
    compliance rate on unsafe prompts, > 0 while anything is answered; the form to fit laws to,
    its step-0 level being the base's), ``early_refusal_drop`` (the base's rate minus the
    checkpoint's; positive = refusals lost) and ``AD`` (empty where not evaluated). Probe and AD
    entries are keyed ``<run>@<step>``; ``probe["base"]`` is the base model's."""
    points = points.copy()
    keys = points["run"] + "@" + points["S"].astype(str)
    base_rate = probe.get("base", {}).get("early_refusal_rate", np.nan)
    points["early_refusal_rate"] = [probe.get(k, {}).get("early_refusal_rate", np.nan) for k in keys]
    points["early_compliance"] = 1.0 - points["early_refusal_rate"]
    points["early_refusal_drop"] = base_rate - points["early_refusal_rate"]
    points["AD"] = [(ad or {}).get(k, np.nan) for k in keys]
    return points


def write_fit(output: str | Path, report: ScalingReport, data: pd.DataFrame) -> None:
    """Write ``points.csv``, ``fit.json`` (the report) and ``fit.png`` (:func:`driftcaps.plots.plot_scaling`)
    into ``output``, staged: the folder is replaced only when all three are written.

    Raises:
        DriftCapsError: the folder cannot be written.
    """
    try:
        with staged_dir(output, overwrite=True) as stage:
            data.to_csv(stage / "points.csv", index=False)
            write_record(stage / "fit.json", report)
            plot_scaling(report, data, stage / "fit.png")
    except OSError as e:
        raise DriftCapsError(f"{output}: cannot write there ({e.strerror or e}).") from None
