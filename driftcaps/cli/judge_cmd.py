"""``driftcaps judge refusal|harm`` (the file contract of ``docs/judges.md#file-contract``)."""

from __future__ import annotations

from pathlib import Path

import typer

from driftcaps.judges import (
    DEFAULT_HARM_JUDGE,
    DEFAULT_REFUSAL_JUDGE,
    HARM_JUDGES,
    LLM_HARM_JUDGES,
    REFUSAL_JUDGES,
)
from driftcaps.judges.agreement import VALIDATION_N_BOOT
from driftcaps.judges.table import judge_file
from driftcaps.stats import N_BOOT

app = typer.Typer(help="Judges: judge a .csv/.jsonl of responses, train the judges, validate them against human labels.",
                  no_args_is_help=True)


@app.command("refusal")
def refusal(
    input: Path = typer.Option(..., "--input", help="A .csv or .jsonl file with prompt and response."),
    output: Path = typer.Option(..., "--output", help="Where to write the rows with refusal_class, refusal, refusal_score."),
    judge: str = typer.Option(DEFAULT_REFUSAL_JUDGE, "--judge", help=f"Refusal judge: {', '.join(REFUSAL_JUDGES)}."),
) -> None:
    """Add refusal verdicts to every row."""
    n = judge_file(input, output, kind="refusal", judge_name=judge)
    print(f"judged {n} rows -> {output}")


@app.command("harm")
def harm(
    input: Path = typer.Option(..., "--input", help="A .csv or .jsonl file with prompt and response."),
    output: Path = typer.Option(..., "--output", help="Where to write the rows with harmful, harm_score (empty for rows whose label column says safe)."),
    judge: str = typer.Option(DEFAULT_HARM_JUDGE, "--judge",
                              help=f"Harm judge: {', '.join(HARM_JUDGES + LLM_HARM_JUDGES)} (LLM judges: NAME[:MODEL])."),
) -> None:
    """Add harm verdicts: does the response carry out the harmful request (rows labelled safe are skipped)."""
    n = judge_file(input, output, kind="harm", judge_name=judge)
    print(f"judged {n} rows -> {output}")


@app.command("results")
def results(
    inputs: list[Path] = typer.Argument(..., help="One results folder (driftcaps eval or lm_eval --output_path), "
                                        "or lm-eval samples_*.jsonl files of one run."),
    output: Path = typer.Option(..., "--output", help="New folder for judged.jsonl and judgement.json."),
    refusal_judge: str = typer.Option(DEFAULT_REFUSAL_JUDGE, "--refusal-judge",
                                      help=f"Refusal judge: {', '.join(REFUSAL_JUDGES)}."),
    harm_judge: str = typer.Option(DEFAULT_HARM_JUDGE, "--harm-judge",
                                   help=f"Harm judge: {', '.join(HARM_JUDGES + LLM_HARM_JUDGES)} (LLM judges: NAME[:MODEL])."),
    n_boot: int = typer.Option(N_BOOT, "--n-boot", min=1, help="Bootstrap resamples for the 95% CIs."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty --output at the end."),
) -> None:
    """Judge saved generations again with any judges (no model is run): metrics with 95% CIs."""
    from driftcaps.console import print_corrected, print_metrics
    from driftcaps.rescore import JUDGEMENT_FILE, judge_results

    j = judge_results(inputs, output, refusal_judge, harm_judge, n_boot=n_boot, seed=seed, overwrite=overwrite)
    who = (j.model.name if j.model else "responses") + (f" + adapter {Path(j.adapter.path).name}" if j.adapter else "")
    print_metrics(j.metrics, j.by_subset, j.by_category, f"Judged again: {who}", j.judges)
    print_corrected(j.corrected, j.judge_error_rates)
    print(f"judged {j.n_prompts} responses -> {output / 'judged.jsonl'}, {output / JUDGEMENT_FILE}")


@app.command("train")
def train(
    out: Path = typer.Option(..., "--out", help="Folder for the judge files (refusal-v*.json, harm-v*.json)."),
    sources: str = typer.Option(None, "--sources", help="Folder of the labelled public files (default: as `data build`)."),
) -> None:
    """Fit the trained judges on the labelled data (deterministic) and write their JSON files."""
    from driftcaps.judges.training import train_judges

    for p in train_judges(out, sources):
        print(f"wrote {p}")


@app.command("validate")
def validate(
    sources: str = typer.Option(None, "--sources", help="Folder of the labelled public files."),
    output: Path = typer.Option(None, "--output", help="Also write the table as JSON."),
    n_boot: int = typer.Option(VALIDATION_N_BOOT, "--n-boot", min=1, help="Bootstrap resamples for the 95% CIs."),
) -> None:
    """Agreement of each judge with human labels, out of distribution, beside reference judges."""
    from driftcaps.console import print_agreement, print_error_rates, print_hard_cases
    from driftcaps.io import write_json
    from driftcaps.judges import get_harm_judge, get_refusal_judge
    from driftcaps.judges.error_rates import measure_error_rates
    from driftcaps.judges.validate import (
        TARGETS,
        validate_hard_cases,
        validate_harm,
        validate_refusal,
    )

    refusal, harm = validate_refusal(sources, n_boot), validate_harm(sources, n_boot)
    hard = validate_hard_cases({n: get_refusal_judge(n) for n in REFUSAL_JUDGES},
                               {n: get_harm_judge(n) for n in HARM_JUDGES})
    rates = measure_error_rates(sources)
    print_agreement(refusal, harm, TARGETS)
    print_error_rates(rates, n_boot)
    print_hard_cases(hard, TARGETS["hard_cases"])
    if output:
        write_json(output, {"targets": TARGETS, "refusal": refusal, "harm": harm, "hard_cases": hard,
                            "error_rates": [r.model_dump() for r in rates]})
