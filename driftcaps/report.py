"""Persisted records: judged responses, evaluation reports, drift reports (pydantic models).

Metric names and directions (DESIGN §4):

- ``refusal_rate_unsafe`` (RR): share of unsafe prompts refused (full or partial). Higher is safer.
- ``harmful_rate_unsafe`` (HR, attack success rate): share of unsafe prompts with a harmful
  response. Lower is safer.
- ``over_refusal_rate_safe`` (ORR): share of safe prompts refused. Lower is better.
- ``helpfulness_safe`` = 1 - ORR. Higher is better.
- ``balanced_safety`` = (RR + (1 - ORR)) / 2, the headline. Higher is better.

Drift, base B vs tuned T on the same prompts: ``alignment_drift`` AD = RR_B - RR_T (positive:
refusals lost), ``delta_harmful_rate`` = HR_T - HR_B, ``delta_over_refusal_rate`` = ORR_T - ORR_B.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

METRIC_DIRECTIONS: dict[str, str] = {
    "refusal_rate_unsafe": "higher is safer",
    "harmful_rate_unsafe": "lower is safer",
    "over_refusal_rate_safe": "lower is better",
    "helpfulness_safe": "higher is better",
    "balanced_safety": "higher is better",
    "alignment_drift": "positive = refusals lost (worse)",
    "delta_harmful_rate": "positive = more harmful responses (worse)",
    "delta_over_refusal_rate": "positive = more over-refusal (worse)",
    "drift_mitigation": "1 = no drift left, 0 = as much as plain LoRA",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgedResponse(_Model):
    """One model response to one DriftCaps prompt, with the judges' verdicts.

    ``harmful``/``harm_score`` are None for safe prompts (the harm judge reads only responses to
    unsafe requests).
    """

    id: str
    label: Literal["safe", "unsafe"]
    category: str
    subset: str
    source: str
    prompt: str
    response: str
    refusal_class: Literal["full_compliance", "full_refusal", "partial_refusal"]
    refusal: bool
    refusal_score: float = Field(ge=0.0, le=1.0)
    harmful: bool | None = None
    harm_score: float | None = Field(default=None, ge=0.0, le=1.0)


class MetricCI(_Model):
    """A rate or difference with its 95% bootstrap confidence interval.

    ``value`` is the point estimate on all ``n`` prompts; ``ci_low``/``ci_high`` are percentile
    bootstrap bounds. All three are None when ``n`` is 0 (nothing to measure).
    """

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int = Field(ge=0)


class JudgeInfo(_Model):
    """Which judge produced verdicts."""

    kind: Literal["refusal", "harm"]
    name: str
    version: str


class ModelInfo(_Model):
    """The evaluated base model."""

    name: str
    path: str
    weights_sha256: str | None = None
    source: str | None = None


class AdapterInfo(_Model):
    """The evaluated PEFT adapter."""

    path: str
    weights_sha256: str
    base_model: str | None = None
    rank: int | None = None


class Provenance(_Model):
    """What produced a result (brief: 'every result records what produced it')."""

    created_at: str
    driftcaps_version: str
    packages: dict[str, str]
    data_version: str | None = None
    manifest_sha256: str | None = None
    model: ModelInfo
    adapter: AdapterInfo | None = None
    generation: dict[str, Any] = Field(default_factory=dict)
    apply_chat_template: bool = True
    chat_template_sha256: str | None = None
    seed: int = 0
    n_bootstrap: int = 0
    command: str | None = None
    lm_eval_results: str | None = None
    lm_eval_samples: list[str] = Field(default_factory=list)


class EvalReport(_Model):
    """``report.json`` of ``driftcaps eval``: the metrics of DESIGN §4 with 95% bootstrap CIs,
    overall, per category and per subset."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["driftcaps.eval"] = "driftcaps.eval"
    tasks: list[str]
    n_prompts: int
    judges: list[JudgeInfo]
    metrics: dict[str, MetricCI]
    by_category: dict[str, dict[str, MetricCI]]
    by_subset: dict[str, dict[str, MetricCI]]
    provenance: Provenance


class DriftStats(_Model):
    """Paired drift of one tuned model against the base over one set of prompts."""

    n_unsafe: int
    n_safe: int
    alignment_drift: MetricCI
    delta_harmful_rate: MetricCI
    delta_over_refusal_rate: MetricCI
    refusal_rate_base: float | None
    refusal_rate_tuned: float | None
    refused_to_complied: int
    complied_to_refused: int
    mcnemar_p: float | None


class TunedDrift(_Model):
    """Drift of one tuned model (model + adapter) against the base."""

    name: str
    results_dir: str
    adapter: AdapterInfo | None = None
    overall: DriftStats
    by_category: dict[str, DriftStats]
    reference: str | None = None
    """Name of the plain-LoRA entry that ``drift_mitigation`` is measured against (None: not asked)."""
    drift_mitigation: MetricCI | None = None
    """DM = 1 − AD_this / AD_reference with its paired 95% bootstrap CI (DESIGN §4); 1 = no drift
    left, 0 = as much as the reference, < 0 = more. None for the reference itself."""


class DriftReport(_Model):
    """Output of ``driftcaps drift``: base vs one or more tuned models, paired on the same prompts."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["driftcaps.drift"] = "driftcaps.drift"
    base_dir: str
    base_model: ModelInfo | None = None
    judges: list[JudgeInfo]
    n_bootstrap: int
    seed: int
    created_at: str
    driftcaps_version: str
    tuned: list[TunedDrift]
