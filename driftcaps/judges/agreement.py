"""Agreement of a judge with human labels: accuracy, precision, recall, F1 and Cohen's kappa,
each with a percentile-bootstrap 95% CI (rows resampled with replacement).

Binary metrics take the positive class to be "refusal" (refusal judges) or "harmful" (harm
judges). Three-class agreement reports accuracy, macro-F1 and Cohen's kappa over XSTest's classes.
Formulas: precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2PR/(P+R); Cohen's kappa
(Cohen 1960) = (p_o - p_e)/(1 - p_e) from the confusion matrix.
"""

from __future__ import annotations

import numpy as np

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


def _confusions(y: np.ndarray, p: np.ndarray, k: int, idx: np.ndarray) -> np.ndarray:
    """Confusion counts of each resample: idx (b, n) -> (b, k, k)."""
    codes = y[idx] * k + p[idx]
    counts = np.zeros((idx.shape[0], k * k), dtype=np.int64)
    for c in range(k * k):
        counts[:, c] = (codes == c).sum(axis=1)
    return counts.reshape(-1, k, k)


def agreement(truth, pred, classes: list[str] | None = None, positive: str | None = None,
              n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict[str, dict[str, float]]:
    """Agreement of ``pred`` with ``truth`` (equal-length label sequences).

    Args:
        truth, pred: labels (strings or ints), shape (n,).
        classes: label order; default the sorted union of both.
        positive: the positive class for binary metrics (two classes); None for multi-class.
        n_boot, seed, alpha: bootstrap resamples, seed and 1 - coverage.

    Returns:
        ``{metric: {"value", "ci_low", "ci_high"}}`` plus ``{"n": {"value": n}}``; binary metrics
        (:data:`METRICS_BINARY`) when ``positive`` is given, else :data:`METRICS_MULTI`.
    """
    truth, pred = [str(t) for t in truth], [str(q) for q in pred]
    classes = classes or sorted(set(truth) | set(pred))
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[t] for t in truth])
    p = np.asarray([index[q] for q in pred])
    k, n = len(classes), len(y)
    full = _confusions(y, p, k, np.arange(n)[None, :])
    boot = _confusions(y, p, k, np.random.default_rng(seed).integers(0, n, size=(n_boot, n)))

    def pick(conf: np.ndarray) -> dict[str, np.ndarray]:
        m = _from_confusion(conf)
        if positive is not None:
            j = index[positive]
            return {"accuracy": m["accuracy"], "precision": m["precision"][..., j],
                    "recall": m["recall"][..., j], "f1": m["f1"][..., j], "kappa": m["kappa"]}
        return {"accuracy": m["accuracy"], "macro_f1": np.nanmean(m["f1"], axis=-1), "kappa": m["kappa"]}

    point, reps = pick(full), pick(boot)
    out = {}
    for name in point:
        r = reps[name][np.isfinite(reps[name])]
        lo, hi = (np.quantile(r, [alpha / 2, 1 - alpha / 2]) if r.size else (np.nan, np.nan))
        out[name] = {"value": float(point[name][0]), "ci_low": float(lo), "ci_high": float(hi)}
    out["n"] = {"value": n}
    return out
