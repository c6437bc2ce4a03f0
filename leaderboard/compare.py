"""Compare N adapter checkpoints of one base model (``docs/leaderboard.md#comparing-checkpoints``):
paired drift of each checkpoint against the base (``driftcaps drift``, with its per-category
breakdown and plot) and of each checkpoint against each other one, as a table, a JSON record
and a heat map.

The pairwise drift AD(i → j) = RR_i − RR_j is computed on the prompts both answered, with the
same paired bootstrap and exact McNemar test as drift against the base
(``docs/metrics.md#drift``): positive means checkpoint j refuses less than checkpoint i.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from driftcaps import __version__
from driftcaps.compare import load_judged, run_drift
from driftcaps.drift import DriftReport, compute_drift
from driftcaps.errors import DriftCapsError
from driftcaps.io import atomic_open
from driftcaps.judges import get_harm_judge, get_refusal_judge
from driftcaps.provenance import now_iso
from driftcaps.schema import MetricCI, Record, VersionedRecord, write_record
from driftcaps.stats import N_BOOT


class PairDrift(Record):
    """Paired drift from checkpoint ``source`` to checkpoint ``target`` (AD = RR_source − RR_target)."""

    source: str
    target: str
    alignment_drift: MetricCI
    delta_harmful_rate: MetricCI
    refused_to_complied: int
    complied_to_refused: int
    mcnemar_p: float | None


class CompareReport(VersionedRecord):
    """``compare.json`` of ``driftcaps leaderboard compare``: drift of each checkpoint against
    the base (a full :class:`~driftcaps.drift.DriftReport`) and between every ordered pair of
    checkpoints (``pairs``, i before j in the order given)."""

    KIND = "driftcaps.leaderboard.compare"
    checkpoints: list[str]
    vs_base: DriftReport
    pairs: list[PairDrift]
    created_at: str
    driftcaps_version: str


def compare_checkpoints(base: str | os.PathLike, checkpoints: list[str | os.PathLike], output: str | os.PathLike,
                        names: list[str] | None = None, n_boot: int = N_BOOT, seed: int = 0) -> tuple[CompareReport, list[str]]:
    """Compare checkpoints (results folders of ``driftcaps eval``) of one base model.

    Writes ``output`` (``compare.json``), ``output``'s stem + ``-vs-base.png`` (the drift chart of
    ``driftcaps drift``) and + ``.png`` (the pairwise heat map).

    Returns:
        (report, warnings of ``driftcaps drift``).

    Raises:
        DriftCapsError: fewer than two checkpoints, an output that is not a ``.json`` name, or any
            error of :func:`driftcaps.compare.run_drift` (another base model, no shared prompts ...).
    """
    out = Path(output)
    if out.suffix.lower() != ".json":
        raise DriftCapsError(f"--output {out}: give a .json file name (the plots go beside it).")
    if len(checkpoints) < 2:
        raise DriftCapsError("give at least two checkpoint results folders to compare (one is `driftcaps drift`).")
    labels = names or [Path(c).name for c in checkpoints]
    if len(set(labels)) != len(labels):
        raise DriftCapsError(f"checkpoint names repeat ({', '.join(labels)}); give one --name per checkpoint.")
    vs_base, warnings = run_drift(base, list(checkpoints), out.with_name(out.stem + "-vs-base.json"), names=labels,
                                  n_boot=n_boot, seed=seed)
    judges = {j.kind: j.name for j in vs_base.judges}
    refusal, harm = get_refusal_judge(judges["refusal"]), get_harm_judge(judges["harm"])
    records = {label: load_judged(c, refusal, harm) for label, c in zip(labels, checkpoints, strict=True)}
    pairs = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            d = compute_drift(records[a], records[b], name=f"{a}->{b}", results_dir="", n_boot=n_boot, seed=seed).overall
            pairs.append(PairDrift(source=a, target=b, alignment_drift=d.alignment_drift,
                                   delta_harmful_rate=d.delta_harmful_rate, refused_to_complied=d.refused_to_complied,
                                   complied_to_refused=d.complied_to_refused, mcnemar_p=d.mcnemar_p))
    report = CompareReport(checkpoints=labels, vs_base=vs_base, pairs=pairs, created_at=now_iso(),
                           driftcaps_version=__version__)
    write_record(out, report)
    plot_pairs(report, out.with_suffix(".png"))
    return report, warnings


def pair_matrix(report: CompareReport) -> list[list[float | None]]:
    """Square matrix M (checkpoints × checkpoints, in order) of pairwise AD: M[i][j] = AD(i → j)
    (refusals lost going from i to j), M[j][i] = −M[i][j], diagonal 0; None without a value."""
    idx = {c: k for k, c in enumerate(report.checkpoints)}
    n = len(idx)
    m: list[list[float | None]] = [[0.0 if i == j else None for j in range(n)] for i in range(n)]
    for p in report.pairs:
        v = p.alignment_drift.value
        m[idx[p.source]][idx[p.target]] = v
        m[idx[p.target]][idx[p.source]] = None if v is None else -v
    return m


def plot_pairs(report: CompareReport, path: str | os.PathLike) -> Path:
    """Heat map of :func:`pair_matrix` with a first column of AD against the base; cells show
    AD and, for pairs, the exact McNemar p value."""
    import numpy as np

    m = pair_matrix(report)
    base_ad = {t.name: t.overall.alignment_drift.value for t in report.vs_base.tuned}
    n = len(report.checkpoints)
    grid = np.array([[base_ad.get(c) if c in base_ad else np.nan] + [np.nan if v is None else v for v in m[i]]
                     for i, c in enumerate(report.checkpoints)], dtype=float)
    grid[:, 0] = [np.nan if base_ad.get(c) is None else base_ad[c] for c in report.checkpoints]
    pval = {(p.source, p.target): p.mcnemar_p for p in report.pairs}
    fig = Figure(figsize=(1.6 + 1.1 * (n + 1), 1.2 + 0.7 * n))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    lim = max(0.05, float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 0.05)
    im = ax.imshow(grid, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for i in range(n):
        for j in range(n + 1):
            v = grid[i, j]
            if np.isnan(v) or (j > 0 and j - 1 == i):
                continue
            p = pval.get((report.checkpoints[i], report.checkpoints[j - 1])) if j > 0 else None
            ax.text(j, i, f"{v:+.2f}" + (f"\np={p:.2g}" if p is not None else ""), ha="center", va="center", fontsize=8,
                    color="white" if abs(v) > 0.6 * lim else "black")
    ax.set_xticks(range(n + 1), ["base (to row)"] + [f"to {c}" for c in report.checkpoints], rotation=30, ha="right")
    ax.set_yticks(range(n), report.checkpoints)
    ax.set_title("alignment drift from row to column (positive: refusals lost);\n"
                 "first column: from the base to the row", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    return Path(path)


def compare_markdown(report: CompareReport) -> str:
    """Two Markdown tables: each checkpoint against the base, and each pair of checkpoints."""
    def ci(m: MetricCI) -> str:
        return "–" if m.value is None else f"{m.value:+.3f} [{m.ci_low:+.3f}, {m.ci_high:+.3f}]"

    lines = ["| checkpoint | AD vs base | ΔHR vs base | refused→complied | complied→refused | McNemar p |",
             "|---|---|---|---|---|---|"]
    for t in report.vs_base.tuned:
        o = t.overall
        lines.append(f"| {t.name} | {ci(o.alignment_drift)} | {ci(o.delta_harmful_rate)} | {o.refused_to_complied} | "
                     f"{o.complied_to_refused} | {'–' if o.mcnemar_p is None else f'{o.mcnemar_p:.3g}'} |")
    lines += ["", "| from → to | AD | ΔHR | refused→complied | complied→refused | McNemar p |", "|---|---|---|---|---|---|"]
    for p in report.pairs:
        lines.append(f"| {p.source} → {p.target} | {ci(p.alignment_drift)} | {ci(p.delta_harmful_rate)} | "
                     f"{p.refused_to_complied} | {p.complied_to_refused} | "
                     f"{'–' if p.mcnemar_p is None else f'{p.mcnemar_p:.3g}'} |")
    return "\n".join(lines)
