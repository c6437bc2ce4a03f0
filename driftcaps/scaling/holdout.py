"""Extrapolation error on held-out runs, and comparing a parameter between two fits
(``docs/scaling.md#held-out-error``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from driftcaps.errors import DriftCapsError
from driftcaps.scaling.fit import LEVEL, N_BOOT, LawFit, fit_law, predict
from driftcaps.scaling.laws import Law
from driftcaps.schema import Record


class HoldoutResult(Record):
    """Fit on the points a rule keeps, predict the ones it holds out.

    Attributes:
        rule: the rule (:func:`holdout_mask`); n_heldout, n_fit: points on each side.
        mape: mean absolute percentage error of the predictions on the held-out points (0-∞,
            lower is better; 0.10 = 10%); coverage: share of held-out points inside the 95%
            prediction interval (near 0.95 when the intervals are honest).
        fit: the fit on the kept points.
    """

    rule: str
    n_heldout: int
    n_fit: int
    mape: float | None
    coverage: float | None
    fit: LawFit


def holdout_mask(data: pd.DataFrame, rule: str) -> np.ndarray:
    """Which points a rule holds out (True), shape (n,), bool.

    Rules: ``top:COL`` holds out the points with the largest value of column COL (``top:COL:k``:
    the k largest distinct values; COL must be numeric), e.g. ``top:steps``; ``COL=VALUE`` holds
    out the points whose COL equals VALUE (as numbers when both are numeric, else as text), e.g.
    ``rank=64``.

    Raises:
        DriftCapsError: an unknown rule form or column, or a rule that holds out every point or none.
    """
    if rule.startswith("top:"):
        parts = rule.split(":")
        col = parts[1] if len(parts) > 1 else ""
        k = parts[2] if len(parts) > 2 else "1"
        if col not in data.columns or not k.isdigit() or int(k) < 1 or len(parts) > 3:
            raise DriftCapsError(f"--holdout {rule!r}: use top:COLUMN or top:COLUMN:K with a column of the points "
                                 f"({', '.join(map(str, data.columns))}) and K >= 1.")
        values = pd.to_numeric(data[col], errors="coerce")
        if values.isna().all():
            raise DriftCapsError(f"--holdout {rule!r}: column {col!r} is not numeric; top: needs numbers "
                                 f"(use {col}=VALUE to hold out one value).")
        cut = sorted(values.dropna().unique())[-int(k):]
        mask = values.isin(cut).to_numpy()
    elif "=" in rule:
        col, value = rule.split("=", 1)
        if col not in data.columns:
            raise DriftCapsError(f"--holdout {rule!r}: no column {col!r}; columns are {', '.join(map(str, data.columns))}.")
        mask = (data[col].astype(str) == value).to_numpy()
        numbers = pd.to_numeric(data[col], errors="coerce")
        try:
            target = float(value)
        except ValueError:
            target = None
        if target is not None and numbers.notna().all():  # 400 and 400.0 are one value
            mask = (numbers == target).to_numpy()
    else:
        raise DriftCapsError(f"--holdout {rule!r}: use top:COLUMN[:K] or COLUMN=VALUE.")
    if mask.all() or not mask.any():
        raise DriftCapsError(f"--holdout {rule!r} holds out {'every' if mask.all() else 'no'} point; choose a rule "
                             "that leaves points on both sides.")
    return mask


def evaluate_holdout(law: Law, data: pd.DataFrame, rule: str, x: Mapping[str, str] | None = None,
                     y: str = "forgetting", run: str = "run", n_boot: int = N_BOOT, seed: int = 0) -> HoldoutResult:
    """Fit ``law`` on the points ``rule`` keeps and score its forecasts of the held-out ones
    (MAPE and 95% prediction-interval coverage; :func:`driftcaps.scaling.fit.predict`).

    Raises:
        DriftCapsError: as :func:`holdout_mask` and :func:`driftcaps.scaling.fit.fit_law`.
    """
    x = dict(x or {v: v for v in law.variables})
    mask = holdout_mask(data, rule)
    fit = fit_law(law, data[~mask], x, y, run, n_boot, seed)
    mape = coverage = None
    if fit.converged:
        held = data[mask]
        point, low, high = predict(law, fit, {v: held[c].to_numpy(dtype=float) for v, c in x.items()}, seed=seed)
        truth = held[y].to_numpy(dtype=float)
        mape = float(np.mean(np.abs(point - truth) / truth))
        coverage = float(np.mean((truth >= low) & (truth <= high)))
    return HoldoutResult(rule=rule, n_heldout=int(mask.sum()), n_fit=int((~mask).sum()), mape=mape,
                         coverage=coverage, fit=fit)


def compare_param(fit_a: LawFit, fit_b: LawFit, param: str, level: float = LEVEL) -> tuple[float, float, float]:
    """The ratio ``param_a / param_b`` of two fits of one law (e.g. AGL's amplitude over plain
    LoRA's: below 1 means AGL forgets less) with a percentile interval from their bootstrap draws
    (paired by draw index; the two sets of runs are resampled independently).

    Raises:
        DriftCapsError: different laws, a fit that did not converge or has no draws, or an unknown parameter.
    """
    if fit_a.law != fit_b.law:
        raise DriftCapsError(f"fits of different laws ({fit_a.law}, {fit_b.law}) cannot be compared parameter by parameter.")
    for f in (fit_a, fit_b):
        if not f.converged or not f.draws or f.params is None:
            raise DriftCapsError(f"a fit of {f.law!r} did not converge or has no bootstrap draws; refit with n_boot > 0.")
        if param not in f.params:
            raise DriftCapsError(f"law {f.law!r} has no parameter {param!r}; it has {', '.join(f.params)}.")
    j = list(fit_a.params).index(param)
    a, b = np.array(fit_a.draws)[:, j], np.array(fit_b.draws)[:, j]
    m = min(len(a), len(b))
    with np.errstate(all="ignore"):
        ratios = a[:m] / b[:m]
    ratios = ratios[np.isfinite(ratios)]
    q = np.percentile(ratios, [100 * (1 - level) / 2, 100 * (1 + level) / 2]) if len(ratios) else (np.nan, np.nan)
    return fit_a.params[param] / fit_b.params[param], float(q[0]), float(q[1])
