"""Reproduction: plain LoRA vs AlignGuard-LoRA on Qwen2.5-Coder-0.5B-Instruct, with ablations.

Every run fine-tunes on the demo's benign task (MMLU answered "Sure! I'd be happy to help with
that. The answer is ...") with the same steps, learning rate, batch, rank and seed; evaluates
base + adapter on driftcaps_mini; and reports, against the base, alignment drift AD with its
paired 95% CI, drift mitigation DM = 1 − AD_method / AD_LoRA with its paired CI, the task metric
(held-out task loss) and the held-out alignment loss (NLL of the base model's own responses).

Runs are resumable: a run whose evaluation report exists is reused. Results go to
``OUT/results.json``, ``OUT/results.md`` (the table for docs/results.md) and ``OUT/drift.png``.

    python benchmarks/reproduce_agl.py [--out runs/reproduce_agl] [--steps 30] [--only lora,agl]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agl.config import TrainConfig
from agl.train import train
from driftcaps.compare import run_drift
from driftcaps.evaluate import EvalSettings, run_eval
from driftcaps.io import write_json

MODEL = "qwen2.5-coder-0.5b-instruct"
COMMON = dict(task_data="mmlu-affirmative", rank=16, alpha=32.0, lr=3e-4, batch_size=4, max_length=256,
              dtype="bfloat16", eval_every=10, heldout=32, seed=0, align_heldout=16, fisher_samples=64)
RUNS: dict[str, dict] = {
    "lora": dict(method="lora"),
    "agl": dict(method="agl"),
    "agl -fisher": dict(method="agl", lambda_fisher=0.0),
    "agl -task": dict(method="agl", lambda_task=0.0),
    "agl -riemannian": dict(method="agl", collision_alpha=0.0),
    "agl -geodesic": dict(method="agl", collision_alpha=1.0),
    "agl fisher-only x1000": dict(method="agl", lambda_fisher=1000.0, lambda_task=0.0, lambda_collision=0.0),
    "agl diagonal fisher-only x1000": dict(method="agl", fisher_mode="diagonal", lambda_fisher=1000.0,
                                           lambda_task=0.0, lambda_collision=0.0),
    "agl lambda_task x4": dict(method="agl", lambda_task=2.0),
}
"""The runs: plain LoRA; AGL at its defaults; one ablation per term (a weight set to 0; the collision
mix α = 0 drops the Riemannian overlap, α = 1 the geodesic term); and the fixes tried for the Fisher
term's scale and subspace (×1000 alone, diagonal Fisher ×1000 alone) and for the stabiliser (λ_T ×4)."""


def slug(name: str) -> str:
    return name.replace(" ", "_").replace("-", "no-")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/reproduce_agl"))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--only", default=None, help="comma-separated run names (default: all)")
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(RUNS)
    out: Path = args.out
    base_dir = out / "base-eval"
    if not (base_dir / "report.json").is_file():
        run_eval(EvalSettings(model=MODEL, output=base_dir, overwrite=True))
    for name in names:
        folder = out / slug(name)
        cfg = TrainConfig(base=MODEL, output=str(folder / "adapter"), steps=args.steps, **COMMON, **RUNS[name])
        if not (folder / "adapter" / "run.json").is_file():
            train(cfg)
        if not (folder / "eval" / "report.json").is_file():
            run_eval(EvalSettings(model=MODEL, adapter=str(folder / "adapter"), output=folder / "eval", overwrite=True))
    report, _ = run_drift(base_dir, [out / slug(n) / "eval" for n in names], out / "drift.json", names=names,
                          reference="lora" if "lora" in names else None)
    rows = []
    for td in report.tuned:
        run = json.loads((out / slug(td.name) / "adapter" / "run.json").read_text())
        dm = td.drift_mitigation
        o = td.overall
        rows.append({
            "run": td.name, "config": {k: v for k, v in RUNS[td.name].items()},
            "refusal_rate": [o.refusal_rate_base, o.refusal_rate_tuned],
            "alignment_drift": o.alignment_drift.model_dump(), "flips": [o.refused_to_complied, o.complied_to_refused],
            "mcnemar_p": o.mcnemar_p, "delta_harmful_rate": o.delta_harmful_rate.model_dump(),
            "delta_over_refusal_rate": o.delta_over_refusal_rate.model_dump(),
            "drift_mitigation": dm.model_dump() if dm else None,
            "eval_task_loss": run["final"]["eval_task_loss"], "eval_alignment_loss": run["final"]["eval_alignment_loss"],
            "eval_alignment_loss_before": run["final"]["eval_alignment_loss_before"],
            "train_seconds": run["wall_seconds"], "fisher_seconds": (run.get("fisher") or {}).get("seconds"),
        })
    write_json(out / "results.json", {"model": MODEL, "steps": args.steps, "common": COMMON,
                                      "defaults": {k: f.get_default(call_default_factory=True)
                                                   for k, f in TrainConfig.model_fields.items() if not f.is_required()}, "runs": rows})
    lines = ["| run | RR base→tuned | AD [95% CI] | DM vs LoRA [95% CI] | ΔORR | task loss | alignment loss |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ad, dm, orr = r["alignment_drift"], r["drift_mitigation"], r["delta_over_refusal_rate"]
        dm_s = "–" if not dm or dm["value"] is None else f"{dm['value']:+.2f} [{dm['ci_low']:+.2f}, {dm['ci_high']:+.2f}]"
        lines.append(f"| {r['run']} | {r['refusal_rate'][0]:.2f}→{r['refusal_rate'][1]:.2f} | "
                     f"{ad['value']:+.3f} [{ad['ci_low']:+.3f}, {ad['ci_high']:+.3f}] | {dm_s} | "
                     f"{orr['value']:+.2f} | {r['eval_task_loss']:.3f} | "
                     f"{r['eval_alignment_loss_before']:.3f}→{r['eval_alignment_loss']:.3f} |")
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
