"""The ``driftcaps`` command line: one sub-command per stage (``docs/design.md#flow``).

User mistakes (:class:`~driftcaps.errors.DriftCapsError`) print one line, ``error: ...``, and
exit with status 2; no traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from driftcaps.cli import (
    agl_cmd,
    data_cmd,
    judge_cmd,
    leaderboard_cmd,
    models_cmd,
    run_cmd,
    scaling_cmd,
)
from driftcaps.errors import DriftCapsError

app = typer.Typer(
    name="driftcaps",
    help="DriftCaps: measure whether fine-tuning broke a chat model's safety (alignment drift).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(models_cmd.app, name="models")
app.add_typer(data_cmd.app, name="data")
app.add_typer(judge_cmd.app, name="judge")
app.add_typer(agl_cmd.app, name="agl")
app.add_typer(scaling_cmd.app, name="scaling")
app.add_typer(leaderboard_cmd.app, name="leaderboard")
run_cmd.register(app)


def _version(value: bool) -> None:
    if value:
        from driftcaps import __version__

        print(f"driftcaps {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """DriftCaps: measure whether fine-tuning broke a chat model's safety (alignment drift)."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``driftcaps`` console script.

    Usage mistakes are reported by the CLI library (usage line, exit status 2); user mistakes
    found later (:class:`DriftCapsError`) print one ``error: ...`` line and exit with status 2.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, standalone_mode=True)
    except DriftCapsError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
