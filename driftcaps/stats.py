"""Pure numpy/scipy statistics: percentile bootstrap CIs (plain, stratified, paired), the exact
McNemar test, and the drift-mitigation ratio CI (``docs/metrics.md``).

Bootstrap design (shared by every function here):

- resampling draws an index matrix of shape (n_boot, n) from ``np.random.default_rng(seed)``;
  column ``j`` of that matrix always holds a row index from the same stratum as row ``j`` (with
  ``strata``, each stratum is resampled with replacement within itself, so every replicate keeps
  the stratum sizes). A statistic may therefore use a fixed column mask (e.g. "the unsafe
  columns") on the resampled (n_boot, n) arrays.
- to bound memory, replicates are drawn in batches of at most ``_MAX_CELLS`` index cells; the
  result depends only on (data, seed, n_boot, strata), so it is deterministic for a seed.
- the interval is the percentile interval of Efron & Tibshirani 1993, *An Introduction to the
  Bootstrap*, ch. 13: the alpha/2 and 1 - alpha/2 quantiles (numpy's linear interpolation) of
  the replicates. Stratified resampling: Davison & Hinkley 1997, *Bootstrap Methods and their
  Application*, ch. 3. Paired resampling (one index matrix for all paired arrays) is the
  case-resampling bootstrap of matched observations (Efron & Tibshirani 1993, ch. 6-7).

Invalid arguments (length mismatch, alpha outside (0, 1), n_boot < 1, negative counts) raise
``ValueError``: they are programming errors, not user input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
from scipy.stats import binom

N_BOOT = 2000
"""Default number of bootstrap replicates of every CI that DriftCaps reports."""

_MAX_CELLS = 4_000_000
_AXIS_REDUCERS = (np.mean, np.median, np.sum, np.std, np.var, np.min, np.max, np.nanmean)

Interval = tuple[float | None, float | None, float | None]


def check_bootstrap_args(n_boot: int, alpha: float) -> None:
    """Raise ValueError unless n_boot is an integer >= 1 and 0 < alpha < 1."""
    if int(n_boot) != n_boot or int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _strata_groups(strata: Sequence | np.ndarray | None, n: int) -> list[np.ndarray]:
    """Row positions of each stratum, strata in order of first appearance (deterministic)."""
    if strata is None:
        return [np.arange(n)]
    labels = list(strata)
    if len(labels) != n:
        raise ValueError(f"strata has {len(labels)} labels for {n} values")
    groups: dict[object, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(lab, []).append(i)
    return [np.asarray(g, dtype=np.int64) for g in groups.values()]


def _index_batches(
    n: int, n_boot: int, seed: int, strata: Sequence | np.ndarray | None
) -> Iterator[np.ndarray]:
    """Yield int64 index matrices (rows, n), rows summing to n_boot, resampled within strata."""
    rng = np.random.default_rng(seed)
    groups = _strata_groups(strata, n)
    rows = max(1, _MAX_CELLS // max(n, 1))
    done = 0
    while done < n_boot:
        k = min(rows, n_boot - done)
        idx = np.empty((k, n), dtype=np.int64)
        for g in groups:
            idx[:, g] = g[rng.integers(0, len(g), size=(k, len(g)))]
        yield idx
        done += k


def _apply_stat(stat: Callable, arr: np.ndarray) -> np.ndarray:
    """Apply a one-array statistic row-wise: (rows, n) -> (rows,)."""
    if any(stat is f for f in _AXIS_REDUCERS):
        out = stat(arr, axis=1)
    else:
        out = stat(arr)
    out = np.asarray(out, dtype=float).reshape(-1)
    if out.shape != (arr.shape[0],):
        raise ValueError(f"stat must map a ({arr.shape[0]}, n) array to ({arr.shape[0]},)")
    return out


def _interval(point: float, reps: np.ndarray, alpha: float) -> tuple[float | None, ...]:
    """Percentile interval of the finite replicates; (point, low, high) as Python floats."""
    reps = reps[np.isfinite(reps)]
    p = float(point) if np.isfinite(point) else None
    if reps.size == 0:
        return p, None, None
    lo, hi = np.quantile(reps, [alpha / 2.0, 1.0 - alpha / 2.0])
    return p, float(lo), float(hi)


def _bootstrap_multi(
    arrays: Sequence[np.ndarray],
    stat: Callable[..., np.ndarray],
    n_boot: int,
    seed: int,
    alpha: float,
    strata: Sequence | np.ndarray | None,
) -> tuple[float | None, float | None, float | None, int]:
    """Core: one index matrix for all arrays; ``stat(*resampled)`` -> (rows,). Returns
    (point, low, high, n_finite_replicates)."""
    check_bootstrap_args(n_boot, alpha)
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"paired arrays differ in length: {[len(a) for a in arrays]}")
    if n == 0:
        return None, None, None, 0
    point = np.asarray(stat(*(a[None, :] for a in arrays)), dtype=float).reshape(-1)[0]
    reps = []
    for idx in _index_batches(n, int(n_boot), seed, strata):
        r = np.asarray(stat(*(a[idx] for a in arrays)), dtype=float).reshape(-1)
        if r.shape != (idx.shape[0],):
            raise ValueError(f"stat must return shape ({idx.shape[0]},), got {r.shape}")
        reps.append(r)
    allreps = np.concatenate(reps)
    p, lo, hi = _interval(point, allreps, alpha)
    return p, lo, hi, int(np.isfinite(allreps).sum())


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = 0,
    alpha: float = 0.05,
    strata: Sequence | np.ndarray | None = None,
    stat: Callable = np.mean,
) -> Interval:
    """Percentile bootstrap CI of a statistic of a 1-D sample.

    Args:
        values: shape (n,), numbers or bools (cast to float64); e.g. 0/1 refusal indicators.
        n_boot: number of bootstrap replicates (>= 1).
        seed: seed of ``np.random.default_rng``; same inputs and seed give the same interval.
        alpha: the interval covers 1 - alpha (0.05 -> 95%); must be in (0, 1).
        strata: optional labels, shape (n,), any hashable values; resampling is then done with
            replacement within each stratum, keeping every stratum's size.
        stat: ``np.mean`` (default; also np.median/sum/std/var/min/max/nanmean) is applied with
            ``axis=1``; any other callable must map a float array (rows, n) to (rows,).

    Returns:
        (point, low, high) as Python floats: ``point`` is ``stat`` on the whole sample, low/high
        the alpha/2 and 1 - alpha/2 quantiles of the replicates (non-finite replicates dropped).
        For a rate, all three lie in [0, 1]. Empty input gives (None, None, None).
        Formula source: Efron & Tibshirani 1993, ch. 13 (percentile interval).

    Raises:
        ValueError: values not 1-D, strata length differs, n_boot < 1 or alpha outside (0, 1).
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {x.shape}")
    p, lo, hi, _ = _bootstrap_multi(
        [x], lambda a: _apply_stat(stat, a), n_boot, seed, alpha, strata
    )
    return p, lo, hi


def bootstrap_means(values: Sequence[float] | np.ndarray, n_boot: int = N_BOOT, seed: int = 0,
                    strata: Sequence | np.ndarray | None = None) -> np.ndarray:
    """The bootstrap replicates of the mean of ``values`` (shape (n,)): shape (n_boot,), float64,
    the same draws as :func:`bootstrap_ci` with the same seed and strata (so an interval derived
    from them pairs with the raw one). Empty input gives an empty array.

    Raises:
        ValueError: values not 1-D, strata length differs, n_boot < 1.
    """
    check_bootstrap_args(n_boot, 0.05)
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {x.shape}")
    if x.size == 0:
        return np.empty(0)
    return np.concatenate([x[idx].mean(axis=1) for idx in _index_batches(len(x), int(n_boot), seed, strata)])


def _mean_diff(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    return xb.mean(axis=1) - yb.mean(axis=1)


def paired_bootstrap_ci(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    stat: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    alpha: float = 0.05,
    strata: Sequence | np.ndarray | None = None,
) -> Interval:
    """Paired percentile bootstrap CI: the same resampled indices for ``x`` and ``y``.

    Args:
        x, y: paired samples, shape (n,) each, floats or bools (e.g. base and tuned 0/1 refusal
            indicators on the same prompts, position i = prompt i in both).
        stat: ``stat(xb, yb)`` with two float arrays (rows, n) returning (rows,); default
            ``mean(x) - mean(y)`` (in [-1, 1] for 0/1 data).
        n_boot, seed, alpha, strata: as in :func:`bootstrap_ci`.

    Returns:
        (point, low, high) Python floats; (None, None, None) when n == 0. Identical x and y with
        the default stat give exactly (0.0, 0.0, 0.0).
        Formula source: paired case resampling with the percentile interval (Efron & Tibshirani
        1993, ch. 13).

    Raises:
        ValueError: x, y (or strata) differ in length, n_boot < 1 or alpha outside (0, 1).
    """
    xa = np.asarray(x, dtype=float).reshape(-1)
    ya = np.asarray(y, dtype=float).reshape(-1)
    p, lo, hi, _ = _bootstrap_multi([xa, ya], stat or _mean_diff, n_boot, seed, alpha, strata)
    return p, lo, hi


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts of paired binary outcomes.

    Args:
        b: count of pairs that went one way (e.g. base refused -> tuned complied), int >= 0.
        c: count of pairs that went the other way (complied -> refused), int >= 0.

    Returns:
        p in (0, 1]: ``min(1, 2 * BinomCDF(min(b, c); b + c, 0.5))``; 1.0 when b + c == 0.
        Symmetric in (b, c). Source: McNemar 1947, Psychometrika 12(2):153-157, in its exact
        conditional (binomial) form, e.g. Fagerland, Lydersen & Laake 2013, BMC Med Res
        Methodol 13:91.

    Raises:
        ValueError: b or c negative or not integral.
    """
    if int(b) != b or int(c) != c or b < 0 or c < 0:
        raise ValueError(f"McNemar counts must be non-negative integers, got b={b}, c={c}")
    b, c = int(b), int(c)
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(b, c), b + c, 0.5)))


def drift_mitigation_ci(
    base: Sequence[float] | np.ndarray,
    lora: Sequence[float] | np.ndarray,
    method: Sequence[float] | np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = 0,
    alpha: float = 0.05,
    strata: Sequence | np.ndarray | None = None,
) -> tuple[float | None, float | None, float | None, int]:
    """Paired bootstrap CI of drift mitigation DM = 1 - AD_method / AD_lora (``docs/metrics.md#drift-mitigation``).

    AD_X = RR_base - RR_X, the refusal rate lost by model X, on the same unsafe prompts; DM = 1:
    the method kept all refusals that LoRA lost, DM = 0: it lost as many, DM < 0: it lost more.
    Computed on counts, DM = 1 - (sum(base) - sum(method)) / (sum(base) - sum(lora)), so the
    ratio is exact for 0/1 data.

    Args:
        base, lora, method: aligned 0/1 refusal indicators, shape (n,) each, position i = the same
            prompt in all three.
        n_boot, seed, alpha, strata: as in :func:`bootstrap_ci`; one index matrix for all three.

    Returns:
        (point, low, high, n_used): all of point/low/high are None when AD_lora == 0 on the
        whole sample (DM is undefined). Bootstrap replicates in which AD_lora == 0 are dropped (the ratio is
        undefined there), and ``n_used`` counts the replicates kept; low/high are None when
        none is kept. The ratio is unbounded when AD_lora is near 0, so read the CI with n_used
        and AD_lora's own CI. (None, None, None, 0) for n == 0.

    Raises:
        ValueError: lengths differ, n_boot < 1 or alpha outside (0, 1).
    """
    arrays = [np.asarray(a, dtype=float).reshape(-1) for a in (base, lora, method)]

    def stat(b: np.ndarray, lo: np.ndarray, m: np.ndarray) -> np.ndarray:
        sb = b.sum(axis=1)
        den = sb - lo.sum(axis=1)
        num = sb - m.sum(axis=1)
        out = np.full(den.shape, np.nan)
        ok = den != 0
        out[ok] = 1.0 - num[ok] / den[ok]
        return out

    point, low, high, n_used = _bootstrap_multi(arrays, stat, n_boot, seed, alpha, strata)
    if point is None:
        return None, None, None, n_used
    return point, low, high, n_used
