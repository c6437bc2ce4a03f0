"""Resuming a killed training run from its last checkpoint (docs/agl.md#resume).

At every step of ``save_steps`` the trainer writes, beside its output folder, a resume folder
``.<output name>.resume/`` holding:

- ``checkpoint-STEP.safetensors``: the LoRA weights of each checkpoint so far;
- ``state-STEP/``: the training state after that step: ``lora.safetensors`` (LoRA weights),
  ``optimizer.safetensors`` (AdamW moments and step counts), ``rng.safetensors`` (torch's CPU and
  CUDA generator states: LoRA dropout draws from them) and ``state.json`` (step, data cursor,
  scheduler state, optimizer hyper-parameters, the log so far, the config, seconds spent).

A state folder is written under a temporary name and renamed when complete, so a half-written
state is never read; older states are then removed. A rerun of ``train`` with the same config and
output continues from the newest state: the same batches, learning rates and random draws as an
uninterrupted run, so the final adapter is the same (bitwise on the same machine). A state of
another config is ignored (and replaced). The resume folder is removed when the run finishes.
Only weights and numbers are stored: safetensors and JSON, nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from driftcaps.errors import DriftCapsError
from driftcaps.io import atomic_path, load_tensors

STATE = "state.json"


def resume_dir(out: Path) -> Path:
    """The resume folder of the output folder ``out`` (a hidden sibling)."""
    return out.parent / f".{out.name}.resume"


def _save_tensors(tensors: dict, path: Path) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp))


def save_checkpoint(folder: Path, step: int, weights: dict) -> None:
    """Keep the LoRA weights of checkpoint ``step`` until the run writes its output."""
    folder.mkdir(parents=True, exist_ok=True)
    _save_tensors(weights, folder / f"checkpoint-{step}.safetensors")


def save_state(folder: Path, step: int, cursor: int, model, opt, sched, log: list[dict], config: dict,
               seconds: float) -> None:
    """Write the state after ``step`` as ``state-STEP/`` (complete or absent), then drop older states."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".state-{step}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    _save_tensors({k: v for k, v in model.state_dict().items() if "lora_" in k}, tmp / "lora.safetensors")
    opt_state = opt.state_dict()
    _save_tensors({f"{i}.{name}": t for i, s in opt_state["state"].items() for name, t in s.items()},
                  tmp / "optimizer.safetensors")
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng |= {f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
    _save_tensors(rng, tmp / "rng.safetensors")
    with atomic_path(tmp / STATE) as p:
        p.write_text(json.dumps({"step": step, "cursor": cursor, "config": config, "seconds": seconds,
                                 "scheduler": sched.state_dict(), "param_groups": opt_state["param_groups"],
                                 "log": log}), encoding="utf-8")
    shutil.rmtree(folder / f"state-{step}", ignore_errors=True)
    os.replace(tmp, folder / f"state-{step}")
    for old in folder.glob("state-*"):
        if old.name != f"state-{step}":
            shutil.rmtree(old, ignore_errors=True)


def latest_state(folder: Path, config: dict) -> Path | None:
    """The newest complete ``state-STEP/`` of a run of exactly ``config``, or None."""
    states = sorted((p for p in folder.glob("state-*") if p.name[6:].isdigit() and (p / STATE).is_file()),
                    key=lambda p: int(p.name[6:]))
    if not states:
        return None
    try:
        info = json.loads((states[-1] / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return states[-1] if info.get("config") == config else None


def load_state(state: Path, model, opt, sched) -> dict[str, Any]:
    """Restore LoRA weights, optimizer, scheduler and random generators from ``state``; return
    ``state.json`` (``step``, ``cursor``, ``log``, ``seconds``, ...).

    Raises:
        DriftCapsError: the state's LoRA weights do not fit the model.
    """
    import torch

    info = json.loads((state / STATE).read_text(encoding="utf-8"))
    lora = load_tensors(state / "lora.safetensors")
    own = model.state_dict()
    bad = [k for k, v in lora.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise DriftCapsError(f"{state}: LoRA weight {bad[0]} does not fit the model; delete {state.parent} "
                             "to train from the start.")
    model.load_state_dict(lora, strict=False)
    per_param: dict[int, dict] = {}
    for key, t in load_tensors(state / "optimizer.safetensors").items():
        i, name = key.split(".", 1)
        per_param.setdefault(int(i), {})[name] = t
    opt.load_state_dict({"state": per_param, "param_groups": info["param_groups"]})
    sched.load_state_dict(info["scheduler"])
    rng = load_tensors(state / "rng.safetensors")
    torch.set_rng_state(rng["cpu"])
    if torch.cuda.is_available():
        torch.cuda.set_rng_state_all([rng[f"cuda{i}"] for i in range(torch.cuda.device_count()) if f"cuda{i}" in rng])
    return info


def load_checkpoints(folder: Path, up_to: int) -> dict[int, dict]:
    """The checkpoint weights saved for steps <= ``up_to``, by step."""
    out = {}
    for p in folder.glob("checkpoint-*.safetensors"):
        step = p.name[len("checkpoint-"):-len(".safetensors")]
        if step.isdigit() and int(step) <= up_to:
            out[int(step)] = load_tensors(p)
    return out
