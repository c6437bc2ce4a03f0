"""PEFT adapter folders: what they are, and whether they fit a base model.

An adapter folder holds ``adapter_config.json`` and ``adapter_model.safetensors`` (PEFT's
format). Adapters written by ``driftcaps agl train`` also hold ``run.json``, which records the
base model they were trained on (name, weight hash, architecture); :func:`check_adapter` uses it
to refuse an adapter on the wrong base with a one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path

from driftcaps.errors import DriftCapsError
from driftcaps.io import read_json, sha256_file
from driftcaps.models import ResolvedModel
from driftcaps.report import AdapterInfo

ARCH_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")


def adapter_info(folder: str | Path) -> AdapterInfo:
    """Describe a PEFT adapter folder (path, sha256 of its weights, base, rank).

    Raises:
        DriftCapsError: the folder lacks ``adapter_config.json`` or ``adapter_model.safetensors``.
    """
    d = Path(folder)
    cfg_path, weights = d / "adapter_config.json", d / "adapter_model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise DriftCapsError(f"{d}: not a PEFT adapter folder (needs adapter_config.json and "
                             "adapter_model.safetensors); pass the --output folder of `driftcaps agl train`.")
    cfg = read_json(cfg_path, "adapter config")
    return AdapterInfo(path=str(d.resolve()), weights_sha256=sha256_file(weights),
                       base_model=cfg.get("base_model_name_or_path"), rank=cfg.get("r"))


def model_arch(path: str) -> dict | None:
    """The architecture summary (:data:`ARCH_KEYS`) of a local model folder, or None for Hub ids."""
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return None
    data = json.loads(cfg.read_text(encoding="utf-8"))
    text = data.get("text_config") or {}
    return {k: data.get(k, text.get(k)) for k in ARCH_KEYS}


def check_adapter(folder: str | Path, model: ResolvedModel) -> AdapterInfo:
    """Check that the adapter in ``folder`` was trained on ``model``; return its description.

    The check uses the adapter's ``run.json`` when present: the base weight hash must match when
    both are known, else the architecture (model type, hidden size, layers, vocabulary) must.
    Without ``run.json`` the adapter config's ``base_model_name_or_path`` must name the same
    folder or Hub id.

    Raises:
        DriftCapsError: not an adapter folder, or trained on another base (the message names both).
    """
    info = adapter_info(folder)
    run_path = Path(folder) / "run.json"
    if run_path.is_file():
        base = read_json(run_path, "training run record").get("base_model") or {}
        theirs, ours = base.get("weights_sha256"), model.weights_sha256
        same = None
        if theirs and ours:
            same = theirs == ours
        elif base.get("arch") and model_arch(model.path):
            same = base["arch"] == model_arch(model.path)
        if same is False:
            raise DriftCapsError(f"{folder}: adapter was trained on base {base.get('name', '?')!r}, not on "
                                 f"{model.name!r}; pass --model {base.get('name', '<its base>')} "
                                 "or train an adapter for this model.")
        return info
    declared = info.base_model or ""
    if declared and declared not in (model.path, model.name) and Path(declared).resolve() != Path(model.path).resolve():
        arch_declared = model_arch(declared) if Path(declared).is_dir() else None
        if arch_declared is None or arch_declared != model_arch(model.path):
            raise DriftCapsError(f"{folder}: adapter_config.json says base_model_name_or_path={declared!r}, "
                                 f"not {model.name!r}; pass --model {declared} or the adapter of this model.")
    return info
