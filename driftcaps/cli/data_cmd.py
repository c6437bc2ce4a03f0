"""``driftcaps data build|stats``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from driftcaps.data import build as build_data
from driftcaps.data import data_dir, load_manifest
from driftcaps.io import sha256_file
from driftcaps.paths import default_sources

app = typer.Typer(help="Build DriftCaps from the public sources and inspect it.", no_args_is_help=True)
console = Console()


@app.command("build")
def build(
    sources: str = typer.Option(None, "--sources", help="Folder of public source files, or 'hub' "
                                "(default: $DRIFTCAPS_SOURCES, else ../shared/data/public, else hub)."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: the cache, see `data stats`)."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Accept source files whose sha256 "
                                   "differs from data/sources.yaml."),
) -> None:
    """Build DriftCaps (test/align/dev splits, driftcaps_mini, manifest.json)."""
    src = sources or default_sources()
    folder = build_data(sources=src, out=out, verify=not no_verify)
    console.print(f"built DriftCaps from {src} into {folder}")
    stats(folder)


@app.command("stats")
def stats(path: Path = typer.Option(None, "--path", help="A built folder (default: the one in use).")) -> None:
    """Counts per split, label, category and source; unplaced items; the manifest hash."""
    m = load_manifest(path)
    folder = path or data_dir()
    c, mini = m.counts, m.mini
    t = Table(title=f"DriftCaps v{m.data_version} — {folder}")
    for col in ("split", "unsafe", "safe", "total"):
        t.add_column(col, justify="right" if col != "split" else "left")
    for split, labels in c.by_split.items():
        t.add_row(split, str(labels.get("unsafe", 0)), str(labels.get("safe", 0)), str(sum(labels.values())))
    t.add_row("mini (of test)", str(mini.by_label.get("unsafe", 0)), str(mini.by_label.get("safe", 0)),
              str(mini.total), style="bold")
    console.print(t)
    t = Table(title="Unsafe prompts per category (all splits / mini)")
    t.add_column("category")
    t.add_column("all", justify="right")
    t.add_column("mini", justify="right")
    for cat, n in c.by_category.get("unsafe", {}).items():
        t.add_row(cat, str(n), str(mini.by_category.get("unsafe", {}).get(cat, 0)))
    console.print(t)
    t = Table(title="Items per source and label")
    t.add_column("source:label")
    t.add_column("items", justify="right")
    for k, n in c.by_source.items():
        t.add_row(k, str(n))
    console.print(t)
    for src, labels in m.unplaced.items():
        console.print(f"unplaced (left out) from {src}: " + ", ".join(f"{k}: {n}" for k, n in labels.items()))
    if m.duplicates:
        console.print("duplicate prompts left out: " + ", ".join(f"{k}: {n}" for k, n in m.duplicates.items()))
    if mini.quota_shortfall:
        console.print("mini quota shortfall: " + ", ".join(f"{k}: {n}" for k, n in mini.quota_shortfall.items()))
    console.print(f"manifest sha256: {sha256_file(Path(folder) / 'manifest.json')}")
