"""The DriftCaps leaderboard (``docs/leaderboard.md``): verified submissions of results and
drift folders in a SQL database, ranked views with rank ranges and the drift/utility Pareto
front, checkpoint comparison, and a static HTML page.

Public API::

    submit(folder, db=None)          verify and store a results or drift folder
    show(db=None, fmt="md")          the board as Markdown, CSV or JSON
    build(db, out)                   the static page, out/index.html
    compare_checkpoints(base, checkpoints, output)   paired drift of N checkpoints
    Board(db)                        the store (SQLAlchemy; SQLite file or any URL)
    Entry, BoardRow                  the records
"""

from leaderboard.commands import build, rows, show, submit
from leaderboard.compare import CompareReport, compare_checkpoints
from leaderboard.schema import BoardRow, Entry, SubmitResult
from leaderboard.store import Board
from leaderboard.verify import Rejected, verify_submission

__all__ = ["Board", "BoardRow", "CompareReport", "Entry", "Rejected", "SubmitResult", "build", "compare_checkpoints",
           "rows", "show", "submit", "verify_submission"]
