"""Fitting a forgetting law to training runs, with bootstrap CIs over runs (``docs/scaling.md``).

Points are rows of a table: a ``run`` column (the points of one run are correlated, so runs are
the unit of resampling), the forgetting ``y`` (> 0) and one column per law variable. The fit is
non-linear least squares (``scipy.optimize.least_squares``, trust region with bounds) on
log-residuals ``log f(x; θ) − log y`` with a robust ``soft_l1`` loss, from every deterministic
start of the law (the amplitude ``A`` of each start rescaled to the data). Model comparison uses
R² of ``log y``, AIC and BIC from the log-residuals; uncertainty comes from refitting on runs
resampled with replacement.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from driftcaps.errors import DriftCapsError
from driftcaps.scaling.laws import Law, check_inputs
from driftcaps.schema import Record

N_BOOT = 1000
MIN_BOOT = 20
LEVEL = 0.95


class LawFit(Record):
    """The fit of one law to one set of runs.

    Attributes:
        law, formula: the form fitted; variables: law variable -> data column.
        converged: False when no start converged; then ``params`` and every statistic are None.
        message: the optimiser's message for the chosen start (or why the fit failed).
        params: parameter -> value; param_ci: parameter -> (low, high), the 95% percentile
            bootstrap interval over runs.
        n_points, n_runs: data size; rss_log: sum of squared log-residuals; sigma_log: their
            standard deviation (n − k degrees of freedom); r2_log: R² of ``log y`` (higher is
            better, at most 1); aic, bic: lower is better, comparable between laws on the same points.
        n_boot, n_boot_failed, seed: the bootstrap; draws: (n_boot − failed, k) parameter draws,
            kept for prediction intervals and method comparisons.
    """

    law: str
    formula: str
    variables: dict[str, str]
    converged: bool
    message: str
    params: dict[str, float] | None = None
    param_ci: dict[str, tuple[float, float]] | None = None
    n_points: int
    n_runs: int
    rss_log: float | None = None
    sigma_log: float | None = None
    r2_log: float | None = None
    aic: float | None = None
    bic: float | None = None
    n_boot: int
    n_boot_failed: int = 0
    seed: int
    loss: str
    draws: list[list[float]] = []


def _numeric(data: pd.DataFrame, col: str, run: str) -> np.ndarray:
    """A column as float64; a value that is not a number is named in a one-line error."""
    values = pd.to_numeric(data[col], errors="coerce")
    bad = values.isna() & data[col].notna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise DriftCapsError(f"column {col!r}: {data[col].iloc[i]!r} (run {data[run].iloc[i]!r}) is not a number.")
    return values.to_numpy(dtype=float)


def _inputs(law: Law, data: pd.DataFrame, x: Mapping[str, str], y: str, run: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """(variables, y, run labels) as arrays, checked."""
    if data.empty:
        raise DriftCapsError("no points to fit (the table has no rows).")
    missing = [c for c in [*x.values(), y, run] if c not in data.columns]
    if missing:
        hint = ""
        if set(missing) & set(law.variables) and not set(x.values()) - set(law.variables):
            hint = (f" Map the law's variables to columns with --x, e.g. --x {law.variables[0]}=S."
                    if len(law.variables) == 1 else " Map the law's variables to columns with --x VARIABLE=COLUMN,...")
        raise DriftCapsError(f"the points have no column(s) {', '.join(missing) or repr('')}; columns are "
                             f"{', '.join(map(str, data.columns))}.{hint}")
    unknown = [v for v in x if v not in law.variables]
    if unknown:
        raise DriftCapsError(f"law {law.name!r} has no variable(s) {', '.join(unknown)}; its variables are "
                             f"{', '.join(law.variables)} (--x VARIABLE=COLUMN).")
    if data[run].isna().any():
        raise DriftCapsError(f"column {run!r}: {int(data[run].isna().sum())} point(s) without a run name; fill them in.")
    xs = {v: _numeric(data, c, run) for v, c in x.items()}
    check_inputs(law, xs)
    for v, arr in xs.items():
        if len(np.unique(arr)) < 2:
            raise DriftCapsError(f"variable {v!r} (column {x[v]!r}) takes one value only ({arr[0]:g}); a law cannot be "
                                 "fitted along it: drop it from the law or vary it.")
    ys = _numeric(data, y, run)
    bad = ~np.isfinite(ys) | (ys <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DriftCapsError(f"column {y!r}: value {float(ys[i])!r} (run {data[run].iloc[i]!r}) is not a finite number > 0; "
                             "a log-space fit needs positive forgetting (drop the point or shift the measure).")
    return xs, ys, data[run].astype(str).to_numpy()


def _residuals(theta: np.ndarray, law: Law, x: dict, logy: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        f = law(x, theta)
    return np.nan_to_num(np.log(np.clip(f, 1e-300, None)) - logy, nan=1e3, posinf=1e3, neginf=-1e3)


def _starts(law: Law, x: dict, ys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """The law's starts, inside the bounds, with ``A`` scaled so the median prediction is the
    median forgetting (the grid then works whatever the units)."""
    out = []
    for s in law.starts or ({k: 0.5 for k in law.params},):
        theta = np.array([s.get(k, 0.5) for k in law.params], dtype=float)
        if "A" in law.params:
            ia = law.params.index("A")
            probe = theta.copy()
            probe[ia] = 1.0
            if "E" in law.params:
                probe[law.params.index("E")] = 0.0
            with np.errstate(all="ignore"):
                scale = np.median(ys) / np.median(law(x, probe))
            if np.isfinite(scale) and scale > 0:
                theta[ia] = scale
        span = np.where(np.isfinite(hi - lo), (hi - lo) * 1e-6, 1e-9)
        out.append(np.clip(theta, lo + span, hi - span))
    return out


def _solve(law: Law, x: dict, logy: np.ndarray, starts: list[np.ndarray], loss: str):
    """The best converged ``least_squares`` result over ``starts``, or the last failure."""
    from scipy.optimize import least_squares

    lo, hi = law.bound_arrays()
    best, last = None, None
    for theta in starts:
        with np.errstate(all="ignore"):
            res = least_squares(_residuals, theta, args=(law, x, logy), bounds=(lo, hi), loss=loss, f_scale=0.1,
                            x_scale="jac", method="trf", max_nfev=400)
        last = res
        if res.success and np.all(np.isfinite(res.x)) and (best is None or res.cost < best.cost):
            best = res
    return best, last


def fit_law(law: Law, data: pd.DataFrame, x: Mapping[str, str] | None = None, y: str = "forgetting",
            run: str = "run", n_boot: int = N_BOOT, seed: int = 0, loss: str = "soft_l1") -> LawFit:
    """Fit ``law`` to the points in ``data`` (one row per point).

    Args:
        law: the form (:func:`driftcaps.scaling.laws.get_law`).
        data: columns ``run``, ``y`` and one per variable (``x`` maps law variable -> column;
            default: columns named like the variables).
        n_boot: bootstrap resamples of runs (0: no CIs); seed: their seed (the fit is deterministic).
        loss: ``scipy.optimize.least_squares`` loss (``soft_l1`` by default, ``linear`` for plain
            least squares).

    Returns:
        A :class:`LawFit`; ``converged`` False (no numbers) when no start converged.

    Raises:
        DriftCapsError: missing columns, values a power law cannot take, fewer than k + 1 points
            for k parameters, or fewer than 2 runs with ``n_boot`` > 0.
    """
    x = dict(x or {v: v for v in law.variables})
    xs, ys, runs = _inputs(law, data, x, y, run)
    n, k = len(ys), len(law.params)
    labels = np.unique(runs)
    if n <= k:
        raise DriftCapsError(f"{n} points for the {k} parameters of law {law.name!r}; give at least {k + 1} points.")
    if 0 < n_boot < MIN_BOOT:
        raise DriftCapsError(f"n_boot={n_boot}: percentile intervals need at least {MIN_BOOT} resamples; give 0 (no CIs) "
                             f"or >= {MIN_BOOT}.")
    if n_boot and len(labels) < 2:
        raise DriftCapsError(f"one run ({labels[0]}): the bootstrap resamples runs; give at least 2 runs or n_boot=0.")
    base = dict(law=law.name, formula=law.formula, variables=x, n_points=n, n_runs=len(labels), n_boot=n_boot,
                seed=seed, loss=loss)
    logy = np.log(ys)
    lo, hi = law.bound_arrays()
    best, last = _solve(law, xs, logy, _starts(law, xs, ys, lo, hi), loss)
    if best is None:
        return LawFit(**base, converged=False, message=f"no start converged: {last.message if last else 'no start'}")
    theta = best.x
    with np.errstate(all="ignore"):
        fitted = law(xs, theta)
    if not np.all(np.isfinite(fitted) & (fitted > 0)):
        return LawFit(**base, converged=False, message="the best fit gives non-positive or non-finite forgetting at "
                      "some points; the form cannot describe positive forgetting there (check its signs and bounds)")
    r = _residuals(theta, law, xs, logy)
    rss = float(np.sum(r ** 2))
    tss = float(np.sum((logy - logy.mean()) ** 2))
    draws, failed = _bootstrap(law, xs, logy, runs, labels, theta, n_boot, seed, loss)
    ci = None
    if draws.size:
        q = np.percentile(draws, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2], axis=0)
        ci = {p: (float(q[0, j]), float(q[1, j])) for j, p in enumerate(law.params)}
    ln_rss = np.log(max(rss, 1e-300) / n)
    return LawFit(**base, converged=True, message=str(best.message),
                  params={p: float(v) for p, v in zip(law.params, theta, strict=True)}, param_ci=ci,
                  rss_log=rss, sigma_log=float(np.sqrt(rss / (n - k))), r2_log=1 - rss / tss if tss > 0 else None,
                  aic=float(n * ln_rss + 2 * k), bic=float(n * ln_rss + k * np.log(n)),
                  n_boot_failed=failed, draws=draws.tolist())


def _bootstrap(law: Law, xs: dict, logy: np.ndarray, runs: np.ndarray, labels: np.ndarray, theta: np.ndarray,
               n_boot: int, seed: int, loss: str) -> tuple[np.ndarray, int]:
    """Refits on runs resampled with replacement, each started at the full fit: (draws, failures)."""
    rng = np.random.default_rng(seed)
    members = {lab: np.flatnonzero(runs == lab) for lab in labels}
    draws, failed = [], 0
    for _ in range(n_boot):
        idx = np.concatenate([members[lab] for lab in rng.choice(labels, size=len(labels), replace=True)])
        if len(idx) <= len(theta):
            failed += 1
            continue
        res, _ = _solve(law, {v: a[idx] for v, a in xs.items()}, logy[idx], [theta], loss)
        if res is None:
            failed += 1
        else:
            draws.append(res.x)
    return np.array(draws, dtype=float).reshape(-1, len(theta)), failed


def predict(law: Law, fit: LawFit, x: Mapping[str, np.ndarray | float], level: float = LEVEL,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecast forgetting at new settings, with a prediction interval.

    The interval combines parameter uncertainty (the fit's bootstrap draws) with the scatter of
    points around the law (``sigma_log``, in log space): for each draw, ``log f(x; draw) + ε``
    with ``ε ~ N(0, sigma_log)``; its percentiles, exponentiated. A fit without bootstrap draws
    gets the scatter alone: ``f(x) · exp(±z · sigma_log)``.

    Args:
        x: law variable -> value or (m,) array of new settings.

    Returns:
        (point, low, high), each of shape (m,), clipped to the law's ``upper`` bound when it has
        one (a rate such as ``early_compliance`` cannot exceed 1).

    Raises:
        DriftCapsError: the fit did not converge, is of another law, or ``x`` has bad values.
    """
    if fit.law != law.name or not fit.converged or fit.params is None:
        raise DriftCapsError(f"cannot predict from a {'non-converged ' if not fit.converged else ''}fit of law "
                             f"{fit.law!r} with law {law.name!r}; refit.")
    if set(fit.params) != set(law.params):
        raise DriftCapsError(f"the fit has parameters {', '.join(fit.params)} but law {law.name!r} has "
                             f"{', '.join(law.params)}; refit.")
    xs = {v: np.atleast_1d(np.asarray(x[v], dtype=float)) for v in law.variables if v in x}
    check_inputs(law, xs)
    point = law(xs, fit.params)
    draws = np.array(fit.draws, dtype=float).reshape(-1, len(law.params))
    if not len(draws):  # no bootstrap: the scatter of points around the law only
        from scipy.stats import norm

        z = norm.ppf((1 + level) / 2) * (fit.sigma_log or 0.0)
        return _capped(law, point, point * np.exp(-z), point * np.exp(z))
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        logs = np.log(np.clip(np.stack([law(xs, d) for d in draws]), 1e-300, None))
    logs = logs + rng.normal(0.0, fit.sigma_log or 0.0, size=(len(logs), 1))  # one ε per draw: smooth bands
    q = np.percentile(logs, [100 * (1 - level) / 2, 100 * (1 + level) / 2], axis=0)
    return _capped(law, point, np.exp(q[0]), np.exp(q[1]))


def _capped(law: Law, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arrays clipped to the law's upper bound (:attr:`Law.upper`, e.g. 1 for a rate)."""
    return tuple(arrays) if law.upper is None else tuple(np.minimum(a, law.upper) for a in arrays)
