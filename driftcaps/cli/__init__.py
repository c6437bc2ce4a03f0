"""The ``driftcaps`` command line: one sub-command per stage (DESIGN §1).

User mistakes (:class:`~driftcaps.errors.DriftCapsError`) print one line, ``error: ...``, and
exit with status 2; no traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from driftcaps.cli import agl_cmd, data_cmd, judge_cmd, models_cmd, run_cmd
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
run_cmd.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``driftcaps`` console script."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, standalone_mode=False)
    except DriftCapsError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; nothing was half-written.", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        raise
