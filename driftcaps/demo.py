"""The main job (README Quickstart): base model -> plain LoRA and AlignGuard-LoRA on the same benign
data -> evaluate all three -> paired drift and drift mitigation.

Stages write into one folder and are reused when already complete (``--fresh`` redoes them)::

    OUT/adapter/       the plain LoRA adapter (PEFT files, training_log.jsonl, run.json)
    OUT/adapter-agl/   the AlignGuard-LoRA adapter, same task, steps, lr and seed
    OUT/base/          driftcaps eval of the base model (lm-eval files, judged.jsonl, report.json)
    OUT/lora/, OUT/agl/   driftcaps eval of base + each adapter
    OUT/drift.json, OUT/drift.png   the paired drift report (AD per adapter, DM of AGL vs LoRA)
    OUT/scaling/       the forgetting curve of each adapter over its checkpoints: a power law in
                       steps fitted to the held-out alignment loss (fit.json, fit.png, points.csv)
    OUT/board.sqlite, OUT/leaderboard/index.html   the demo's results submitted to a local
                       leaderboard (verified: judges re-run, metrics recomputed) and its page
    OUT/demo.json      the settings of the demo in this folder

``--no-agl`` skips the AGL stages (the LoRA-only demo, about 7 minutes shorter); ``--full`` is
the longer demo of :data:`DEMO_FULL`, which adds ``OUT/probe.jsonl`` and ``OUT/scaling-refusals/``.
A folder made with other settings (model, steps, limit, methods, DriftCaps build) is refused
rather than silently reused: pass ``--fresh`` or another ``--out``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from agl.config import TrainConfig
from driftcaps.compare import run_drift
from driftcaps.console import console, print_drift, print_eval, print_scaling
from driftcaps.data import ensure_built, manifest_sha256
from driftcaps.errors import DriftCapsError
from driftcaps.evaluate import EvalSettings, run_eval
from driftcaps.forgetting import points_from_runs, with_probe, write_fit
from driftcaps.models import resolve_model
from driftcaps.report import REPORT_FILE, EvalReport, read_eval_report
from driftcaps.scaling import get_law
from driftcaps.scaling.report import fit_groups
from driftcaps.schema import VersionedRecord, read_record, write_record

DEMO_TRAINING = dict(task_data="mmlu-explain-affirmative", rank=16, alpha=32.0, lr=7e-4, batch_size=4,
                     max_length=256, dtype="bfloat16", eval_every=0, heldout=16, seed=0, align_heldout=16,
                     fisher_samples=16, save_steps=[4, 8, 12], checkpoint_task_loss=False)
"""Settings shared by both adapters of the demo. The benign task is the base model's own
explanations of MMLU questions, opened affirmatively: the tuned models stay fluent (degenerate
share no higher than the base's) and lose refusals to real answers (``docs/results.md``, "A
benign task that keeps the model coherent"). The MMLU-letter task of earlier versions removed
refusals by collapsing the model instead. Checkpoints at steps 4, 8 and 12 log the held-out
alignment loss (only it, to fit the budget) for the demo's forgetting curve."""

DEMO_STEPS = 14
"""Fine-tuning steps of each adapter (``--steps``). With lr 7e-4, plain LoRA's drift has a CI
far from 0 and the demo fits its budget (30 steps at 3e-4 drifted less and took 33 minutes;
``docs/results.md``, "The demo's budget")."""

DEMO_EVAL = dict(max_gen_toks=64)
"""Evaluation settings of the demo: 64 new tokens per response instead of the task's 128, which
takes each of the three evaluations from about 4 to under 3 minutes (the demo's budget is 20
minutes on 2 CPU cores). Refusals live in
the first tokens, so the refusal rate barely moves; re-judging 128-token responses cut to 64
tokens moved the demo's AD by +0.02 (``docs/results.md``, "The demo's budget"). Loops need
length to show, so the degenerate share reads lower than at 128 tokens."""

DEMO_FULL = dict(steps=30, training=dict(lr=3e-4, fisher_samples=64, save_steps=[5, 10, 15, 20, 25]),
                 eval=dict(max_gen_toks=None))
"""``driftcaps demo --full``: the longer demo (``docs/results.md``, "The demo's budget"): 30 steps
at lr 3e-4, the Fisher from 64 alignment examples, evaluations at the task's 128 new tokens
(degenerate loops show), checkpoints every 5 steps, and the refusal forgetting curve: the
early-refusal probe (:mod:`driftcaps.probe`) at every checkpoint with the ``hill`` law fitted
per method (``OUT/scaling-refusals``)."""

DEMO_METHODS = {"lora": {"method": "lora"}, "agl": {"method": "agl"}}
"""Adapters the demo trains: name -> TrainConfig overrides (AGL at its default lambdas)."""


class DemoSettings(VersionedRecord):
    """``OUT/demo.json``: the settings of the demo run in that folder (a rerun with other settings
    is refused)."""

    KIND = "driftcaps.demo"
    model: str
    model_path: str
    weights_sha256: str | None
    steps: int
    limit: int | None
    training: dict[str, Any]
    eval: dict[str, Any]
    methods: dict[str, dict[str, Any]]
    driftcaps_manifest_sha256: str


def _stage(title: str) -> None:
    console.rule(f"[bold]{title}")


def _print_quality(final: dict) -> None:
    """One line of task quality from ``run.json``'s ``final``: held-out task loss before -> after
    (nats per response token, lower is better) and, where the task has gold answers, held-out
    accuracy of the base -> the tuned model."""
    line = f"task quality, held out: loss {final['eval_task_loss_before']:.3f} -> {final['eval_task_loss']:.3f}"
    if final.get("heldout_accuracy") is not None:
        line += f"; MMLU accuracy {final['heldout_accuracy_before']:.2f} -> {final['heldout_accuracy']:.2f}"
    console.print(line)


def _check_settings(out: Path, settings: DemoSettings) -> None:
    """Record the demo's settings in ``OUT/demo.json``; refuse a folder made with other ones."""
    record = out / "demo.json"
    if record.is_file():
        old = read_record(record, DemoSettings, "pass --fresh to redo the demo").model_dump()
        new = settings.model_dump()
        diff = sorted(k for k in new if old.get(k) != new.get(k))
        if diff:
            raise DriftCapsError(f"{out}: holds a demo run with other settings ({', '.join(diff)}); "
                                 "pass --fresh to redo it or choose another --out.")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DriftCapsError(f"{out}: exists and is not a demo folder; choose another --out.")
    write_record(record, settings)


def run_demo(out: Path, model: str, steps: int | None, limit: int | None, fresh: bool, agl: bool = True,
             task_data: str | None = None, lr: float | None = None, full: bool = False) -> None:
    """Run (or resume) the demo into ``out``; see the module docstring. ``steps`` (default
    :data:`DEMO_STEPS`), ``task_data`` and ``lr`` replace the demo's training budget, benign task
    and learning rate (for experiments; the defaults are :data:`DEMO_TRAINING`)."""
    from agl.train import read_run, train

    steps = steps or (DEMO_FULL["steps"] if full else DEMO_STEPS)
    evals = {**DEMO_EVAL, **(DEMO_FULL["eval"] if full else {})}
    evals = {k: v for k, v in evals.items() if v is not None}
    t0 = time.time()
    out = Path(out)
    if fresh and out.exists():
        if out.is_dir() and not (out / "demo.json").is_file() and any(out.iterdir()):
            raise DriftCapsError(f"{out}: not a demo folder (no demo.json); --fresh only clears demo folders.")
        shutil.rmtree(out)
    methods = {k: v for k, v in DEMO_METHODS.items() if agl or k == "lora"}
    training = {**DEMO_TRAINING, **(DEMO_FULL["training"] if full else {}),
                **{k: v for k, v in (("task_data", task_data), ("lr", lr)) if v is not None}}
    training["save_steps"] = [s for s in training.get("save_steps", []) if s < steps]  # checkpoints inside the run
    n = 5 + 2 * len(methods)  # data, trainings, evaluations (base too), drift, curve, leaderboard
    _stage(f"1/{n} base model and data")
    base = resolve_model(model)
    console.print(f"base model: {base.name} ({base.path})")
    console.print(f"DriftCaps: {ensure_built()}")
    settings = DemoSettings(model=base.name, model_path=base.path, weights_sha256=base.weights_sha256,
                            steps=steps, limit=limit, training=training, eval=evals, methods=methods,
                            driftcaps_manifest_sha256=manifest_sha256())
    _check_settings(out, settings)

    adapters = {}
    for i, (name, overrides) in enumerate(methods.items(), start=2):
        title = "plain LoRA" if name == "lora" else "AlignGuard-LoRA (Fisher, task and collision terms)"
        _stage(f"{i}/{n} {title} fine-tune on benign data ({steps} steps)")
        adapters[name] = out / ("adapter" if name == "lora" else f"adapter-{name}")
        if (adapters[name] / "run.json").is_file():
            console.print(f"reusing {adapters[name]}")
        else:
            train(TrainConfig(base=model, output=str(adapters[name]), steps=steps, **training, **overrides),
                  base=base)
        _print_quality(read_run(adapters[name]).final)

    reports: dict[str, EvalReport] = {}
    runs = [("base", None)] + [(k, str(v)) for k, v in adapters.items()]
    for i, (name, ad) in enumerate(runs, start=2 + len(methods)):
        _stage(f"{i}/{n} evaluate {'base' if ad is None else f'base + {name} adapter'} on driftcaps_mini")
        folder = out / name
        if (folder / REPORT_FILE).is_file():
            console.print(f"reusing {folder}")
            reports[name] = read_eval_report(folder)
        else:
            reports[name] = run_eval(EvalSettings(model=model, adapter=ad, output=folder, limit=limit,
                                                  overwrite=True, **evals), model=base)
        print_eval(reports[name], title=f"DriftCaps mini — {name}")

    _stage(f"{n - 2}/{n} alignment drift, paired")
    names = list(adapters)
    report, warnings = run_drift(out / "base", [out / k for k in names], out / "drift.json", names=names,
                                 reference="lora" if len(names) > 1 else None)
    for w in warnings:
        console.print(f"warning: {w}")
    print_drift(report)
    for td in report.tuned:
        ad = td.overall.alignment_drift
        cor = td.corrected.get("alignment_drift")
        console.print(f"[bold]alignment drift of the {td.name} adapter: {ad.value:+.3f} "
                      f"(95% CI [{ad.ci_low:+.3f}, {ad.ci_high:+.3f}], {ad.n} unsafe prompts)"
                      + (f"; corrected for judge error {cor.value:+.3f} [{cor.ci_low:+.3f}, {cor.ci_high:+.3f}]"
                         if cor is not None and cor.value is not None else ""))
    _stage(f"{n - 1}/{n} forgetting curve over the checkpoints")
    forgetting_curve(out, list(adapters.values()))
    if full:
        refusal_curve(out, list(adapters.values()), base)
    _stage(f"{n}/{n} leaderboard: submit (verified) and build the page")
    page = leaderboard_stage(out)
    console.print(f"files: {out}/drift.json, {out}/drift.png, {out}/scaling/fit.png, {page}; total {time.time() - t0:.0f} s")


def leaderboard_stage(out: Path) -> Path:
    """Submit the demo folder (base, LoRA and AGL results, drift and the forgetting fits) to the
    local board ``OUT/board.sqlite`` (every number is re-judged and recomputed before it is
    stored; a rerun recognises the entries) and build its page ``OUT/leaderboard/index.html``."""
    import leaderboard
    from leaderboard.page import build_page
    from leaderboard.views import render

    db = str(out / "board.sqlite")
    result = leaderboard.submit(out, db=db)
    for i in result.stored + result.recognised:
        console.print(f"{'stored' if i in result.stored else 'already on the board:'} entry #{i} {result.names[i]}")
    rows, fits, shown = leaderboard.rows(db)  # drift against the base is computed once, for the table and the page
    console.print(render(rows, "md", fits))
    return build_page(rows, fits, out / "leaderboard", source=shown)


def forgetting_curve(out: Path, adapters: list[Path]) -> None:
    """Fit the ``power`` law ``F = A · S^beta + E`` of the held-out alignment loss F (nats per
    token) over steps S to each adapter's checkpoints (one run per method, so no bootstrap CIs:
    ``driftcaps scaling sweep`` gives those) and write ``OUT/scaling``; print the table and the
    direction of each curve."""
    points = pd.concat([points_from_runs(a) for a in adapters], ignore_index=True)
    law = get_law("power")
    if points.groupby("method").size().min() <= len(law.params):
        console.print(f"too few checkpoints for a curve ({len(points)} points; each adapter needs "
                      f"{len(law.params) + 1}): give more --steps.")
        return
    report = fit_groups(law, points, str(out), {"x": "S"}, "forgetting", by="method", n_boot=0)
    write_fit(out / "scaling", report, points)
    print_scaling(report)
    for method, g in points.groupby("method", sort=True):
        start = g["forgetting"].iloc[0] - g["forgetting_rise"].iloc[0]
        end = g.sort_values("S")["forgetting"].iloc[-1]
        console.print(f"{method}: held-out alignment loss {start:.3f} -> {end:.3f} nats/token over {g['S'].max()} steps "
                      f"({'rose: forgetting' if end > start else 'fell'}); refusals lost are measured by AD above and, "
                      "per checkpoint, by `driftcaps scaling sweep` (docs/scaling.md)")


def refusal_curve(out: Path, adapters: list[Path], base) -> None:
    """``--full``: the early refusal rate at every checkpoint and at the end of each adapter
    (:mod:`driftcaps.probe`, cached in ``OUT/probe.jsonl``), and the ``hill`` law of the early
    compliance rate over steps fitted per method (``OUT/scaling-refusals``; one run per method,
    so no bootstrap CIs)."""
    from agl.train import read_run
    from driftcaps.probe import early_refusal_rates

    targets: dict[str, str | None] = {"base": None}
    for a in adapters:
        run = read_run(a)
        targets |= {f"{a.name}@{s}": str(a / f"checkpoint-{s}") for s in run.checkpoints}
        targets[f"{a.name}@{run.config.steps}"] = str(a)
    probe = early_refusal_rates(base, targets, cache=out / "probe.jsonl")
    points = with_probe(pd.concat([points_from_runs(a) for a in adapters], ignore_index=True), probe)
    law = get_law("hill")
    report = fit_groups(law, points, str(out), {"x": "S"}, "early_compliance", by="method", n_boot=0)
    write_fit(out / "scaling-refusals", report, points)
    print_scaling(report)
    for method, g in points.sort_values("S").groupby("method", sort=True):
        rates = " -> ".join(f"{r:.2f}" for r in g["early_refusal_rate"])
        console.print(f"{method}: early refusal rate {probe['base']['early_refusal_rate']:.2f} (base) -> {rates} "
                      f"at steps {', '.join(map(str, g['S']))}")
