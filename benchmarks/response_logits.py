"""Logits only where a response token is predicted (``agl.loss.response_loss``) against the
model's own loss over all positions: training step time side by side.

One LoRA model, the same batches, the two losses in alternating steps (full, response-only,
full, ...) so both see the same machine state; prints the median step times, their ratio and
the largest difference between the two losses on the same batch.
Target: response-only / full <= 0.85 on the demo's task (issue 9: the demo's 20-minute budget).

    python benchmarks/response_logits.py [--model qwen2.5-coder-0.5b-instruct] [--steps 6]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from agl.data import load_task, tokenize_example
from agl.loss import response_loss
from agl.train import collate
from driftcaps.models import resolve_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--task-data", default="mmlu-explain-affirmative")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    args = ap.parse_args()
    base = resolve_model(args.model)
    tok = AutoTokenizer.from_pretrained(base.path)
    rows, _ = load_task(args.task_data, base=base)
    examples = [tokenize_example(tok, r["prompt"], r["response"], 256) for r in rows]
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.bfloat16),
                           LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    losses = {"full": lambda b: model(**b).loss, "response-only": lambda b: response_loss(model, b)}
    times: dict[str, list[float]] = {k: [] for k in losses}
    gap = 0.0
    for step in range(args.steps):
        batch = collate(examples[step * args.batch_size:(step + 1) * args.batch_size], tok.pad_token_id or 0)
        with torch.no_grad():
            gap = max(gap, abs(losses["full"](batch).item() - losses["response-only"](batch).item()))
        for name, fn in losses.items():
            t = time.perf_counter()
            fn(batch).backward()
            model.zero_grad(set_to_none=True)  # no update: both losses see the same weights
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v[1:] or v) for k, v in times.items()}  # the first step warms up
    share = sum(int((collate([e], 0)["labels"] != -100).sum()) for e in examples) / sum(len(e["input_ids"]) for e in examples)
    print(f"{args.model}, {args.task_data}, batch {args.batch_size}, response tokens {share:.0%} of all")
    for k, v in med.items():
        print(f"  {k:14s} median step {v:.2f} s")
    print(f"ratio response-only / full = {med['response-only'] / med['full']:.2f}; largest loss difference {gap:.2e}")


if __name__ == "__main__":
    main()
