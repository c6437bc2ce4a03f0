"""User-facing errors.

Every mistake a user can make (a missing file, a malformed field, a wrong model) is raised as a
:class:`DriftCapsError` whose message is one line naming the file or field and the fix. The CLI
prints that line and exits with status 2; it never shows a traceback for them.
"""

from __future__ import annotations


class DriftCapsError(Exception):
    """A user-facing error: one line saying what is wrong and how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
