"""Training configuration of the bundled trainer (a dataclass, as torchtune recipes do).

Only plain LoRA (``method="lora"``) is implemented so far; it is the baseline that the
AlignGuard-LoRA terms (DESIGN §5) extend. A config can come from CLI flags or a YAML file
(:func:`load_config`); unknown keys are refused with a one-line error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from driftcaps.errors import DriftCapsError

METHODS = ("lora",)


@dataclass
class TrainConfig:
    """Settings of one fine-tuning run.

    Attributes:
        method: ``lora`` (plain LoRA; AGL arrives with its own terms).
        base: base model: registry name, local folder or Hub id (required).
        task_data: a JSONL file of ``{"prompt", "response"}`` (or ``{"messages": [...]}``) rows,
            or a built-in task name (``mmlu-affirmative``, ``mmlu-bare``) (required).
        output: the adapter folder to write (required; new or empty).
        steps: optimizer steps (each one batch of ``batch_size`` examples).
        rank: LoRA rank r (>= 1, at most the smaller side of every adapted layer).
        alpha: LoRA alpha; the update is scaled by alpha / r.
        dropout: LoRA dropout probability in [0, 1).
        lr: peak learning rate of AdamW.
        warmup_steps: linear warm-up steps, then constant.
        weight_decay: AdamW weight decay.
        batch_size: examples per step.
        max_length: tokens per example (prompt + response), longer ones truncated at the end.
        target_modules: names of the linear layers to adapt (PEFT ``target_modules``).
        seed: seeds data order, LoRA init and dropout.
        eval_every: held-out task loss every N steps (and at the end); 0 = only at the end.
        heldout: number of task examples held out for the task loss (never trained on).
        max_grad_norm: gradient clipping threshold (L2).
        dtype: training dtype of the frozen base weights (``float32`` or ``bfloat16``).
    """

    method: str = "lora"
    base: str = ""
    task_data: str = ""
    output: str = ""
    steps: int = 60
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    lr: float = 3e-4
    warmup_steps: int = 5
    weight_decay: float = 0.0
    batch_size: int = 4
    max_length: int = 256
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    seed: int = 0
    eval_every: int = 20
    heldout: int = 32
    max_grad_norm: float = 1.0
    dtype: str = "float32"

    def validate(self) -> TrainConfig:
        """Check types and value ranges; raise :class:`DriftCapsError` naming the field and the fix."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = _TYPES[str(f.type)]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, f.name, value)
            ok = (isinstance(value, list) and all(isinstance(v, str) for v in value)) if kind is list \
                else isinstance(value, kind) and not (kind is int and isinstance(value, bool))
            if not ok:
                raise DriftCapsError(f"training config field {f.name}={value!r}: expected "
                                     f"{'a list of names' if kind is list else kind.__name__}.")
        for name in ("base", "task_data", "output"):
            if not getattr(self, name).strip():
                raise DriftCapsError(f"training config field {name} is empty; give --{name.replace('_', '-')}.")
        checks = [
            (self.method in METHODS, "method", f"choose one of {', '.join(METHODS)}"),
            (self.steps >= 1, "steps", "must be >= 1"),
            (self.rank >= 1, "rank", "must be >= 1"),
            (self.alpha > 0, "alpha", "must be > 0"),
            (0 <= self.dropout < 1, "dropout", "must be in [0, 1)"),
            (self.lr > 0, "lr", "must be > 0"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.max_length >= 8, "max_length", "must be >= 8"),
            (self.heldout >= 0, "heldout", "must be >= 0"),
            (self.warmup_steps >= 0, "warmup_steps", "must be >= 0"),
            (bool(self.target_modules), "target_modules", "name at least one module"),
            (self.dtype in ("float32", "bfloat16"), "dtype", "choose float32 or bfloat16"),
        ]
        for ok, name, fix in checks:
            if not ok:
                raise DriftCapsError(f"training config field {name}={getattr(self, name)!r}: {fix}.")
        return self


_TYPES = {"str": str, "int": int, "float": float, "list[str]": list}


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config file (``yaml.safe_load``), apply ``overrides`` (non-None values), validate.

    Raises:
        DriftCapsError: missing file, invalid YAML, unknown key, or a value out of range.
    """
    p = Path(path)
    if not p.is_file():
        raise DriftCapsError(f"{p}: config file not found.")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise DriftCapsError(f"{p}: not valid YAML ({str(e).splitlines()[0]}).") from None
    if not isinstance(data, dict):
        raise DriftCapsError(f"{p}: expected a mapping of config fields.")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise DriftCapsError(f"{p}: unknown field(s) {unknown}; valid fields: {', '.join(sorted(names))}.")
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return TrainConfig(**data).validate()
