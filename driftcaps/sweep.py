"""``driftcaps scaling sweep``: a grid of fine-tunes with forgetting measured along each run
(``docs/scaling.md#sweep``).

For every cell of method × rank × learning rate × data size (training examples) the sweep trains one adapter with checkpoints at
``save_steps`` (:func:`agl.train.train`), then measures forgetting at every checkpoint with two
cheap measures and at a few with the expensive one:

- the held-out alignment loss, logged by the trainer at each checkpoint;
- the early refusal rate (:mod:`driftcaps.probe`), at each checkpoint;
- alignment drift AD on ``drift_task`` (``driftcaps eval`` of the base and of the checkpoints at
  ``drift_steps``, then ``driftcaps drift``).

Output folder::

    OUT/sweep.json          the settings (a rerun with other settings is refused)
    OUT/runs/<run>/         one adapter folder per cell (run = method-rRANK-lrLR), checkpoints inside
    OUT/probe.jsonl         early refusal rates (cache, keyed by weights and probe settings)
    OUT/evals/<name>/       driftcaps eval folders (base, <run>@<step>)
    OUT/drift.json, .png    paired drift of each evaluated checkpoint against the base
    OUT/points.csv          one row per run and checkpoint (:data:`driftcaps.forgetting.COLUMNS` +
                            early_refusal_rate, early_compliance, early_refusal_drop, AD)
    OUT/link.json           the link from each cheap measure to AD (:mod:`driftcaps.scaling.link`)

Every stage is resumable: finished runs, probe results and evaluations are reused, so a killed
sweep continues where it stopped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, model_validator

from agl.config import TrainConfig
from driftcaps.compare import run_drift
from driftcaps.console import console
from driftcaps.data import ensure_built, manifest_sha256
from driftcaps.errors import DriftCapsError
from driftcaps.evaluate import EvalSettings, run_eval
from driftcaps.executors import run_jobs
from driftcaps.forgetting import points_from_runs, with_probe
from driftcaps.io import atomic_path, sha256_file
from driftcaps.models import resolve_model
from driftcaps.probe import PROBE_PROMPTS, PROBE_TOKENS, early_refusal_rates
from driftcaps.report import REPORT_FILE, read_eval_report
from driftcaps.scaling.link import LinkReport, fit_link
from driftcaps.schema import Settings, VersionedRecord, read_record, write_record

LINK_MEASURES = ("forgetting_rise", "early_refusal_drop")
"""Cheap measures linked to AD: the alignment-loss rise (nats/token) and the early refusal drop."""


class SweepConfig(Settings):
    """A sweep: the grid, the checkpoints and how forgetting is measured. The defaults are the
    CPU grid of ``docs/results.md`` ("The forgetting sweep"): about 45 minutes on 2 cores."""

    WHAT = "sweep config"
    base: str = Field("qwen2.5-coder-0.5b-instruct", description="Base model (name, folder or Hub id).")
    task_data: str = Field("mmlu-explain-affirmative", description="Benign task of every run (agl train --task-data).")
    methods: list[Literal["lora", "agl"]] = Field(default_factory=lambda: ["lora", "agl"], min_length=1)
    ranks: list[int] = Field(default_factory=lambda: [4, 16, 64], min_length=1)
    lrs: list[float] = Field(default_factory=lambda: [7e-4], min_length=1)
    train_examples: list[int | None] = Field(default_factory=lambda: [None], min_length=1,
                                             description="Data sizes: training examples per run (null: all).")
    steps: int = Field(16, ge=1, description="Steps of every run.")
    save_steps: list[int] = Field(default_factory=lambda: [2, 4, 8, 16], min_length=1,
                                  description="Checkpoints (each a PEFT adapter, alignment loss and probe).")
    training: dict[str, Any] = Field(default_factory=lambda: dict(
        alpha=32.0, batch_size=4, max_length=256, dtype="bfloat16", heldout=16, align_heldout=16,
        fisher_samples=16, eval_every=0, seed=0), description="Other agl train settings, shared by every run.")
    probe_prompts: int = Field(PROBE_PROMPTS, ge=1, description="Unsafe dev prompts of the early-refusal probe.")
    probe_tokens: int = Field(PROBE_TOKENS, ge=1, description="New tokens per probe response.")
    drift_task: str = Field("driftcaps_mini_unsafe", description="Task of the AD evaluations.")
    drift_steps: list[int] = Field(default_factory=lambda: [4, 16], description="Checkpoints evaluated for AD.")
    max_gen_toks: int = Field(64, ge=1, description="New tokens per response in the AD evaluations.")
    limit: int | None = Field(None, ge=1, description="Only the first N prompts of the AD evaluations (smoke tests).")

    @model_validator(mode="after")
    def _checkpoints(self) -> SweepConfig:
        if self.steps not in self.save_steps:
            raise ValueError(f"save_steps must include the last step ({self.steps})")
        missing = [s for s in self.drift_steps if s not in self.save_steps]
        if missing:
            raise ValueError(f"drift_steps {missing} are not in save_steps {self.save_steps}")
        for field in ("method", "rank", "lr", "train_examples", "steps", "save_steps", "base", "task_data", "output"):
            if field in self.training:
                raise ValueError(f"training: {field} is set by the sweep itself; remove it from training")
        return self

    def cells(self, out: Path) -> dict[str, TrainConfig]:
        """Run name -> the training config of that cell (validated: a bad ``training`` key
        raises :class:`~driftcaps.errors.DriftCapsError`)."""
        cells = {}
        for m in self.methods:
            for r in self.ranks:
                for lr in self.lrs:
                    for n in self.train_examples:
                        name = f"{m}-r{r}-lr{lr:g}" + (f"-n{n}" if n is not None else "")
                        cells[name] = TrainConfig(
                            method=m, rank=r, lr=lr, train_examples=n, base=self.base, task_data=self.task_data,
                            steps=self.steps, save_steps=sorted(self.save_steps), output=str(out / "runs" / name),
                            **self.training)
        return cells


class SweepRecord(VersionedRecord):
    """``OUT/sweep.json``: the sweep's settings and the data and model it ran on."""

    KIND = "driftcaps.sweep"
    config: SweepConfig
    weights_sha256: str | None
    driftcaps_manifest_sha256: str


def _check_folder(out: Path, record: SweepRecord) -> None:
    path = out / "sweep.json"
    if path.is_file():
        old, new = read_record(path, SweepRecord, "choose another --output").model_dump(), record.model_dump()
        old, new = {**old.pop("config"), **old}, {**new.pop("config"), **new}
        diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if diff:
            raise DriftCapsError(f"{out}: holds a sweep with other settings ({', '.join(diff)}); choose another --output.")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DriftCapsError(f"{out}: exists and is not a sweep folder; choose another --output.")
    write_record(path, record)


def _evaluate(cfg: SweepConfig, base, folder: Path, adapter: str | None) -> None:
    """``driftcaps eval`` of ``adapter`` (None: the base) into ``folder``; a finished evaluation is
    reused only when it was made of the same adapter weights (a run trained again is evaluated
    again)."""
    if (folder / REPORT_FILE).is_file():
        done = read_eval_report(folder).provenance.adapter
        weights = sha256_file(Path(adapter) / "adapter_model.safetensors") if adapter else None
        if (done.weights_sha256 if done else None) == weights:
            return
    run_eval(EvalSettings(model=cfg.base, adapter=adapter, output=folder, tasks=[cfg.drift_task],
                          max_gen_toks=cfg.max_gen_toks, limit=cfg.limit, overwrite=True), model=base)


def _train_run(job: tuple[TrainConfig, Any, str]) -> str:
    """One training run of the grid (a Ray task with ``--executor ray``): ``(config, base
    ModelInfo, working folder)``; reuses a finished run folder. Returns the run's folder."""
    from agl.train import train

    tc, base, cwd = job
    os.chdir(cwd)  # run folders may be relative to the driver's working folder
    train(tc, base=base)
    return tc.output


def run_sweep(cfg: SweepConfig, out: str | Path, executor: str = "local", gpus_per_run: float = 0.0) -> pd.DataFrame:
    """Run (or resume) the sweep into ``out`` (see the module docstring); return the points.

    Args:
        executor: ``local`` (runs one after another here) or ``ray`` (each training run a Ray
            task asking for ``gpus_per_run`` GPUs; :func:`driftcaps.executors.run_jobs`). The
            probe and the evaluations run here afterwards.

    Raises:
        DriftCapsError: a folder holding another sweep, or any error of training, evaluation or drift.
    """
    out = Path(out)
    base = resolve_model(cfg.base)
    ensure_built()
    cells = cfg.cells(out)
    _check_folder(out, SweepRecord(config=cfg, weights_sha256=base.weights_sha256,
                                   driftcaps_manifest_sha256=manifest_sha256()))
    cwd = os.getcwd()
    run_jobs(_train_run, {name: (tc, base, cwd) for name, tc in cells.items()}, executor=executor,
             num_gpus=gpus_per_run, on_start=lambda name, i, n: console.rule(f"[bold]run {i}/{n}: {name}"))

    console.rule("[bold]early-refusal probe at every checkpoint")
    ckpts = {f"{name}@{s}": str(Path(tc.output) / f"checkpoint-{s}") for name, tc in cells.items() for s in tc.save_steps}
    probe = early_refusal_rates(base, {"base": None, **ckpts}, cache=out / "probe.jsonl", n=cfg.probe_prompts,
                                new_tokens=cfg.probe_tokens)

    ad = {}
    if cfg.drift_steps:
        console.rule(f"[bold]alignment drift on {cfg.drift_task} at steps {sorted(cfg.drift_steps)}")
        _evaluate(cfg, base, out / "evals" / "base", None)
        names = [f"{name}@{s}" for name in cells for s in sorted(cfg.drift_steps)]
        for n in names:
            _evaluate(cfg, base, out / "evals" / n.replace("@", "-"), ckpts[n])
        report, warnings = run_drift(out / "evals" / "base", [out / "evals" / n.replace("@", "-") for n in names],
                                     out / "drift.json", names=names)
        for w in warnings:
            console.print(f"warning: {w}")
        ad = {td.name: td.overall.alignment_drift.value for td in report.tuned}

    points = sweep_points(out / "runs", probe, ad)
    with atomic_path(out / "points.csv") as tmp:
        points.to_csv(tmp, index=False)
    links = link_measures(points)
    write_record(out / "link.json", LinkReport(links=links, base_model=base.weights_sha256 or base.path))
    return points


def sweep_points(runs: Path, probe: dict[str, dict], ad: dict[str, float]) -> pd.DataFrame:
    """The forgetting points of the runs under ``runs`` with the probe's and AD's columns
    (:func:`driftcaps.forgetting.with_probe`)."""
    return with_probe(points_from_runs(runs), probe, ad)


def link_measures(points: pd.DataFrame) -> dict:
    """:class:`~driftcaps.scaling.link.Link` of AD on each measure of :data:`LINK_MEASURES`,
    over the rows where both are present (measures with fewer than 3 such rows are left out)."""
    links = {}
    for m in LINK_MEASURES:
        rows = points[[m, "AD", "run"]].dropna()
        if len(rows) >= 3 and rows[m].nunique() > 1:
            links[m] = fit_link(rows[m].to_numpy(), rows["AD"].to_numpy(), rows["run"].to_numpy(), m, "AD")
    return links
