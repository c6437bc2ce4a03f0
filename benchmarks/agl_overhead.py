"""Cost of AlignGuard-LoRA over plain LoRA: step time side by side, and the Fisher estimate.

Two adapters of the same base, same batches and seed, trained in alternating steps (LoRA step,
AGL step, ...) so that both see the same machine state; prints the median step times, their
ratio, and the Fisher estimate's time as a share of a 300-step AGL run.
Targets (issue 4): AGL / LoRA <= 1.25 per step; Fisher <= 20% of a 300-step run.

    python benchmarks/agl_overhead.py [--model qwen2.5-coder-0.5b-instruct] [--steps 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from agl.alignment import alignment_data
from agl.config import TrainConfig
from agl.data import load_task, tokenize_example
from agl.fisher import estimate
from agl.model import AGLObjective
from agl.train import collate, train_step
from driftcaps.models import resolve_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--fisher-samples", type=int, default=128)
    ap.add_argument("--dtype", default="bfloat16")
    args = ap.parse_args()
    cfg = TrainConfig(method="agl", base=args.model, task_data="mmlu-affirmative", output="-",
                      batch_size=args.batch_size, fisher_samples=args.fisher_samples, dtype=args.dtype)
    base = resolve_model(cfg.base)
    tok = AutoTokenizer.from_pretrained(base.path)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    rows, _ = load_task(cfg.task_data)
    examples = [tokenize_example(tok, r["prompt"], r["response"], cfg.max_length) for r in rows[: 4 * args.steps * cfg.batch_size]]
    align = [tokenize_example(tok, r["prompt"], r["response"], cfg.max_length)
             for r in alignment_data(base, cfg.fisher_samples)]

    def model():
        torch.manual_seed(0)
        m = AutoModelForCausalLM.from_pretrained(base.path, dtype=getattr(torch, cfg.dtype))
        return m

    lora_base, agl_base = model(), model()
    t = time.perf_counter()
    fisher = estimate(agl_base, align, cfg.target_modules, cfg.subspace_m, cfg.oversample, cfg.fisher_mode, 0)
    fisher_s = time.perf_counter() - t
    lc = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=list(cfg.target_modules))
    runs = {}
    for name, m in (("lora", lora_base), ("agl", agl_base)):
        torch.manual_seed(0)
        pm = get_peft_model(m, lc)
        pm.train()
        params = [p for p in pm.parameters() if p.requires_grad]
        runs[name] = (pm, torch.optim.AdamW(params, lr=cfg.lr), AGLObjective(pm, fisher, cfg) if name == "agl" else None)
    times: dict[str, list[float]] = {"lora": [], "agl": []}
    for step in range(args.steps + 1):  # step 0 warms up
        batch = collate(examples[step * cfg.batch_size:(step + 1) * cfg.batch_size], pad)
        for name, (pm, opt, obj) in runs.items():
            t = time.perf_counter()
            train_step(pm, batch, obj, [p for p in pm.parameters() if p.requires_grad], opt, None, cfg.max_grad_norm)
            if step:
                times[name].append(time.perf_counter() - t)
    lora_s, agl_s = statistics.median(times["lora"]), statistics.median(times["agl"])
    share = fisher_s / (fisher_s + 300 * agl_s)
    print(f"model {base.name}, batch {cfg.batch_size} x <= {cfg.max_length} tokens, {cfg.dtype}, "
          f"{args.steps} timed steps each, alternating")
    print(f"step time  LoRA {lora_s:.2f} s   AGL {agl_s:.2f} s   ratio AGL/LoRA {agl_s / lora_s:.3f} (target <= 1.25)")
    print(f"Fisher estimate ({cfg.fisher_samples} examples, {cfg.fisher_mode}, m={cfg.subspace_m}): {fisher_s:.0f} s "
          f"= {share:.1%} of a 300-step AGL run (target <= 20%)")


if __name__ == "__main__":
    main()
