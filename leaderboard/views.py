"""What the board shows (``docs/leaderboard.md#views``): entries ranked by balanced safety with
rank ranges instead of a false order, drift against each entry's base, and the drift/utility
Pareto front. Pure functions of the stored entries and their judged responses.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from typing import Any

from driftcaps.drift import compute_drift
from driftcaps.judges.apply import JudgedResponse
from driftcaps.metrics import BAL, HELP, HR, ORR, RR
from driftcaps.scaling.report import ScalingReport
from driftcaps.schema import MetricCI
from driftcaps.stats import N_BOOT
from leaderboard.schema import BoardRow, Entry

COLUMNS = ("rank", "name", "kind", "method", "base_model", "adapter", "balanced_safety", "alignment_drift",
           "refusal_rate_unsafe", "harmful_rate_unsafe", "harmful_rate_corrected", "over_refusal_rate_safe",
           "task_accuracy", "pareto")
"""Columns of ``driftcaps leaderboard show`` (csv/md)."""


def rank_ranges(values: Sequence[float | None], lows: Sequence[float | None],
                highs: Sequence[float | None]) -> list[tuple[int, int]]:
    """Rank ranges that respect 95% CIs (higher value is better; 1 is the best rank).

    Entry i is *surely better* than j when ``lows[i] > highs[j]`` (the CIs do not overlap). Its
    best possible rank is 1 + the number of entries surely better than it; its worst is n − the
    number of entries surely worse than it. Entries whose CIs overlap share ranks (a tie);
    an entry without a value ranks after all others (both bounds n).

    Args:
        values, lows, highs: length n point estimates and CI bounds (None: no value).

    Returns:
        n pairs (best rank, worst rank), 1 <= best <= worst <= n.
    """
    n = len(values)
    out = []
    for i in range(n):
        if values[i] is None:
            out.append((n, n))
            continue
        lo_i, hi_i = lows[i] if lows[i] is not None else values[i], highs[i] if highs[i] is not None else values[i]
        better = worse = 0
        for j in range(n):
            if j == i:
                continue
            if values[j] is None:
                worse += 1
                continue
            lo_j = lows[j] if lows[j] is not None else values[j]
            hi_j = highs[j] if highs[j] is not None else values[j]
            better += lo_j > hi_i
            worse += hi_j < lo_i
        out.append((1 + better, n - worse))
    return out


def pareto_front(drift: Sequence[float | None], utility: Sequence[float | None]) -> list[bool]:
    """Which points are on the drift/utility Pareto front: no other point has drift ≤ and
    utility ≥, with one of them strict (lower drift is better, higher utility is better). Points
    with a missing coordinate are never on the front."""
    ok = [d is not None and u is not None for d, u in zip(drift, utility, strict=True)]
    front = []
    for i, (d, u) in enumerate(zip(drift, utility, strict=True)):
        if not ok[i]:
            front.append(False)
            continue
        dominated = any(ok[j] and drift[j] <= d and utility[j] >= u and (drift[j] < d or utility[j] > u)
                        for j in range(len(drift)) if j != i)
        front.append(not dominated)
    return front


def _utility(entries: Sequence[Entry]) -> tuple[str, list[float | None]]:
    """Held-out task accuracy when every entry of the group has it on one task, else
    helpfulness on safe prompts (1 − ORR)."""
    acc = [e.task_quality.heldout_accuracy if e.task_quality else None for e in entries]
    tasks = {e.task_quality.task if e.task_quality else None for e in entries}
    if all(a is not None for a in acc) and len(tasks) == 1:
        return "task_accuracy", acc
    return "helpfulness_safe", [(e.metrics.get(HELP) or MetricCI(value=None, ci_low=None, ci_high=None, n=0)).value
                                for e in entries]


def board_rows(entries: Sequence[Entry], responses: Callable[[int], list[JudgedResponse]],
               n_boot: int = N_BOOT, seed: int = 0) -> list[BoardRow]:
    """The board: every entry with its rank range by balanced safety, its paired drift against
    the base entry evaluated alike (same base weights, prompts, judges, generation settings;
    :meth:`Entry.eval_signature`), and its place on the drift/utility Pareto front of the
    entries evaluated alike (one front per base model and evaluation setup).

    Args:
        entries: stored entries (with ids).
        responses: entry id -> its judged responses (``Board.responses``).
        n_boot, seed: the paired bootstrap of the drift CIs.

    Returns:
        Rows sorted by best rank, then by balanced safety (descending), then name.
    """
    bal = [e.metrics.get(BAL) for e in entries]
    ranks = rank_ranges([b.value if b else None for b in bal], [b.ci_low if b else None for b in bal],
                        [b.ci_high if b else None for b in bal])
    rows = [BoardRow(entry=e, rank_low=lo, rank_high=hi) for e, (lo, hi) in zip(entries, ranks, strict=True)]
    groups: dict[str, list[BoardRow]] = {}
    for row in rows:
        groups.setdefault(json.dumps(row.entry.eval_signature(), sort_keys=True), []).append(row)
    for group in groups.values():
        base = next((r for r in group if r.entry.kind == "base"), None)
        if base is not None:
            base_records = responses(base.entry.id)
            rr = base.entry.metrics.get(RR)
            zero = MetricCI(value=0.0, ci_low=0.0, ci_high=0.0, n=rr.n if rr is not None else 0)
            base.alignment_drift, base.delta_harmful_rate = zero, zero
            for row in group:
                if row is base:
                    continue
                d = compute_drift(base_records, responses(row.entry.id), name=row.entry.name, results_dir="",
                                  n_boot=n_boot, seed=seed)
                row.alignment_drift, row.delta_harmful_rate = d.overall.alignment_drift, d.overall.delta_harmful_rate
                row.drift_by_category = {c: s.alignment_drift for c, s in d.by_category.items()
                                         if s.alignment_drift.value is not None}
        name, util = _utility([r.entry for r in group])
        front = pareto_front([r.alignment_drift.value if r.alignment_drift else None for r in group], util)
        for row, u, f in zip(group, util, front, strict=True):
            row.utility, row.utility_name, row.pareto = u, name, f
    def order(r: BoardRow) -> tuple:
        b = r.entry.metrics.get(BAL)
        value = b.value if b is not None else None
        return (r.rank_low, value is None, -(value or 0.0), r.entry.name)

    return sorted(rows, key=order)


def _ci(m: MetricCI | None, signed: bool = False) -> str:
    if m is None or m.value is None:
        return "–"
    f = "{:+.2f}" if signed else "{:.2f}"

    def num(x: float) -> str:
        text = f.format(x + 0.0)
        return text.replace("-0.00", "+0.00" if signed else "0.00")

    if m.ci_low is None or m.ci_low == m.ci_high:
        return num(m.value)
    return f"{num(m.value)} [{num(m.ci_low)}, {num(m.ci_high)}]"


def rank_text(row: BoardRow) -> str:
    """``3`` or ``1–3`` (a tie within CIs)."""
    return str(row.rank_low) if row.rank_low == row.rank_high else f"{row.rank_low}–{row.rank_high}"


def table_records(rows: Sequence[BoardRow]) -> list[dict[str, str]]:
    """The rows as text cells of :data:`COLUMNS` (values with their 95% CIs)."""
    out = []
    for r in rows:
        e = r.entry
        acc = e.task_quality.heldout_accuracy if e.task_quality else None
        out.append({
            "rank": rank_text(r), "name": e.name, "kind": e.kind, "method": e.method or "–", "base_model": e.base_model,
            "adapter": (e.adapter_sha256 or "")[:12] or "–", "balanced_safety": _ci(e.metrics.get(BAL)),
            "alignment_drift": _ci(r.alignment_drift, signed=True), "refusal_rate_unsafe": _ci(e.metrics.get(RR)),
            "harmful_rate_unsafe": _ci(e.metrics.get(HR)), "harmful_rate_corrected": _ci(e.corrected.get(HR)),
            "over_refusal_rate_safe": _ci(e.metrics.get(ORR)),
            "task_accuracy": "–" if acc is None else f"{acc:.2f}", "pareto": "★" if r.pareto else ""})
    return out


def fit_tables(fits: Sequence[tuple[ScalingReport, str]]) -> list[dict[str, Any]]:
    """One table per stored scaling fit: law, formula, y, grouping, and per group (e.g. per
    method) the parameters (with their 95% bootstrap CI when the fit has one), R² of log y,
    points / runs, and the held-out MAPE and prediction-interval coverage when a rule was set."""
    tables = []
    for report, _ in fits:
        params = list(report.law_object().params)
        lines = []
        for group, fit in report.fits.items():
            cells = []
            for p in params:
                v = (fit.params or {}).get(p)
                lo_hi = (fit.param_ci or {}).get(p)
                cells.append("–" if v is None else f"{v:.4g}" + (f" [{lo_hi[0]:.3g}, {lo_hi[1]:.3g}]" if lo_hi else ""))
            held = (report.holdout or {}).get(group)
            lines.append({"group": group, "converged": fit.converged, "params": cells,
                          "r2": "–" if fit.r2_log is None else f"{fit.r2_log:.3f}", "n": f"{fit.n_points} / {fit.n_runs}",
                          "mape": "–" if held is None or held.mape is None else f"{100 * held.mape:.1f}%",
                          "coverage": "–" if held is None or held.coverage is None else f"{100 * held.coverage:.0f}%"})
        tables.append({"law": report.law, "formula": report.formula, "y": report.y, "by": report.by,
                       "n_points": report.n_points, "holdout_rule": report.holdout_rule, "params": params,
                       "lines": lines, "created_at": report.created_at,
                       "has_ci": any(f.param_ci for f in report.fits.values())})
    return tables


def _fits_markdown(fits: Sequence[tuple[ScalingReport, str]]) -> str:
    import pandas as pd

    parts = []
    for t in fit_tables(fits):
        cols = [t["by"] or "group", *t["params"], "R² (log)", "points / runs", "held-out MAPE"]
        df = pd.DataFrame([[line["group"], *line["params"], line["r2"], line["n"], line["mape"]] for line in t["lines"]],
                          columns=cols)
        parts.append(f"Forgetting scaling law: {t['law']} on {t['y']}, {t['y']} = {t['formula']}\n\n"
                     + df.to_markdown(index=False, disable_numparse=True))
    return "\n\n".join(parts)


def render(rows: Sequence[BoardRow], fmt: str, fits: Sequence[tuple[ScalingReport, str]] = ()) -> str:
    """The board as ``md`` (a Markdown table, then one table per scaling-law fit, per method),
    ``csv`` (the board's text cells) or ``json`` (``{"entries": [every field of every row],
    "scaling_fits": [every stored fit.json]}``, numbers as numbers)."""
    if fmt == "json":
        return json.dumps({"entries": [r.model_dump(mode="json") for r in rows],
                           "scaling_fits": [json.loads(rep.model_dump_json()) for rep, _ in fits]}, indent=2)
    import pandas as pd

    if fmt == "md" and not rows:
        return "No entries yet: submit a results folder with `driftcaps leaderboard submit DIR`."
    df = pd.DataFrame(table_records(rows), columns=list(COLUMNS))
    if fmt == "csv":
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        return buf.getvalue()
    text = df.to_markdown(index=False, disable_numparse=True)
    return text + ("\n\n" + _fits_markdown(fits) if fits else "")
