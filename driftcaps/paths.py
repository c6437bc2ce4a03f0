"""Where things live: the cache, the data recipe, the lm-eval tasks, the public sources.

Environment variables (all optional):

- ``DRIFTCAPS_HOME``: the cache root (default ``$XDG_CACHE_HOME/driftcaps`` or ``~/.cache/driftcaps``).
  Prepared models go to ``$DRIFTCAPS_HOME/models/<name>``, built data to
  ``$DRIFTCAPS_HOME/data/driftcaps-v<version>``.
- ``DRIFTCAPS_DATA``: a built DriftCaps folder to use instead of the cached build.
- ``DRIFTCAPS_SOURCES``: the folder of public source files, or ``hub`` for the Hugging Face Hub.
"""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent
_REPO = _PKG.parent


def cache_home() -> Path:
    """The cache root (created on demand by the writers, not here)."""
    if env := os.environ.get("DRIFTCAPS_HOME"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "driftcaps"


def _bundled(repo_rel: str, bundled_rel: str) -> Path:
    """A folder from the source tree (editable install) or the copy bundled in the wheel."""
    src = _REPO / repo_rel
    if src.is_dir():
        return src
    return _PKG / "_bundled" / bundled_rel


def recipe_dir() -> Path:
    """The DriftCaps recipe: source registry and category mappings (``data/`` in the repository)."""
    return _bundled("data", "recipe")


def tasks_dir() -> Path:
    """The folder to pass to lm-eval's ``--include_path`` (``tasks/`` in the repository)."""
    return _bundled("tasks", "tasks")


def judge_cases_dir() -> Path:
    """The judges' hard cases (``tests/judge_cases`` in the repository)."""
    return _bundled("tests/judge_cases", "judge_cases")


def default_sources() -> str:
    """The public source location: ``$DRIFTCAPS_SOURCES``, else ``../shared/data/public`` beside
    the repository (or the current folder) where present, else ``"hub"``."""
    if env := os.environ.get("DRIFTCAPS_SOURCES"):
        return env
    for base in (_REPO, Path.cwd()):
        cand = base.parent / "shared" / "data" / "public"
        if cand.is_dir():
            return str(cand)
    return "hub"
