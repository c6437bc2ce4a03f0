"""Figures of the leaderboard page (``docs/leaderboard.md#page``) as PNG bytes: the drift/utility
Pareto plot, alignment drift per category, and the stored scaling-law fits.

matplotlib with the Agg canvas and no pyplot (no global backend state); small figures (about
7 x 4 inches at 100 dpi) so that the page, which inlines them, stays light.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from driftcaps.errors import DriftCapsError
from driftcaps.scaling import holdout_mask, predict
from driftcaps.scaling.report import ScalingReport
from leaderboard.schema import BoardRow

DPI = 100
AD_LABEL = "alignment drift AD = RR_base \u2212 RR_entry (lower is better)"
UTILITY_LABELS = {"task_accuracy": "held-out task accuracy",
                  "helpfulness_safe": "helpfulness on safe prompts (1 \u2212 ORR)"}


def utility_label(name: str | None) -> str:
    """The axis label of a :attr:`BoardRow.utility_name` (``task_accuracy``, ``helpfulness_safe``)."""
    return UTILITY_LABELS.get(name or "", name or "utility")


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes (tight layout, :data:`DPI`)."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _err(value: float, low: float | None, high: float | None) -> tuple[float, float]:
    """Error-bar lengths (below, above) of a CI around ``value`` (0 where a bound is missing)."""
    return (max(0.0, value - low) if low is not None else 0.0, max(0.0, high - value) if high is not None else 0.0)


def pareto_plot(rows: Sequence[BoardRow]) -> bytes:
    """The drift/utility plane: one point per row that has both an alignment drift and a utility.

    x: alignment drift AD (lower is better) with its 95% CI as horizontal error bars; y: the
    row's utility (higher is better; the axis names it from ``utility_name``). Pareto-front points
    (``row.pareto``) are drawn larger with a dark edge and joined by a step line per evaluation
    group (the front is computed among entries evaluated alike); every point is labelled with its
    entry's name. One colour per base model when the board holds more than one.

    Args:
        rows: board rows (any number; rows missing AD or utility are left out).

    Returns:
        PNG bytes (an empty plane with a note when no row has both coordinates).
    """
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    shown = [r for r in rows if r.alignment_drift is not None and r.alignment_drift.value is not None
             and r.utility is not None]
    bases = sorted({r.entry.base_model for r in shown})
    colour = {b: f"C{i % 10}" for i, b in enumerate(bases)}
    for base in bases:
        mine = [r for r in shown if r.entry.base_model == base]
        xs = [r.alignment_drift.value for r in mine]
        ys = [r.utility for r in mine]
        errs = np.array([_err(r.alignment_drift.value, r.alignment_drift.ci_low, r.alignment_drift.ci_high)
                         for r in mine]).T
        ax.errorbar(xs, ys, xerr=errs, fmt="none", ecolor=colour[base], alpha=0.45, capsize=3, lw=1)
        ax.scatter(xs, ys, s=36, color=colour[base], zorder=3, label=base if len(bases) > 1 else None)
        front = [r for r in mine if r.pareto]
        if front:
            ax.scatter([r.alignment_drift.value for r in front], [r.utility for r in front], s=110,
                       facecolors=colour[base], edgecolors="black", linewidths=1.4, zorder=4, marker="*")
        groups: dict[str, list[BoardRow]] = {}
        for r in front:
            groups.setdefault(json.dumps(r.entry.eval_signature(), sort_keys=True), []).append(r)
        for group in groups.values():
            group = sorted(group, key=lambda r: r.alignment_drift.value)
            ax.step([r.alignment_drift.value for r in group], [r.utility for r in group], where="post",
                    color=colour[base], lw=1.3, zorder=2)
    for k, r in enumerate(shown):
        ax.annotate(r.entry.name, (r.alignment_drift.value, r.utility), textcoords="offset points",
                    xytext=(6, 6 if k % 2 == 0 else -11), fontsize=8, color="#222")
    if not shown:
        ax.text(0.5, 0.5, "no entry has both a drift and a utility yet", transform=ax.transAxes,
                ha="center", va="center", color="#666")
    ax.axvline(0.0, color="#888", lw=0.8, ls=":")
    names = sorted({r.utility_name for r in shown if r.utility_name})
    ax.set_xlabel(AD_LABEL, fontsize=9)
    ax.set_ylabel(" / ".join(utility_label(n) for n in names) or "utility", fontsize=9)
    ax.set_title("Drift vs utility (\u2605: Pareto front; bars: 95% CI of AD)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.margins(x=0.15, y=0.12)
    if len(bases) > 1:
        ax.legend(fontsize=8, title="base model", title_fontsize=8)
    return _png(fig)


def category_drift_plot(rows: Sequence[BoardRow]) -> bytes | None:
    """Alignment drift per harm category: horizontal grouped bars, one colour per adapter, with
    95% CI whiskers and a vertical line at AD = 0.

    Args:
        rows: board rows; only adapter rows with a non-empty ``drift_by_category`` are drawn.

    Returns:
        PNG bytes, or None when no adapter row has per-category drift.
    """
    adapters = [r for r in rows if r.entry.kind == "adapter" and r.drift_by_category]
    if not adapters:
        return None
    cats = sorted({c for r in adapters for c, m in r.drift_by_category.items() if m.value is not None})
    if not cats:
        return None
    n = len(adapters)
    height = 0.8 / n
    fig = _figure(7.0, min(14.0, max(3.0, 0.22 * len(cats) * n + 0.35 * len(cats) + 1.4)))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(cats), dtype=float)
    for k, r in enumerate(adapters):
        offset = (k - (n - 1) / 2.0) * height
        ys, vals, lo, hi = [], [], [], []
        for i, c in enumerate(cats):
            m = r.drift_by_category.get(c)
            if m is None or m.value is None:
                continue
            below, above = _err(m.value, m.ci_low, m.ci_high)
            ys.append(y[i] + offset)
            vals.append(m.value)
            lo.append(below)
            hi.append(above)
        ax.barh(ys, vals, height=height * 0.9, color=f"C{k % 10}", label=r.entry.name)
        ax.errorbar(vals, ys, xerr=[lo, hi], fmt="none", ecolor="black", capsize=2.5, lw=0.9)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(cats, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(AD_LABEL.replace("lower is better", "positive: refusals lost"), fontsize=9)
    ax.set_title("Alignment drift per category (95% CI)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, title="adapter", title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def _draw_fit(ax, report: ScalingReport, data: pd.DataFrame) -> None:
    """One stored fit on ``ax``: points per group (held-out ones hollow) and the fitted curves."""
    law = report.law_object()
    first = max(law.variables, key=lambda v: data[report.variables[v]].nunique())
    rest = tuple(v for v in law.variables if v != first)
    col = report.variables[first]
    groups = {"all": np.ones(len(data), bool)} if report.by is None else {
        str(k): (data[report.by].astype(str) == str(k)).to_numpy() for k in report.fits}
    held = np.zeros(len(data), bool)
    if report.holdout_rule:
        for member in groups.values():
            held[member] = holdout_mask(data[member], report.holdout_rule)
    positive = bool((data[report.y] > 0).all() and (data[col] > 0).all())
    for i, (name, member) in enumerate(groups.items()):
        c = f"C{i % 10}"
        ax.scatter(data.loc[member & ~held, col], data.loc[member & ~held, report.y], color=c, s=16, label=name)
        if held[member].any():
            ax.scatter(data.loc[member & held, col], data.loc[member & held, report.y], facecolors="none",
                       edgecolors=c, s=26, label=f"{name}, held out")
        fit = report.fits[name]
        if not fit.converged or not member.any():
            continue
        g = data[member]
        lo_x, hi_x = float(g[col].min()), float(g[col].max())
        grid = np.geomspace(lo_x, hi_x, 60) if lo_x > 0 else np.linspace(lo_x, hi_x, 60)
        others = g[[report.variables[v] for v in rest]].drop_duplicates().to_numpy() if rest else [()]
        for values in others:
            at = {first: grid, **{v: np.full_like(grid, float(val)) for v, val in zip(rest, values, strict=True)}}
            point, _, _ = predict(law, fit, at)
            ax.plot(grid, point, color=c, lw=1.2)
    if positive:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(f"{first} ({col})", fontsize=9)
    ax.set_ylabel(f"{report.y} (higher: more forgotten)", fontsize=9)
    ax.set_title(f"{law.name} on {report.y}: F = {report.formula}", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, title=report.by, title_fontsize=7)


def scaling_plot(fits: Sequence[tuple[ScalingReport, str]]) -> bytes | None:
    """The stored scaling-law fits, one subplot each: the points (x: the law variable with the
    most distinct values, usually steps ``S``; y: ``report.y``), one colour per group
    (``report.by``), held-out points hollow, and each group's fitted law drawn with
    :func:`driftcaps.scaling.predict` for every distinct value of the other variables.

    Args:
        fits: (report, the CSV text of its points) pairs as the board stores them.

    Returns:
        PNG bytes, or None when there are no fits.
    """
    if not fits:
        return None
    fig = _figure(7.0, 3.6 * len(fits))
    for i, (report, points) in enumerate(fits):
        ax = fig.add_subplot(len(fits), 1, i + 1)
        try:
            _draw_fit(ax, report, pd.read_csv(io.StringIO(points)))
        except (KeyError, ValueError, DriftCapsError) as e:  # one unreadable fit must not hide the others
            ax.cla()
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"{report.law} on {report.y}: cannot draw ({e})", transform=ax.transAxes,
                    ha="center", va="center", fontsize=8, color="#a00", wrap=True)
    return _png(fig)
