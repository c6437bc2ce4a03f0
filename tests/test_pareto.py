"""Method comparison statistics (driftcaps.pareto): exact values on tiny inputs, the two-level
bootstrap's properties, Pareto fronts and matched accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from driftcaps.pareto import (
    PointRuns,
    PointSummary,
    accuracy_relation,
    head_to_head,
    matched_points,
    pareto_front,
    seed_prompt_interval,
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


def test_head_to_head_exact_values_and_pairing():
    """DM_a − DM_b = (AD_b − AD_a) / AD_ref exactly; two points that drift identically on every
    prompt differ by 0 in every replicate, although each DM alone is uncertain."""
    rng = np.random.default_rng(5)
    ref = rng.choice([-1.0, 0.0, 1.0], p=[0.1, 0.3, 0.6], size=(1, 60))
    a = rng.choice([-1.0, 0.0, 1.0], p=[0.2, 0.5, 0.3], size=(1, 60))
    acc = rng.integers(0, 2, size=(1, 30)).astype(float)
    pts = {"lora": _point("LoRA", ref, acc), "a": _point("A", a, acc), "twin": _point("T", a.copy(), acc.copy())}
    h = head_to_head(pts, "a", "twin", "lora", n_boot=300)
    assert h.dm_difference == (0.0, 0.0, 0.0) and h.accuracy_difference == (0.0, 0.0, 0.0)
    s = summarise(pts, "lora", n_boot=300)
    assert s["a"].dm[2] - s["a"].dm[1] > 0.2
    h = head_to_head(pts, "lora", "a", "lora", n_boot=300)
    assert h.dm_difference[0] == pytest.approx((a.mean() - ref.mean()) / ref.mean())
    assert h.dm_difference[1] <= h.dm_difference[0] <= h.dm_difference[2]
    assert (h.a, h.b) == ("lora", "a")


def test_head_to_head_matches_summarise_replicates_and_checks_input():
    """Same seed, same replicates: the difference of two DMs computed by summarise equals the
    head-to-head value, and a clear winner gets an interval above 0."""
    pts = {"lora": _point("LoRA", [[1, 1, 1, 0, 1, 1], [1, 0, 1, 1, 1, 1]], [[1, 0], [0, 1]]),
           "good": _point("G", [[0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0]], [[1, 0], [1, 1]]),
           "bad": _point("B", [[1, 1, 1, 0, 1, 0], [1, 0, 1, 1, 1, 1]], [[0, 0], [0, 1]])}
    h = head_to_head(pts, "good", "bad", "lora", n_boot=400, seed=1)
    s = summarise(pts, "lora", n_boot=400, seed=1)
    assert h.dm_difference[0] == pytest.approx(s["good"].dm[0] - s["bad"].dm[0])
    assert h.dm_difference[1] > 0
    assert h.accuracy_difference[0] == pytest.approx(0.75 - 0.25)
    with pytest.raises(ValueError, match="'nope' is not a point"):
        head_to_head(pts, "good", "nope", "lora")
    flat = {**pts, "lora": _point("LoRA", np.zeros((2, 6)), [[1, 0], [0, 1]])}
    with pytest.raises(ValueError, match="AD 0"):
        head_to_head(flat, "good", "bad", "lora")


def test_seed_prompt_interval():
    v = np.array([[1, 0, 0, 1], [1, 1, 0, 1]], float)
    mean, lo, hi = seed_prompt_interval(v, n_boot=300)
    assert mean == 0.625 and 0 <= lo <= mean <= hi <= 1 and hi - lo > 0.2
    assert seed_prompt_interval(np.ones((3, 7)), n_boot=20) == (1.0, 1.0, 1.0)
    assert seed_prompt_interval(v, n_boot=50, seed=4) == seed_prompt_interval(v, n_boot=50, seed=4)
    with pytest.raises(ValueError, match="shape"):
        seed_prompt_interval(np.ones(4))
