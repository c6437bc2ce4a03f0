"""Does AlignGuard-LoRA beat the simple baselines at equal task quality? (issue 15)

Trains every point of the grid below with several seeds on the demo's coherent benign task (the
base model's own explanations of MMLU questions, with the affirmative opener), evaluates each
adapter on the unsafe prompts of ``driftcaps_mini``, reads its task accuracy on held-out MMLU
questions it never trained on, and compares the methods (``driftcaps.pareto``): alignment drift
AD and accuracy with intervals over prompts *and* seeds, the drift/accuracy Pareto front, and
drift mitigation DM against plain LoRA at matched accuracy (within one point).

Resumable and splittable: a finished training run (its ``run.json``) and a finished evaluation
(its ``report.json``) are reused, so ``--seeds 0`` in one session and ``--seeds 1,2`` in the next
add up. ``--analyse`` only reads what exists: each point with the seeds it has finished (the
table's ``seeds`` column).

    python benchmarks/compare_methods.py --out runs/compare_methods --seeds 0,1,2 [--only lora,l2]
    python benchmarks/compare_methods.py --out runs/compare_methods --seeds 0,1,2 --analyse

Writes ``OUT/results.json``, ``OUT/results.md`` (the tables of ``docs/results.md``) and
``OUT/pareto.png``. Cost on the project's 2-core CPU: about 5 minutes a run (14 steps, 128
accuracy questions, 134 unsafe prompts at 64 new tokens).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np

MODEL = "qwen2.5-coder-0.5b-instruct"
COMMON = dict(task_data="mmlu-explain-affirmative", rank=16, alpha=32.0, lr=7e-4, steps=14, batch_size=4,
              max_length=256, dtype="bfloat16", eval_every=0, heldout=16, align_heldout=16, fisher_samples=16,
              accuracy_questions=112)
"""The demo's training settings (README, "What the demo measured"), plus 112 accuracy questions
beside the 16 held-out task rows: 128 questions never trained on."""
EVAL = dict(tasks=["driftcaps_mini_unsafe"], max_gen_toks=64)
POINTS: dict[str, tuple[str, str, dict]] = {
    "lora": ("plain LoRA", "lr 7e-4", {}),
    "agl": ("AGL", "λ_T 0.5", {"method": "agl"}),
    "l2-0.5": ("LoRA + L2", "weight 0.5", {"l2_weight": 0.5}),
    "replay-25": ("alignment replay", "25%", {"replay_share": 0.25}),
    "lora-lr3.5e-4": ("plain LoRA", "lr 3.5e-4", {"lr": 3.5e-4}),
    "agl-contrast": ("AGL, contrast Fisher", "λ_T 0.5", {"method": "agl", "fisher_source": "contrast"}),
    "agl-contrast-notask": ("AGL, contrast Fisher", "λ_T 0", {"method": "agl", "fisher_source": "contrast",
                                                            "lambda_task": 0.0}),
    "agl-lt2": ("AGL", "λ_T 2", {"method": "agl", "lambda_task": 2.0}),
    "l2-2": ("LoRA + L2", "weight 2", {"l2_weight": 2.0}),
    "replay-10": ("alignment replay", "10%", {"replay_share": 0.1}),
    "lora-lr1.75e-4": ("plain LoRA", "lr 1.75e-4", {"lr": 1.75e-4}),
    "contrast-fisher-only": ("contrast Fisher only", "λ_A 1000", {
        "method": "agl", "fisher_source": "contrast", "lambda_fisher": 1000.0, "lambda_task": 0.0,
        "lambda_collision": 0.0}),
    "contrast-fisher-only-1": ("contrast Fisher only", "λ_A 1", {
        "method": "agl", "fisher_source": "contrast", "lambda_task": 0.0, "lambda_collision": 0.0}),
    "contrast-collision-only": ("contrast collision terms only", "λ_NC 0.05", {
        "method": "agl", "fisher_source": "contrast", "lambda_fisher": 0.0, "lambda_task": 0.0}),
}
"""Point key -> (method, strength, overrides of COMMON). The strength axes: learning rate, L2
weight, replay share, λ_T; the contrast rows test part 4 (does a Fisher of refusal vs compliance
carry mitigation: with the stabiliser off, λ_T 0, and alone at λ_A 1 and 1000?) and attribute
what λ_T 0 keeps to the Fisher term or to the collision terms (each alone). In order of priority:
a partial run has the first ones."""
REFERENCE = "lora"


def run_point(out: Path, key: str, seed: int) -> dict:
    """Train and evaluate one (point, seed), reusing what exists; return its per-prompt drift and
    per-question correctness."""
    from agl.config import TrainConfig
    from agl.train import train
    from driftcaps.evaluate import EvalSettings, run_eval

    folder = out / "runs" / f"{key}-s{seed}"
    adapter, evald = folder / "adapter", folder / "eval"
    t0 = time.time()
    if not (adapter / "run.json").is_file():
        train(TrainConfig(base=MODEL, output=str(adapter), seed=seed, **{**COMMON, **POINTS[key][2]}))
    if not (evald / "report.json").is_file():
        run_eval(EvalSettings(model=MODEL, adapter=str(adapter), output=evald, overwrite=True, **EVAL))
    before = _refused(out / "base-eval")
    after = _refused(evald)
    ids = sorted(before)
    if sorted(after) != ids:
        raise SystemExit(f"{evald}: not the base evaluation's prompts; delete it and rerun.")
    answers = [json.loads(x) for x in (adapter / "heldout_answers.jsonl").read_text().splitlines()]
    return {"key": key, "seed": seed, "prompt_ids": ids, "question_ids": [a["id"] for a in answers],
            "drift": [int(before[i]) - int(after[i]) for i in ids],
            "correct": [int(a["tuned"] == a["gold"]) for a in answers],
            "committed": [int(a["tuned"] is not None) for a in answers],
            "base_correct": [int(a["base"] == a["gold"]) for a in answers],
            "seconds": round(time.time() - t0, 1)}


@functools.cache
def _refused(folder: Path) -> dict[str, bool]:
    """Unsafe prompt id -> refused, by the trained refusal judge, for an evaluation folder (the
    base evaluation is judged once per process, not once per run)."""
    from driftcaps.compare import load_judged
    from driftcaps.judges import get_harm_judge, get_refusal_judge

    judged = load_judged(folder, get_refusal_judge("trained"), get_harm_judge("trained"))
    return {r.id: r.refusal for r in judged if r.label == "unsafe"}


def analyse(out: Path, results: list[dict]) -> None:
    """Write results.json, results.md and pareto.png from the per-run results."""
    from driftcaps.pareto import (
        PointRuns,
        accuracy_relation,
        matched_points,
        pareto_front,
        summarise,
    )

    by_key: dict[str, list[dict]] = {}
    for r in sorted(results, key=lambda r: (list(POINTS).index(r["key"]), r["seed"])):
        by_key.setdefault(r["key"], []).append(r)
    points = {k: PointRuns(POINTS[k][0], POINTS[k][1], tuple(r["seed"] for r in rs),
                           np.asarray([r["drift"] for r in rs], dtype=float),
                           np.asarray([r["correct"] for r in rs], dtype=float)) for k, rs in by_key.items()}
    summary = summarise(points, REFERENCE)
    front = pareto_front(summary)
    matched = matched_points(summary, REFERENCE)
    relation = accuracy_relation(summary, REFERENCE)
    base_acc = float(np.mean(results[0]["base_correct"]))
    committed = {k: float(np.mean([r["committed"] for r in rs])) for k, rs in by_key.items()}
    (out / "results.json").write_text(json.dumps({
        "model": MODEL, "common": COMMON, "eval": EVAL, "reference": REFERENCE, "base_accuracy": base_acc,
        "points": {k: {**vars(s), "overrides": POINTS[k][2], "committed": committed[k],
                       "accuracy_vs_reference": relation[k]} for k, s in summary.items()},
        "pareto_front": front, "matched": matched}, indent=2, default=list), encoding="utf-8")

    def f(t, sign=""):
        return "–" if t[0] is None else (f"{t[0]:{sign}.3f} [{t[1]:{sign}.3f}, {t[2]:{sign}.3f}]" if t[1] is not None
                                         else f"{t[0]:{sign}.3f}")

    lines = [f"Base model task accuracy {base_acc:.3f} on the same {len(results[0]['correct'])} questions.", "",
             "| method | strength | seeds | AD ↓ [95% CI] | task accuracy ↑ [95% CI] | answers naming a letter "
             "| DM vs plain LoRA ↑ [95% CI] | accuracy − plain LoRA's [95% CI] | Pareto |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k, s in summary.items():
        gap = "–" if k == REFERENCE else f"{f(s.accuracy_gap, '+')} ({relation[k]})"
        lines.append(f"| {s.method} | {s.strength} | {len(s.seeds)} | {f(s.ad, '+')} | {f(s.accuracy)} | "
                     f"{committed[k]:.2f} | {f(s.dm, '+')} | {gap} | {'yes' if k in front else ''} |")
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    _plot(out / "pareto.png", summary, front, base_acc)


def _plot(path: Path, summary: dict, front: list[str], base_acc: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    methods: dict[str, list] = {}
    for k, s in summary.items():
        methods.setdefault(s.method, []).append((k, s))
    for method, items in methods.items():
        items.sort(key=lambda t: t[1].accuracy[0])
        x = [s.accuracy[0] for _, s in items]
        y = [s.ad[0] for _, s in items]
        xerr = [[s.accuracy[0] - s.accuracy[1] for _, s in items], [s.accuracy[2] - s.accuracy[0] for _, s in items]]
        yerr = [[s.ad[0] - s.ad[1] for _, s in items], [s.ad[2] - s.ad[0] for _, s in items]]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, marker="o", capsize=3, label=method, alpha=0.85)
        for (k, s), xi, yi in zip(items, x, y, strict=True):
            ax.annotate(s.strength + (" *" if k in front else ""), (xi, yi), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
    ax.scatter([base_acc], [0.0], marker="*", s=120, color="black", zorder=3, label="base model (AD 0 by definition)")
    ax.axhline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("task accuracy on held-out MMLU questions (↑ better)")
    ax.set_ylabel("alignment drift AD on unsafe prompts (↓ better)")
    ax.set_title("Drift vs task quality, mean over seeds; 95% CIs over prompts and seeds (* Pareto front)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/compare_methods"))
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    ap.add_argument("--only", default=None, help=f"comma-separated point keys (default all: {', '.join(POINTS)})")
    ap.add_argument("--analyse", action="store_true", help="only analyse the finished runs")
    args = ap.parse_args()
    from driftcaps.evaluate import EvalSettings, run_eval

    seeds = [int(s) for s in args.seeds.split(",")]
    keys = [k.strip() for k in args.only.split(",")] if args.only else list(POINTS)
    unknown = [k for k in keys if k not in POINTS]
    if unknown:
        raise SystemExit(f"--only: unknown point(s) {unknown}; choose from {', '.join(POINTS)}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "base-eval" / "report.json").is_file():
        run_eval(EvalSettings(model=MODEL, output=out / "base-eval", overwrite=True, **EVAL))
    results = []
    for seed in seeds:  # seed-major: a partial run has every point at the first seeds
        for key in keys:
            done = (out / "runs" / f"{key}-s{seed}" / "eval" / "report.json").is_file()
            if args.analyse and not done:
                continue
            r = run_point(out, key, seed)
            results.append(r)
            print(f"{key} seed {seed}: AD {np.mean(r['drift']):+.3f}, accuracy {np.mean(r['correct']):.3f} "
                  f"({r['seconds']:.0f} s)", flush=True)
    if not any(r["key"] == REFERENCE for r in results):
        print(f"the reference point {REFERENCE!r} has no finished run; nothing to compare yet.")
        return
    analyse(out, results)  # every point with its finished seeds (the table says how many)


if __name__ == "__main__":
    main()
