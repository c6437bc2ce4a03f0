"""Training configuration of the bundled trainer: one declaration per option.

``method="lora"`` is plain LoRA; ``method="agl"`` adds the AlignGuard-LoRA terms
(``docs/agl.md``) on top of the same loop. Every field below is also a flag of
``driftcaps agl train`` and a key of its ``--config`` YAML file (both made from this model by
:mod:`driftcaps.settings` and :mod:`driftcaps.cli.options`); a bad value raises a one-line
:class:`~driftcaps.schema.SettingsError` naming the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from driftcaps.schema import Settings
from driftcaps.settings import build_settings

METHODS = ("lora", "agl")


class TrainConfig(Settings):
    """Settings of one fine-tuning run (see each field's description; the same text is the
    ``--help`` of its flag). Formulas of the AGL terms: ``docs/agl.md``."""

    WHAT = "training config"
    method: Literal["lora", "agl"] = Field("lora", description="lora (plain LoRA) or agl (AlignGuard-LoRA).")
    base: str = Field(description="Base model: a name from `driftcaps models list`, a folder or a Hub id.")
    task_data: str = Field(description="JSONL of prompt/response (or messages) rows, or a built-in task "
                           "(mmlu-affirmative, mmlu-bare).")
    output: str = Field(description="Adapter folder to write (must be new or empty).")
    steps: int = Field(60, ge=1, description="Optimizer steps (each one batch of --batch-size examples).")
    rank: int = Field(16, ge=1, description="LoRA rank r (at most the smaller side of every adapted layer).")
    alpha: float = Field(32.0, gt=0, description="LoRA alpha; the update is scaled by alpha / r.")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout probability.")
    lr: float = Field(3e-4, gt=0, description="Peak learning rate of AdamW.")
    warmup_steps: int = Field(5, ge=0, description="Linear warm-up steps, then constant.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    batch_size: int = Field(4, ge=1, description="Examples per step (split over processes under torchrun).")
    max_length: int = Field(256, ge=8, description="Tokens per example (prompt + response); longer ones are cut.")
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
                                      min_length=1, description="Linear layers to adapt (PEFT target_modules).")
    seed: int = Field(0, description="Seeds data order, LoRA init and dropout.")
    eval_every: int = Field(20, ge=0, description="Held-out losses every N steps and at the end; 0 = only at the end.")
    save_steps: list[int] = Field(default_factory=list, description="Steps at which to save an adapter checkpoint "
                                  "(OUTPUT/checkpoint-STEP, a PEFT adapter each) and log the held-out losses.")
    checkpoint_task_loss: bool = Field(True, description="Also log the held-out task loss at --save-steps "
                                       "(the alignment loss always is; off saves one pass per checkpoint).",
                                       json_schema_extra={"flag": "--checkpoint-task-loss/--no-checkpoint-task-loss"})
    train_examples: int | None = Field(None, ge=1, description="Train on only the first N task examples "
                                       "after the held-out ones (the data-size axis of a sweep); default: all.")
    heldout: int = Field(32, ge=0, description="Task examples held out for the task loss (never trained on).")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping threshold (L2).")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="Dtype of the frozen base weights; "
                                                  "bfloat16 is about 35% faster on CPUs with bf16.")
    # --- baselines of issue 15 (any method); 0 switches each off --------------------------------
    l2_weight: float = Field(0.0, ge=0, description="Weight of an explicit L2 penalty on the adapter update, "
                             "Σ_layers ‖ΔW‖²_F (the plain rival of AGL's task stabiliser).")
    replay_share: float = Field(0.0, ge=0, lt=1, description="Alignment replay: share of every batch's examples "
                                "drawn from the base model's own responses to align-split prompts (never test).")
    replay_examples: int = Field(64, ge=1, description="Alignment rows the replay draws from (after the held-out "
                                 "alignment rows; generated once per base model and cached).")
    accuracy_questions: int = Field(0, ge=0, description="mmlu-explain tasks: further MMLU questions, never "
                                    "trained on, that the tuned and base models explain, scored by the letter "
                                    "each explanation commits to (beside the held-out rows).")
    # --- AlignGuard-LoRA (method "agl"); each weight 0 switches its term off ---------------------
    lambda_fisher: float = Field(1.0, ge=0, description="AGL: weight λ_A of the Fisher term Σ_k λ_k <u_k, ΔW>².")
    lambda_task: float = Field(0.5, ge=0, description="AGL: weight λ_T of the task stabiliser ‖ΔW_T‖².")
    lambda_collision: float = Field(0.05, ge=0, description="AGL: weight λ_NC of the collision terms.")
    collision_alpha: float = Field(0.5, ge=0, le=1, description="AGL: α, mix of Riemannian overlap (α) and "
                                   "geodesic separation (1 − α).")
    beta: float = Field(5.0, ge=0, description="AGL: β of the overlap weights η = 1 + β · sigmoid(|ΔW| − τ).")
    tau: float = Field(0.01, description="AGL: τ of the overlap weights.")
    eps: float = Field(1e-12, gt=0, description="AGL: ε of the geodesic separation's denominator.")
    subspace_m: int = Field(8, ge=1, description="AGL: alignment directions kept per layer (subspace mode).")
    oversample: int = Field(4, ge=0, description="AGL: extra randomised-SVD sketch columns p.")
    fisher_mode: Literal["subspace", "diagonal"] = Field("subspace", description="AGL: Fisher geometry: "
                                                         "randomised-SVD subspace or diagonal.")
    fisher_samples: int = Field(128, ge=1, description="AGL: alignment examples for the Fisher estimate "
                                "(DriftCaps' align split).")
    fisher_source: Literal["responses", "contrast"] = Field(
        "responses", description="AGL: what the Fisher is the geometry of: responses (the base model's NLL of its "
        "own responses) or contrast (log p(refusal) - log p(compliance) on unsafe align prompts the base refuses).")
    align_heldout: int = Field(16, ge=0, description="Held-out alignment examples for the logged alignment "
                               "loss; 0 = none.")

    @model_validator(mode="after")
    def _save_steps_within_run(self) -> TrainConfig:
        beyond = [s for s in self.save_steps if not 1 <= s <= self.steps]
        if beyond:
            raise ValueError(f"save_steps {beyond} lie outside steps 1..{self.steps}")
        return self

    @field_validator("base", "task_data", "output")
    @classmethod
    def _not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is empty")
        return v


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config file (``yaml.safe_load``), apply ``overrides`` (non-None values), validate.

    Raises:
        DriftCapsError: missing file, invalid YAML, unknown key, or a value out of range.
    """
    return build_settings(TrainConfig, overrides or {}, Path(path))
