"""Tests of driftcaps.metrics.compute_metrics on hand-made judged responses."""

from __future__ import annotations

import random

import pytest

from driftcaps.judges.apply import JudgedResponse
from driftcaps.metrics import METRIC_NAMES, compute_metrics
from driftcaps.schema import MetricCI


def rec(id_, label, category, refusal, harmful=None, subset="core"):
    return JudgedResponse(
        id=id_,
        label=label,
        category=category,
        subset=subset,
        source="test",
        prompt=f"prompt {id_}",
        response="...",
        refusal_class="full_refusal" if refusal else "full_compliance",
        refusal=refusal,
        refusal_score=1.0 if refusal else 0.0,
        harmful=harmful,
        harm_score=None if harmful is None else float(harmful),
    )


RECORDS = [
    rec("u1", "unsafe", "violence", True, harmful=False),
    rec("u2", "unsafe", "violence", True, harmful=False),
    rec("u3", "unsafe", "privacy", True, harmful=None),  # no harm verdict: not in HR
    rec("u4", "unsafe", "privacy", False, harmful=True),
    rec("s1", "safe", "math", True),
    rec("s2", "safe", "history", False, subset="borderline"),
]


def check(m: MetricCI, value, n):
    assert m.n == n
    if value is None:
        assert m.value is None and m.ci_low is None and m.ci_high is None
        return
    assert isinstance(m.value, float)
    assert m.value == pytest.approx(value)
    assert m.ci_low is not None and m.ci_high is not None
    assert m.ci_low - 1e-12 <= m.value <= m.ci_high + 1e-12


def test_overall_values():
    overall, _, _ = compute_metrics(RECORDS, n_boot=500, seed=0)
    assert set(overall) == set(METRIC_NAMES)
    check(overall["refusal_rate_unsafe"], 0.75, 4)
    check(overall["harmful_rate_unsafe"], 1 / 3, 3)
    check(overall["over_refusal_rate_safe"], 0.5, 2)
    check(overall["helpfulness_safe"], 0.5, 2)
    check(overall["balanced_safety"], 0.625, 6)
    orr, hlp = overall["over_refusal_rate_safe"], overall["helpfulness_safe"]
    assert hlp.ci_low == pytest.approx(1 - orr.ci_high)
    assert hlp.ci_high == pytest.approx(1 - orr.ci_low)
    for m in overall.values():
        assert 0.0 <= m.ci_low <= m.ci_high <= 1.0


def test_overall_stratified_by_category():
    # each safe category has one prompt: stratified by category, ORR is constant at 0.5
    overall, _, _ = compute_metrics(RECORDS, n_boot=300, seed=1)
    orr = overall["over_refusal_rate_safe"]
    assert (orr.ci_low, orr.ci_high) == (0.5, 0.5)
    rr = overall["refusal_rate_unsafe"]  # violence constant, privacy varies: RR in [0.5, 1]
    assert 0.5 <= rr.ci_low <= rr.ci_high <= 1.0


def test_per_category_values_and_keys():
    _, by_cat, _ = compute_metrics(RECORDS, n_boot=300, seed=0)
    assert list(by_cat) == ["history", "math", "privacy", "violence"]
    assert set(by_cat["violence"]) == {"refusal_rate_unsafe", "harmful_rate_unsafe", "degenerate_rate"}
    check(by_cat["violence"]["refusal_rate_unsafe"], 1.0, 2)
    assert by_cat["violence"]["refusal_rate_unsafe"].ci_low == 1.0
    check(by_cat["violence"]["harmful_rate_unsafe"], 0.0, 2)
    check(by_cat["privacy"]["refusal_rate_unsafe"], 0.5, 2)
    check(by_cat["privacy"]["harmful_rate_unsafe"], 1.0, 1)
    assert set(by_cat["math"]) == {"over_refusal_rate_safe", "helpfulness_safe", "degenerate_rate"}
    check(by_cat["math"]["over_refusal_rate_safe"], 1.0, 1)
    check(by_cat["math"]["helpfulness_safe"], 0.0, 1)
    check(by_cat["history"]["over_refusal_rate_safe"], 0.0, 1)
    check(by_cat["history"]["helpfulness_safe"], 1.0, 1)


def test_per_subset_values():
    _, _, by_sub = compute_metrics(RECORDS, n_boot=300, seed=0)
    assert list(by_sub) == ["borderline", "core"]
    assert set(by_sub["borderline"]) == {"over_refusal_rate_safe", "helpfulness_safe", "degenerate_rate"}
    check(by_sub["borderline"]["over_refusal_rate_safe"], 0.0, 1)
    core = by_sub["core"]
    assert set(core) == {"refusal_rate_unsafe", "harmful_rate_unsafe", "over_refusal_rate_safe", "helpfulness_safe",
                         "balanced_safety", "degenerate_rate"}
    check(core["refusal_rate_unsafe"], 0.75, 4)
    check(core["harmful_rate_unsafe"], 1 / 3, 3)
    check(core["over_refusal_rate_safe"], 1.0, 1)
    check(core["helpfulness_safe"], 0.0, 1)
    check(core["balanced_safety"], 0.375, 5)


def test_empty_populations():
    overall, by_cat, by_sub = compute_metrics([], n_boot=100)
    assert set(overall) == set(METRIC_NAMES)
    for m in overall.values():
        check(m, None, 0)
    assert by_cat == {} and by_sub == {}

    unsafe_only = [
        rec("a", "unsafe", "hate_speech", True),
        rec("b", "unsafe", "hate_speech", False),
    ]
    overall, by_cat, _ = compute_metrics(unsafe_only, n_boot=100)
    check(overall["refusal_rate_unsafe"], 0.5, 2)
    check(overall["harmful_rate_unsafe"], None, 0)  # no harm verdicts at all
    check(overall["over_refusal_rate_safe"], None, 0)
    check(overall["helpfulness_safe"], None, 0)
    check(overall["balanced_safety"], None, 0)
    assert set(by_cat["hate_speech"]) == {"refusal_rate_unsafe", "harmful_rate_unsafe", "degenerate_rate"}
    check(by_cat["hate_speech"]["harmful_rate_unsafe"], None, 0)


def test_balanced_resamples_labels_separately():
    # all unsafe refused, all safe answered: balanced = 1 in every stratified replicate
    recs = [rec(f"u{i}", "unsafe", "violence", True) for i in range(5)]
    recs += [rec(f"s{i}", "safe", "math", False) for i in range(3)]
    overall, _, _ = compute_metrics(recs, n_boot=300, seed=0)
    b = overall["balanced_safety"]
    assert (b.value, b.ci_low, b.ci_high, b.n) == (1.0, 1.0, 1.0, 8)


def test_deterministic_and_order_independent():
    a = compute_metrics(RECORDS, n_boot=200, seed=5)
    shuffled = RECORDS[:]
    random.Random(0).shuffle(shuffled)
    assert compute_metrics(shuffled, n_boot=200, seed=5) == a
    with pytest.raises(ValueError):
        compute_metrics(RECORDS, n_boot=0)


def test_degeneration_rates():
    recs = [rec(f"u{i}", "unsafe", "violence", False).model_copy(update={"degenerate": i < 2, "repetitive": i == 0,
                                                                        "collapsed": i == 1}) for i in range(4)]
    overall, by_cat, _ = compute_metrics(recs, n_boot=200, seed=0)
    check(overall["degenerate_rate"], 0.5, 4)
    check(overall["repetition_rate"], 0.25, 4)
    check(overall["collapse_rate"], 0.25, 4)
    check(overall["empty_rate"], 0.0, 4)
    check(by_cat["violence"]["degenerate_rate"], 0.5, 4)
