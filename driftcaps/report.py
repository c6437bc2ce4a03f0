"""The evaluation report: ``report.json`` of ``driftcaps eval`` (the metrics of
``docs/metrics.md#per-model-metrics`` with 95% bootstrap CIs, and what produced them).

Read one back with :func:`read_eval_report`; every field is validated, and a report from a newer
DriftCaps (higher ``schema_version``) is refused with a one-line error.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from driftcaps.adapters import AdapterInfo
from driftcaps.judges.base import JudgeInfo
from driftcaps.judges.error_rates import JudgeErrorRates
from driftcaps.models import ModelInfo
from driftcaps.schema import MetricCI, Record, VersionedRecord, read_record


class Provenance(Record):
    """What produced a result: package versions, data manifest hash, judges (in the report),
    model and adapter hashes, generation settings, chat template hash, seed."""

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
    samples_sha256: dict[str, str] = Field(default_factory=dict)
    """sha256 of each file of ``lm_eval_samples`` as written (schema version 2; empty in older
    reports): a samples file edited after the report was written no longer matches."""


class EvalReport(VersionedRecord):
    """``report.json`` of ``driftcaps eval``: the metrics with 95% bootstrap CIs, overall, per
    category and per subset (see :func:`driftcaps.metrics.compute_metrics`)."""

    KIND = "driftcaps.eval"
    SCHEMA_VERSION = 3  # 2: provenance.samples_sha256; 3: corrected, judge_error_rates
    tasks: list[str]
    n_prompts: int
    judges: list[JudgeInfo]
    metrics: dict[str, MetricCI]
    by_category: dict[str, dict[str, MetricCI]]
    by_subset: dict[str, dict[str, MetricCI]]
    provenance: Provenance
    corrected: dict[str, MetricCI] = Field(default_factory=dict)
    """RR, HR and ORR corrected for judge error with joint bootstrap CIs (:mod:`driftcaps.correction`;
    a rate whose judge was not validated is absent; empty in reports before schema 3)."""
    judge_error_rates: list[JudgeErrorRates] = Field(default_factory=list)
    """The judges' validation counts the corrected rates used, naming the validation sets."""


REPORT_FILE = "report.json"


def read_eval_report(folder: str | os.PathLike) -> EvalReport:
    """``report.json`` of a ``driftcaps eval`` results folder.

    Raises:
        DriftCapsError: missing, malformed, or from a newer DriftCaps (see
            :func:`driftcaps.schema.read_record`).
    """
    return read_record(os.path.join(folder, REPORT_FILE), EvalReport, "evaluate again with `driftcaps eval`")
