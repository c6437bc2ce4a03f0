"""Forgetting scaling laws: the forms, the safe formula parser, the fitter, forecasts and held-out error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftcaps.errors import DriftCapsError
from driftcaps.scaling import (
    LAWS,
    compare_param,
    evaluate_holdout,
    fit_law,
    formula_law,
    get_law,
    holdout_mask,
    predict,
)

TRUE = {"A": 0.02, "alpha": 0.3, "beta": 0.5, "E": 0.05}


def synthetic(law_name: str = "kalajdzievski", params=TRUE, noise: float = 0.0, seed: int = 1,
              runs: int = 4) -> pd.DataFrame:
    """``runs`` runs (P) x five checkpoints (S) from a known law, multiplicative log-normal noise."""
    law, rng = get_law(law_name), np.random.default_rng(seed)
    rows = []
    for r, p in enumerate([1e5, 1e6, 4e6, 1.6e7, 6.4e7, 2.5e8, 1e9, 4e9][:runs]):
        for s in [5, 10, 20, 40, 80]:
            f = law({"P": np.array([p]), "S": np.array([float(s)])}, params)[0] * np.exp(rng.normal(0, noise))
            rows.append({"run": f"r{r}", "P": p, "S": float(s), "rank": 4 * (r + 1), "forgetting": f})
    return pd.DataFrame(rows)


def test_builtin_forms_on_exact_inputs():
    one = {k: np.array([v]) for k, v in {"P": 100.0, "S": 10.0, "D": 1000.0, "N": 10.0, "X": 4.0, "x": 9.0}.items()}
    assert get_law("kalajdzievski")(one, {"A": 2.0, "alpha": 0.5, "beta": 1.0, "E": 1.0})[0] == pytest.approx(2 * 10 * 10 + 1)
    assert get_law("bethune")(one, {"A": 1.0, "alpha": 1.0, "beta": 1.0, "E": 0.5})[0] == pytest.approx(1000 / 10 + 0.5)
    assert get_law("zhang")(one, {"A": 8.0, "alpha": 0.5, "beta": 1.0, "E": 0.0})[0] == pytest.approx(8 / 2 / 1000)
    assert get_law("power")(one, [3.0, 0.5, 1.0])[0] == pytest.approx(3 * 3 + 1)
    assert get_law("hill")(one, {"E": 0.2, "h": 9.0, "k": 3.0})[0] == pytest.approx(0.2 + 0.8 / 2)  # half-way at x = h
    assert {"kalajdzievski", "bethune", "zhang", "power"} <= set(LAWS)
    with pytest.raises(DriftCapsError, match="unknown law 'chinchilla'; choose one of bethune"):
        get_law("chinchilla")


def test_formula_law_evaluates_arithmetic_only():
    law = formula_law("mine", "A * exp(-S / tau) + E", ["S"])
    assert law.params == ("A", "tau", "E")
    assert law({"S": np.array([0.0, 2.0])}, {"A": 2.0, "tau": 2.0, "E": 1.0}) == pytest.approx([3.0, 2 * np.exp(-1) + 1])
    for bad in ["__import__('os').system('true')", "A.real * S", "A[0] * S", "open(S)", "lambda: S", "A if S else E"]:
        with pytest.raises(DriftCapsError, match="is not allowed|not an arithmetic expression"):
            formula_law("bad", bad, ["S"])
    with pytest.raises(DriftCapsError, match="not an arithmetic expression"):
        formula_law("bad", "A * (S", ["S"])
    with pytest.raises(DriftCapsError, match="does not use the variable"):
        formula_law("bad", "A * S", ["S", "P"])
    with pytest.raises(DriftCapsError, match="no parameter to fit"):
        formula_law("bad", "S * 2", ["S"])


def test_fit_recovers_noise_free_parameters_and_is_deterministic():
    data = synthetic()
    fit = fit_law(get_law("kalajdzievski"), data, n_boot=50, seed=0)
    assert fit.converged and fit.n_points == 20 and fit.n_runs == 4
    for k, v in TRUE.items():
        assert fit.params[k] == pytest.approx(v, rel=1e-4)
    assert fit.r2_log == pytest.approx(1.0, abs=1e-9) and fit.rss_log < 1e-12
    again = fit_law(get_law("kalajdzievski"), data, n_boot=50, seed=0)
    assert again.model_dump() == fit.model_dump()


def test_bootstrap_intervals_cover_the_truth_on_noisy_runs():
    fit = fit_law(get_law("kalajdzievski"), synthetic(noise=0.05), n_boot=200, seed=0)
    assert fit.converged and fit.n_boot_failed == 0 and len(fit.draws) == 200
    for k in ("alpha", "beta"):
        lo, hi = fit.param_ci[k]
        assert lo <= TRUE[k] <= hi and hi - lo < 0.2
    assert 0.98 < fit.r2_log < 1.0
    # AIC prefers the two-variable law to a power law in steps alone on the same points
    power = fit_law(get_law("power"), synthetic(noise=0.05), x={"x": "S"}, n_boot=0)
    assert fit.aic < power.aic and fit.bic < power.bic


def test_prediction_interval_and_held_out_error():
    law, data = get_law("kalajdzievski"), synthetic(noise=0.05)
    fit = fit_law(law, data, n_boot=200, seed=0)
    point, low, high = predict(law, fit, {"P": np.array([4e6, 4e6]), "S": np.array([80.0, 160.0])})
    truth = law({"P": np.array([4e6, 4e6]), "S": np.array([80.0, 160.0])}, TRUE)
    assert point.shape == (2,) and np.all(low < point) and np.all(point < high)
    assert np.all((low <= truth) & (truth <= high))
    assert holdout_mask(data, "top:S").sum() == 4 and holdout_mask(data, "top:S:2").sum() == 8
    assert holdout_mask(data, "rank=16").tolist() == [r == "r3" for r in data["run"]]
    assert holdout_mask(data, "S=80").tolist() == holdout_mask(data, "S=80.0").tolist() == (data["S"] == 80).tolist()
    held = evaluate_holdout(law, data, "top:S", n_boot=200)
    assert held.n_heldout == 4 and held.n_fit == 16 and held.mape < 0.1 and held.coverage >= 0.75


def test_compare_param_ratio_of_amplitudes():
    law = get_law("kalajdzievski")
    lora = fit_law(law, synthetic(noise=0.05), n_boot=200)
    agl = fit_law(law, synthetic(params={**TRUE, "A": 0.01}, noise=0.05, seed=2), n_boot=200)
    ratio, lo, hi = compare_param(agl, lora, "A")
    assert ratio == pytest.approx(agl.params["A"] / lora.params["A"]) and lo < ratio < hi
    assert 0.3 < ratio < 0.8
    with pytest.raises(DriftCapsError, match="has no parameter 'gamma'"):
        compare_param(agl, lora, "gamma")


@pytest.mark.parametrize("change,message", [
    (lambda d: d.assign(forgetting=d["forgetting"] * -1), "is not a finite number > 0"),
    (lambda d: d.assign(S=d["S"].where(d.index != 3, 0.0)), "variable 'S': value 0.0 at point 3"),
    (lambda d: d.drop(columns=["P"]), "no column(s) P"),
    (lambda d: d.iloc[[0, 1, 5, 6]], "4 points for the 4 parameters"),
    (lambda d: d.assign(S="x"), "column 'S': 'x' (run 'r0') is not a number"),
    (lambda d: d.assign(P=1e6), "variable 'P' (column 'P') takes one value only"),
    (lambda d: d.assign(run=None), "point(s) without a run name"),
    (lambda d: d.assign(run="one"), "one run (one): the bootstrap resamples runs"),
])
def test_bad_points_give_one_clear_error(change, message):
    with pytest.raises(DriftCapsError) as e:
        fit_law(get_law("kalajdzievski"), change(synthetic()), n_boot=20)
    assert message in str(e.value)


def test_too_few_resamples_and_impossible_forms():
    with pytest.raises(DriftCapsError, match="n_boot=5: percentile intervals need at least 20"):
        fit_law(get_law("kalajdzievski"), synthetic(), n_boot=5)
    negative = formula_law("neg", "-A * S + E", ["S"], bounds={"A": (0, 10), "E": (-1, 0)})
    fit = fit_law(negative, synthetic(), x={"S": "S"}, n_boot=0)
    assert not fit.converged and fit.params is None and "non-positive or non-finite" in fit.message
    with pytest.raises(DriftCapsError, match="exp is a function; call it"):
        formula_law("f", "exp * S + E", ["S"])


def test_prediction_without_bootstrap_uses_the_scatter():
    law = get_law("kalajdzievski")
    fit = fit_law(law, synthetic(noise=0.05), n_boot=0)
    point, low, high = predict(law, fit, {"P": 4e6, "S": 80.0})
    assert low[0] < point[0] < high[0]
    assert high[0] / point[0] == pytest.approx(np.exp(1.959964 * fit.sigma_log), rel=1e-4)


def test_bad_holdout_rules():
    data = synthetic()
    for rule, message in [("largest", "use top:COLUMN[:K] or COLUMN=VALUE"), ("top:nope", "use top:COLUMN"),
                          ("rank=3", "holds out no point"), ("top:run", "column 'run' is not numeric")]:
        with pytest.raises(DriftCapsError) as e:
            holdout_mask(data, rule)
        assert message in str(e.value)


@pytest.mark.slow
def test_recovery_coverage_over_replicates():
    """Issue 10's target: the true exponents fall inside the 95% CI in at least 90% of 100 noisy
    replicates of 8 runs (with 4 runs the percentile bootstrap over runs covers less:
    benchmarks/scaling.py measures it)."""
    law, hits = get_law("kalajdzievski"), {"alpha": 0, "beta": 0}
    for rep in range(100):
        fit = fit_law(law, synthetic(noise=0.05, seed=100 + rep, runs=8), n_boot=300, seed=rep)
        for k in hits:
            lo, hi = fit.param_ci[k]
            hits[k] += lo <= TRUE[k] <= hi
    assert min(hits.values()) >= 90, hits


def test_hill_recovers_a_bounded_rate_and_stays_below_one():
    law, truth = get_law("hill"), {"E": 0.12, "h": 7.0, "k": 3.0}
    rows = [{"run": f"r{r}", "x": float(s), "rate": law({"x": [float(s)]}, truth)[0]} for r in range(3) for s in (2, 4, 8, 16, 32)]
    fit = fit_law(law, pd.DataFrame(rows), y="rate", n_boot=0)
    assert fit.converged and fit.params == pytest.approx(truth, rel=1e-4)
    assert law({"x": [1e6]}, fit.params)[0] < 1.0
