"""Rates corrected for judge error (issue 14, part 4): Rogan-Gladen with a joint bootstrap CI."""

from __future__ import annotations

import numpy as np
import pytest

from driftcaps.correction import (
    corrected_difference,
    corrected_metrics,
    corrected_rate,
    rogan_gladen,
    validation_replicates,
)
from driftcaps.judges.apply import JudgedResponse
from driftcaps.judges.error_rates import JudgeErrorRates, confusion, error_rates_for
from driftcaps.stats import bootstrap_ci, paired_bootstrap_ci


def _rates(tp: int, fn: int, fp: int, tn: int) -> JudgeErrorRates:
    return JudgeErrorRates(verdict="refusal", judge="j", version="1", validation="test", tp=tp, fn=fn, fp=fp, tn=tn)


def test_rogan_gladen_exact_values_clipping_and_a_useless_judge():
    assert rogan_gladen(0.5, 0.9, 0.8) == pytest.approx(0.3 / 0.7)
    assert rogan_gladen(0.05, 0.9, 0.8) == 0.0 and rogan_gladen(0.99, 0.9, 0.8) == 1.0
    assert np.isnan(rogan_gladen(0.5, 0.5, 0.5)) and np.isnan(rogan_gladen(0.5, 0.3, 0.6))
    np.testing.assert_allclose(rogan_gladen(np.array([0.2, 0.9]), 1.0, 1.0), [0.2, 0.9])  # a perfect judge


def test_confusion_counts_and_rates():
    c = confusion([True, True, True, False, False], [True, False, True, True, False])
    assert c == {"tp": 2, "fn": 1, "fp": 1, "tn": 1}
    r = _rates(**c)
    assert (r.sensitivity, r.specificity) == (2 / 3, 0.5)


def test_a_perfect_judge_gives_back_the_raw_rate_and_its_ci():
    x = [1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1]
    strata = ["a"] * 6 + ["b"] * 6
    got = corrected_rate(x, _rates(50, 0, 0, 50), n_boot=500, seed=3, strata=strata)
    assert (got.value, got.ci_low, got.ci_high, got.n) == (*bootstrap_ci(x, n_boot=500, seed=3, strata=strata), 12)
    base, tuned = [1, 1, 0, 1, 0, 1], [0, 1, 0, 0, 0, 1]
    d = corrected_difference(base, tuned, _rates(50, 0, 0, 50), n_boot=500, seed=3)
    raw = paired_bootstrap_ci(base, tuned, n_boot=500, seed=3)
    assert d.value == pytest.approx(raw[0]) and (d.ci_low, d.ci_high) == pytest.approx(raw[1:])


def test_the_correction_recovers_the_true_rate_that_the_raw_rate_misses():
    """Simulated: true refusal share 0.5, judge Se 0.8 / Sp 0.9: the raw share is about 0.45, the
    corrected one about 0.5, and its CI (prompts and validation resampled) covers 0.5."""
    rng = np.random.default_rng(0)
    truth = rng.random(20_000) < 0.5
    judged = np.where(truth, rng.random(truth.size) < 0.8, rng.random(truth.size) < 0.1)
    assert judged.mean() == pytest.approx(0.45, abs=0.01)
    got = corrected_rate(judged, _rates(800, 200, 100, 900), n_boot=400, seed=0)
    assert got.value == pytest.approx(0.5, abs=0.01) and got.ci_low < 0.5 < got.ci_high


def test_fewer_validation_records_widen_the_interval():
    x = [1] * 30 + [0] * 70
    wide = corrected_rate(x, _rates(16, 4, 2, 18), n_boot=1000, seed=0)
    narrow = corrected_rate(x, _rates(1600, 400, 200, 1800), n_boot=1000, seed=0)
    assert wide.value == pytest.approx(narrow.value)
    assert wide.ci_high - wide.ci_low > 1.5 * (narrow.ci_high - narrow.ci_low)


def test_validation_replicates_resample_records():
    se, sp = validation_replicates(_rates(80, 20, 10, 90), n_boot=4000, seed=1)
    assert se.shape == sp.shape == (4000,)
    assert se.mean() == pytest.approx(0.8, abs=0.01) and sp.mean() == pytest.approx(0.9, abs=0.01)
    assert se.std() == pytest.approx(np.sqrt(0.8 * 0.2 / 100), rel=0.15)  # a binomial's spread


def _rec(i: int, label: str, refused: bool, harmful: bool | None) -> JudgedResponse:
    return JudgedResponse(id=f"i{i}", label=label, category="c", subset="core", source="s", prompt="p", response="r",
                          refusal_class="full_refusal" if refused else "full_compliance", refusal=refused,
                          refusal_score=0.5, harmful=harmful, harm_score=None if harmful is None else 0.5)


def test_corrected_metrics_use_each_judges_rates_and_skip_an_unvalidated_judge():
    recs = [_rec(i, "unsafe", i % 2 == 0, i % 3 == 0) for i in range(12)] + [_rec(100 + i, "safe", i == 0, None)
                                                                            for i in range(8)]
    out = corrected_metrics(recs, _rates(90, 10, 5, 95), None, n_boot=200, seed=0)
    assert set(out) == {"refusal_rate_unsafe", "over_refusal_rate_safe"}
    assert out["refusal_rate_unsafe"].value == pytest.approx((0.5 + 0.95 - 1) / (0.9 + 0.95 - 1))
    assert out["over_refusal_rate_safe"].value == pytest.approx(max(0.0, (1 / 8 + 0.95 - 1) / 0.85))


def test_the_shipped_judges_have_validation_counts():
    from driftcaps.judges import get_harm_judge, get_refusal_judge

    r, h = get_refusal_judge("trained"), get_harm_judge("trained")
    rr, hr = error_rates_for("refusal", r.name, r.version), error_rates_for("harm", h.name, h.version)
    assert rr.tp + rr.fn + rr.fp + rr.tn == 1350 and hr.tp + hr.fn + hr.fp + hr.tn == 326
    assert "XSTest" in rr.validation and "HarmBench" in hr.validation
    assert error_rates_for("harm", "trained", "0.0") is None


def test_reports_carry_the_corrected_rates_beside_the_raw_ones(chain):
    import json

    report = json.loads((chain / "base" / "report.json").read_text())
    assert report["schema_version"] == 3
    rates = {r["verdict"]: JudgeErrorRates(**r) for r in report["judge_error_rates"]}
    assert set(rates) == {"refusal", "harm"} and "XSTest" in rates["refusal"].validation
    rr_raw = report["metrics"]["refusal_rate_unsafe"]["value"]
    r = rates["refusal"]
    assert report["corrected"]["refusal_rate_unsafe"]["value"] == pytest.approx(
        float(rogan_gladen(rr_raw, r.sensitivity, r.specificity)))
    drift = json.loads((chain / "drift.json").read_text())
    (entry,) = drift["tuned"]
    ad = entry["overall"]["alignment_drift"]["value"]
    assert entry["corrected"]["alignment_drift"]["value"] == pytest.approx(
        max(-1.0, min(1.0, ad / (r.sensitivity + r.specificity - 1))))
    h = rates["harm"]
    dhr = entry["overall"]["delta_harmful_rate"]["value"]
    assert entry["corrected"]["delta_harmful_rate"]["value"] == pytest.approx(
        max(-1.0, min(1.0, dhr / (h.sensitivity + h.specificity - 1))))
    assert set(entry["corrected"]) == {"alignment_drift", "delta_harmful_rate", "delta_over_refusal_rate"}
    assert [(x["verdict"], x["judge"]) for x in drift["judge_error_rates"]] == [("refusal", "trained"), ("harm", "trained")]
