"""``driftcaps leaderboard submit|show|compare|build`` (``docs/leaderboard.md``)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The leaderboard: verified submissions, ranked views, checkpoint comparison, a static page.",
                  no_args_is_help=True)

DB_HELP = ("The board: a SQLite file path or a SQLAlchemy URL such as postgresql+psycopg://user@host/db "
           "(default: $DRIFTCAPS_HOME/leaderboard.sqlite).")


@app.command("submit")
def submit(
    folder: Path = typer.Argument(..., help="A results folder of `driftcaps eval`, or a drift folder (drift.json "
                                  "with the results folders it names, e.g. runs/demo)."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    name: str = typer.Option(None, "--name", help="Display name of a single results folder (default: the adapter folder's name)."),
) -> None:
    """Verify a folder (judges re-run, metrics recomputed) and store it; rejected with a reason otherwise."""
    from leaderboard.commands import submit as do_submit

    result = do_submit(folder, db, name)
    for i in result.stored:
        print(f"stored entry #{i} {result.names[i]}")
    for i in result.recognised:
        print(f"recognised entry #{i} {result.names[i]}: already on the board (same weights, prompts, judges and "
              "generation settings); not stored again")
    if result.fits:
        print(f"stored {result.fits} scaling-law fit(s)")


@app.command("show")
def show(
    db: str = typer.Option(None, "--db", help=DB_HELP),
    fmt: str = typer.Option("md", "--format", help="md, csv or json."),
) -> None:
    """The board ranked by balanced safety (rank ranges where CIs overlap), with AD, RR, HR, ORR,
    task accuracy and the drift/utility Pareto front (★)."""
    from leaderboard.commands import show as do_show

    print(do_show(db, fmt))


@app.command("compare")
def compare(
    checkpoints: list[Path] = typer.Argument(..., help="Results folders of two or more checkpoints of one base model."),
    base: Path = typer.Option(..., "--base", help="Results folder of the base model."),
    output: Path = typer.Option(..., "--output", help="compare.json (plots beside it: .png and -vs-base.png)."),
    name: list[str] = typer.Option(None, "--name", help="Label per checkpoint (repeatable; default: folder names)."),
) -> None:
    """Paired drift of each checkpoint against the base and against each other: tables and a heat map."""
    from leaderboard.compare import compare_checkpoints, compare_markdown

    report, warnings = compare_checkpoints(base, list(checkpoints), output, names=list(name) if name else None)
    for w in warnings:
        print(f"warning: {w}")
    print(compare_markdown(report))
    print(f"compare report: {output}  plots: {output.with_suffix('.png')}, "
          f"{output.with_name(output.stem + '-vs-base.png')}")


@app.command("build")
def build(
    out: Path = typer.Option(..., "--out", help="Folder for the page (new, empty, or a previous build)."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Write the static, self-contained HTML page of the board (out/index.html)."""
    from leaderboard.commands import build as do_build

    print(f"page: {do_build(db, out)}")
