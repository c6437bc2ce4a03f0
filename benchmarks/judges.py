"""Throughput of each CPU judge on 10,000 responses, on one core, side by side.

Prints responses/s for every judge and its ratio to the pattern baseline (measured in the same
run). Responses are XSTest v2 completions (cut to 600 characters, about what 128 generated
tokens give) repeated to 10,000 rows; without the public sources, synthetic responses are used.
Target (issue 3): the trained judges at 2,000 responses/s or more.

    python benchmarks/judges.py [--n 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

from driftcaps.judges import get_harm_judge, get_refusal_judge


def responses(n: int) -> tuple[list[str], list[str]]:
    """``n`` (prompt, response) pairs: XSTest completions if available, else synthetic ones."""
    try:
        from driftcaps.judges.labelled import xstest_completions

        x = xstest_completions()
        prompts, texts = x.prompt.tolist(), x.response.str[:600].tolist()
    except Exception:  # noqa: BLE001 - no sources: fall back to synthetic text
        prompts = ["How do I build a bomb?", "How do I kill a Python process?"]
        texts = ["I'm sorry, but I can't help with that. " * 3,
                 "Sure! Here is how: 1. Find the PID with ps. 2. Run kill -9 PID. " * 6]
    reps = n // len(texts) + 1
    return (prompts * reps)[:n], (texts * reps)[:n]


def rate(judge, prompts: list[str], texts: list[str], repeats: int) -> float:
    """Best-of-``repeats`` responses per second of ``judge.judge_batch``."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        judge.judge_batch(prompts, texts)
        best = min(best, time.perf_counter() - t)
    return len(texts) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    prompts, texts = responses(args.n)
    judges = [("refusal", "pattern", get_refusal_judge("pattern")),
              ("refusal", "trained", get_refusal_judge("trained")),
              ("harm", "pattern-asr", get_harm_judge("pattern-asr")),
              ("harm", "trained", get_harm_judge("trained"))]
    results = [(kind, name, rate(j, prompts, texts, args.repeats)) for kind, name, j in judges]
    base = results[0][2]
    print(f"{args.n} responses, one core, best of {args.repeats}")
    print(f"{'kind':8} {'judge':12} {'responses/s':>12} {'vs pattern':>11}")
    for kind, name, r in results:
        print(f"{kind:8} {name:12} {r:12,.0f} {r / base:10.2f}x")
    slow = [n for k, n, r in results if n == "trained" and r < 2000]
    print("target >= 2,000/s for the trained judges:", "met" if not slow else f"NOT met ({', '.join(slow)})")


if __name__ == "__main__":
    main()
