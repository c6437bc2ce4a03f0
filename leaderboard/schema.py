"""The leaderboard's records (``docs/leaderboard.md#entries``): an :class:`Entry` per verified
results folder, the :class:`BoardRow` that the views show, and the :class:`SubmitResult` that
``driftcaps leaderboard submit`` prints.

An entry holds what produced its numbers (base model and adapter hashes, method, training-data
hash, DriftCaps manifest hash, judges, generation settings, chat template hash, lm-eval version)
and the per-model metrics of ``docs/metrics.md`` with their 95% bootstrap CIs, all recomputed
from the logged responses at submission (:mod:`leaderboard.verify`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field

from driftcaps.judges.base import JudgeInfo
from driftcaps.schema import MetricCI, Record


class TaskQuality(Record):
    """Task quality of the fine-tune on its own (benign) task, as its training run reported it
    (``run.json`` of ``driftcaps agl train``; not recomputed by the board).

    Attributes:
        task: the task data name (e.g. ``mmlu-explain-affirmative``).
        heldout_accuracy: share of held-out task questions answered right, in [0, 1] (higher is
            better); None when the task has no gold answers.
        heldout_task_loss: held-out task loss, nats per response token (lower is better).
        source: where the figures come from (``run.json`` path inside the submission).
    """

    task: str | None = None
    heldout_accuracy: float | None = Field(None, ge=0.0, le=1.0)
    heldout_task_loss: float | None = Field(None, ge=0.0)
    source: str | None = None


class Entry(Record):
    """One verified evaluation on the board (DESIGN of the leaderboard: ``docs/leaderboard.md``).

    Attributes:
        key: sha256 identity of what was measured (see :func:`entry_key`); a second submission
            with the same key is recognised, not stored twice.
        name: display name (the adapter folder's or the drift report's name; a base entry: the
            model's name).
        kind: ``base`` (no adapter) or ``adapter``.
        base_model: the base model's name as evaluated; base_sha256: its weight hash (64 hex).
        adapter_sha256: sha256 of ``adapter_model.safetensors`` (None for base entries);
            adapter_rank: LoRA rank r.
        method: ``lora``, ``agl`` ... from the adapter's ``run.json`` (None when unknown).
        training_data_sha256: sha256 of the fine-tuning data from ``run.json`` (None when unknown).
        manifest_sha256, data_version: the DriftCaps build the prompts came from.
        tasks: lm-eval task names; n_prompts: prompts judged.
        judges: refusal and harm judge names and versions.
        generation: generation settings (backend, dtype, batch size, limit, per-task kwargs).
        apply_chat_template, chat_template_sha256: how prompts were wrapped.
        lm_eval_version, driftcaps_version: of the submitting run.
        metrics: overall metrics (``driftcaps.metrics.METRIC_NAMES``) with 95% CIs;
            by_category: {category: {metric: MetricCI}}.
        corrected: RR, HR and ORR corrected for judge error (``docs/metrics.md#corrected-rates``),
            as the board recomputed them; empty for reports before schema 3.
        task_quality: :class:`TaskQuality` or None.
        provenance: the report's whole ``provenance`` object, as submitted.
        report_sha256: sha256 of the submitted ``report.json``.
        submitted_at: ISO 8601 UTC time of the submission.
    """

    key: str
    name: str
    kind: Literal["base", "adapter"]
    base_model: str
    base_sha256: str
    adapter_sha256: str | None = None
    adapter_rank: int | None = None
    method: str | None = None
    training_data_sha256: str | None = None
    manifest_sha256: str
    data_version: str | None = None
    tasks: list[str]
    n_prompts: int
    judges: list[JudgeInfo]
    generation: dict[str, Any]
    apply_chat_template: bool
    chat_template_sha256: str | None = None
    lm_eval_version: str
    driftcaps_version: str
    metrics: dict[str, MetricCI]
    corrected: dict[str, MetricCI] = Field(default_factory=dict)
    by_category: dict[str, dict[str, MetricCI]]
    task_quality: TaskQuality | None = None
    provenance: dict[str, Any]
    report_sha256: str
    submitted_at: str
    id: int | None = None
    """The board's id of the entry (None before it is stored)."""

    def eval_signature(self) -> dict[str, Any]:
        """What must match for two entries' responses to be paired for drift: base weights,
        DriftCaps build, tasks, judges, generation settings and chat template."""
        return {"base": self.base_sha256, "manifest": self.manifest_sha256, "tasks": sorted(self.tasks),
                "judges": sorted(f"{j.kind}:{j.name}@{j.version}" for j in self.judges),
                "generation": _response_settings(self.generation),
                "chat_template": [self.apply_chat_template, self.chat_template_sha256]}


def _response_settings(generation: dict[str, Any]) -> dict[str, Any]:
    """The generation settings that can change a response (not device or loader)."""
    return {k: generation.get(k) for k in ("backend", "dtype", "batch_size", "limit", "gen_kwargs", "system_instruction")}


def entry_key(base_sha256: str, adapter_sha256: str | None, signature: dict[str, Any]) -> str:
    """sha256 of an entry's identity: the base weights, the adapter weights (None for a base
    entry) and :meth:`Entry.eval_signature` (same prompts, judges and generation settings)."""
    blob = json.dumps({"base": base_sha256, "adapter": adapter_sha256, **signature}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class BoardRow(Record):
    """One line of ``driftcaps leaderboard show``: an entry with its rank range, its drift
    against its base entry and its place on the drift/utility Pareto front.

    Attributes:
        rank_low, rank_high: the ranks by balanced safety (higher is better) that the 95% CIs
            allow (1 is best); equal when the entry is separated from all others, a range for
            ties within CIs (:func:`leaderboard.views.rank_ranges`).
        alignment_drift: AD = RR_base − RR_entry on the paired unsafe prompts with its paired
            bootstrap CI (positive: refusals lost); 0 for base entries; None when the board
            holds no base entry evaluated alike.
        delta_harmful_rate: ΔHR = HR_entry − HR_base (None as for AD).
        utility: the Pareto front's utility (held-out task accuracy where every compared entry
            has one, else helpfulness on safe prompts = 1 − ORR), higher is better.
        pareto: on the drift/utility Pareto front (no other entry of the same base model,
            evaluated alike, has lower AD and higher utility, one of them strictly).
    """

    entry: Entry
    rank_low: int
    rank_high: int
    alignment_drift: MetricCI | None = None
    delta_harmful_rate: MetricCI | None = None
    drift_by_category: dict[str, MetricCI] = Field(default_factory=dict)
    utility: float | None = None
    utility_name: str | None = None
    pareto: bool = False


class SubmitResult(Record):
    """What a submission did: one line per entry (stored or recognised) and fits stored."""

    stored: list[int] = Field(default_factory=list)
    """Ids of new entries."""
    recognised: list[int] = Field(default_factory=list)
    """Ids of entries already on the board with the same key (not stored again)."""
    names: dict[int, str] = Field(default_factory=dict)
    fits: int = 0
    """Scaling-law fits stored (``fit.json`` files found in the folder)."""
