"""``driftcaps judge refusal|harm`` (the file contract of DESIGN §3)."""

from __future__ import annotations

from pathlib import Path

import typer

from driftcaps.judges.table import judge_file

app = typer.Typer(help="Judge responses in a .csv or .jsonl file (columns prompt, response).",
                  no_args_is_help=True)


@app.command("refusal")
def refusal(
    input: Path = typer.Option(..., "--input", help="A .csv or .jsonl file with prompt and response."),
    output: Path = typer.Option(..., "--output", help="Where to write the rows with refusal_class, refusal, refusal_score."),
    judge: str = typer.Option("pattern", "--judge", help="Refusal judge name."),
) -> None:
    """Add refusal verdicts to every row."""
    n = judge_file(input, output, kind="refusal", judge_name=judge)
    print(f"judged {n} rows -> {output}")


@app.command("harm")
def harm(
    input: Path = typer.Option(..., "--input", help="A .csv or .jsonl file with prompt and response."),
    output: Path = typer.Option(..., "--output", help="Where to write the rows with harmful, harm_score (empty for rows whose label column says safe)."),
    judge: str = typer.Option("pattern-asr", "--judge", help="Harm judge name."),
) -> None:
    """Add harm verdicts: does the response carry out the harmful request (rows labelled safe are skipped)."""
    n = judge_file(input, output, kind="harm", judge_name=judge)
    print(f"judged {n} rows -> {output}")
