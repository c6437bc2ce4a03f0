"""The record of a training run (``run.json`` of an adapter folder) and its readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ConfigDict

from agl.config import TrainConfig
from driftcaps.errors import DriftCapsError
from driftcaps.io import read_json
from driftcaps.models import TrainedBase
from driftcaps.schema import VersionedRecord, validate_record


class TrainingRun(VersionedRecord):
    """``run.json`` of an adapter folder: what produced the adapter (config, seed, base model
    fingerprint, task data hash, package versions) and its final losses.

    ``final`` holds ``loss``, ``task_loss``, ``eval_task_loss``, ``eval_alignment_loss`` at the
    last step and ``eval_task_loss_before``, ``eval_alignment_loss_before`` at step 0 (nats per
    response token; None where not measured); for tasks with gold answers (``mmlu-explain``) also
    ``heldout_accuracy`` and ``heldout_accuracy_before`` (0-1, higher is better; :mod:`agl.quality`),
    over the held-out rows and the ``accuracy_questions`` further questions together.
    """

    model_config = ConfigDict(extra="forbid")
    KIND = "driftcaps.agl.run"
    method: str
    config: TrainConfig
    seed: int
    world_size: int
    base_model: TrainedBase
    task_data: dict[str, Any]
    n_train: int
    n_heldout: int
    n_skipped_too_long: int
    n_fisher: int
    n_align_heldout: int
    checkpoints: list[int] = []
    fisher: dict[str, Any] | None
    trainable_parameters: int
    final: dict[str, float | None]
    wall_seconds: float
    created_at: str
    driftcaps_version: str
    packages: dict[str, str]


def read_run(folder: str | Path) -> TrainingRun:
    """The ``run.json`` of an adapter folder written by :func:`train`.

    Raises:
        DriftCapsError: missing, malformed or from a newer DriftCaps.
    """
    path = Path(folder) / "run.json"
    return validate_record(TrainingRun, read_json(path, "training run record"), path,
                           "train the adapter again with `driftcaps agl train`")


def finished_with_same_config(out: Path, cfg: TrainConfig) -> bool:
    """True when ``out`` holds a finished run of exactly ``cfg`` (so a rerun resumes to nothing).

    Raises:
        DriftCapsError: ``out`` holds a finished run of another config (naming the fields).
    """
    if not (out / "run.json").is_file():
        return False
    try:
        old = read_run(out).config.model_dump()
    except DriftCapsError:  # unreadable: not a finished run of ours
        return False
    new = cfg.model_dump()
    diff = sorted(k for k in new.keys() | old.keys() if old.get(k) != new.get(k))
    if diff:
        raise DriftCapsError(f"{out}: holds a finished run with another config ({', '.join(diff)}); "
                             "choose another --output or delete the folder.")
    return True
