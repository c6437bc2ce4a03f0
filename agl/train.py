"""The training recipe: one loop, top to bottom (torchtune style).

``train(cfg)`` fine-tunes a LoRA adapter on task data and writes, into ``cfg.output``:

- ``adapter_config.json`` + ``adapter_model.safetensors``: a standard PEFT adapter that lm-eval
  loads with ``--model_args pretrained=BASE,peft=DIR``;
- ``training_log.jsonl``: one line per step (``loss``, ``lr``, ``tokens``, ``seconds``) and, every
  ``eval_every`` steps and at the end, ``eval_task_loss`` on held-out task examples;
- ``run.json``: config, seed, base model fingerprint, task data hash, package versions, timings.

The folder is staged and renamed at the end, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from pathlib import Path

from agl.config import TrainConfig
from agl.data import load_task, tokenize_example
from driftcaps import __version__
from driftcaps.adapters import model_arch
from driftcaps.errors import DriftCapsError
from driftcaps.io import staged_dir, write_json, write_jsonl
from driftcaps.models import resolve_model
from driftcaps.provenance import now_iso, package_versions


def check_targets(model, target_modules: list[str], rank: int) -> None:
    """Refuse target modules the model lacks, and a rank larger than an adapted layer.

    Raises:
        DriftCapsError: naming the missing module or the offending layer and its shape.
    """
    import torch

    linears = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    sides = []
    for t in target_modules:
        hits = [n for n in linears if n == t or n.endswith("." + t)]
        if not hits:
            sample = sorted({n.rsplit(".", 1)[-1] for n in linears})[:12]
            raise DriftCapsError(f"target module {t!r} not found in the base model; its linear layers "
                                 f"include {sample}: pass --target-modules with those names.")
        sides += [(min(linears[n].in_features, linears[n].out_features), n) for n in hits]
    smallest, name = min(sides)
    if rank > smallest:
        lin = linears[name]
        raise DriftCapsError(f"rank {rank} is larger than layer {name} ({lin.out_features}x{lin.in_features}); "
                             f"choose --rank <= {smallest}.")


def collate(examples: list[dict], pad_id: int):
    """Right-pad a list of ``{"input_ids", "labels"}`` into tensors of shape (batch, max_len):
    ``input_ids`` (int64), ``attention_mask`` (int64, 1 = token), ``labels`` (-100 on padding)."""
    import torch

    n = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), n), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), n), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), n), dtype=torch.long)
    for i, e in enumerate(examples):
        k = len(e["input_ids"])
        ids[i, :k] = torch.tensor(e["input_ids"])
        labels[i, :k] = torch.tensor(e["labels"])
        mask[i, :k] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def heldout_loss(model, examples: list[dict], pad_id: int, batch_size: int) -> float | None:
    """Token-weighted mean cross-entropy (nats/token) of ``model`` on the response tokens of
    ``examples``; None when there are none."""
    import torch

    if not examples:
        return None
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            b = collate(examples[i:i + batch_size], pad_id)
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.float()
            tgt = b["labels"][:, 1:]
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), tgt,
                                                     ignore_index=-100, reduction="sum")
            total += loss.item()
            count += int((tgt != -100).sum())
    model.train()
    return total / count if count else None


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Fine-tune a plain LoRA adapter on ``cfg.task_data``; return the adapter folder.

    Raises:
        DriftCapsError: a bad config value, missing target modules, rank too large, bad task data,
            or a non-empty output folder.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg.validate()
    out = Path(cfg.output)
    if out.exists() and not out.is_dir():
        raise DriftCapsError(f"{out}: exists and is a file; give a folder as --output.")
    if out.exists() and any(out.iterdir()):
        raise DriftCapsError(f"{out}: output folder exists and is not empty; choose another --output.")
    t0 = time.time()
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    # 1. data: held-out examples first (fixed by the task's order), the rest for training
    rows, task_info = load_task(cfg.task_data)
    if len(rows) <= cfg.heldout:
        raise DriftCapsError(f"{cfg.task_data}: {len(rows)} examples, but heldout={cfg.heldout}; "
                             "give more data or a smaller --heldout.")
    base = resolve_model(cfg.base)
    try:
        tok = AutoTokenizer.from_pretrained(base.path)
    except OSError as e:
        raise DriftCapsError(f"--base {cfg.base}: cannot load it ({str(e).splitlines()[0][:160]}); "
                             "check the name, the folder or your Hub access.") from None
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    examples = [tokenize_example(tok, r["prompt"], r["response"], cfg.max_length) for r in rows]
    too_long = sum(1 for e in examples if all(x == -100 for x in e["labels"][1:]))
    examples = [e for e in examples if any(x != -100 for x in e["labels"][1:])]
    if len(examples) <= cfg.heldout:
        raise DriftCapsError(f"{cfg.task_data}: only {len(examples)} examples keep response tokens within "
                             f"max_length={cfg.max_length} ({too_long} too long); raise --max-length.")
    held, train_ex = examples[:cfg.heldout], examples[cfg.heldout:]

    # 2. model: frozen base + LoRA on the target modules
    dtype = getattr(torch, cfg.dtype)
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=dtype)
    check_targets(model, cfg.target_modules, cfg.rank)
    model = get_peft_model(model, LoraConfig(
        r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules), task_type="CAUSAL_LM"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)))

    # 3. the loop
    order = random.Random(cfg.seed).sample(range(len(train_ex)), len(train_ex))
    log: list[dict] = [{"step": 0, "eval_task_loss": heldout_loss(model, held, pad_id, cfg.batch_size)}]
    cursor = 0
    bar = tqdm(range(1, cfg.steps + 1), desc=f"{cfg.method} fine-tune", disable=not progress, unit="step")
    for step in bar:
        ids = [order[(cursor + i) % len(order)] for i in range(cfg.batch_size)]
        cursor += cfg.batch_size
        batch = collate([train_ex[i] for i in ids], pad_id)
        ts = time.time()
        loss = model(**batch).loss
        if not math.isfinite(loss.item()):
            raise DriftCapsError(f"training diverged at step {step} (loss {loss.item()}); lower --lr.")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        entry = {"step": step, "loss": loss.item(), "task_loss": loss.item(),
                 "lr": sched.get_last_lr()[0], "tokens": int((batch["labels"] != -100).sum()),
                 "seconds": round(time.time() - ts, 4)}
        if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps:
            entry["eval_task_loss"] = heldout_loss(model, held, pad_id, cfg.batch_size)
        log.append(entry)
        bar.set_postfix(loss=f"{entry['loss']:.3f}")

    # 4. outputs, staged
    with staged_dir(out) as stage:
        model.save_pretrained(stage)
        write_jsonl(stage / "training_log.jsonl", log)
        write_json(stage / "run.json", {
            "kind": "driftcaps.agl.run", "method": cfg.method, "config": dataclasses.asdict(cfg),
            "seed": cfg.seed,
            "base_model": {"name": base.name, "path": base.path, "source": base.source,
                           "weights_sha256": base.weights_sha256, "arch": model_arch(base.path)},
            "task_data": task_info, "n_train": len(train_ex), "n_heldout": len(held),
            "n_skipped_too_long": too_long,
            "trainable_parameters": sum(p.numel() for p in params),
            "final": {"loss": log[-1]["loss"], "eval_task_loss": log[-1].get("eval_task_loss"),
                      "eval_task_loss_before": log[0]["eval_task_loss"]},
            "wall_seconds": round(time.time() - t0, 1), "created_at": now_iso(),
            "driftcaps_version": __version__, "packages": package_versions(),
        })
    return out
