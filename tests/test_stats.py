"""Tests of driftcaps.stats: bootstrap CIs, paired bootstrap, exact McNemar, DM ratio CI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from driftcaps.stats import (
    bootstrap_ci,
    drift_mitigation_ci,
    mcnemar_exact,
    paired_bootstrap_ci,
)

# --- McNemar -------------------------------------------------------------------------------


def test_mcnemar_hand_value():
    # 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * 79 / 4096
    assert mcnemar_exact(10, 2) == pytest.approx(2 * 79 / 4096, rel=1e-12)
    assert mcnemar_exact(10, 2) == pytest.approx(0.0385742, abs=1e-6)


def test_mcnemar_edges_and_symmetry():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0  # 2 * P(X <= 5; 10) > 1, capped
    assert mcnemar_exact(5, 0) == pytest.approx(2 * 0.5**5)
    for b, c in [(10, 2), (7, 3), (0, 9), (31, 4)]:
        assert mcnemar_exact(b, c) == mcnemar_exact(c, b)


def test_mcnemar_large_matches_scipy_binomtest():
    b, c = 180, 140
    expected = binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)
    assert 0.0 < mcnemar_exact(b, c) < 0.05


def test_mcnemar_rejects_bad_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)
    with pytest.raises(ValueError):
        mcnemar_exact(1.5, 2)


# --- bootstrap ------------------------------------------------------------------------------


def test_bootstrap_deterministic_and_contains_point():
    rng = np.random.default_rng(1)
    x = (rng.random(200) < 0.4).astype(float)
    a = bootstrap_ci(x, n_boot=500, seed=7)
    b = bootstrap_ci(x, n_boot=500, seed=7)
    assert a == b
    point, low, high = a
    assert point == pytest.approx(x.mean())
    assert low <= point <= high
    assert all(isinstance(v, float) for v in a)
    assert bootstrap_ci(x, n_boot=500, seed=8) != a


def test_bootstrap_width_matches_normal_approximation():
    rng = np.random.default_rng(123)
    x = (rng.random(1000) < 0.3).astype(float)
    point, low, high = bootstrap_ci(x, n_boot=2000, seed=0)
    expected = 2 * 1.96 * math.sqrt(point * (1 - point) / 1000)
    assert high - low == pytest.approx(expected, rel=0.15)
    assert 2 * 1.96 * math.sqrt(0.3 * 0.7 / 1000) == pytest.approx(high - low, rel=0.15)


def test_bootstrap_empty_and_constant():
    assert bootstrap_ci([]) == (None, None, None)
    assert bootstrap_ci(np.ones(50), n_boot=200) == (1.0, 1.0, 1.0)
    assert bootstrap_ci(np.zeros(50), n_boot=200) == (0.0, 0.0, 0.0)


def test_stratified_resampling_preserves_stratum_counts():
    strata = np.array(["a"] * 7 + ["b"] * 13)
    # values mark stratum "a"; counting them in each replicate must always give 7
    values = (strata == "a").astype(float)
    counts: list[np.ndarray] = []

    def count_a(xb: np.ndarray) -> np.ndarray:
        counts.append(xb.sum(axis=1))
        return xb.sum(axis=1)

    point, low, high = bootstrap_ci(values, n_boot=300, seed=3, strata=strata, stat=count_a)
    assert (point, low, high) == (7.0, 7.0, 7.0)
    assert np.all(np.concatenate(counts) == 7)
    # without strata the count varies
    _, low2, high2 = bootstrap_ci(values, n_boot=300, seed=3, stat=count_a)
    assert low2 < 7 < high2


def test_bootstrap_numpy_reducer_and_bad_stat():
    x = np.arange(11, dtype=float)
    point, low, high = bootstrap_ci(x, n_boot=300, stat=np.median)
    assert point == 5.0 and low <= 5.0 <= high
    with pytest.raises(ValueError):
        bootstrap_ci(x, n_boot=10, stat=lambda a: a.sum())  # scalar, not (rows,)
    with pytest.raises(ValueError):
        bootstrap_ci(x, n_boot=0)
    with pytest.raises(ValueError):
        bootstrap_ci(x, alpha=1.5)
    with pytest.raises(ValueError):
        bootstrap_ci(x, strata=["a"] * 3)


def test_bootstrap_batches_are_consistent_for_large_n():
    # n * n_boot exceeds one batch; result must still be deterministic and sensible
    rng = np.random.default_rng(5)
    x = (rng.random(5000) < 0.2).astype(float)
    a = bootstrap_ci(x, n_boot=1000, seed=2)
    assert a == bootstrap_ci(x, n_boot=1000, seed=2)
    assert a[1] < a[0] < a[2]
    assert a[0] == pytest.approx(x.mean())


# --- paired bootstrap -----------------------------------------------------------------------


def test_paired_identical_gives_exact_zero():
    rng = np.random.default_rng(0)
    x = (rng.random(100) < 0.5).astype(float)
    assert paired_bootstrap_ci(x, x.copy(), n_boot=500, seed=1) == (0.0, 0.0, 0.0)


def test_paired_constant_difference():
    # every pair differs by exactly one refusal: x = 1, y = 0 on 4 of 10 prompts, else equal
    x = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=float)
    y = np.array([0, 0, 0, 0, 1, 1, 0, 0, 0, 0], dtype=float)
    point, low, high = paired_bootstrap_ci(x, y, n_boot=1000, seed=0)
    assert point == pytest.approx(0.4)
    assert 0.0 <= low < 0.4 < high <= 1.0
    # a shift on every prompt: difference is exactly 1 in every replicate
    assert paired_bootstrap_ci(np.ones(8), np.zeros(8), n_boot=100) == (1.0, 1.0, 1.0)


def test_paired_uses_same_indices_and_custom_stat():
    x = np.arange(20, dtype=float)

    def max_abs_diff(xb, yb):
        return np.abs(xb - yb).max(axis=1)

    # y = x + 3: paired resampling keeps the offset exactly
    assert paired_bootstrap_ci(x, x + 3, stat=max_abs_diff, n_boot=200) == (3.0, 3.0, 3.0)
    with pytest.raises(ValueError):
        paired_bootstrap_ci(x, x[:5])
    assert paired_bootstrap_ci([], []) == (None, None, None)


# --- drift mitigation ratio -----------------------------------------------------------------


def test_drift_mitigation_point_and_dropped_replicates():
    base = np.array([1] * 8 + [0] * 2, dtype=float)
    lora = np.array([0] * 4 + [1] * 4 + [0] * 2, dtype=float)  # AD_lora = 0.4
    method = np.array([0] * 2 + [1] * 6 + [0] * 2, dtype=float)  # AD_method = 0.2
    point, low, high, n_used = drift_mitigation_ci(base, lora, method, n_boot=1000, seed=0)
    assert point == pytest.approx(0.5)
    assert low <= 0.5 <= high
    assert 0 < n_used <= 1000
    # AD_lora == 0: undefined
    assert drift_mitigation_ci(base, base, method, n_boot=50)[:3] == (None, None, None)
    assert drift_mitigation_ci([], [], [], n_boot=50) == (None, None, None, 0)


def test_drift_mitigation_method_without_drift():
    base = np.ones(12)
    lora = np.array([0] * 6 + [1] * 6, dtype=float)
    point, low, high, n_used = drift_mitigation_ci(base, lora, base, n_boot=300, seed=4)
    # method loses nothing: DM = 1 in every replicate with AD_lora != 0
    assert (point, low, high) == (1.0, 1.0, 1.0)
    assert 290 < n_used <= 300  # a replicate without any lora loss has probability 0.5**12


def test_drift_mitigation_drops_replicates_without_lora_drift():
    base = np.ones(4)
    lora = np.array([0, 1, 1, 1], dtype=float)  # AD_lora = 0.25, zero unless prompt 0 drawn
    method = np.ones(4)
    point, low, high, n_used = drift_mitigation_ci(base, lora, method, n_boot=1000, seed=0)
    assert (point, low, high) == (1.0, 1.0, 1.0)
    # P(prompt 0 never drawn) = 0.75**4 = 0.316: about 684 replicates kept
    assert 620 < n_used < 750
