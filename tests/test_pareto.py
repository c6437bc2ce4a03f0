"""Method comparison statistics (driftcaps.pareto): exact values on tiny inputs, the two-level
bootstrap's properties, Pareto fronts and matched accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from driftcaps.pareto import (
    PointRuns,
    PointSummary,
    accuracy_relation,
    matched_points,
    pareto_front,
    summarise,
)


def _point(method, drift, correct, seeds=None) -> PointRuns:
    drift, correct = np.asarray(drift, float), np.asarray(correct, float)
    return PointRuns(method, "s", tuple(seeds or range(drift.shape[0])), drift, correct)


def test_point_estimates_are_exact_means():
    pts = {"lora": _point("LoRA", [[1, 1, 0, 1], [1, 0, 1, 1]], [[1, 0, 0, 1], [1, 1, 0, 1]]),
           "agl": _point("AGL", [[1, 0, 0, 0], [0, 1, 0, 1]], [[1, 0, 0, 0], [1, 1, 0, 1]])}
    s = summarise(pts, "lora", n_boot=200)
    assert s["lora"].ad[0] == 0.75 and s["agl"].ad[0] == 0.375
    assert s["lora"].accuracy[0] == 0.625 and s["agl"].accuracy[0] == 0.5
    assert s["agl"].dm[0] == pytest.approx(0.5) and s["lora"].dm == (None, None, None)
    assert s["agl"].per_seed_ad == (0.25, 0.5) and s["lora"].per_seed_accuracy == (0.5, 0.75)
    for p in s.values():
        assert p.ad[1] <= p.ad[0] <= p.ad[2] and p.accuracy[1] <= p.accuracy[0] <= p.accuracy[2]
    assert s["agl"].dm[1] <= 0.5 <= s["agl"].dm[2]
    assert s["agl"].accuracy_gap[0] == pytest.approx(-0.125) and s["lora"].accuracy_gap == (None, None, None)
    assert s["agl"].accuracy_gap[1] <= -0.125 <= s["agl"].accuracy_gap[2]


def test_the_accuracy_gap_is_paired_on_questions():
    """One seed each: the same questions are drawn for both points, so a point that answers
    exactly as the reference has a gap of 0 in every replicate, however the questions vary."""
    rng = np.random.default_rng(2)
    correct = rng.integers(0, 2, size=(1, 40)).astype(float)
    drift = np.ones((1, 6))
    shifted = correct.copy()
    shifted[0, :4] = 1 - shifted[0, :4]
    s = summarise({"lora": _point("LoRA", drift, correct), "same": _point("S", drift, correct.copy()),
                   "moved": _point("M", drift, shifted)}, "lora", n_boot=300)
    assert s["same"].accuracy_gap == (0.0, 0.0, 0.0)
    assert s["same"].accuracy[2] - s["same"].accuracy[1] > 0.1  # the accuracy itself is uncertain
    gap = float(shifted.mean() - correct.mean())
    assert s["moved"].accuracy_gap[0] == pytest.approx(gap) and s["moved"].accuracy_gap[2] - s["moved"].accuracy_gap[1] < 0.25


def test_constant_data_give_degenerate_intervals():
    pts = {"lora": _point("LoRA", np.ones((3, 5)), np.ones((3, 4))),
           "replay": _point("replay", np.zeros((3, 5)), np.zeros((3, 4)))}
    s = summarise(pts, "lora", n_boot=50)
    assert s["replay"].dm == (1.0, 1.0, 1.0) and s["lora"].ad == (1.0, 1.0, 1.0)
    assert s["replay"].accuracy == (0.0, 0.0, 0.0)


def test_seed_variance_widens_the_interval():
    rng = np.random.default_rng(1)
    same = rng.integers(0, 2, size=(1, 60)).astype(float)
    steady = np.repeat(same, 3, axis=0)  # three seeds that agree
    noisy = steady.copy()
    noisy[0], noisy[2] = 1.0, 0.0  # three seeds that disagree wildly, same mean prompt-wise on average
    acc = np.ones((3, 10))
    a = summarise({"lora": _point("LoRA", steady, acc)}, "lora", n_boot=400)["lora"].ad
    b = summarise({"lora": _point("LoRA", noisy, acc)}, "lora", n_boot=400)["lora"].ad
    assert (b[2] - b[1]) > 1.5 * (a[2] - a[1])


def test_the_bootstrap_is_deterministic_and_checks_its_input():
    pts = {"lora": _point("LoRA", [[1, 0, 1]], [[1, 0]]), "x": _point("X", [[0, 0, 1]], [[1, 1]])}
    assert summarise(pts, "lora", n_boot=100, seed=3) == summarise(pts, "lora", n_boot=100, seed=3)
    with pytest.raises(ValueError, match="reference"):
        summarise(pts, "nope")
    with pytest.raises(ValueError, match="differ in prompts or questions"):
        summarise({**pts, "y": _point("Y", [[0, 1]], [[1, 1]])}, "lora")
    with pytest.raises(ValueError, match="seeds"):
        summarise({"lora": PointRuns("L", "s", (0, 1), np.ones((1, 3)), np.ones((1, 2)))}, "lora")
    zero = {"lora": _point("LoRA", [[0, 0]], [[1]]), "x": _point("X", [[1, 0]], [[1]])}
    assert summarise(zero, "lora", n_boot=20)["x"].dm == (None, None, None)  # AD_ref = 0: DM undefined


def _s(method, acc, ad) -> PointSummary:
    return PointSummary(method, "s", (0,), (ad, ad, ad), (acc, acc, acc), (None, None, None), (ad,), (acc,))


def test_pareto_front_and_matched_points():
    s = {"lora": _s("LoRA", 0.40, 0.50), "lora-lr": _s("LoRA lr", 0.35, 0.30), "l2": _s("L2", 0.395, 0.45),
         "l2b": _s("L2", 0.41, 0.52), "agl": _s("AGL", 0.38, 0.30), "bad": _s("X", 0.30, 0.60)}
    assert pareto_front(s) == ["agl", "l2", "lora", "l2b"]  # lora-lr is beaten by agl, bad by all
    m = matched_points(s, "lora")
    assert m == {"LoRA": ["lora"], "LoRA lr": [], "L2": ["l2", "l2b"], "AGL": [], "X": []}
    assert matched_points(s, "lora", tolerance=0.02)["AGL"] == ["agl"]
    rel = accuracy_relation(s, "lora")
    assert rel == {"lora": "within", "lora-lr": "lower", "l2": "within", "l2b": "within", "agl": "lower", "bad": "lower"}
    assert accuracy_relation({**s, "up": _s("Y", 0.45, 0.1)}, "lora")["up"] == "higher"
