"""``fit.json``: one law fitted per group of runs (e.g. per method), their held-out error and the
ratio of each parameter to the reference group's (``docs/scaling.md``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd

from driftcaps import __version__
from driftcaps.errors import DriftCapsError
from driftcaps.provenance import now_iso
from driftcaps.scaling.fit import N_BOOT, LawFit, fit_law
from driftcaps.scaling.holdout import HoldoutResult, compare_param, evaluate_holdout
from driftcaps.scaling.laws import LAWS, Law, formula_law
from driftcaps.schema import Record, VersionedRecord

CONSISTENT = ("base_model", "driftcaps_version")
"""Columns that must hold one value in a fit: a law fitted across base models (or DriftCaps
versions) mixes things that do not scale together."""


class Comparison(Record):
    """``param`` of group ``group`` divided by the reference group's, with a 95% interval from
    the bootstrap draws (below 1: smaller in ``group``)."""

    param: str
    group: str
    reference: str
    ratio: float
    ci_low: float
    ci_high: float


class ScalingReport(VersionedRecord):
    """The record ``driftcaps scaling fit`` writes.

    Attributes:
        law, formula, variables (law variable -> column), y (the forgetting column), by (the
            grouping column or None), custom (a formula law, rebuilt from ``formula``).
        source, points_sha256, n_points: where the points came from (``points.csv`` beside the report).
        fits: group -> :class:`~driftcaps.scaling.fit.LawFit`; holdout: group -> held-out error
            under ``holdout_rule`` (None without a rule); comparisons: per parameter, each group
            against ``reference``.
    """

    KIND = "driftcaps.scaling.fit"
    law: str
    formula: str
    variables: dict[str, str]
    y: str
    by: str | None
    custom: bool
    source: str
    points_sha256: str
    n_points: int
    fits: dict[str, LawFit]
    holdout_rule: str | None = None
    holdout: dict[str, HoldoutResult] | None = None
    reference: str | None = None
    comparisons: list[Comparison] = []
    created_at: str
    driftcaps_version: str

    def law_object(self) -> Law:
        """The :class:`Law` this report was fitted with."""
        if self.custom or self.law not in LAWS:
            return formula_law(self.law, self.formula, list(self.variables))
        return LAWS[self.law]


def points_sha256(data: pd.DataFrame) -> str:
    """sha256 of the points as CSV (columns sorted, no index): identifies the data fitted."""
    return hashlib.sha256(data.sort_index(axis=1).to_csv(index=False).encode()).hexdigest()


def fit_groups(law: Law, data: pd.DataFrame, source: str, x: Mapping[str, str] | None = None, y: str = "forgetting",
               by: str | None = None, holdout: str | None = None, n_boot: int = N_BOOT, seed: int = 0,
               custom: bool = False) -> ScalingReport:
    """Fit ``law`` to each group of points (all points when ``by`` is None) and compare groups.

    The reference group is ``lora`` when present (plain LoRA, the baseline of every mitigation),
    else the first group in sorted order.

    Raises:
        DriftCapsError: an unknown ``by`` column, points mixing base models or DriftCaps versions,
            or any error of :func:`~driftcaps.scaling.fit.fit_law` (naming the group).
    """
    x = dict(x or {v: v for v in law.variables})
    for col in CONSISTENT:
        if col in data.columns and data[col].nunique() > 1:
            raise DriftCapsError(f"the points mix {data[col].nunique()} values of {col} "
                                 f"({', '.join(map(str, data[col].unique()[:3]))}); fit one {col} at a time.")
    if by is not None and by not in data.columns:
        raise DriftCapsError(f"--by {by}: no such column; columns are {', '.join(map(str, data.columns))}.")
    if by is not None and data[by].isna().any():
        raise DriftCapsError(f"--by {by}: {int(data[by].isna().sum())} point(s) have no {by}; fill them in or drop them.")
    groups = {"all": data} if by is None else {str(k): g for k, g in data.groupby(by, sort=True)}
    fits, held = {}, {} if holdout else None
    for name, g in groups.items():
        try:
            fits[name] = fit_law(law, g, x, y, n_boot=n_boot, seed=seed)
            if holdout:
                held[name] = evaluate_holdout(law, g, holdout, x, y, n_boot=n_boot, seed=seed)
        except DriftCapsError as e:
            raise DriftCapsError(f"{by}={name}: {e}" if by else str(e)) from None
    reference = "lora" if "lora" in fits else sorted(fits)[0]
    comparisons = []
    for name, f in fits.items():
        ref = fits[reference]
        if name == reference or not (f.converged and ref.converged and f.draws and ref.draws):
            continue
        for p in law.params:
            if f.params[p] and ref.params[p]:  # a ratio to 0 means nothing
                ratio, lo, hi = compare_param(f, ref, p)
                comparisons.append(Comparison(param=p, group=name, reference=reference, ratio=ratio, ci_low=lo, ci_high=hi))
    return ScalingReport(law=law.name, formula=law.formula, variables=x, y=y, by=by, custom=custom, source=source,
                         points_sha256=points_sha256(data), n_points=len(data), fits=fits, holdout_rule=holdout,
                         holdout=held, reference=reference if len(fits) > 1 else None, comparisons=comparisons,
                         created_at=now_iso(), driftcaps_version=__version__)
