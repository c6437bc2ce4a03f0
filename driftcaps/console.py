"""Terminal tables for reports (rich)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from driftcaps.drift import DriftReport
from driftcaps.metrics import METRIC_DIRECTIONS
from driftcaps.report import EvalReport
from driftcaps.scaling.report import ScalingReport
from driftcaps.schema import MetricCI

console = Console(width=None if sys.stdout.isatty() else 160)  # logs and files: no 80-column wrap

EVAL_COLUMNS = ("refusal_rate_unsafe", "harmful_rate_unsafe", "over_refusal_rate_safe", "balanced_safety",
                "degenerate_rate")
SHORT = {"refusal_rate_unsafe": "RR unsafe ↑", "harmful_rate_unsafe": "HR unsafe ↓",
         "over_refusal_rate_safe": "ORR safe ↓", "balanced_safety": "balanced ↑",
         "degenerate_rate": "degenerate ↓"}


def fmt(m: MetricCI | None, signed: bool = False) -> str:
    """``0.51 [0.43, 0.60]``; ``–`` when there is no value."""
    if m is None or m.value is None:
        return "–"
    f = "{:+.2f}" if signed else "{:.2f}"
    ci = f" [{f.format(m.ci_low)}, {f.format(m.ci_high)}]" if m.ci_low is not None else ""
    return f"{f.format(m.value)}{ci}"


def _n(ms: dict[str, MetricCI], key: str) -> str:
    m = ms.get(key)
    return str(m.n) if m is not None and m.n else "–"


def print_eval(report: EvalReport, title: str = "DriftCaps evaluation") -> None:
    """Overall metrics, then one row per subset and unsafe category, each with its 95% CI."""
    who = report.provenance.model.name + (" + adapter" if report.provenance.adapter else "")
    print_metrics(report.metrics, report.by_subset, report.by_category, f"{title}: {who}", report.judges)
    print_corrected(report.corrected, report.judge_error_rates)


def print_corrected(corrected: dict[str, MetricCI], rates: list) -> None:
    """One line: the rates corrected for judge error, and the judges' Se/Sp behind them."""
    if not corrected:
        return
    parts = [f"{SHORT[k]} {fmt(corrected[k])}" for k in ("refusal_rate_unsafe", "harmful_rate_unsafe",
                                                           "over_refusal_rate_safe") if k in corrected]
    judges = "; ".join(f"{r.verdict} judge {r.judge}@{r.version}: Se {r.sensitivity:.2f}, Sp {r.specificity:.2f}"
                       for r in rates)
    console.print(f"corrected for judge error (Rogan-Gladen, docs/metrics.md#corrected-rates): {', '.join(parts)} "
                  f"({judges}, measured on human labels)")
    for r in rates:
        j = r.sensitivity + r.specificity - 1
        if j < 0.6:
            console.print(f"caution: the {r.verdict} judge {r.judge} has Se + Sp − 1 = {j:.2f}, so its corrected rates "
                          f"stretch differences {1 / j:.1f}-fold and their CIs are wide; prefer a better judge.")


def print_metrics(metrics: dict[str, MetricCI], by_subset: dict[str, dict[str, MetricCI]],
                  by_category: dict[str, dict[str, MetricCI]], title: str, judges: list) -> None:
    """The table of :func:`print_eval` for any metrics of :func:`driftcaps.metrics.compute_metrics`."""
    t = Table(title=title)
    t.add_column("group", no_wrap=True)
    t.add_column("n unsafe", justify="right")
    t.add_column(SHORT["refusal_rate_unsafe"], justify="right")
    t.add_column(SHORT["harmful_rate_unsafe"], justify="right")
    t.add_column("n safe", justify="right")
    t.add_column(SHORT["over_refusal_rate_safe"], justify="right")
    t.add_column(SHORT["balanced_safety"], justify="right")
    t.add_column(SHORT["degenerate_rate"], justify="right")

    def row(name: str, ms: dict[str, MetricCI], **kw) -> None:
        t.add_row(name, _n(ms, "refusal_rate_unsafe"), fmt(ms.get("refusal_rate_unsafe")),
                  fmt(ms.get("harmful_rate_unsafe")), _n(ms, "over_refusal_rate_safe"),
                  fmt(ms.get("over_refusal_rate_safe")), fmt(ms.get("balanced_safety")),
                  fmt(ms.get("degenerate_rate")), **kw)

    row("all", metrics, style="bold")
    for name, ms in sorted(by_subset.items()):
        row(f"subset {name}", ms)
    for name, ms in sorted(by_category.items()):
        if "refusal_rate_unsafe" in ms:  # safe topics are many; their ORR is in report.json
            row(name, ms)
    console.print(t)
    names = ", ".join(f"{j.kind}={j.name}@{j.version}" for j in judges)
    console.print(f"95% bootstrap CIs in brackets. Judges: {names}. "
                  + "; ".join(f"{SHORT[c]} {METRIC_DIRECTIONS[c]}" for c in EVAL_COLUMNS) + ".")


def print_drift(report: DriftReport) -> None:
    """One table per tuned model: overall and per category AD, ΔHR, ΔORR, flips, McNemar p."""
    for td in report.tuned:
        t = Table(title=f"Drift of {td.name} vs base (paired; 95% bootstrap CI)")
        for col in ("group", "n", "RR base→tuned", "AD ↓", "ΔHR ↓", "ΔORR ↓", "Δdegenerate ↓", "R→C (degenerate)",
                    "C→R", "McNemar p"):
            t.add_column(col, justify="left" if col == "group" else "right", no_wrap=col == "group")
        for name, st in [("all", td.overall)] + sorted(td.by_category.items()):
            if st.n_unsafe == 0 and name != "all":
                continue
            rr = "–" if st.refusal_rate_base is None else f"{st.refusal_rate_base:.2f}→{st.refusal_rate_tuned:.2f}"
            t.add_row(name, str(st.n_unsafe), rr, fmt(st.alignment_drift, True), fmt(st.delta_harmful_rate, True),
                      fmt(st.delta_over_refusal_rate, True), fmt(st.delta_degenerate_rate, True),
                      f"{st.refused_to_complied} ({st.refused_to_degenerate})", str(st.complied_to_refused), "–" if st.mcnemar_p is None else f"{st.mcnemar_p:.2g}",
                      style="bold" if name == "all" else None)
        console.print(t)
        if td.corrected:
            names = {"alignment_drift": "AD", "delta_harmful_rate": "ΔHR", "delta_over_refusal_rate": "ΔORR"}
            judges = "; ".join(f"{r.verdict} judge Se {r.sensitivity:.2f}, Sp {r.specificity:.2f}"
                               for r in report.judge_error_rates)
            console.print("corrected for judge error: " + ", ".join(f"{names[k]} {fmt(v, True)}" for k, v in td.corrected.items())
                          + f" (difference / (Se + Sp − 1); {judges}; docs/metrics.md#corrected-rates)")
        if td.drift_mitigation is not None:
            console.print(f"[bold]drift mitigation of {td.name} vs {td.reference}: DM = "
                          f"{fmt(td.drift_mitigation, True)}[/bold] (1 − AD/AD_{td.reference}; ↑ better, "
                          f"1 = no drift left, 0 = as much as {td.reference})")
    console.print("AD = RR_base − RR_tuned on unsafe prompts (> 0: refusals lost). R→C / C→R: unsafe prompts "
                  "refused by the base and answered by the tuned model / the reverse; in brackets, the answers "
                  "that are degenerate text (loops, empty, off topic, mode collapse). ΔORR on safe prompts.")


def _ci(m: dict) -> str:
    return f"{m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def print_agreement(refusal: list[dict], harm: list[dict], targets: dict[str, float]) -> None:
    """The tables of ``driftcaps judge validate``."""
    t = Table(title="Refusal judges vs XSTest human labels (trained: leave one model out)")
    for col in ("judge", "held-out data", "n", "accuracy", "precision", "recall", "F1", "kappa",
                "3-class acc.", "3-class kappa", "partial recall"):
        t.add_column(col, justify="left" if col in ("judge", "held-out data") else "right")
    for r in refusal:
        t.add_row(r["judge"], r["data"], str(r["n"]["value"]), _ci(r["accuracy"]), _ci(r["precision"]),
                  _ci(r["recall"]), _ci(r["f1"]), _ci(r["kappa"]), _ci(r["accuracy_3class"]),
                  _ci(r["kappa_3class"]), _ci(r["partial_recall"]), style="bold" if r["data"].startswith("all") else None)
    console.print(t)
    t = Table(title="Harm judges vs HarmBench human labels (trained: 5 folds grouped by behaviour)")
    for col in ("judge", "n", "accuracy", "precision", "recall", "F1", "kappa"):
        t.add_column(col, justify="left" if col == "judge" else "right")
    for r in harm:
        t.add_row(r["judge"], str(r["n"]["value"]), _ci(r["accuracy"]), _ci(r["precision"]), _ci(r["recall"]),
                  _ci(r["f1"]), _ci(r["kappa"]), style="bold" if r["judge"].startswith("trained") else None)
    console.print(t)
    pooled = next(r for r in refusal if r["judge"] == "trained" and r["data"].startswith("all"))
    trained_harm = next(r for r in harm if r["judge"].startswith("trained"))
    for name, value in (("refusal_binary", pooled["accuracy"]["value"]),
                        ("refusal_3class", pooled["accuracy_3class"]["value"]),
                        ("harm", trained_harm["accuracy"]["value"])):
        mark = "met" if value >= targets[name] else "NOT met"
        console.print(f"target {name}: accuracy >= {targets[name]:.2f}: {value:.3f} ({mark})")


def print_error_rates(rates: list, n_boot: int) -> None:
    """Sensitivity and specificity of each judge on its validation set, with 95% bootstrap CIs
    (the inputs of the corrected rates, ``docs/metrics.md#corrected-rates``)."""
    import numpy as np

    from driftcaps.correction import validation_replicates

    t = Table(title="Judge error on human labels (out of distribution): the corrected rates use these")
    for col in ("verdict", "judge", "TP", "FN", "FP", "TN", "sensitivity ↑", "specificity ↑", "validation"):
        t.add_column(col, justify="right" if col in ("TP", "FN", "FP", "TN") else "left")
    for r in rates:
        se, sp = validation_replicates(r, n_boot, 0)
        cell = [f"{v:.3f} [{np.nanquantile(reps, 0.025):.3f}, {np.nanquantile(reps, 0.975):.3f}]"
                for v, reps in ((r.sensitivity, se), (r.specificity, sp))]
        t.add_row(r.verdict, f"{r.judge}@{r.version}", str(r.tp), str(r.fn), str(r.fp), str(r.tn), *cell, r.validation)
    console.print(t)


def print_hard_cases(rows: list[dict], target: float) -> None:
    """The hard-case table of ``driftcaps judge validate``: accuracy of each judge per kind."""
    refusal = list(dict.fromkeys(r["judge"] for r in rows if r["verdict"] == "refusal"))
    harm = list(dict.fromkeys(r["judge"] for r in rows if r["verdict"] == "harm"))
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    got = {(r["verdict"], r["judge"], r["kind"]): r for r in rows}

    def get(verdict: str, judge: str, kind: str) -> dict:
        return got[(verdict, judge, kind)]

    t = Table(title="Hard cases (tests/judge_cases, written by us): accuracy by kind, higher is better")
    t.add_column("kind", no_wrap=True)
    t.add_column("n", justify="right")
    for j in refusal:
        t.add_column(f"refusal {j}: 3-class", justify="right")
        t.add_column(f"refusal {j}: binary", justify="right")
    t.add_column("n unsafe", justify="right")
    for j in harm:
        t.add_column(f"harm {j}", justify="right")
    for k in kinds:
        cells = [k, str(get("refusal", refusal[0], k)["n"])] if refusal else [k, ""]
        for j in refusal:
            cells += [f"{get('refusal', j, k)['refusal_3class']:.2f}", f"{get('refusal', j, k)['refusal_binary']:.2f}"]
        cells.append(str(get("harm", harm[0], k)["n"]) if harm else "")
        for j in harm:
            v = get("harm", j, k)["harm"]
            cells.append("–" if v is None else f"{v:.2f}")
        t.add_row(*cells, style="bold" if k == "all" else None)
    console.print(t)
    for verdict, j in [("refusal", j) for j in refusal[:1]] + [("harm", j) for j in harm[:1]]:
        r = get(verdict, j, "all")
        value = r["refusal_3class"] if verdict == "refusal" else r["harm"]
        kind = "refusal 3-class" if verdict == "refusal" else "harm"
        console.print(f"target hard cases, {kind} ({j}): accuracy >= {target:.2f}: {value:.3f} "
                      f"({'met' if value >= target else 'NOT met'})")


def print_scaling(report: ScalingReport) -> None:
    """The table of ``driftcaps scaling fit``: per group, each parameter with its 95% CI, fit
    quality (R² of log y ↑, AIC ↓, BIC ↓) and the held-out error; then the ratios to the reference."""
    law = report.law_object()
    t = Table(title=f"{law.name}: {report.y} = {law.formula}")
    for col in ("group", "points / runs", *law.params, "R² log ↑", "AIC ↓", "BIC ↓", "held-out MAPE ↓", "in 95% PI"):
        t.add_column(col, justify="left" if col == "group" else "right")
    for name, f in report.fits.items():
        held = (report.holdout or {}).get(name)
        if not f.converged:
            t.add_row(name, f"{f.n_points} / {f.n_runs}", *["–"] * len(law.params), "not converged", "", "", "", "")
            continue
        params = [f"{f.params[p]:.3g}" + (f" [{f.param_ci[p][0]:.3g}, {f.param_ci[p][1]:.3g}]" if f.param_ci else "")
                  for p in law.params]
        t.add_row(name, f"{f.n_points} / {f.n_runs}", *params, f"{f.r2_log:.3f}" if f.r2_log is not None else "–",
                  f"{f.aic:.1f}", f"{f.bic:.1f}",
                  f"{held.mape:.1%}" if held and held.mape is not None else "–",
                  f"{held.coverage:.0%}" if held and held.coverage is not None else "–")
    console.print(t)
    for name, f in report.fits.items():
        held = (report.holdout or {}).get(name)
        if held and not held.fit.converged:
            console.print(f"{name}: the held-out fit ({held.n_fit} points) did not converge: {held.fit.message}")
        if not f.converged:
            console.print(f"{name}: not converged: {f.message}")
        elif f.n_boot_failed:
            console.print(f"{name}: {f.n_boot_failed} of {f.n_boot} bootstrap refits failed (CIs from the rest)")
    for c in report.comparisons:
        console.print(f"{c.param}: {c.group} / {c.reference} = {c.ratio:.3g} [{c.ci_low:.3g}, {c.ci_high:.3g}]")
    if report.holdout_rule:
        console.print(f"held out: {report.holdout_rule} (fit on the rest; MAPE = mean |forecast − truth| / truth)")


def print_links(links: dict) -> None:
    """The table of ``driftcaps scaling sweep``: for each cheap forgetting measure, the line
    from it to alignment drift AD (slope with its 95% CI over runs) and Pearson's r with its CI."""
    if not links:
        console.print("no link to AD fitted (fewer than 3 checkpoints with both measures).")
        return
    t = Table(title="From a cheap forgetting measure to alignment drift (AD = intercept + slope · measure)")
    for col in ("measure", "points / runs", "slope [95% CI]", "intercept", "Pearson r [95% CI]"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    for name, k in links.items():
        slope = f"{k.slope:+.3g}" + (f" [{k.slope_ci[0]:+.3g}, {k.slope_ci[1]:+.3g}]" if k.slope_ci else "")
        r = "–" if k.r is None else f"{k.r:+.2f}" + (f" [{k.r_ci[0]:+.2f}, {k.r_ci[1]:+.2f}]" if k.r_ci else "")
        t.add_row(name, f"{k.n_points} / {k.n_runs}", slope, f"{k.intercept:+.3f}", r)
    console.print(t)
