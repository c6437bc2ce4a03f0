"""Recompute what a submission claims, from what it logged (``docs/leaderboard.md#verification``):
verdicts and metrics of a results folder, paired drift of a drift report, a scaling fit from its
points. Pure functions of the submitted records; :mod:`leaderboard.verify` compares."""

from __future__ import annotations

import io
import math
from pathlib import Path

from driftcaps.drift import DriftReport, compute_drift, drift_mitigation
from driftcaps.errors import DriftCapsError
from driftcaps.judges import get_harm_judge, get_refusal_judge
from driftcaps.judges.apply import JudgedResponse, judge_responses
from driftcaps.metrics import compute_metrics
from driftcaps.report import EvalReport
from driftcaps.responses import Response
from driftcaps.scaling.report import ScalingReport, fit_groups, points_sha256

DRIFT_FIELDS = ("alignment_drift", "delta_harmful_rate", "delta_over_refusal_rate")
COUNT_FIELDS = ("n_unsafe", "n_safe", "refused_to_complied", "complied_to_refused")


def rejudge_and_score(report: EvalReport, responses: list[Response], folder: Path):
    """Judge ``responses`` with the judges the report names (the same versions) and recompute
    the metrics with the report's bootstrap size and seed.

    Returns:
        (judged records, (overall, by_category, by_subset)) as
        :func:`driftcaps.metrics.compute_metrics` gives them.

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
    return records, compute_metrics(records, n_boot=max(prov.n_bootstrap, 1), seed=prov.seed)


def _differs(a: float | None, b: float | None, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is not b
    return not (math.isclose(a, b, abs_tol=tol) or (math.isnan(a) and math.isnan(b)))


def recompute_drift(drift: DriftReport, base: list[JudgedResponse],
                    tuned: dict[str, list[JudgedResponse]]) -> str | None:
    """Recompute each tuned entry's overall paired drift (and drift mitigation, when the report
    has a reference) with the report's bootstrap size and seed.

    Returns:
        None when everything matches, else a one-line description of the first difference.
    """
    for td in drift.tuned:
        got = compute_drift(base, tuned[td.name], name=td.name, results_dir=td.results_dir,
                            n_boot=drift.n_bootstrap, seed=drift.seed)
        for field in DRIFT_FIELDS:
            mine, theirs = getattr(got.overall, field), getattr(td.overall, field)
            for part in ("value", "ci_low", "ci_high"):
                if _differs(getattr(mine, part), getattr(theirs, part)):
                    return (f"tuned[{td.name}].overall.{field}.{part} is {getattr(theirs, part)}, but the logged "
                            f"responses give {getattr(mine, part)}; the drift report does not match its samples.")
        for field in COUNT_FIELDS:
            if getattr(got.overall, field) != getattr(td.overall, field):
                return (f"tuned[{td.name}].overall.{field} is {getattr(td.overall, field)}, but the logged responses "
                        f"give {getattr(got.overall, field)}.")
        if _differs(got.overall.mcnemar_p, td.overall.mcnemar_p):
            return f"tuned[{td.name}].overall.mcnemar_p does not match the logged responses."
        if td.drift_mitigation is not None and td.reference in tuned:
            dm = drift_mitigation(base, tuned[td.reference], tuned[td.name], n_boot=drift.n_bootstrap, seed=drift.seed)
            for part in ("value", "ci_low", "ci_high"):
                if _differs(getattr(dm, part), getattr(td.drift_mitigation, part)):
                    return (f"tuned[{td.name}].drift_mitigation.{part} is {getattr(td.drift_mitigation, part)}, but "
                            f"the logged responses give {getattr(dm, part)}.")
    return None


def refit(report: ScalingReport, points_csv: str) -> str | None:
    """Refit a scaling report's law to its points (no bootstrap) and compare the parameters
    (relative tolerance 1e-6) and the points' hash.

    Returns:
        None when they match, else a one-line description of the difference.
    """
    import pandas as pd

    data = pd.read_csv(io.StringIO(points_csv))
    if points_sha256(data) != report.points_sha256:
        return "points.csv is not the table this fit was made from (points_sha256 differs)."
    try:
        again = fit_groups(report.law_object(), data, report.source, report.variables, report.y, by=report.by,
                           holdout=report.holdout_rule, n_boot=0, seed=0, custom=report.custom)
    except DriftCapsError as e:
        return f"refitting fails ({e})."
    for group, fit in report.fits.items():
        mine = again.fits.get(group)
        if mine is None:
            return f"fits.{group}: no such group in points.csv."
        for p, v in fit.params.items():
            if not math.isclose(mine.params.get(p, math.nan), v, rel_tol=1e-6, abs_tol=1e-12):
                return f"fits.{group}.params.{p} is {v}, but refitting points.csv gives {mine.params.get(p)}."
    return None
