"""Progress for long work, one mechanism everywhere: tqdm bars on stderr, and status lines
written through tqdm so that they never break a running bar. (Result tables are rich, in
:mod:`driftcaps.console`.)"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def progress(iterable: Iterable | None = None, *, desc: str, unit: str = "it", total: int | None = None,
             disable: bool = False, initial: int = 0) -> Any:
    """A tqdm progress bar on stderr (``tqdm.auto``: a widget in notebooks); ``initial``: units
    already done (a resumed run)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit=unit, total=total, disable=disable, file=sys.stderr, initial=initial)


def note(message: str) -> None:
    """A status line on stderr (what is happening and where its output goes)."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)
