"""PEFT adapter folders: what they are, and whether they fit a base model.

An adapter folder holds ``adapter_config.json`` and ``adapter_model.safetensors`` (PEFT's
format). Adapters written by ``driftcaps agl train`` also hold ``run.json``, which records the
base model they were trained on (name, weight hash, architecture); :func:`check_adapter` uses it
to refuse an adapter on the wrong base with a one-line error.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from pydantic import ConfigDict

from driftcaps.errors import DriftCapsError
from driftcaps.io import read_json, sha256_file
from driftcaps.models import ModelInfo, TrainedBase, model_arch
from driftcaps.schema import Record, VersionedRecord, validate_record

log = logging.getLogger(__name__)


class AdapterInfo(Record):
    """A PEFT adapter as reports record it.

    Attributes:
        path: the adapter folder (absolute).
        weights_sha256: sha256 of ``adapter_model.safetensors`` (64 hex characters): the
            adapter's identity.
        base_model: ``base_model_name_or_path`` of ``adapter_config.json`` (may be a path of
            another machine).
        rank: LoRA rank ``r`` of ``adapter_config.json``.
    """

    path: str
    weights_sha256: str
    base_model: str | None = None
    rank: int | None = None


class _RunBase(VersionedRecord):
    """The one part of an adapter's ``run.json`` (written by :mod:`agl`) that this module reads."""

    model_config = ConfigDict(extra="ignore")
    KIND = "driftcaps.agl.run"
    base_model: TrainedBase | None = None


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


def _shape_mismatch(weights: Path, model_path: str) -> str | None:
    """Compare the LoRA tensors of an adapter with the linear layers of a local model (built on
    the meta device: no weights are read). Returns a description of the first mismatch, or None."""
    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_path))
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():
            m = re.match(r"^base_model\.model\.(.+)\.lora_([AB])\.weight$", key)
            if not m:
                full = re.match(r"^base_model\.model\.(.+)\.(weight|bias)$", key)  # modules_to_save: whole tensors
                if full:
                    problem = _full_tensor_mismatch(model, full.group(1), full.group(2), tuple(f.get_slice(key).get_shape()))
                    if problem:
                        return problem
                continue
            name, ab = m.groups()
            try:
                layer = model.get_submodule(name)
            except AttributeError:
                return f"layer {name} does not exist in the model"
            shape = tuple(f.get_slice(key).get_shape())
            side = getattr(layer, "in_features" if ab == "A" else "out_features", None)
            if side is None or (ab == "A" and shape[1] != side) or (ab == "B" and shape[0] != side):
                want = f"(r, {side})" if ab == "A" else f"({side}, r)"
                return f"{name}.lora_{ab} has shape {shape}, the model's layer needs {want}"
    return None


def _full_tensor_mismatch(model, name: str, kind: str, shape: tuple) -> str | None:
    """A whole tensor saved with the adapter (``modules_to_save``, e.g. a resized ``lm_head`` or
    embedding) against the model's own: None when the shapes agree."""
    try:
        layer = model.get_submodule(name)
    except AttributeError:
        return f"module {name} (saved whole, modules_to_save) does not exist in the model"
    own = getattr(layer, kind, None)
    if own is not None and tuple(own.shape) != shape:
        hint = " (a resized vocabulary: resize the base model's embeddings too, and evaluate that model)" if shape[:1] != tuple(own.shape)[:1] else ""
        return f"{name}.{kind} (modules_to_save) has shape {shape}, the model's is {tuple(own.shape)}{hint}"
    return None


def _check_peft_config(folder: Path) -> None:
    """``adapter_config.json`` must be readable by the installed PEFT (a config from a newer PEFT,
    with an unknown ``peft_type`` or fields, otherwise fails deep inside loading).

    Raises:
        DriftCapsError: naming the file, the installed PEFT version and the fix.
    """
    import peft

    try:
        peft.PeftConfig.from_pretrained(str(folder))
    except Exception as e:  # PEFT raises KeyError, TypeError or ValueError here  # noqa: BLE001
        raise DriftCapsError(f"{folder / 'adapter_config.json'}: PEFT {peft.__version__} cannot read it "
                             f"({type(e).__name__}: {str(e)[:120]}); upgrade peft or save the adapter with this "
                             "version.") from None


def check_adapter(folder: str | Path, model: ModelInfo) -> AdapterInfo:
    """Check that the adapter in ``folder`` fits ``model``; return its description.

    0. ``adapter_config.json`` must be readable by the installed PEFT.
    1. ``run.json`` (adapters of ``driftcaps agl train``): the base weight hash must match when
       both are known, else the architecture summary.
    2. Local models: every LoRA tensor must fit a linear layer of the model (shapes, layer names).
    3. A different ``base_model_name_or_path`` alone is only logged: paths differ between machines.

    Raises:
        DriftCapsError: not an adapter folder, trained on another base, or shapes that do not fit
            (the message names both and the fix).
    """
    info = adapter_info(folder)
    _check_peft_config(Path(folder))
    run_path = Path(folder) / "run.json"
    if run_path.is_file():
        run = validate_record(_RunBase, read_json(run_path, "training run record"), run_path,
                              "train the adapter again with `driftcaps agl train`")
        base = run.base_model or TrainedBase(name="?", path="?")
        theirs, ours = base.weights_sha256, model.weights_sha256
        same = None
        if theirs and ours:
            same = theirs == ours
        elif base.arch and model_arch(model.path):
            same = base.arch == model_arch(model.path)
        if same is False:
            raise DriftCapsError(f"{folder}: adapter was trained on base {base.name!r}, not on "
                                 f"{model.name!r}; pass --model {base.name} "
                                 "or train an adapter for this model.")
    if model_arch(model.path) is not None:
        problem = _shape_mismatch(Path(folder) / "adapter_model.safetensors", model.path)
        if problem:
            fix = (f"it was made for {info.base_model!r}: pass that model as --model" if info.base_model
                   else "pass the model it was trained on as --model")
            raise DriftCapsError(f"{folder}: adapter does not fit {model.name!r} ({problem}); {fix}.")
    declared = info.base_model
    if declared and declared not in (model.path, model.name) and not run_path.is_file():
        log.warning("%s: adapter_config.json names base %r, evaluating it on %r (shapes fit)",
                    folder, declared, model.name)
    return info


def vllm_problems(folder: str | Path, max_lora_rank: int = 16) -> list[str]:
    """Why vLLM's ``lora_local_path`` would refuse this adapter (empty list: it would load it).

    The rules are those vLLM documents and checks in its PEFT helper: a LoRA (not DoRA) adapter
    with ``r``, ``lora_alpha`` and ``target_modules``; ``r`` and every ``rank_pattern`` value at most ``max_lora_rank`` (raise it
    with ``--max_lora_rank``, which ``driftcaps eval --backend vllm`` does); no bias and no
    ``modules_to_save``; weights in ``adapter_model.safetensors`` named
    ``base_model.model.<module>.lora_{A,B}.weight``.
    """
    d = Path(folder)
    cfg = read_json(d / "adapter_config.json", "adapter config")
    problems = [f"missing field {k}" for k in ("r", "lora_alpha", "target_modules") if cfg.get(k) in (None, "", [])]
    if cfg.get("peft_type") != "LORA":
        problems.append(f"peft_type {cfg.get('peft_type')!r} is not LORA")
    ranks = [r for r in (cfg.get("r"), *(cfg.get("rank_pattern") or {}).values()) if isinstance(r, int)]
    if ranks and max(ranks) > max_lora_rank:
        problems.append(f"rank {max(ranks)} is greater than max_lora_rank={max_lora_rank}")
    if cfg.get("bias", "none") != "none":
        problems.append(f"bias={cfg.get('bias')!r} needs bias support")
    if cfg.get("use_dora"):
        problems.append("DoRA adapters are not supported")
    if cfg.get("modules_to_save"):
        problems.append("modules_to_save is not supported")
    from safetensors import safe_open

    with safe_open(str(d / "adapter_model.safetensors"), framework="pt") as f:
        bad = [k for k in f.keys() if not re.match(r"^base_model\.model\..+\.lora_[AB]\.weight$", k)]
    if bad:
        problems.append(f"unexpected tensor names, e.g. {bad[0]}")
    return problems
