"""The link between a cheap forgetting measure and alignment drift (``docs/scaling.md#link``).

A scaling law is fitted to a measure that can be logged at every checkpoint (the held-out
alignment loss, the early refusal rate of :mod:`driftcaps.probe`); the user cares about alignment
drift AD (refusals lost on DriftCaps, ``docs/metrics.md``), which costs a full evaluation and is
measured on a few checkpoints. The link is an ordinary least-squares line ``AD = a + b · m`` over
the checkpoints where both exist, with Pearson's r; CIs are percentile intervals from refits on
runs resampled with replacement (the checkpoints of one run are correlated).
"""

from __future__ import annotations

import numpy as np

from driftcaps.errors import DriftCapsError
from driftcaps.schema import Record, VersionedRecord

N_BOOT = 2000
LEVEL = 0.95


class Link(Record):
    """The line ``y = intercept + slope · x`` from measure ``x`` to ``y`` (normally AD).

    Attributes:
        x, y: column names; n_points, n_runs: data size.
        slope, intercept: least-squares values (units of y per unit of x, and of y);
        r: Pearson's correlation in [-1, 1] (None when x or y is constant);
        slope_ci, r_ci: 95% percentile bootstrap intervals over runs (None with fewer than 3 runs
            or when every resample is degenerate); n_boot, seed: the bootstrap.
    """

    x: str
    y: str
    n_points: int
    n_runs: int
    slope: float
    intercept: float
    r: float | None
    slope_ci: tuple[float, float] | None
    r_ci: tuple[float, float] | None
    n_boot: int
    seed: int


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float | None]:
    """(slope, intercept, r) of the least-squares line; slope nan when x is constant."""
    if np.ptp(x) == 0:  # constant (tested exactly: x - mean(x) may not round to 0)
        return float("nan"), float(y.mean()), None
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    slope = float(dx @ dy) / sxx
    r = float(dx @ dy) / np.sqrt(sxx * syy) if np.ptp(y) > 0 else None
    return slope, float(y.mean() - slope * x.mean()), r


def fit_link(x: np.ndarray, y: np.ndarray, runs: np.ndarray, x_name: str = "x", y_name: str = "y",
             n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL) -> Link:
    """Fit the link line of ``y`` on ``x``.

    Args:
        x, y: shape (n,), float; the cheap measure and AD at the same checkpoints (rows with a
            non-finite value in either are an error: drop them first).
        runs: shape (n,), the run of each checkpoint (the unit of resampling).

    Raises:
        DriftCapsError: shapes differ, non-finite values, fewer than 3 points, or x constant.
    """
    x, y, runs = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(runs)
    if not x.shape == y.shape == runs.shape or x.ndim != 1:
        raise DriftCapsError(f"link {x_name} -> {y_name}: x, y and runs need one value per checkpoint "
                             f"(got shapes {x.shape}, {y.shape}, {runs.shape}).")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DriftCapsError(f"link {x_name} -> {y_name}: non-finite values; keep checkpoints where both are measured.")
    if len(x) < 3:
        raise DriftCapsError(f"link {x_name} -> {y_name}: {len(x)} checkpoints with both measures; at least 3 are needed.")
    slope, intercept, r = _line(x, y)
    if not np.isfinite(slope):
        raise DriftCapsError(f"link {x_name} -> {y_name}: {x_name} is the same at every checkpoint; no line to fit.")
    labels = np.unique(runs)
    slope_ci = r_ci = None
    if len(labels) >= 3:
        rng = np.random.default_rng(seed)
        members = {lab: np.flatnonzero(runs == lab) for lab in labels}
        slopes, rs = [], []
        for _ in range(n_boot):
            idx = np.concatenate([members[lab] for lab in rng.choice(labels, size=len(labels), replace=True)])
            b, _, rb = _line(x[idx], y[idx])
            if np.isfinite(b):
                slopes.append(b)
            if rb is not None:
                rs.append(rb)
        q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
        if slopes:
            slope_ci = tuple(float(v) for v in np.percentile(slopes, q))
        if rs:
            r_ci = tuple(float(v) for v in np.percentile(rs, q))
    return Link(x=x_name, y=y_name, n_points=len(x), n_runs=len(labels), slope=slope, intercept=intercept, r=r,
                slope_ci=slope_ci, r_ci=r_ci, n_boot=n_boot, seed=seed)


MEASURE_OF = {"early_refusal_drop": ("early_refusal_drop", None), "forgetting_rise": ("forgetting_rise", None),
              "early_compliance": ("early_refusal_drop", "early_compliance"), "forgetting": ("forgetting_rise", "forgetting")}
"""Forgetting column of a fit -> (the linked measure, the column whose step-0 level is subtracted
to get that measure, or None): ``early_refusal_drop = early_compliance − the base's``,
``forgetting_rise = forgetting − its step-0 value``."""


def ad_of(link: Link, measure: float) -> float:
    """Alignment drift AD (↓) read off the link line at ``measure`` (the link's x units), clipped
    to [−1, 1], the range of a difference of two rates."""
    return float(np.clip(link.intercept + link.slope * measure, -1.0, 1.0))


class LinkReport(VersionedRecord):
    """``link.json`` of a sweep: measure name -> its :class:`Link` to AD, and the base model."""

    KIND = "driftcaps.link"
    links: dict[str, Link]
    base_model: str | None = None
    """The base model of the sweep (weights hash or path): a fit of another model's points is
    refused by ``driftcaps scaling predict --link``."""
