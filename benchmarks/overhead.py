"""Harness overhead of ``driftcaps eval`` over a plain ``lm_eval`` run of the same model, prompts and
settings, measured side by side.

Each round runs both as child processes of this script, alternating which goes first, so both
see the same machine state: ``driftcaps eval`` (generation through lm-eval, then judging,
statistics and the report) and ``lm_eval --predict_only`` (generation only) on the same task,
``--limit``, chat template, dtype, batch size and new-token budget. float32 by default: in bf16 on
a CPU ``driftcaps eval`` loads the model its own faster way (``docs/results.md``), which would
hide the overhead. Then one instrumented in-process ``driftcaps eval`` measures the share of
judging, statistics and report writing in its run.
Targets (issue 12): wall time ratio <= 1.10; judging + statistics + report < 2% of the run.

    python benchmarks/overhead.py [--model smollm2-135m-instruct] [--limit 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def _phase_shares(model: str, limit: int, tokens: int, dtype: str, out: Path) -> dict[str, float]:
    """Seconds spent in judging, statistics and report writing inside one ``run_eval``, and in all."""
    import driftcaps.evaluate as ev

    spent = {"judging": 0.0, "statistics": 0.0, "report": 0.0}

    def timed(fn, key):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[key] += time.perf_counter() - t
        return wrapper

    ev.judge_responses = timed(ev.judge_responses, "judging")
    ev.compute_metrics = timed(ev.compute_metrics, "statistics")
    ev.write_record = timed(ev.write_record, "report")
    ev.write_jsonl = timed(ev.write_jsonl, "report")
    settings = ev.EvalSettings(model=model, output=out, limit=limit, max_gen_toks=tokens, dtype=dtype,
                               batch_size=32, device="cpu", overwrite=True)
    t = time.perf_counter()
    ev.run_eval(settings)
    return {**spent, "total": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--task", default="driftcaps_mini")
    ap.add_argument("--limit", type=int, default=64)
    ap.add_argument("--max-gen-toks", type=int, default=32)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from driftcaps.data import ensure_built
    from driftcaps.models import resolve_model
    from driftcaps.paths import tasks_dir

    model = resolve_model(args.model)
    data = ensure_built()
    bindir = Path(sys.executable).parent
    tmp = Path(tempfile.mkdtemp(prefix="driftcaps-overhead-"))
    ours = [str(bindir / "driftcaps"), "eval", "--model", args.model, "--tasks", args.task, "--limit", str(args.limit),
            "--max-gen-toks", str(args.max_gen_toks), "--dtype", args.dtype, "--batch-size", "32", "--device", "cpu",
            "--output", str(tmp / "ours"), "--overwrite"]
    plain = [str(bindir / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={model.path},dtype={args.dtype}",
             "--tasks", args.task, "--include_path", str(tasks_dir()), "--metadata", f'{{"data_dir": "{data}"}}',
             "--limit", str(args.limit), "--apply_chat_template", "--predict_only", "--log_samples",
             "--gen_kwargs", f"max_gen_toks={args.max_gen_toks}", "--batch_size", "32", "--device", "cpu",
             "--output_path", str(tmp / "plain")]
    times: dict[str, list[float]] = {"driftcaps eval": [], "lm_eval": []}
    for r in range(args.rounds):
        order = [("driftcaps eval", ours), ("lm_eval", plain)][:: 1 if r % 2 == 0 else -1]
        for name, cmd in order:
            times[name].append(_timed(cmd))
            print(f"round {r + 1}: {name} {times[name][-1]:.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    shares = _phase_shares(args.model, args.limit, args.max_gen_toks, args.dtype, tmp / "instrumented")
    shutil.rmtree(tmp, ignore_errors=True)
    harness = shares["judging"] + shares["statistics"] + shares["report"]
    print(f"\nmodel {args.model}, {args.task} --limit {args.limit}, {args.max_gen_toks} new tokens, {args.dtype}, "
          f"batch 32, CPU; median of {args.rounds} rounds")
    for k, v in med.items():
        print(f"  {k:15s} {v:7.1f} s   ({', '.join(f'{t:.1f}' for t in times[k])})")
    print(f"  ratio driftcaps eval / lm_eval: {med['driftcaps eval'] / med['lm_eval']:.3f}  (target <= 1.10)")
    print(f"  inside driftcaps eval ({shares['total']:.1f} s): judging {shares['judging']:.2f} s, statistics "
          f"{shares['statistics']:.2f} s, report {shares['report']:.2f} s = {100 * harness / shares['total']:.2f}% "
          "(target < 2%)")


if __name__ == "__main__":
    main()
