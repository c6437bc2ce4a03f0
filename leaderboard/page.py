"""The static page of the board (``driftcaps leaderboard build``, ``docs/leaderboard.md#page``):
one self-contained ``index.html`` with the ranked table (sortable, filterable), the drift/utility
Pareto plot, drift per category, the stored scaling-law fits and each entry's provenance.

Inline CSS and vanilla JS, figures as ``data:`` PNGs and a Content-Security-Policy that forbids
every network request: the page opens from a file, a static host or an e-mail attachment alike.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from driftcaps import __version__
from driftcaps.errors import DriftCapsError
from driftcaps.io import staged_dir
from driftcaps.metrics import BAL, HR, ORR, RR
from driftcaps.provenance import now_iso
from driftcaps.scaling.report import ScalingReport
from driftcaps.schema import MetricCI
from leaderboard.plots import category_drift_plot, pareto_plot, scaling_plot, utility_label
from leaderboard.schema import BoardRow
from leaderboard.views import COLUMNS, fit_tables, table_records

MARKER = ".driftcaps-leaderboard"
"""File left in a built folder: a later build may replace a folder that holds it."""
TEMPLATE = "page.html.j2"
EMPTY = "No entries yet: submit a results folder with `driftcaps leaderboard submit DIR`."

HEADERS = {  # column -> (header, sort type, tooltip)
    "rank": ("Rank", "num", "rank by balanced safety; a range (e.g. 2–3) is a tie within 95% CIs"),
    "name": ("Name", "text", "display name of the entry"),
    "kind": ("Kind", "text", "base model or adapter"),
    "method": ("Method", "text", "fine-tuning method (lora, agl, ...)"),
    "base_model": ("Base model", "text", "the base model evaluated"),
    "adapter": ("Adapter", "text", "first 12 hex characters of the adapter's sha256"),
    "balanced_safety": ("Balanced safety", "num", "(RR + 1 − ORR) / 2, higher is better"),
    "alignment_drift": ("AD", "num", "alignment drift RR_base − RR_entry; positive: refusals lost"),
    "refusal_rate_unsafe": ("RR", "num", "refusal rate on unsafe prompts; higher is safer"),
    "harmful_rate_unsafe": ("HR", "num", "harmful-response rate on unsafe prompts; lower is safer"),
    "harmful_rate_corrected": ("HR corr.", "num", "harmful rate corrected for the harm judge's error "
                               "(Rogan-Gladen with its Se and Sp on human labels); lower is safer"),
    "over_refusal_rate_safe": ("ORR", "num", "over-refusal rate on safe prompts; lower is better"),
    "task_accuracy": ("Task acc.", "num", "held-out accuracy on the fine-tuning task; higher is better"),
    "pareto": ("Pareto", "num", "★: on the drift/utility Pareto front of its base model"),
}


def _value(m: MetricCI | None) -> float | None:
    return None if m is None else m.value


def _sort_key(row: BoardRow, column: str, text: str) -> str:
    """The ``data-sort`` of a cell: the numeric point value or the lower-case text (empty when
    missing, which sorts last)."""
    e = row.entry
    acc = e.task_quality.heldout_accuracy if e.task_quality else None
    numbers = {"rank": row.rank_low, "balanced_safety": _value(e.metrics.get(BAL)),
               "alignment_drift": _value(row.alignment_drift), "refusal_rate_unsafe": _value(e.metrics.get(RR)),
               "harmful_rate_unsafe": _value(e.metrics.get(HR)), "harmful_rate_corrected": _value(e.corrected.get(HR)),
               "over_refusal_rate_safe": _value(e.metrics.get(ORR)), "task_accuracy": acc,
               "pareto": int(row.pareto)}
    if column in numbers:
        v = numbers[column]
        return "" if v is None else repr(float(v))
    return "" if text in ("–", "") else text.lower()


def _cell(text: str) -> tuple[str, str]:
    """(point value, CI) of a table text such as ``0.56 [0.51, 0.62]``."""
    point, sep, ci = text.partition(" [")
    return point, f"[{ci}" if sep else ""


def _ci_text(m: MetricCI, signed: bool = True) -> str:
    f = "{:+.2f}" if signed else "{:.2f}"
    if m.value is None:
        return "–"
    if m.ci_low is None or m.ci_high is None:
        return f.format(m.value)
    return f"{f.format(m.value)} [{f.format(m.ci_low)}, {f.format(m.ci_high)}]"


def _png_uri(png: bytes | None) -> str | None:
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _entry_id(row: BoardRow) -> str:
    return str(row.entry.id) if row.entry.id is not None else row.entry.key[:12]


def _board(rows: Sequence[BoardRow]) -> list[dict[str, Any]]:
    out = []
    for i, (row, record) in enumerate(zip(rows, table_records(rows), strict=True)):
        cells = []
        for col in COLUMNS:
            point, ci = _cell(record[col]) if HEADERS[col][1] == "num" else (record[col], "")
            cells.append({"col": col, "point": point, "ci": ci, "sort": _sort_key(row, col, record[col])})
        out.append({"id": _entry_id(row), "kind": row.entry.kind, "alt": i % 2 == 1, "cells": cells,
                    "tie": row.rank_low != row.rank_high})
    return out


def _provenance(row: BoardRow) -> dict[str, Any]:
    e = row.entry
    fields = {
        "base model": f"{e.base_model} (sha256 {e.base_sha256})",
        "adapter sha256": e.adapter_sha256 or "– (base entry)",
        "adapter rank": "–" if e.adapter_rank is None else str(e.adapter_rank),
        "method": e.method or "–",
        "training data sha256": e.training_data_sha256 or "–",
        "DriftCaps manifest sha256": e.manifest_sha256 + (f" (data {e.data_version})" if e.data_version else ""),
        "tasks": f"{', '.join(e.tasks)} ({e.n_prompts} prompts judged)",
        "judges": ", ".join(f"{j.kind}: {j.name} {j.version}" for j in e.judges),
        "generation settings": json.dumps(e.generation, sort_keys=True, default=str),
        "chat template": (f"applied, sha256 {e.chat_template_sha256 or '–'}" if e.apply_chat_template
                          else "not applied"),
        "lm-eval version": e.lm_eval_version,
        "driftcaps version": e.driftcaps_version,
        "report sha256": e.report_sha256,
        "entry key": e.key,
        "submitted at": e.submitted_at,
    }
    if e.task_quality is not None:
        fields["task quality"] = json.dumps(e.task_quality.model_dump(exclude_none=True), sort_keys=True)
    return {"id": _entry_id(row), "name": e.name, "kind": e.kind, "fields": fields,
            "json": json.dumps(e.provenance, indent=2, sort_keys=True, default=str)}


def render_page(rows: Sequence[BoardRow], fits: Sequence[tuple[ScalingReport, str]],
                title: str = "DriftCaps leaderboard", source: str = "") -> str:
    """The page's HTML text (what :func:`build_page` writes), without touching the disk.

    Args:
        rows: the board (:func:`leaderboard.views.board_rows`), in the order to show.
        fits: stored scaling fits, (report, points CSV text) pairs.
        title: the page title; source: where the board came from (shown in the header).

    Returns:
        A complete, self-contained HTML document.
    """
    env = jinja2.Environment(loader=jinja2.PackageLoader("leaderboard", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    adapters = [r for r in rows if r.entry.kind == "adapter" and r.drift_by_category]
    categories = [{"category": c, "adapter": r.entry.name, "ad": _ci_text(m)}
                  for r in adapters for c, m in sorted(r.drift_by_category.items()) if m.value is not None]
    utility = sorted({r.utility_name for r in rows if r.utility_name})
    return env.get_template(TEMPLATE).render(
        title=title, source=source, built_at=now_iso(), version=__version__, empty=EMPTY,
        headers=[(c, *HEADERS[c]) for c in COLUMNS], board=_board(rows), n_entries=len(rows),
        n_bases=len({r.entry.base_model for r in rows}), n_fits=len(fits),
        utility=", ".join(utility_label(u) for u in utility),
        pareto_png=_png_uri(pareto_plot(rows)) if rows else None,
        category_png=_png_uri(category_drift_plot(rows)), categories=categories,
        scaling_png=_png_uri(scaling_plot(fits)), fit_tables=fit_tables(fits),
        provenance=[_provenance(r) for r in rows])


def build_page(rows: list[BoardRow], fits: list[tuple[ScalingReport, str]], out: Path,
               title: str = "DriftCaps leaderboard", source: str = "") -> Path:
    """Write the static page of the board as ``out/index.html``.

    The folder is built in a temporary sibling and renamed into place (a failed build leaves
    ``out`` as it was), with a marker file (:data:`MARKER`) so that the next build may replace it.

    Args:
        rows: the board rows (an empty list gives a page that says how to submit).
        fits: stored scaling fits, (report, points CSV text) pairs.
        out: the folder to write: new, empty, or a previous build.
        title: the page title; source: where the board came from (e.g. the database URL).

    Returns:
        The path of ``index.html``.

    Raises:
        DriftCapsError: ``out`` is a file, a non-empty folder that no build made (or a build
            folder with other files added), or cannot be written.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DriftCapsError(f"{out}: exists and is a file; choose an empty or new --out folder "
                             "(a folder built by `driftcaps leaderboard build` is replaced).")
    if out.is_dir() and any(p.name not in (MARKER, "index.html") or not (out / MARKER).is_file() for p in out.iterdir()):
        raise DriftCapsError(f"{out}: exists and holds other files; choose an empty or new --out "
                             "(a folder built by `driftcaps leaderboard build` is replaced).")
    html = render_page(rows, fits, title=title, source=source)
    try:
        with staged_dir(out, overwrite=True) as stage:
            (stage / "index.html").write_text(html, encoding="utf-8")
            (stage / MARKER).write_text("built by `driftcaps leaderboard build`; the next build replaces this "
                                        "folder.\n", encoding="utf-8")
    except OSError as e:
        raise DriftCapsError(f"--out {out}: cannot write the page there ({e.strerror or e}); choose a writable folder.") from None
    return out / "index.html"
