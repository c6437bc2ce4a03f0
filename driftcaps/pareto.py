"""Comparing fine-tuning methods at equal task quality (``docs/metrics.md#method-comparison``).

A *point* is one method at one strength (AGL at λ_T 0.5, LoRA + L2 at weight 2, ...) trained
with several seeds. For each seed we have, on the same prompts and questions:

- ``drift``: per unsafe prompt, ``refused_by_base − refused_by_tuned`` in {−1, 0, 1}; its mean is
  the alignment drift AD (↓ better);
- ``correct``: per held-out task question, 1 if the tuned model's answer is right; its mean is
  the task accuracy (↑ better).

Uncertainty covers both the prompts and the seeds (a two-level bootstrap, Davison & Hinkley 1997,
*Bootstrap Methods and their Application*, section 3.8, "multi-stage sampling"): each replicate
draws prompts and questions with replacement, the *same* draw for every point (the points are
paired on them), and, independently per point, its seeds with replacement; a point's statistic
is then the mean over its drawn seeds of the mean over the drawn prompts. Drift mitigation
``DM = 1 − AD_point / AD_ref`` against a reference point (plain LoRA) is computed inside each
replicate; replicates with ``AD_ref = 0`` are dropped, and so is the accuracy gap to the
reference (paired on the drawn questions). Intervals are percentile intervals.

"At equal task quality" is a point whose mean accuracy lies within ``tolerance`` (default 0.01,
one accuracy point) of the reference's; :func:`matched_points` names them per method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from driftcaps.stats import N_BOOT, check_bootstrap_args


@dataclass(frozen=True)
class PointRuns:
    """The runs of one point: ``drift`` (seeds, prompts) in {−1, 0, 1} and ``correct``
    (seeds, questions) in {0, 1}, both float; row ``s`` of each is seed ``seeds[s]``."""

    method: str
    strength: str
    seeds: tuple[int, ...]
    drift: np.ndarray
    correct: np.ndarray


@dataclass(frozen=True)
class PointSummary:
    """A point's estimates with 95% intervals (two-level bootstrap): ``ad`` (↓), ``accuracy``
    (↑), ``dm`` (↑, None for the reference or when undefined), ``accuracy_gap`` (accuracy minus
    the reference's, in accuracy units, paired on the questions; None for the reference), each
    as (value, low, high); ``per_seed_ad`` and ``per_seed_accuracy`` in seed order."""

    method: str
    strength: str
    seeds: tuple[int, ...]
    ad: tuple[float, float, float]
    accuracy: tuple[float, float, float]
    dm: tuple[float | None, float | None, float | None]
    per_seed_ad: tuple[float, ...]
    per_seed_accuracy: tuple[float, ...]
    accuracy_gap: tuple[float | None, float | None, float | None] = (None, None, None)


def _check(points: Mapping[str, PointRuns]) -> tuple[int, int]:
    shapes = {(p.drift.shape[1], p.correct.shape[1]) for p in points.values()}
    if len(shapes) != 1:
        raise ValueError(f"points differ in prompts or questions: {sorted(shapes)}")
    for key, p in points.items():
        if p.drift.shape[0] != len(p.seeds) or p.correct.shape[0] != len(p.seeds) or not p.seeds:
            raise ValueError(f"{key}: {len(p.seeds)} seeds, drift {p.drift.shape}, correct {p.correct.shape}")
    return shapes.pop()


def _replicates(points: Mapping[str, PointRuns], n_boot: int, seed: int) -> tuple[dict, dict]:
    """Per point, ``n_boot`` bootstrap replicates of AD and of accuracy (module docstring): the
    same prompt and question draws for every point, seeds drawn per point. Deterministic in
    ``seed`` and in the order of ``points``."""
    n_prompts, n_questions = _check(points)
    rng = np.random.default_rng(seed)
    ad_reps = {k: np.empty(n_boot) for k in points}
    acc_reps = {k: np.empty(n_boot) for k in points}
    for b in range(n_boot):
        pi = rng.integers(0, n_prompts, n_prompts)
        qi = rng.integers(0, n_questions, n_questions)
        for k, p in points.items():
            si = rng.integers(0, len(p.seeds), len(p.seeds))
            ad_reps[k][b] = p.drift[np.ix_(si, pi)].mean()
            acc_reps[k][b] = p.correct[np.ix_(si, qi)].mean()
    return ad_reps, acc_reps


def seed_prompt_interval(values: np.ndarray, n_boot: int = N_BOOT, seed: int = 0,
                         alpha: float = 0.05) -> tuple[float, float, float]:
    """Mean of ``values`` (seeds, prompts), float, with a 95% percentile interval from the same
    two-level bootstrap (prompts drawn with replacement, then seeds): for a rate with no
    reference, such as a point's over-refusal rate on safe prompts or its shift from the base
    model's (per prompt ``refused_tuned − refused_base`` in {−1, 0, 1}).

    Raises:
        ValueError: ``values`` not 2-D or empty, n_boot < 1, alpha outside (0, 1).
    """
    check_bootstrap_args(n_boot, alpha)
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or 0 in values.shape:
        raise ValueError(f"values must be (seeds, prompts) with both > 0, got shape {values.shape}")
    rng = np.random.default_rng(seed)
    n_seeds, n_prompts = values.shape
    reps = np.empty(n_boot)
    for b in range(n_boot):
        pi = rng.integers(0, n_prompts, n_prompts)
        si = rng.integers(0, n_seeds, n_seeds)
        reps[b] = values[np.ix_(si, pi)].mean()
    return _interval(float(values.mean()), reps, alpha)


def _interval(value: float, reps: np.ndarray, alpha: float) -> tuple[float, float, float]:
    return float(value), float(np.percentile(reps, 100 * alpha / 2)), float(np.percentile(reps, 100 * (1 - alpha / 2)))


def summarise(points: Mapping[str, PointRuns], reference: str, n_boot: int = N_BOOT, seed: int = 0,
              alpha: float = 0.05) -> dict[str, PointSummary]:
    """Estimates and intervals of every point (see the module docstring), DM against ``reference``.

    Args:
        points: point key -> its runs; all on the same prompts and questions (same order).
        reference: the key of plain LoRA.

    Raises:
        ValueError: unknown reference, shapes that disagree, n_boot < 1, alpha outside (0, 1).
    """
    check_bootstrap_args(n_boot, alpha)
    if reference not in points:
        raise ValueError(f"reference {reference!r} is not a point")
    ad_reps, acc_reps = _replicates(points, n_boot, seed)
    ref_ad = float(points[reference].drift.mean())
    ref_acc = float(points[reference].correct.mean())
    out = {}
    for k, p in points.items():
        ad = float(p.drift.mean())
        dm: tuple[float | None, float | None, float | None] = (None, None, None)
        if k != reference and ref_ad != 0:
            keep = ad_reps[reference] != 0
            reps = 1.0 - ad_reps[k][keep] / ad_reps[reference][keep]
            dm = _interval(1.0 - ad / ref_ad, reps, alpha) if reps.size else (1.0 - ad / ref_ad, None, None)
        acc = float(p.correct.mean())
        gap = (None, None, None) if k == reference else _interval(acc - ref_acc, acc_reps[k] - acc_reps[reference],
                                                                  alpha)
        out[k] = PointSummary(p.method, p.strength, p.seeds, _interval(ad, ad_reps[k], alpha),
                              _interval(acc, acc_reps[k], alpha), dm,
                              tuple(float(x) for x in p.drift.mean(axis=1)),
                              tuple(float(x) for x in p.correct.mean(axis=1)), gap)
    return out


@dataclass(frozen=True)
class HeadToHead:
    """Point ``a`` against point ``b``, each as (value, low, high) with a 95% interval from the
    two-level bootstrap: ``dm_difference`` = DM_a − DM_b = (AD_b − AD_a) / AD_ref (↑: ``a``
    keeps more alignment) and ``accuracy_difference`` = accuracy_a − accuracy_b (accuracy units,
    ↑: ``a`` is better at the task). Both are paired on the prompts and questions."""

    a: str
    b: str
    dm_difference: tuple[float, float | None, float | None]
    accuracy_difference: tuple[float, float, float]


def head_to_head(points: Mapping[str, PointRuns], a: str, b: str, reference: str, n_boot: int = N_BOOT,
                 seed: int = 0, alpha: float = 0.05) -> HeadToHead:
    """Is point ``a`` better than point ``b``? DM_a − DM_b and the accuracy difference with
    intervals in which both points, and the reference, share every replicate's prompt and
    question draw (seeds drawn per point), so the shared prompt-level noise cancels; separate
    intervals on DM_a and DM_b overlap much more than this one is wide. ``a`` keeps strictly
    more alignment than ``b`` at the 5% level when the DM-difference interval excludes 0.

    Raises:
        ValueError: a key that is not a point, shapes that disagree, plain LoRA's AD of 0
            (DM undefined), n_boot < 1, alpha outside (0, 1).
    """
    check_bootstrap_args(n_boot, alpha)
    for key in (a, b, reference):
        if key not in points:
            raise ValueError(f"{key!r} is not a point")
    ref_ad = float(points[reference].drift.mean())
    if ref_ad == 0:
        raise ValueError(f"the reference {reference!r} has AD 0: DM is undefined")
    ad_reps, acc_reps = _replicates(points, n_boot, seed)
    keep = ad_reps[reference] != 0
    reps = (ad_reps[b][keep] - ad_reps[a][keep]) / ad_reps[reference][keep]
    value = (float(points[b].drift.mean()) - float(points[a].drift.mean())) / ref_ad
    dm = _interval(value, reps, alpha) if reps.size else (value, None, None)
    acc = _interval(float(points[a].correct.mean() - points[b].correct.mean()), acc_reps[a] - acc_reps[b], alpha)
    return HeadToHead(a, b, dm, acc)


def pareto_front(summaries: Mapping[str, PointSummary]) -> list[str]:
    """Keys of the points no other point beats on both axes (accuracy ≥ and AD ≤, one strictly),
    sorted by accuracy; point estimates only."""
    front = []
    for k, s in summaries.items():
        dominated = any(o.accuracy[0] >= s.accuracy[0] and o.ad[0] <= s.ad[0]
                        and (o.accuracy[0] > s.accuracy[0] or o.ad[0] < s.ad[0])
                        for j, o in summaries.items() if j != k)
        if not dominated:
            front.append(k)
    return sorted(front, key=lambda k: summaries[k].accuracy[0])


def matched_points(summaries: Mapping[str, PointSummary], reference: str,
                   tolerance: float = 0.01) -> dict[str, list[str]]:
    """Per method, the keys of its points whose accuracy is within ``tolerance`` of the
    reference's (equal task quality), lowest AD first; methods with none map to ``[]``."""
    relation = accuracy_relation(summaries, reference, tolerance)
    out: dict[str, list[str]] = {}
    for k, s in summaries.items():
        hits = out.setdefault(s.method, [])
        if relation[k] == "within":
            hits.append(k)
    for hits in out.values():
        hits.sort(key=lambda k: summaries[k].ad[0])
    return out


def accuracy_relation(summaries: Mapping[str, PointSummary], reference: str, tolerance: float = 0.01) -> dict[str, str]:
    """Per point, its mean accuracy against the reference's: ``within`` (``tolerance`` or less
    apart: equal task quality), ``higher`` or ``lower``."""
    ref = summaries[reference].accuracy[0]
    out = {}
    for k, s in summaries.items():
        gap = s.accuracy[0] - ref
        out[k] = "within" if abs(gap) <= tolerance + 1e-12 else ("higher" if gap > 0 else "lower")
    return out
