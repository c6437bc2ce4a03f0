"""``driftcaps agl train|task-data``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from agl.config import TrainConfig, load_config
from agl.data import BUILTIN_TASKS, load_task
from driftcaps.io import write_jsonl

app = typer.Typer(help="Fine-tune adapters: plain LoRA (baseline) or AlignGuard-LoRA; both write PEFT adapters.",
                  no_args_is_help=True)

_D = TrainConfig()


@app.command("train")
def train(
    method: str = typer.Option(None, "--method", help="lora (plain LoRA) or agl (AlignGuard-LoRA) (default: lora)."),
    base: str = typer.Option(None, "--base", help="Base model: a name from `driftcaps models list`, a folder or a Hub id."),
    task_data: str = typer.Option(None, "--task-data", help=f"JSONL of prompt/response rows, or a built-in task: {', '.join(BUILTIN_TASKS)}."),
    output: Path = typer.Option(None, "--output", help="Adapter folder to write (must be new or empty)."),
    steps: int = typer.Option(None, "--steps", help=f"Optimizer steps (default: {_D.steps})."),
    rank: int = typer.Option(None, "--rank", help=f"LoRA rank r (default: {_D.rank})."),
    alpha: float = typer.Option(None, "--alpha", help=f"LoRA alpha (default: {_D.alpha})."),
    dropout: float = typer.Option(None, "--dropout", help=f"LoRA dropout (default: {_D.dropout})."),
    lr: float = typer.Option(None, "--lr", help=f"Peak learning rate (default: {_D.lr})."),
    batch_size: int = typer.Option(None, "--batch-size", help=f"Examples per step (default: {_D.batch_size})."),
    max_length: int = typer.Option(None, "--max-length", help=f"Tokens per example (default: {_D.max_length})."),
    target_modules: str = typer.Option(None, "--target-modules", help="Comma-separated module names (default: q_proj,k_proj,v_proj,o_proj)."),
    dtype: str = typer.Option(None, "--dtype", help=f"Base weights dtype: float32 or bfloat16, 35% faster on CPUs with bf16 (default: {_D.dtype})."),
    seed: int = typer.Option(None, "--seed", help=f"Seed (default: {_D.seed})."),
    eval_every: int = typer.Option(None, "--eval-every", help=f"Held-out task loss every N steps (default: {_D.eval_every})."),
    heldout: int = typer.Option(None, "--heldout", help=f"Task examples held out (default: {_D.heldout})."),
    lambda_fisher: float = typer.Option(None, "--lambda-fisher", help=f"AGL: weight λ_A of the Fisher term (default: {_D.lambda_fisher})."),
    lambda_task: float = typer.Option(None, "--lambda-task", help=f"AGL: weight λ_T of the task stabiliser (default: {_D.lambda_task})."),
    lambda_collision: float = typer.Option(None, "--lambda-collision", help=f"AGL: weight λ_NC of the collision terms (default: {_D.lambda_collision})."),
    collision_alpha: float = typer.Option(None, "--collision-alpha", help=f"AGL: α, Riemannian overlap vs geodesic separation (default: {_D.collision_alpha})."),
    subspace_m: int = typer.Option(None, "--subspace-m", help=f"AGL: alignment directions per layer (default: {_D.subspace_m})."),
    fisher_mode: str = typer.Option(None, "--fisher-mode", help=f"AGL: subspace or diagonal (default: {_D.fisher_mode})."),
    fisher_samples: int = typer.Option(None, "--fisher-samples", help=f"AGL: alignment examples for the Fisher estimate (default: {_D.fisher_samples})."),
    align_heldout: int = typer.Option(None, "--align-heldout", help=f"Held-out alignment examples for the logged alignment loss; 0 = none (default: {_D.align_heldout})."),
    config: Path = typer.Option(None, "--config", help="A YAML file of TrainConfig fields; flags override it."),
) -> None:
    """Fine-tune an adapter; write adapter files, training_log.jsonl and run.json.

    --base, --task-data and --output are required (as flags or in --config)."""
    from agl.train import train as run_train

    flags = {"method": method, "base": base, "task_data": task_data,
             "output": str(output) if output else None, "steps": steps, "rank": rank, "alpha": alpha, "dropout": dropout,
             "lr": lr, "batch_size": batch_size, "max_length": max_length,
             "target_modules": [t.strip() for t in target_modules.split(",") if t.strip()] if target_modules else None,
             "dtype": dtype, "seed": seed, "eval_every": eval_every, "heldout": heldout,
             "lambda_fisher": lambda_fisher, "lambda_task": lambda_task, "lambda_collision": lambda_collision,
             "collision_alpha": collision_alpha, "subspace_m": subspace_m, "fisher_mode": fisher_mode,
             "fisher_samples": fisher_samples, "align_heldout": align_heldout}
    if config is not None:
        cfg = load_config(config, flags)
    else:
        cfg = dataclasses.replace(_D, **{k: v for k, v in flags.items() if v is not None}).validate()
    out = run_train(cfg)
    print(f"adapter written to {out}")


@app.command("task-data")
def task_data(
    task: str = typer.Option("mmlu-affirmative", "--task", help=f"Built-in task: {', '.join(BUILTIN_TASKS)}."),
    out: Path = typer.Option(..., "--out", help="JSONL file to write (prompt, response per line)."),
) -> None:
    """Write a built-in task as a JSONL file (to inspect it or edit it)."""
    rows, info = load_task(task)
    write_jsonl(out, rows)
    print(f"wrote {info['rows']} rows of {task} to {out} (sha256 of rows {info['sha256'][:12]}...)")
