"""``driftcaps agl train|task-data``."""

from __future__ import annotations

import inspect
from pathlib import Path

import typer

from agl.config import TrainConfig
from agl.data import BUILTIN_TASKS, load_task
from driftcaps.cli.options import build_settings, settings_command
from driftcaps.io import write_jsonl

app = typer.Typer(help="Fine-tune adapters: plain LoRA (baseline) or AlignGuard-LoRA; both write PEFT adapters.",
                  no_args_is_help=True)

_CONFIG = inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Path | None,
                            default=typer.Option(None, "--config", help="A YAML file of training config fields "
                                                 "(the flags' names with underscores); flags override it."))


@app.command("train")
@settings_command(TrainConfig, extra=[_CONFIG])
def train(flags: dict, config: Path | None) -> None:
    """Fine-tune an adapter; write adapter files, training_log.jsonl and run.json.

    --base, --task-data and --output are required (as flags or in --config)."""
    from agl.train import train as run_train

    out = run_train(build_settings(TrainConfig, flags, config))
    print(f"adapter written to {out}")


@app.command("task-data")
def task_data(
    task: str = typer.Option("dolly", "--task", help=f"Built-in task: {', '.join(BUILTIN_TASKS)}."),
    out: Path = typer.Option(None, "--out", help="JSONL file to write (prompt, response per line)."),
    list_: bool = typer.Option(False, "--list", help="List the built-in tasks with their licences and exit."),
    base: str = typer.Option(None, "--base", help="Base model, for the tasks it generates (mmlu-explain*)."),
) -> None:
    """Write a built-in task as a JSONL file (to inspect it or edit it), or list them."""
    if list_:
        for name, what in BUILTIN_TASKS.items():
            print(f"{name:20s} {what}")
        return
    if out is None:
        raise typer.BadParameter("give --out FILE (or --list)", param_hint="--out")
    from driftcaps.models import resolve_model

    rows, info = load_task(task, base=resolve_model(base) if base else None)
    write_jsonl(out, rows)
    print(f"wrote {info['rows']} rows of {task} to {out} (sha256 of rows {info['sha256'][:12]}...)")
