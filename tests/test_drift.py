"""Tests of driftcaps.drift (paired drift, pairing errors, drift mitigation) and plots."""

from __future__ import annotations

import pytest

from driftcaps.drift import (
    DriftReport,
    DriftStats,
    TunedDrift,
    compute_drift,
    compute_drift_stats,
    drift_mitigation,
    pair_records,
    unpaired_ids,
)
from driftcaps.errors import DriftCapsError
from driftcaps.judges.apply import JudgedResponse
from driftcaps.plots import _categories, plot_drift
from driftcaps.schema import MetricCI


def rec(id_, label, category, refusal, harmful=None, prompt=None):
    return JudgedResponse(
        id=id_,
        label=label,
        category=category,
        subset="core",
        source="test",
        prompt=prompt or f"prompt {id_}",
        response="...",
        refusal_class="full_refusal" if refusal else "full_compliance",
        refusal=bool(refusal),
        refusal_score=float(bool(refusal)),
        harmful=harmful,
        harm_score=None if harmful is None else float(harmful),
    )


BASE_U = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
TUNED_U = [0, 0, 0, 0, 0, 1, 1, 1, 0, 0]
CATS_U = ["violence"] * 6 + ["privacy"] * 4
BASE_S = [1, 0, 0, 0]
TUNED_S = [1, 1, 1, 0]


def make_sets():
    base, tuned = [], []
    for i, (b, t, c) in enumerate(zip(BASE_U, TUNED_U, CATS_U, strict=True)):
        base.append(rec(f"u{i}", "unsafe", c, b, harmful=not b))
        tuned.append(rec(f"u{i}", "unsafe", c, t, harmful=None if i == 9 else not t))
    for i, (b, t) in enumerate(zip(BASE_S, TUNED_S, strict=True)):
        base.append(rec(f"s{i}", "safe", "math", b))
        tuned.append(rec(f"s{i}", "safe", "math", t))
    return base, tuned


def test_overall_drift_exact():
    base, tuned = make_sets()
    st = compute_drift_stats(pair_records(base, tuned), n_boot=500, seed=0)
    assert (st.n_unsafe, st.n_safe) == (10, 4)
    assert st.alignment_drift.value == pytest.approx(0.5)
    assert st.alignment_drift.n == 10
    assert st.alignment_drift.ci_low <= 0.5 <= st.alignment_drift.ci_high
    assert st.alignment_drift.ci_low > 0  # no complied->refused flips: every replicate >= 0
    assert st.refusal_rate_base == pytest.approx(0.8)
    assert st.refusal_rate_tuned == pytest.approx(0.3)
    assert (st.refused_to_complied, st.complied_to_refused) == (5, 0)
    assert st.mcnemar_p == pytest.approx(2 * 0.5**5)  # 0.0625
    # HR on the 9 pairs judged on both sides: base 1/9, tuned 6/9
    assert st.delta_harmful_rate.value == pytest.approx(5 / 9)
    assert st.delta_harmful_rate.n == 9
    # ORR: base 1/4, tuned 3/4
    assert st.delta_over_refusal_rate.value == pytest.approx(0.5)
    assert st.delta_over_refusal_rate.n == 4


def test_per_category_drift_exact():
    base, tuned = make_sets()
    td = compute_drift(base, tuned, "lora", "/tmp/results/lora", n_boot=300, seed=0)
    assert isinstance(td, TunedDrift) and td.results_dir == "/tmp/results/lora"
    assert list(td.by_category) == ["math", "privacy", "violence"]
    v = td.by_category["violence"]
    assert v.alignment_drift.value == pytest.approx(5 / 6)
    assert (v.refused_to_complied, v.complied_to_refused, v.mcnemar_p) == (5, 0, 0.0625)
    assert v.n_safe == 0 and v.delta_over_refusal_rate.n == 0
    assert v.delta_over_refusal_rate.value is None
    p = td.by_category["privacy"]
    assert (p.alignment_drift.value, p.alignment_drift.ci_low, p.alignment_drift.ci_high) == (
        0.0,
        0.0,
        0.0,
    )
    assert p.mcnemar_p == 1.0
    assert p.delta_harmful_rate.n == 3  # u9 has no tuned verdict
    m = td.by_category["math"]
    assert m.n_unsafe == 0 and m.mcnemar_p is None and m.refusal_rate_base is None
    assert m.alignment_drift.value is None and m.alignment_drift.n == 0
    assert m.delta_over_refusal_rate.value == pytest.approx(0.5)
    assert td.overall.alignment_drift.value == pytest.approx(0.5)


def test_drift_is_deterministic_and_order_independent():
    base, tuned = make_sets()
    a = compute_drift(base, tuned, "t", "r", n_boot=200, seed=3)
    b = compute_drift(base[::-1], tuned[::-1], "t", "r", n_boot=200, seed=3)
    assert a == b


def test_pairing_drops_unpaired_ids():
    base, tuned = make_sets()
    base.append(rec("only_b", "unsafe", "violence", True))
    tuned.append(rec("only_t", "unsafe", "violence", False))
    pairs = pair_records(base, tuned)
    assert len(pairs) == 14
    assert all(b.id == t.id for b, t in pairs)
    assert unpaired_ids(base, tuned) == (["only_b"], ["only_t"])


def test_pairing_errors():
    base, tuned = make_sets()
    with pytest.raises(DriftCapsError, match="no prompt ids in common"):
        pair_records(base, [rec("zzz", "unsafe", "violence", True)])
    with pytest.raises(DriftCapsError, match="no prompt ids in common"):
        pair_records([], tuned)
    bad = tuned[:]
    bad[0] = rec("u0", "unsafe", "violence", False, prompt="something else")
    with pytest.raises(DriftCapsError, match="different prompt"):
        pair_records(base, bad)
    with pytest.raises(DriftCapsError, match="twice"):
        pair_records(base + base[:1], tuned)
    with pytest.raises(DriftCapsError) as caught:
        pair_records(base, bad)
    assert "\n" not in str(caught.value) and "same DriftCaps build" in str(caught.value)


def test_drift_mitigation_exact():
    base = [rec(f"u{i}", "unsafe", "violence", True) for i in range(8)]
    lora = [rec(f"u{i}", "unsafe", "violence", i >= 4) for i in range(8)]  # AD 0.5
    method = [rec(f"u{i}", "unsafe", "violence", i >= 2) for i in range(8)]  # AD 0.25
    # a safe prompt and an id missing from one set do not count
    base.append(rec("s0", "safe", "math", True))
    lora.append(rec("s0", "safe", "math", False))
    method.append(rec("s0", "safe", "math", False))
    base.append(rec("u9", "unsafe", "violence", True))
    lora.append(rec("u9", "unsafe", "violence", False))
    dm = drift_mitigation(base, lora, method, n_boot=500, seed=0)
    assert dm.value == pytest.approx(0.5)
    assert dm.n == 8
    assert dm.ci_low <= 0.5 <= dm.ci_high
    # method as bad as LoRA: DM 0; no LoRA drift: undefined
    assert drift_mitigation(base, lora, lora, n_boot=100).value == pytest.approx(0.0)
    undefined = drift_mitigation(base, base, method, n_boot=100)
    assert undefined.value is None and undefined.n == 8
    with pytest.raises(DriftCapsError):
        drift_mitigation(base, lora, [rec("x", "unsafe", "violence", True)], n_boot=10)


def _stats(value, low, high, n=5):
    ad = MetricCI(value=value, ci_low=low, ci_high=high, n=n if value is not None else 0)
    empty = MetricCI(value=None, ci_low=None, ci_high=None, n=0)
    return DriftStats(
        n_unsafe=n,
        n_safe=0,
        alignment_drift=ad,
        delta_harmful_rate=empty,
        delta_over_refusal_rate=empty,
        refusal_rate_base=None,
        refusal_rate_tuned=None,
        refused_to_complied=0,
        complied_to_refused=0,
        mcnemar_p=None,
    )


def test_plot_drift_png(tmp_path):
    base, tuned = make_sets()
    real = compute_drift(base, tuned, "lora", "r1", n_boot=100, seed=0)
    odd = TunedDrift(
        name="no-ci",
        results_dir="r2",
        overall=_stats(0.2, None, None),
        by_category={"violence": _stats(-0.1, None, 0.3), "privacy": _stats(None, None, None)},
    )
    report = DriftReport(
        base_dir="b",
        judges=[],
        n_bootstrap=100,
        seed=0,
        created_at="now",
        driftcaps_version="0",
        tuned=[real, odd],
    )
    # the safe-only category "math" has no drift value and gets no group
    assert _categories(report) == ["privacy", "violence", "all"]
    out = plot_drift(report, tmp_path / "sub" / "drift.png")
    assert out == tmp_path / "sub" / "drift.png"
    data = out.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["drift.png"]  # no temp file left
    empty = plot_drift(report.model_copy(update={"tuned": []}), tmp_path / "empty.png")
    assert empty.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_drift_split_into_coherent_and_degenerate():
    base = [rec(f"u{i}", "unsafe", "violence", True) for i in range(4)] + [rec("s0", "safe", "math", False)]
    tuned = [rec(f"u{i}", "unsafe", "violence", False).model_copy(update={"degenerate": i == 0})
             for i in range(4)] + [rec("s0", "safe", "math", False).model_copy(update={"degenerate": True})]
    st = compute_drift_stats(pair_records(base, tuned), n_boot=200, seed=0)
    assert st.alignment_drift.value == pytest.approx(1.0)
    assert (st.refused_to_complied, st.refused_to_degenerate) == (4, 1)
    assert st.alignment_drift_degenerate == pytest.approx(0.25)
    assert st.alignment_drift_coherent == pytest.approx(0.75)
    assert st.delta_degenerate_rate.value == pytest.approx(2 / 5) and st.delta_degenerate_rate.n == 5
