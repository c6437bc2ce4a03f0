"""The measuring half of ``benchmarks/gpu_check.sh`` (run that script; it installs what is needed).

Evaluates base and base + adapter on ``driftcaps_mini`` through the ``hf`` and ``vllm`` backends
(the task's 128 new tokens, bf16, greedy), times each, counts the generated tokens with the
model's tokenizer, compares the two backends' refusal verdicts prompt by prompt, runs
``harmbench-cls`` on the logged responses when its weights load, and writes ``OUT/gpu_check.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

AGREEMENT_TARGET = 0.95


def _eval(model: str, adapter: str | None, backend: str, out: Path, limit: int | None = None) -> dict:
    from driftcaps.errors import DriftCapsError
    from driftcaps.evaluate import EvalSettings, run_eval

    t = time.perf_counter()
    try:
        report = run_eval(EvalSettings(model=model, adapter=adapter, output=out, backend=backend, dtype="bfloat16",
                                       tasks=["driftcaps_mini"], overwrite=True, limit=limit))
    except (DriftCapsError, ImportError) as e:
        return {"ok": False, "error": str(e)[:300]}
    wall = time.perf_counter() - t
    return {"ok": True, "wall_s": round(wall, 1), "n_prompts": report.n_prompts,
            "refusal_rate_unsafe": report.metrics["refusal_rate_unsafe"].value,
            "harmful_rate_unsafe": report.metrics["harmful_rate_unsafe"].value}


def _tokens(folder: Path, tokenizer) -> int:
    rows = [json.loads(x) for x in (folder / "judged.jsonl").read_text().splitlines()]
    return sum(len(tokenizer(r["response"], add_special_tokens=False)["input_ids"]) for r in rows)


def _agreement(a: Path, b: Path) -> dict:
    ra = {r["id"]: r for r in map(json.loads, (a / "judged.jsonl").read_text().splitlines())}
    rb = {r["id"]: r for r in map(json.loads, (b / "judged.jsonl").read_text().splitlines())}
    shared = sorted(ra.keys() & rb.keys())
    same = sum(ra[i]["refusal"] == rb[i]["refusal"] for i in shared)
    exact = sum(ra[i]["response"] == rb[i]["response"] for i in shared)
    share = same / len(shared) if shared else None
    return {"prompts": len(shared), "verdict_agreement": share, "identical_text": exact / len(shared) if shared else None,
            "meets_target": share is not None and share >= AGREEMENT_TARGET}


def _harmbench(folder: Path) -> dict:
    from driftcaps.errors import DriftCapsError
    from driftcaps.judges import get_harm_judge

    rows = [r for r in map(json.loads, (folder / "judged.jsonl").read_text().splitlines()) if r["label"] == "unsafe"]
    try:
        judge = get_harm_judge("harmbench-cls")
        t = time.perf_counter()
        verdicts = judge.judge_batch([r["prompt"] for r in rows], [r["response"] for r in rows])
    except (DriftCapsError, OSError) as e:
        return {"ok": False, "error": str(e)[:300]}
    agree = sum(v.harmful == bool(r["harmful"]) for v, r in zip(verdicts, rows, strict=True)) / len(rows)
    return {"ok": True, "responses": len(rows), "seconds": round(time.perf_counter() - t, 1),
            "harmful_rate": sum(v.harmful for v in verdicts) / len(rows), "agreement_with_trained_judge": agree}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=None, help="Prompts per run (a quick smoke run; default: all 234).")
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer

    from driftcaps.models import resolve_model

    base = resolve_model(args.model)
    tok = AutoTokenizer.from_pretrained(base.path)
    result: dict = {"machine": platform.node(), "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                    "torch": torch.__version__, "model": base.model_dump(), "adapter": args.adapter, "runs": {}}
    targets = {"base": None, **({"adapter": args.adapter} if args.adapter else {})}
    for backend in ("hf", "vllm"):
        for name, adapter in targets.items():
            folder = args.out / f"{backend}-{name}"
            run = _eval(args.model, adapter, backend, folder, args.limit)
            if run["ok"]:
                run["new_tokens"] = _tokens(folder, tok)
                run["tokens_per_s"] = round(run["new_tokens"] / run["wall_s"], 1)
            result["runs"][f"{backend}-{name}"] = run
            print(f"{backend:5s} {name:8s} {json.dumps(run)}", flush=True)
    result["ratio_tokens_per_s_vllm_over_hf"] = {
        name: round(result["runs"][f"vllm-{name}"]["tokens_per_s"] / result["runs"][f"hf-{name}"]["tokens_per_s"], 2)
        for name in targets if result["runs"][f"vllm-{name}"].get("ok") and result["runs"][f"hf-{name}"].get("ok")}
    result["agreement"] = {name: _agreement(args.out / f"hf-{name}", args.out / f"vllm-{name}")
                           for name in targets if result["runs"][f"vllm-{name}"].get("ok") and result["runs"][f"hf-{name}"].get("ok")}
    first_ok = next((args.out / k for k, v in result["runs"].items() if v.get("ok")), None)
    result["harmbench_cls"] = _harmbench(first_ok) if first_ok else {"ok": False, "error": "no evaluation succeeded"}
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("gpu", "ratio_tokens_per_s_vllm_over_hf", "agreement", "harmbench_cls")},
                     indent=2))
    print(f"written: {args.out / 'gpu_check.json'}")


if __name__ == "__main__":
    main()
