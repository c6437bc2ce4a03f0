"""The tasks stage: DriftCaps as lm-eval tasks (``tasks/driftcaps/``), their names, their
generation settings, and the dataset loader lm-eval calls (``custom_dataset``).

The task files are the one declaration of how responses are generated (greedy, 128 new
tokens, no stop string): :func:`generation_settings` reads them, so the AGL trainer's
alignment data are generated exactly as the evaluation generates. Task names come from
lm-eval's own :class:`~lm_eval.tasks.TaskManager`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from driftcaps.paths import tasks_dir

TEMPLATE = "_driftcaps_template_yaml"


@cache
def known_tasks() -> tuple[str, ...]:
    """The DriftCaps task names lm-eval finds under :func:`driftcaps.paths.tasks_dir`, sorted."""
    from lm_eval.tasks import TaskManager

    return tuple(sorted(TaskManager(include_path=str(tasks_dir()), include_defaults=False).all_tasks))


class _TaskLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that reads lm-eval's ``!function`` tags as plain strings."""


_TaskLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


@cache
def task_template() -> dict[str, Any]:
    """The settings every DriftCaps task shares (``tasks/driftcaps/_driftcaps_template_yaml``)."""
    path = Path(tasks_dir()) / "driftcaps" / TEMPLATE
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_TaskLoader)  # noqa: S506 - safe loader


def generation_settings() -> dict[str, Any]:
    """The tasks' ``generation_kwargs``: ``max_gen_toks`` (new tokens), ``do_sample``,
    ``temperature`` and ``until`` (stop strings)."""
    return dict(task_template()["generation_kwargs"])  # a copy: the template is cached


def task_items(task: str, limit: int | None = None, data_dir: str | None = None) -> list:
    """The DriftCaps items lm-eval evaluates for ``task``, in lm-eval's order, the first
    ``limit`` of them when given (lm-eval's ``--limit``).

    Returns:
        A list of :class:`driftcaps.data.schema.Item`.

    Raises:
        DriftCapsError: ``task`` is not a DriftCaps task.
    """
    from driftcaps.data import load_items
    from driftcaps.errors import DriftCapsError

    path = Path(tasks_dir()) / "driftcaps" / f"{task}.yaml"
    if task not in known_tasks() or not path.is_file():
        raise DriftCapsError(f"task {task!r} is not a DriftCaps task; choose from {', '.join(known_tasks())}.")
    spec = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaskLoader)  # noqa: S506 - safe loader
    kwargs = spec.get("dataset_kwargs") or {}
    items = load_items(kwargs.get("which", "mini"), label=kwargs.get("label"), path=data_dir)
    return items[:limit] if limit else items


def load(which: str = "mini", label: str | None = None, data_dir: str | None = None, **_: Any) -> dict:
    """Return ``{"test": datasets.Dataset}`` of DriftCaps items for an lm-eval task.

    Args:
        which: ``test`` (all of DriftCaps' test split) or ``mini``.
        label: ``safe``, ``unsafe`` or None (both).
        data_dir: a built DriftCaps folder; default ``$DRIFTCAPS_DATA`` or the cached build.
        **_: lm-eval passes task metadata and model arguments too; they are ignored.
    """
    import datasets

    from driftcaps.data import load_items

    items = load_items(which, label=label, path=data_dir)
    return {"test": datasets.Dataset.from_list([it.model_dump() for it in items])}
