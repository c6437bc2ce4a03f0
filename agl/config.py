"""Training configuration of the bundled trainer (a dataclass, as torchtune recipes do).

``method="lora"`` is plain LoRA; ``method="agl"`` adds the AlignGuard-LoRA terms (DESIGN §5,
docs/agl.md) on top of the same loop. A config can come from CLI flags or a YAML file
(:func:`load_config`); unknown keys are refused with a one-line error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from driftcaps.errors import DriftCapsError

METHODS = ("lora", "agl")


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
        lambda_fisher: λ_A, weight of the Fisher term Σ_k λ_k <u_k, ΔW>² (>= 0).
        lambda_task: λ_T, weight of the task stabiliser ‖ΔW_T‖² (>= 0).
        lambda_collision: λ_NC, weight of the collision terms (>= 0).
        collision_alpha: α in [0, 1], mix of Riemannian overlap (α) and geodesic separation (1 − α).
        beta, tau: β >= 0 and τ of the overlap weights η = 1 + β · sigmoid(|ΔW| − τ).
        eps: ε > 0 of the geodesic separation's denominator.
        subspace_m: alignment directions kept per layer (subspace mode), >= 1.
        oversample: extra randomised-SVD sketch columns p, >= 0.
        fisher_mode: ``subspace`` (randomised SVD) or ``diagonal``.
        fisher_samples: alignment examples for the Fisher estimate (from DriftCaps' align split).
        align_heldout: further alignment examples for the held-out alignment loss in the log.
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
    # --- AlignGuard-LoRA (method "agl"); each weight 0 switches its term off -------------------
    lambda_fisher: float = 1.0
    lambda_task: float = 0.5
    lambda_collision: float = 0.05
    collision_alpha: float = 0.5
    beta: float = 5.0
    tau: float = 0.01
    eps: float = 1e-12
    subspace_m: int = 8
    oversample: int = 4
    fisher_mode: str = "subspace"
    fisher_samples: int = 128
    align_heldout: int = 16

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
            (self.lambda_fisher >= 0, "lambda_fisher", "must be >= 0"),
            (self.lambda_task >= 0, "lambda_task", "must be >= 0"),
            (self.lambda_collision >= 0, "lambda_collision", "must be >= 0"),
            (0 <= self.collision_alpha <= 1, "collision_alpha", "must be in [0, 1]"),
            (self.beta >= 0, "beta", "must be >= 0"),
            (self.eps > 0, "eps", "must be > 0"),
            (self.subspace_m >= 1, "subspace_m", "must be >= 1"),
            (self.oversample >= 0, "oversample", "must be >= 0"),
            (self.fisher_mode in ("subspace", "diagonal"), "fisher_mode", "choose subspace or diagonal"),
            (self.fisher_samples >= 1, "fisher_samples", "must be >= 1"),
            (self.align_heldout >= 0, "align_heldout", "must be >= 0"),
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
