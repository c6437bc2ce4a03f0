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
    python benchmarks/compare_methods.py --out runs/compare_methods --seeds 0,1,2 --over-refusal

``--over-refusal`` also evaluates the points of ``ORR_POINTS`` on the safe prompts: a point that
drifts *below* zero (more refusals than the base on unsafe prompts) may refuse safe ones too.

Writes ``OUT/results.json``, ``OUT/results.md`` (the tables of ``docs/results.md``),
``OUT/pareto.png`` and ``OUT/records.json``: the per-run, per-prompt records the analysis reads
(drift and correctness vectors by prompt and question id; no prompt text), small enough to keep
(``benchmarks/records/``). ``--records FILE --analyse`` analyses them again without the run
folders or a model; ``--records FILE`` without ``--analyse`` adds them to the runs of OUT, so a
later session trains only the points FILE lacks. Cost on the project's 2-core CPU: about 5
minutes a run (14 steps, 128 accuracy questions, 134 unsafe prompts at 64 new tokens).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np

from driftcaps.io import atomic_open

MODEL = "qwen2.5-coder-0.5b-instruct"
COMMON = dict(task_data="mmlu-explain-affirmative", rank=16, alpha=32.0, lr=7e-4, steps=14, batch_size=4,
              max_length=256, dtype="bfloat16", eval_every=0, heldout=16, align_heldout=16, fisher_samples=16,
              accuracy_questions=112)
"""The demo's training settings (README, "What the demo measured"), plus 112 accuracy questions
beside the 16 held-out task rows: 128 questions never trained on."""
EVAL = dict(tasks=["driftcaps_mini_unsafe"], max_gen_toks=64)
SAFE_EVAL = dict(tasks=["driftcaps_mini_safe"], max_gen_toks=64)
"""``--over-refusal``: the same generation on the safe prompts, for the over-refusal rate ORR."""
ORR_POINTS = ["lora", "l2-2", "replay-25", "agl-contrast-notask", "contrast-fisher-only-1", "contrast-fisher-only-0.1",
              "l2-1"]
"""The points ``--over-refusal`` evaluates on safe prompts (about 2 minutes a run)."""
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
    "contrast-fisher-only-0.1": ("contrast Fisher only", "λ_A 0.1", {
        "method": "agl", "fisher_source": "contrast", "lambda_fisher": 0.1, "lambda_task": 0.0,
        "lambda_collision": 0.0}),
    "l2-1": ("LoRA + L2", "weight 1", {"l2_weight": 1.0}),
}
"""Point key -> (method, strength, overrides of COMMON). The strength axes: learning rate, L2
weight, replay share, λ_T; the contrast rows test part 4 (does a Fisher of refusal vs compliance
carry mitigation: with the stabiliser off, λ_T 0, and alone at λ_A 1 and 1000?) and attribute
what λ_T 0 keeps to the Fisher term or to the collision terms (each alone); the last two (λ_A
0.1, L2 weight 1) leave some drift, for a head to head that can separate them. In order of
priority: a partial run has the first ones."""
HEAD_TO_HEAD = [("agl-contrast-notask", "l2-2"), ("agl-contrast-notask", "replay-25"),
                ("contrast-fisher-only-1", "l2-2"), ("agl", "l2-0.5"), ("agl-lt2", "l2-2"), ("replay-25", "l2-2"),
                ("agl-contrast-notask", "l2-1"), ("contrast-fisher-only-0.1", "l2-1")]
"""Pairs (a, b) compared head to head (``driftcaps.pareto.head_to_head``): AGL's best points
against the strongest simple baselines, default AGL against L2 of the same strength, and
contrast-Fisher AGL against L2 weight 1, the strongest L2 that leaves drift (at weight 2 both
remove all of it and cannot be told apart)."""
REFERENCE = "lora"


def run_point(out: Path, key: str, seed: int, safe: bool = False) -> dict:
    """Train and evaluate one (point, seed), reusing what exists; return its per-prompt drift and
    per-question correctness, and with ``safe`` (or an existing safe evaluation) whether it
    refused each safe prompt (``safe_refused``, in the order of the base's ``safe_ids``)."""
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
    safe_refused = None
    if safe and not (folder / "eval-safe" / "report.json").is_file():
        run_eval(EvalSettings(model=MODEL, adapter=str(adapter), output=folder / "eval-safe", overwrite=True,
                              **SAFE_EVAL))
    if (folder / "eval-safe" / "report.json").is_file():
        base_safe, tuned_safe = _refused(out / "base-eval-safe", "safe"), _refused(folder / "eval-safe", "safe")
        if sorted(tuned_safe) != sorted(base_safe):
            raise SystemExit(f"{folder / 'eval-safe'}: not the base evaluation's safe prompts; delete it and rerun.")
        safe_refused = [int(tuned_safe[i]) for i in sorted(base_safe)]
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
            "base_correct": [int(a["base"] == a["gold"]) for a in answers], "safe_refused": safe_refused,
            "seconds": round(time.time() - t0, 1)}


@functools.cache
def _refused(folder: Path, label: str = "unsafe") -> dict[str, bool]:
    """Prompt id -> refused, by the trained refusal judge, for the ``label`` prompts of an
    evaluation folder (the base evaluation is judged once per process, not once per run)."""
    from driftcaps.compare import load_judged
    from driftcaps.judges import get_harm_judge, get_refusal_judge

    judged = load_judged(folder, get_refusal_judge("trained"), get_harm_judge("trained"))
    return {r.id: r.refusal for r in judged if r.label == label}


def analyse(out: Path, results: list[dict], base_safe: list[int] | None = None) -> None:
    """Write results.json, results.md, pareto.png and records.json from the per-run results
    (``run_point``'s dicts) and the base model's per-prompt safe refusals (for over-refusal)."""
    from driftcaps.pareto import (
        PointRuns,
        accuracy_relation,
        head_to_head,
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
    pairs = [(a, b) for a, b in HEAD_TO_HEAD if a in points and b in points]
    duels = [head_to_head(points, a, b, REFERENCE) for a, b in pairs]
    base_acc = float(np.mean(results[0]["base_correct"]))
    committed = {k: float(np.mean([r["committed"] for r in rs])) for k, rs in by_key.items()}
    (out / "results.json").write_text(json.dumps({
        "model": MODEL, "common": COMMON, "eval": EVAL, "reference": REFERENCE, "base_accuracy": base_acc,
        "points": {k: {**vars(s), "overrides": POINTS[k][2], "committed": committed[k],
                       "accuracy_vs_reference": relation[k]} for k, s in summary.items()},
        "pareto_front": front, "matched": matched, "head_to_head": [vars(d) for d in duels]},
        indent=2, default=list), encoding="utf-8")

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
    lines += ["", "Head to head (intervals paired on prompts and questions, seeds drawn per point; "
              "a keeps more alignment than b when the DM difference's interval lies above 0):", "",
              "| a | b | DM_a − DM_b ↑ [95% CI] | accuracy_a − accuracy_b [95% CI] |", "| --- | --- | --- | --- |"]
    for d in duels:
        name = {k: f"{summary[k].method} {summary[k].strength}" for k in (d.a, d.b)}
        lines.append(f"| {name[d.a]} | {name[d.b]} | {f(d.dm_difference, '+')} | {f(d.accuracy_difference, '+')} |")
    lines += _over_refusal_lines(summary, by_key, base_safe)
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    _plot(out / "pareto.png", summary, front, base_acc)
    with atomic_open(out / "records.json") as fh:  # everything the analysis reads: --records redoes it
        json.dump({"model": MODEL, "common": COMMON, "eval": EVAL, "runs": results, "base_safe_refused": base_safe},
                  fh)


def _over_refusal_lines(summary: dict, by_key: dict[str, list[dict]], base_safe: list[int] | None) -> list[str]:
    """The over-refusal table: per point whose every seed has a safe evaluation, ORR and its
    shift from the base's, each with a two-level bootstrap interval."""
    from driftcaps.pareto import seed_prompt_interval

    have = {k: rs for k, rs in by_key.items() if all(r["safe_refused"] is not None for r in rs)}
    if not have or base_safe is None:
        return []
    base = np.asarray(base_safe, dtype=float)
    lines = ["", f"Over-refusal on the {base.size} safe prompts of driftcaps_mini (refusal judge trained; "
             f"base model ORR {base.mean():.3f}); ΔORR = ORR − the base's, per prompt, ↓ better:", "",
             "| method | strength | seeds | ORR ↓ [95% CI] | ΔORR vs base ↓ [95% CI] |", "| --- | --- | --- | --- | --- |"]
    for k, rs in have.items():
        refused = np.asarray([r["safe_refused"] for r in rs], dtype=float)
        orr, shift = seed_prompt_interval(refused), seed_prompt_interval(refused - base)
        lines.append(f"| {summary[k].method} | {summary[k].strength} | {len(rs)} | {orr[0]:.3f} [{orr[1]:.3f}, "
                     f"{orr[2]:.3f}] | {shift[0]:+.3f} [{shift[1]:+.3f}, {shift[2]:+.3f}] |")
    return lines


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
    ap.add_argument("--records", type=Path, default=None,
                    help="an earlier OUT/records.json: with --analyse, analyse it alone (no model needed); "
                         "otherwise add its runs to OUT's (a run it holds is not trained again)")
    ap.add_argument("--over-refusal", action="store_true",
                    help=f"also evaluate {', '.join(ORR_POINTS)} on the safe prompts (over-refusal)")
    args = ap.parse_args()
    prior, prior_safe = [], None
    if args.records is not None:
        rec = json.loads(args.records.read_text(encoding="utf-8"))
        prior, prior_safe = rec["runs"], rec.get("base_safe_refused")
        if args.analyse:  # the records alone: no model, no run folders
            args.out.mkdir(parents=True, exist_ok=True)
            analyse(args.out, prior, prior_safe)
            return
    from driftcaps.evaluate import EvalSettings, run_eval

    seeds = [int(s) for s in args.seeds.split(",")]
    keys = [k.strip() for k in args.only.split(",")] if args.only else list(POINTS)
    unknown = [k for k in keys if k not in POINTS]
    if unknown:
        raise SystemExit(f"--only: unknown point(s) {unknown}; choose from {', '.join(POINTS)}")
    out: Path = args.out
    if args.analyse and not (out / "base-eval" / "report.json").is_file():  # no run of OUT can be read
        raise SystemExit(f"{out}: no base evaluation, so no finished run to analyse; run without --analyse "
                         "first, or analyse earlier records with --records FILE --analyse.")
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "base-eval" / "report.json").is_file():
        run_eval(EvalSettings(model=MODEL, output=out / "base-eval", overwrite=True, **EVAL))
    if args.over_refusal and not (out / "base-eval-safe" / "report.json").is_file():
        run_eval(EvalSettings(model=MODEL, output=out / "base-eval-safe", overwrite=True, **SAFE_EVAL))
    results, recorded = [], {(r["key"], r["seed"]) for r in prior}
    for seed in seeds:  # seed-major: a partial run has every point at the first seeds
        for key in keys:
            done = (out / "runs" / f"{key}-s{seed}" / "eval" / "report.json").is_file()
            if not done and (args.analyse or (key, seed) in recorded):  # a --records run is not redone
                continue
            r = run_point(out, key, seed, safe=args.over_refusal and key in ORR_POINTS and not args.analyse)
            results.append(r)
            print(f"{key} seed {seed}: AD {np.mean(r['drift']):+.3f}, accuracy {np.mean(r['correct']):.3f} "
                  f"({r['seconds']:.0f} s)", flush=True)
    if not any(r["key"] == REFERENCE for r in results + prior):
        print(f"the reference point {REFERENCE!r} has no finished run; nothing to compare yet.")
        return
    base_safe = prior_safe
    if (out / "base-eval-safe" / "report.json").is_file():
        refused = _refused(out / "base-eval-safe", "safe")
        base_safe = [int(refused[i]) for i in sorted(refused)]
    have = {(r["key"], r["seed"]) for r in results}
    results += [r for r in prior if (r["key"], r["seed"]) not in have]  # --records: runs done elsewhere
    if any(r["prompt_ids"] != results[0]["prompt_ids"] or r["question_ids"] != results[0]["question_ids"]
           for r in results):
        raise SystemExit(f"{args.records}: its runs were scored on other prompts or questions than {out}'s.")
    analyse(out, results, base_safe)  # every point with its finished seeds (the table says how many)


if __name__ == "__main__":
    main()
