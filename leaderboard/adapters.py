"""The adapters that come with a submission (``docs/leaderboard.md#verification``, step 6):
found by weight hash, their rank checked, and what their training run's ``run.json`` reports
(method, training-data hash, task quality; reported, not recomputed)."""

from __future__ import annotations

from pathlib import Path

from driftcaps.io import read_json, sha256_file
from driftcaps.report import REPORT_FILE
from leaderboard.checks import Rejected
from leaderboard.schema import TaskQuality


def find_adapters(files: list[Path]) -> dict[str, Path]:
    """sha256 of ``adapter_model.safetensors`` -> adapter folder, for adapters inside the submission."""
    return {sha256_file(f): f.parent for f in files if f.name == "adapter_model.safetensors"}


def adapter_dir(folder: Path, adapter, adapters: dict[str, Path]) -> Path | None:
    """The submitted folder of the evaluated adapter (found by weight hash), its rank checked;
    None when the adapter is not part of the submission.

    Raises:
        Rejected: a folder with the adapter's name but other weights, or another rank.
    """
    if adapter is None:
        return None
    found = adapters.get(adapter.weights_sha256)
    if found is None:
        name = Path(adapter.path).name
        if any(d.name == name for d in adapters.values()):
            raise Rejected(f"{folder / REPORT_FILE}: the adapter folder {name} in the submission holds other weights than "
                           "the evaluated adapter (sha256 differs); submit the adapter that was evaluated.")
        return None
    r = (read_json(found / "adapter_config.json", "adapter config") or {}).get("r") if (found / "adapter_config.json").is_file() else None
    if r != adapter.rank:
        raise Rejected(f"{folder / REPORT_FILE}: provenance.adapter.rank is {adapter.rank}, but {found.name}/adapter_config.json "
                       f"says r={r}.")
    return found


def task_quality(folder: Path | None,
                 root: Path) -> tuple[str | None, str | None, TaskQuality | None, TaskQuality | None]:
    """(method, training-data sha256, task quality of the tuned model, of the base model before
    training) from an adapter's ``run.json`` (AGL trainer); Nones when there is none."""
    if folder is None:
        return None, None, None, None
    if not (folder / "run.json").is_file():  # a checkpoint-N folder: its run's method and data, no final quality
        run = read_json(folder.parent / "run.json", "training run") if (
            folder.name.startswith("checkpoint-") and (folder.parent / "run.json").is_file()) else None
        if not isinstance(run, dict):
            return None, None, None, None
        return run.get("method"), (run.get("task_data") or {}).get("sha256"), None, None
    run = read_json(folder / "run.json", "training run")
    if not isinstance(run, dict):
        return None, None, None, None
    final, data = run.get("final") or {}, run.get("task_data") or {}
    source = str((folder / "run.json").relative_to(root)) if root in folder.parents else str(folder / "run.json")
    after = TaskQuality(task=data.get("name"), heldout_accuracy=final.get("heldout_accuracy"),
                        heldout_task_loss=final.get("eval_task_loss"), source=source)
    before = TaskQuality(task=data.get("name"), heldout_accuracy=final.get("heldout_accuracy_before"),
                         heldout_task_loss=final.get("eval_task_loss_before"), source=f"{source} (before training)")
    return run.get("method"), data.get("sha256"), after, before
