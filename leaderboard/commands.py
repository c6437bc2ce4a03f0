"""The leaderboard's operations as Python functions (what ``driftcaps leaderboard ...`` calls):
submit a folder, render the board, build the page (``docs/leaderboard.md``)."""

from __future__ import annotations

import os
from pathlib import Path

from leaderboard.schema import BoardRow, SubmitResult
from leaderboard.store import Board
from leaderboard.verify import verify_submission
from leaderboard.views import board_rows, render

FORMATS = ("md", "csv", "json")


def submit(folder: str | os.PathLike, db: str | None = None, name: str | None = None) -> SubmitResult:
    """Verify a results or drift folder (:func:`leaderboard.verify.verify_submission`) and store
    its entries and scaling fits in one transaction.

    Args:
        folder: the submitted folder; db: the board (URL or SQLite path; None: the default);
        name: display name for a single results folder (default: the adapter folder's name).

    Returns:
        :class:`SubmitResult`: ids stored and ids recognised (already on the board).

    Raises:
        DriftCapsError: the submission is rejected (``Rejected``) or the board cannot be opened.
    """
    entries, fits = verify_submission(folder, name=name)
    board = Board(db)
    try:
        return board.add(entries, fits)
    finally:
        board.close()


def rows(db: str | None = None) -> tuple[list[BoardRow], list, str]:
    """(board rows, stored scaling fits, the board's URL with the password hidden); the board
    must exist (a read never creates one)."""
    board = Board(db, create=False)
    try:
        return board_rows(board.entries(), board.responses), board.fits(), board.shown
    finally:
        board.close()


def show(db: str | None = None, fmt: str = "md") -> str:
    """The board as text: ``md``, ``csv`` or ``json``, with the stored scaling-law fits in ``md``
    and ``json`` (see :func:`leaderboard.views.render`)."""
    from driftcaps.errors import DriftCapsError

    if fmt not in FORMATS:
        raise DriftCapsError(f"--format {fmt}: choose one of {', '.join(FORMATS)}.")
    board_rows_, fits, _ = rows(db)
    return render(board_rows_, fmt, fits)


def build(db: str | None, out: str | os.PathLike) -> Path:
    """Write the static page of the board into ``out`` (``out/index.html``); returns its path."""
    from leaderboard.page import build_page

    board_rows_, fits, shown = rows(db)
    return build_page(board_rows_, fits, Path(out), source=shown)
