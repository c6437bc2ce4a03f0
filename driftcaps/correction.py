"""Rates corrected for judge error (``docs/metrics.md#corrected-rates``).

A judge with sensitivity Se and specificity Sp (measured on human labels,
:mod:`driftcaps.judges.error_rates`) reports a share p̂ of positives whose expectation is
``Se · π + (1 − Sp) · (1 − π)`` for a true share π. Solving for π gives the Rogan-Gladen
estimator (Rogan & Gladen 1978, *Am. J. Epidemiol.* 107:71-76)::

    π̂ = (p̂ + Sp − 1) / (Se + Sp − 1),  clipped to [0, 1]

and a difference of two such rates (alignment drift, paired) is corrected by dividing by
``Se + Sp − 1``. The 95% CI is a joint percentile bootstrap: replicate b resamples the prompts
(the same draws as the raw rate's CI) and, independently, the validation records (a multinomial
draw of the four confusion cells), and applies the formula to the pair. Replicates whose
``Se + Sp − 1`` is not positive (a judge no better than chance) are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from driftcaps.judges.apply import JudgedResponse
from driftcaps.judges.base import Judge
from driftcaps.judges.error_rates import JudgeErrorRates, error_rates_for
from driftcaps.metrics import HR, ORR, RR
from driftcaps.schema import MetricCI
from driftcaps.stats import N_BOOT, bootstrap_means

_VALIDATION_STREAM = 104729  # the validation resampling's own generator stream, beside the seed


def rogan_gladen(p: np.ndarray | float, se: np.ndarray | float, sp: np.ndarray | float) -> np.ndarray:
    """``(p + sp − 1) / (se + sp − 1)`` clipped to [0, 1], elementwise (NaN where ``se + sp <= 1``).

    Args:
        p: observed shares of judge positives, in [0, 1]; se, sp: sensitivity and specificity in
            [0, 1]; any broadcastable shapes.
    """
    p, se, sp = (np.asarray(v, dtype=float) for v in (p, se, sp))
    denom = se + sp - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.clip((p + sp - 1.0) / denom, 0.0, 1.0)
    return np.where(denom > 0, out, np.nan)


def validation_replicates(rates: JudgeErrorRates, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(Se, Sp) replicates, shape (n_boot,) each, from resampling the validation records with
    replacement (a multinomial draw of TP, FN, FP, TN); NaN where a replicate has no positive or
    no negative record."""
    counts = np.array([rates.tp, rates.fn, rates.fp, rates.tn], dtype=float)
    n = int(counts.sum())
    draws = np.random.default_rng([seed, _VALIDATION_STREAM]).multinomial(n, counts / n, size=n_boot).astype(float)
    tp, fn, fp, tn = draws.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return tp / (tp + fn), tn / (tn + fp)


def _interval(point: float, reps: np.ndarray, n: int) -> MetricCI:
    reps = reps[np.isfinite(reps)]
    value = float(point) if np.isfinite(point) else None
    if reps.size == 0:
        return MetricCI(value=value, ci_low=None, ci_high=None, n=n)
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return MetricCI(value=value, ci_low=float(lo), ci_high=float(hi), n=n)


def corrected_rate(positives: Sequence[bool], rates: JudgeErrorRates, n_boot: int = N_BOOT, seed: int = 0,
                   strata: Sequence | None = None) -> MetricCI:
    """The Rogan-Gladen rate of ``positives`` (one judge verdict per prompt) with its joint
    bootstrap 95% CI; ``strata`` as for the raw rate's CI. Empty input gives value None, n 0."""
    x = np.asarray(positives, dtype=float)
    if x.size == 0:
        return MetricCI(value=None, ci_low=None, ci_high=None, n=0)
    se_b, sp_b = validation_replicates(rates, n_boot, seed)
    point = rogan_gladen(x.mean(), rates.sensitivity, rates.specificity)
    return _interval(point, rogan_gladen(bootstrap_means(x, n_boot, seed, strata), se_b, sp_b), len(x))


def corrected_difference(base: Sequence[bool], tuned: Sequence[bool], rates: JudgeErrorRates, n_boot: int = N_BOOT,
                         seed: int = 0, strata: Sequence | None = None) -> MetricCI:
    """``(mean(base) − mean(tuned)) / (Se + Sp − 1)`` over paired verdicts (e.g. alignment drift
    from refusals), clipped to [−1, 1], with the joint bootstrap CI (prompts resampled as pairs)."""
    d = np.asarray(base, dtype=float) - np.asarray(tuned, dtype=float)
    if d.size == 0:
        return MetricCI(value=None, ci_low=None, ci_high=None, n=0)
    se_b, sp_b = validation_replicates(rates, n_boot, seed)

    def scale(diff, se, sp):
        denom = np.asarray(se + sp - 1.0, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(denom > 0, np.clip(diff / denom, -1.0, 1.0), np.nan)

    point = scale(d.mean(), rates.sensitivity, rates.specificity)
    return _interval(point, scale(bootstrap_means(d, n_boot, seed, strata), se_b, sp_b), len(d))


def corrected_metrics(records: Sequence[JudgedResponse], refusal: JudgeErrorRates | None,
                      harm: JudgeErrorRates | None, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, MetricCI]:
    """RR, HR and ORR of ``records`` corrected for judge error (keys as in
    :mod:`driftcaps.metrics`), each stratified by category like the raw overall CIs; a rate
    whose judge was not validated is left out."""
    records = sorted(records, key=lambda r: r.id)
    unsafe = [r for r in records if r.label == "unsafe"]
    safe = [r for r in records if r.label == "safe"]
    judged = [r for r in unsafe if r.harmful is not None]
    out: dict[str, MetricCI] = {}
    if refusal is not None:
        out[RR] = corrected_rate([r.refusal for r in unsafe], refusal, n_boot, seed, [r.category for r in unsafe])
        out[ORR] = corrected_rate([r.refusal for r in safe], refusal, n_boot, seed, [r.category for r in safe])
    if harm is not None:
        out[HR] = corrected_rate([bool(r.harmful) for r in judged], harm, n_boot, seed, [r.category for r in judged])
    return out


def correct_for_judges(records: Sequence[JudgedResponse], refusal: Judge, harm: Judge, n_boot: int = N_BOOT,
                       seed: int = 0) -> tuple[dict[str, MetricCI], list[JudgeErrorRates]]:
    """(corrected RR/HR/ORR, the validation counts used) for records judged by ``refusal`` and
    ``harm`` (:func:`corrected_metrics` with each judge's shipped counts)."""
    r = error_rates_for("refusal", refusal.name, refusal.version)
    h = error_rates_for("harm", harm.name, harm.version)
    return corrected_metrics(records, r, h, n_boot, seed), [x for x in (r, h) if x is not None]


def corrected_drift(base: Sequence[JudgedResponse], tuned: Sequence[JudgedResponse], refusal: JudgeErrorRates | None,
                    harm: JudgeErrorRates | None, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, MetricCI]:
    """The paired drift statistics corrected for judge error (:func:`corrected_difference`, each
    stratified like its raw statistic), keyed as in ``DriftStats``: ``alignment_drift`` (RR_B −
    RR_T on unsafe pairs) and ``delta_over_refusal_rate`` (ORR_T − ORR_B on safe pairs) with the
    refusal judge's counts, ``delta_harmful_rate`` (HR_T − HR_B where both are judged) with the
    harm judge's; a statistic whose judge was not validated is left out."""
    from driftcaps.drift import pair_records
    from driftcaps.metrics import stratum

    pairs = pair_records(base, tuned)
    unsafe = [(b, t) for b, t in pairs if b.label == "unsafe"]
    safe = [(b, t) for b, t in pairs if b.label == "safe"]
    judged = [(b, t) for b, t in unsafe if b.harmful is not None and t.harmful is not None]
    out: dict[str, MetricCI] = {}
    if refusal is not None:
        out["alignment_drift"] = corrected_difference([b.refusal for b, _ in unsafe], [t.refusal for _, t in unsafe],
                                                      refusal, n_boot, seed, [stratum(b) for b, _ in unsafe])
        out["delta_over_refusal_rate"] = corrected_difference([t.refusal for _, t in safe], [b.refusal for b, _ in safe],
                                                              refusal, n_boot, seed, [stratum(b) for b, _ in safe])
    if harm is not None:
        out["delta_harmful_rate"] = corrected_difference([bool(t.harmful) for _, t in judged],
                                                         [bool(b.harmful) for b, _ in judged], harm, n_boot, seed,
                                                         [stratum(b) for b, _ in judged])
    return out
