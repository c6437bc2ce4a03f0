"""Figures of drift reports and scaling-law fits (matplotlib, Agg canvas; no pyplot, so no global backend state)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from driftcaps.drift import DriftReport, DriftStats
from driftcaps.io import atomic_open
from driftcaps.scaling.report import ScalingReport

ALL = "all"
YLABEL = "alignment drift AD = RR_base \u2212 RR_tuned (positive: refusals lost)"


def _categories(report: DriftReport) -> list[str]:
    """Categories where some tuned model has a drift value (safe-only ones have none), + all."""
    cats = sorted(
        {
            c
            for t in report.tuned
            for c, s in t.by_category.items()
            if s.alignment_drift.value is not None
        }
    )
    return [*cats, ALL]


def _stats(tuned, cat: str) -> DriftStats | None:
    return tuned.overall if cat == ALL else tuned.by_category.get(cat)


def _tick_label(report: DriftReport, cat: str) -> str:
    ns = {s.n_unsafe for t in report.tuned if (s := _stats(t, cat)) is not None}
    if len(ns) == 1:
        return f"{cat}\n(n={ns.pop()})"
    return cat


def plot_drift(report: DriftReport, path: str | os.PathLike) -> Path:
    """Draw alignment drift per category as a grouped bar chart and write it as a PNG.

    x: the categories in which any tuned model has a drift value (sorted; safe-only categories
    have none) plus ``"all"`` (the overall drift), labelled with the unsafe-pair count when all models share it; one bar per
    tuned model in each group; error bars from ``alignment_drift.ci_low/ci_high`` (none drawn
    when a bound is None); no bar when the drift value is None; a line at AD = 0. The part of a
    bar lost to degenerate text (``alignment_drift_degenerate``) is hatched on top of the
    coherent part, so a model that stopped refusing because it broke is told apart at a glance.

    Args:
        report: a DriftReport (any number of tuned models, zero included).
        path: the PNG to write; parent folders are created. Written atomically (temporary file
            in the same folder, then ``os.replace``).

    Returns:
        ``Path(path)``.

    Raises:
        OSError: the folder cannot be created or written.
    """
    cats = _categories(report)
    n_models = max(1, len(report.tuned))
    width = 0.8 / n_models
    fig = Figure(figsize=(max(6.0, 1.1 * len(cats) * max(1.0, n_models / 2) + 2), 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(cats), dtype=float)
    for k, tuned in enumerate(report.tuned):
        offset = (k - (n_models - 1) / 2.0) * width
        xs, heights, degen, err_x, err_v, err_lo, err_hi = [], [], [], [], [], [], []
        for i, cat in enumerate(cats):
            s = _stats(tuned, cat)
            if s is None or s.alignment_drift.value is None:
                continue
            ad = s.alignment_drift
            xs.append(x[i] + offset)
            heights.append(ad.value)
            degen.append(s.alignment_drift_degenerate or 0.0)
            if ad.ci_low is not None and ad.ci_high is not None:
                err_x.append(x[i] + offset)
                err_v.append(ad.value)
                err_lo.append(max(0.0, ad.value - ad.ci_low))
                err_hi.append(max(0.0, ad.ci_high - ad.value))
        coherent = [h - d for h, d in zip(heights, degen, strict=True)]
        ax.bar(xs, coherent, width=width * 0.95, label=tuned.name, color=f"C{k % 10}")
        if any(degen):  # the refusals lost to degenerate text, hatched on top
            ax.bar(xs, degen, bottom=coherent, width=width * 0.95, color=f"C{k % 10}", alpha=0.35,
                   hatch="///", edgecolor="black", linewidth=0.3,
                   label="lost to degenerate text" if k == 0 else None)
        if err_x:
            ax.errorbar(
                err_x,
                err_v,
                yerr=[err_lo, err_hi],
                fmt="none",
                ecolor="black",
                capsize=3,
                linewidth=1,
            )
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([_tick_label(report, c) for c in cats], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(YLABEL, fontsize=8)
    ax.set_title(
        f"Alignment drift vs base ({report.n_bootstrap} bootstrap replicates, 95% CI)"
        if report.n_bootstrap
        else "Alignment drift vs base"
    )
    if report.tuned:
        ax.legend(fontsize=8, title="tuned model", title_fontsize=8)
    else:
        ax.text(0.5, 0.5, "no tuned models", transform=ax.transAxes, ha="center")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save_png(fig, path)


def _save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG (120 dpi) atomically; return the path."""
    path = Path(path)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    return path


def plot_scaling(report: ScalingReport, data: pd.DataFrame, path: str | os.PathLike) -> Path:
    """``fit.png`` of ``driftcaps scaling fit``: forgetting against the law variable with the most
    distinct values (steps, usually; log axes), one colour per group; points (held-out ones
    hollow), the fitted law for each distinct value of the other variables, and its 95%
    prediction band (:func:`driftcaps.scaling.predict`); with a held-out rule, also the law
    fitted without the held-out points (dashed), the one the held-out error measures."""
    from driftcaps.scaling import holdout_mask, predict

    law = report.law_object()
    first = max(law.variables, key=lambda v: data[report.variables[v]].nunique())
    rest = tuple(v for v in law.variables if v != first)
    col = report.variables[first]
    fig = Figure(figsize=(8, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    groups = {"all": np.ones(len(data), bool)} if report.by is None else {
        str(k): (data[report.by].astype(str) == str(k)).to_numpy() for k in report.fits}
    held = np.zeros(len(data), bool)
    if report.holdout_rule:  # per group, as the held-out fits were made (driftcaps.scaling.report.fit_groups)
        for member in groups.values():
            held[member] = holdout_mask(data[member], report.holdout_rule)
    for i, (name, member) in enumerate(groups.items()):
        colour = f"C{i}"
        fit = report.fits[name]
        ax.scatter(data.loc[member & ~held, col], data.loc[member & ~held, report.y], color=colour, s=18, label=name)
        if held[member].any():
            ax.scatter(data.loc[member & held, col], data.loc[member & held, report.y], facecolors="none",
                       edgecolors=colour, s=30, label=f"{name}, held out")
        if not fit.converged:
            continue
        g = data[member]
        grid = np.geomspace(g[col].min(), g[col].max(), 60)
        others = g[[report.variables[v] for v in rest]].drop_duplicates().to_numpy() if rest else [()]
        held_fit = (report.holdout or {}).get(name)
        held_fit = held_fit.fit if held_fit is not None and held_fit.fit.converged else None
        for j, values in enumerate(others):
            at = {first: grid, **{v: np.full_like(grid, float(val)) for v, val in zip(rest, values, strict=True)}}
            point, low, high = predict(law, fit, at)
            ax.plot(grid, point, color=colour, lw=1.2)
            ax.fill_between(grid, low, high, color=colour, alpha=0.12, lw=0)
            if held_fit is not None:  # the fit the held-out error was measured with
                ax.plot(grid, predict(law, held_fit, at)[0], color=colour, lw=1.0, ls="--",
                        label=f"{name}, fit without the held-out points" if j == 0 else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{first} ({col})")
    ax.set_ylabel(f"forgetting ({report.y}; higher is more forgotten)")
    ax.set_title(f"{law.name}: F = {law.formula}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save_png(fig, path)
