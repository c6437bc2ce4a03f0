"""Agreement of a judge with human labels: accuracy, precision, recall, F1 and Cohen's kappa,
each with a percentile-bootstrap 95% CI (rows resampled with replacement).

Binary metrics take the positive class to be "refusal" (refusal judges) or "harmful" (harm
judges). Three-class agreement reports accuracy, macro-F1 and Cohen's kappa over XSTest's classes.
Formulas: precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2PR/(P+R); Cohen's kappa
(Cohen 1960) = (p_o - p_e)/(1 - p_e) from the confusion matrix.
"""

from __future__ import annotations

import warnings

import numpy as np

from driftcaps.stats import paired_bootstrap_ci

VALIDATION_N_BOOT = 1000
"""Bootstrap replicates of the agreement CIs (``driftcaps judge validate``)."""

METRICS_BINARY = ("accuracy", "precision", "recall", "f1", "kappa")
METRICS_MULTI = ("accuracy", "macro_f1", "kappa")


def _from_confusion(conf: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics from confusion counts of shape (..., k, k) (rows: truth, columns: prediction)."""
    n = conf.sum(axis=(-1, -2)).astype(float)
    diag = np.diagonal(conf, axis1=-2, axis2=-1).astype(float)
    rows, cols = conf.sum(axis=-1).astype(float), conf.sum(axis=-2).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        po = diag.sum(-1) / n
        pe = (rows * cols).sum(-1) / n**2
        kappa = np.where(pe < 1, (po - pe) / (1 - pe), np.nan)
        prec = diag / cols
        rec = diag / rows
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    return {"accuracy": po, "kappa": kappa, "precision": prec, "recall": rec, "f1": f1}


def _confusions(yb: np.ndarray, pb: np.ndarray, k: int) -> np.ndarray:
    """Confusion counts of each row of resampled labels: (rows, n) int codes -> (rows, k, k)."""
    codes = yb.astype(np.int64) * k + pb.astype(np.int64)
    counts = np.stack([(codes == c).sum(axis=1) for c in range(k * k)], axis=1)
    return counts.reshape(-1, k, k)


def agreement(truth, pred, classes: list[str] | None = None, positive: str | None = None,
              n_boot: int = VALIDATION_N_BOOT, seed: int = 0, alpha: float = 0.05) -> dict[str, dict[str, float]]:
    """Agreement of ``pred`` with ``truth`` (equal-length label sequences).

    Args:
        truth, pred: labels (strings or ints), shape (n,).
        classes: label order; default the sorted union of both.
        positive: the positive class for binary metrics (two classes); None for multi-class.
        n_boot, seed, alpha: bootstrap resamples, seed and 1 - coverage; rows are resampled in
            pairs with :func:`driftcaps.stats.paired_bootstrap_ci` (one index matrix per seed, so
            every metric sees the same resamples).

    Returns:
        ``{metric: {"value", "ci_low", "ci_high"}}`` plus ``{"n": {"value": n}}``; binary metrics
        (:data:`METRICS_BINARY`) when ``positive`` is given, else :data:`METRICS_MULTI`. A value
        that cannot be computed (e.g. precision with no positive prediction) is NaN.
    """
    truth, pred = [str(t) for t in truth], [str(q) for q in pred]
    classes = classes or sorted(set(truth) | set(pred))
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[t] for t in truth], dtype=float)
    p = np.asarray([index[q] for q in pred], dtype=float)
    k = len(classes)

    def pick(conf: np.ndarray) -> dict[str, np.ndarray]:
        m = _from_confusion(conf)
        if positive is not None:
            j = index[positive]
            return {"accuracy": m["accuracy"], "precision": m["precision"][..., j],
                    "recall": m["recall"][..., j], "f1": m["f1"][..., j], "kappa": m["kappa"]}
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a class absent from a resample
            macro = np.nanmean(m["f1"], axis=-1)
        return {"accuracy": m["accuracy"], "macro_f1": macro, "kappa": m["kappa"]}

    out = {}
    for name in (METRICS_BINARY if positive is not None else METRICS_MULTI):
        def stat(yb: np.ndarray, pb: np.ndarray, name: str = name) -> np.ndarray:
            return pick(_confusions(yb, pb, k))[name]

        value, low, high = paired_bootstrap_ci(y, p, stat=stat, n_boot=n_boot, seed=seed, alpha=alpha)
        out[name] = {key: float("nan") if v is None else v
                     for key, v in (("value", value), ("ci_low", low), ("ci_high", high))}
    out["n"] = {"value": len(y)}
    return out
