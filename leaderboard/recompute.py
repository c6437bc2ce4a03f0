"""Recompute what a submission claims, from what it logged (``docs/leaderboard.md#verification``):
verdicts and metrics of a results folder, paired drift of a drift report, a scaling fit from its
points. Pure functions of the submitted records; :mod:`leaderboard.verify` compares."""

from __future__ import annotations

import io
import math
from pathlib import Path

from driftcaps.correction import correct_for_judges, corrected_drift
from driftcaps.drift import DriftReport, compute_drift, drift_mitigation
from driftcaps.errors import DriftCapsError
from driftcaps.judges import get_harm_judge, get_refusal_judge
from driftcaps.judges.apply import JudgedResponse, judge_responses
from driftcaps.judges.error_rates import error_rates_for
from driftcaps.metrics import compute_metrics
from driftcaps.report import EvalReport
from driftcaps.responses import Response
from driftcaps.scaling.report import ScalingReport, fit_groups, points_sha256


def first_difference(mine, theirs, where: str = "", rel: float = 1e-6, abs_: float = 1e-9) -> str | None:
    """The path of the first place two JSON-like values differ (floats within ``rel``/``abs_``),
    or None when they agree. Dict keys must match; lists must have equal lengths."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        if mine.keys() != theirs.keys():
            extra = sorted(set(mine) ^ set(theirs))
            return f"{where or '(top)'} keys ({', '.join(map(str, extra[:3]))})"
        for k in mine:
            d = first_difference(mine[k], theirs[k], f"{where}.{k}" if where else str(k), rel, abs_)
            if d:
                return d
        return None
    if isinstance(mine, (list, tuple)) and isinstance(theirs, (list, tuple)):
        if len(mine) != len(theirs):
            return f"{where} (length {len(theirs)}, recomputed {len(mine)})"
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            d = first_difference(a, b, f"{where}[{i}]", rel, abs_)
            if d:
                return d
        return None
    if isinstance(mine, float) or isinstance(theirs, float):
        if isinstance(mine, bool) or isinstance(theirs, bool) or mine is None or theirs is None:
            return None if mine is theirs else f"{where} ({theirs}, recomputed {mine})"
        if math.isnan(mine) and math.isnan(theirs):
            return None
        return None if math.isclose(mine, theirs, rel_tol=rel, abs_tol=abs_) else f"{where} ({theirs}, recomputed {mine})"
    return None if mine == theirs else f"{where} ({str(theirs)[:60]}, recomputed {str(mine)[:60]})"



def rejudge_and_score(report: EvalReport, responses: list[Response], folder: Path):
    """Judge ``responses`` with the judges the report names (the same versions) and recompute
    the metrics with the report's bootstrap size and seed.

    Returns:
        (judged records, (overall, by_category, by_subset), corrected): the metrics as
        :func:`driftcaps.metrics.compute_metrics` gives them and the rates corrected for judge
        error (:func:`driftcaps.correction.correct_for_judges`; empty for reports before schema 3).

    Raises:
        DriftCapsError: a judge unknown here, or installed at another version than the report's.
    """
    judges = {j.kind: j for j in report.judges}
    refusal = get_refusal_judge(judges["refusal"].name)
    harm = get_harm_judge(judges["harm"].name)
    for mine, theirs in ((refusal, judges["refusal"]), (harm, judges["harm"])):
        if mine.version != theirs.version:
            raise DriftCapsError(f"{folder / 'report.json'}: judged with {theirs.name}@{theirs.version}, but this board "
                                 f"has {mine.name}@{mine.version}; evaluate again with this DriftCaps.")
    records = judge_responses(responses, refusal, harm)
    prov = report.provenance
    n_boot = max(prov.n_bootstrap, 1)
    corrected = correct_for_judges(records, refusal, harm, n_boot, prov.seed)[0] if report.schema_version >= 3 else {}
    return records, compute_metrics(records, n_boot=n_boot, seed=prov.seed), corrected


def recompute_drift(drift: DriftReport, base: list[JudgedResponse], tuned: dict[str, list[JudgedResponse]],
                    adapters: dict[str, str | None]) -> str | None:
    """Recompute every tuned entry of a drift report with its bootstrap size and seed: the
    overall and per-category statistics (every field), the drift mitigation against its
    reference, and the adapter's weight hash (``adapters``: name -> the hash its report names).

    Returns:
        None when everything matches, else a one-line description of the first difference.
    """
    names = [td.name for td in drift.tuned]
    for td in drift.tuned:
        got = compute_drift(base, tuned[td.name], name=td.name, results_dir=td.results_dir,
                            n_boot=drift.n_bootstrap, seed=drift.seed)
        for part in ("overall", "by_category"):
            d = first_difference(_dump(getattr(got, part)), _dump(getattr(td, part)), f"tuned[{td.name}].{part}")
            if d:
                return f"{d}; the drift report does not match its samples."
        rates = {}
        for r in drift.judge_error_rates:
            mine = error_rates_for(r.verdict, r.judge, r.version)
            if mine is None or mine != r or (r.judge, r.version) != _judge(drift, r.verdict):
                return (f"judge_error_rates: the counts of {r.judge}@{r.version} are not this board's counts of the "
                        "report's judges; evaluate again with this DriftCaps.")
            rates[r.verdict] = r
        if td.corrected or rates:
            got = corrected_drift(base, tuned[td.name], rates.get("refusal"), rates.get("harm"), drift.n_bootstrap,
                                  drift.seed)
            d = first_difference(_dump(got), _dump(td.corrected), f"tuned[{td.name}].corrected")
            if d:
                return f"{d}; the drift report does not match its samples."
        if (td.adapter.weights_sha256 if td.adapter else None) != adapters.get(td.name):
            return f"tuned[{td.name}].adapter.weights_sha256 is not the adapter its results folder was evaluated with."
        if td.reference is not None and td.reference not in names:
            return f"tuned[{td.name}].reference {td.reference!r} names no tuned entry."
        if td.drift_mitigation is not None:
            if td.reference is None:
                return f"tuned[{td.name}].drift_mitigation is given without a reference."
            dm = drift_mitigation(base, tuned[td.reference], tuned[td.name], n_boot=drift.n_bootstrap, seed=drift.seed)
            d = first_difference(_dump(dm), _dump(td.drift_mitigation), f"tuned[{td.name}].drift_mitigation")
            if d:
                return f"{d}; the drift report does not match its samples."
    return None


def _judge(drift: DriftReport, kind: str) -> tuple[str, str] | None:
    j = next((j for j in drift.judges if j.kind == kind), None)
    return (j.name, j.version) if j else None


def _dump(x):
    if isinstance(x, dict):
        return {k: _dump(v) for k, v in x.items()}
    return x.model_dump(mode="json") if hasattr(x, "model_dump") else x


def refit(report: ScalingReport, points_csv: str) -> str | None:
    """Refit a scaling report from its points with the report's own settings (law, variables,
    grouping, held-out rule, bootstrap size and seed) and compare everything it states: every
    group's fit (parameters, CIs, statistics, draws), the held-out errors, the comparisons, the
    formula and the points' hash (floats to a relative 1e-6).

    Returns:
        None when they match, else a one-line description of the first difference.
    """
    import pandas as pd

    data = pd.read_csv(io.StringIO(points_csv))
    if points_sha256(data) != report.points_sha256:
        return "points.csv is not the table this fit was made from (points_sha256 differs)."
    n_boot = max((f.n_boot for f in report.fits.values()), default=0)
    seed = next((f.seed for f in report.fits.values()), 0)
    try:
        again = fit_groups(report.law_object(), data, report.source, report.variables, report.y, by=report.by,
                           holdout=report.holdout_rule, n_boot=n_boot, seed=seed, custom=report.custom)
    except DriftCapsError as e:
        return f"refitting fails ({e})."
    mine = again.model_dump(mode="json", exclude={"created_at", "driftcaps_version"})
    theirs = report.model_dump(mode="json", exclude={"created_at", "driftcaps_version"})
    d = first_difference(mine, theirs)
    return f"{d}: refitting points.csv gives another value." if d else None
