"""``driftcaps tasks-path|eval|drift|demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from driftcaps.cli.options import build_settings, settings_command
from driftcaps.evaluate import EvalSettings
from driftcaps.paths import tasks_dir
from driftcaps.stats import N_BOOT


def register(app: typer.Typer) -> None:
    """Add the top-level commands to ``app``."""

    @app.command("tasks-path")
    def tasks_path() -> None:
        """Print the folder to pass to lm-eval's --include_path."""
        print(tasks_dir())

    @app.command("eval")
    @settings_command(EvalSettings)
    def eval_(flags: dict) -> None:
        """Generate responses with lm-eval, judge them, write report.json and print the metrics."""
        from driftcaps.console import print_eval
        from driftcaps.evaluate import run_eval

        settings = build_settings(EvalSettings, flags)
        report = run_eval(settings)
        print_eval(report)
        print(f"report: {settings.output / 'report.json'}")

    @app.command("drift")
    def drift(
        base: Path = typer.Option(..., "--base", help="Results folder of the base model."),
        tuned: list[Path] = typer.Option(..., "--tuned", help="Results folder of a tuned model (repeatable)."),
        output: Path = typer.Option(..., "--output", help="drift report .json (the plot goes beside it as .png)."),
        name: list[str] = typer.Option(None, "--name", help="Label per --tuned (repeatable) (default: folder names)."),
        refusal_judge: str = typer.Option(None, "--refusal-judge", help="Refusal judge (default: the one named in the base report)."),
        harm_judge: str = typer.Option(None, "--harm-judge", help="Harm judge (default: the one named in the base report)."),
        n_boot: int = typer.Option(N_BOOT, "--n-boot", min=1, help="Paired bootstrap resamples."),
        seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
        reference: str = typer.Option(None, "--reference", help="--name of the plain-LoRA run: the others get drift mitigation DM = 1 - AD/AD_reference."),
        allow_mismatch: list[str] = typer.Option(None, "--allow-mismatch", help="Accept base and tuned runs that differ in this "
                                                 "generation setting (repeatable; recorded in the report): chat_template, "
                                                 "system_instruction, max_gen_toks, until, do_sample, temperature, dtype, "
                                                 "batch_size, backend, use_cache."),
    ) -> None:
        """Paired drift of tuned models against the base: AD, ΔHR, ΔORR, flips, McNemar, per category."""
        from driftcaps.compare import run_drift
        from driftcaps.console import print_drift

        report, warnings = run_drift(base, list(tuned), output, refusal_judge, harm_judge, n_boot, seed,
                                     names=list(name) if name else None, reference=reference,
                                     allow_mismatch=list(allow_mismatch) if allow_mismatch else None)
        for w in warnings:
            print(f"warning: {w}")
        print_drift(report)
        print(f"drift report: {output}  plot: {output.with_suffix('.png')}")

    @app.command("demo")
    def demo(
        out: Path = typer.Option(None, "--out", help="Folder for every artefact of the demo (default: runs/demo, "
                                 "runs/demo-full with --full)."),
        model: str = typer.Option("qwen2.5-coder-0.5b-instruct", "--model", help="Base model."),
        steps: int = typer.Option(None, "--steps", min=1, help="Fine-tuning steps of each adapter on the benign task (default: 14)."),
        limit: int = typer.Option(None, "--limit", help="Prompts per task (quick runs) (default: all of driftcaps_mini)."),
        fresh: bool = typer.Option(False, "--fresh", help="Redo every stage instead of reusing finished ones."),
        no_agl: bool = typer.Option(False, "--no-agl", help="Plain LoRA only (skips the AlignGuard-LoRA stages)."),
        task_data: str = typer.Option(None, "--task-data", help="Another benign task for both adapters "
                                      "(see `driftcaps agl task-data --list`) (default: the demo's)."),
        lr: float = typer.Option(None, "--lr", min=0.0, help="Another learning rate for both adapters."),
        full: bool = typer.Option(False, "--full", help="The longer demo (about 40 minutes on 2 cores): 30 steps, "
                                  "128-token evaluations, and the refusal forgetting curve from the early-refusal probe."),
    ) -> None:
        """The main job: fine-tune plain LoRA and AlignGuard-LoRA adapters on benign data, evaluate
        base and adapters on driftcaps_mini, report alignment drift and drift mitigation with CIs."""
        from driftcaps.demo import run_demo

        out = out or Path("runs/demo-full" if full else "runs/demo")
        run_demo(out=out, model=model, steps=steps, limit=limit, fresh=fresh, agl=not no_agl, task_data=task_data, lr=lr,
                 full=full)
