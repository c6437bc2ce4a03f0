"""Read a built DriftCaps folder (building the default one on first use)."""

from __future__ import annotations

import os
from pathlib import Path

from driftcaps.data.build import FILES, build, default_data_dir
from driftcaps.data.schema import Item, Manifest
from driftcaps.errors import DriftCapsError
from driftcaps.io import iter_jsonl, sha256_file
from driftcaps.progress import note
from driftcaps.schema import read_record

WHICH = ("test", "align", "dev", "mini")


def data_dir() -> Path:
    """The DriftCaps folder in use: ``$DRIFTCAPS_DATA`` if set, else the cached default build."""
    env = os.environ.get("DRIFTCAPS_DATA")
    return Path(env).expanduser() if env else default_data_dir()


def ensure_built(path: str | Path | None = None) -> Path:
    """Return a built DriftCaps folder; build the default one from the default sources if it is
    missing or was built from another recipe. An explicit ``path`` (or ``$DRIFTCAPS_DATA``) must
    already hold a build.

    Raises:
        DriftCapsError: an explicit folder without ``manifest.json``.
    """
    explicit = path is not None or "DRIFTCAPS_DATA" in os.environ
    d = Path(path).expanduser() if path is not None else data_dir()
    if (d / "manifest.json").is_file():
        if explicit or _same_recipe(d):
            return d
        note(f"the cached DriftCaps build in {d} was made from another recipe (data/); rebuilding it ...")
        return build(out=d)
    if explicit:
        hint = " or unset DRIFTCAPS_DATA" if path is None else ""
        raise DriftCapsError(f"{d}: no DriftCaps build here (manifest.json missing); run "
                             f"`driftcaps data build --out {d}`{hint}.")
    note(f"DriftCaps is not built yet; building it into {d} ...")
    return build(out=d)


def _same_recipe(d: Path) -> bool:
    """Whether the cached build at ``d`` was made from this installation's recipe (a cache built
    by an older checkout would carry another manifest hash than results made from the recipe)."""
    from driftcaps.data.recipe import load_recipe

    try:
        return read_record(d / "manifest.json", Manifest).recipe_sha256 == load_recipe().sha256
    except DriftCapsError:
        return False


def load_items(which: str = "test", label: str | None = None, path: str | Path | None = None) -> list[Item]:
    """Load DriftCaps items.

    Args:
        which: ``test``, ``align``, ``dev`` or ``mini`` (the stratified CPU subset of test).
        label: keep only ``safe`` or ``unsafe`` items; None keeps both.
        path: a built folder; default :func:`data_dir` (built on first use).

    Raises:
        DriftCapsError: unknown ``which``/``label`` or a malformed file.
    """
    if which not in WHICH:
        raise DriftCapsError(f"unknown DriftCaps split {which!r}; choose one of {', '.join(WHICH)}.")
    if label not in (None, "safe", "unsafe"):
        raise DriftCapsError(f"unknown label {label!r}; choose safe or unsafe.")
    d = ensure_built(path)
    items = [Item.model_validate(row) for row in iter_jsonl(d / f"{which}.jsonl")]
    return [it for it in items if label is None or it.label == label]


def load_manifest(path: str | Path | None = None) -> Manifest:
    """The manifest of a built folder (default: the one in use).

    Raises:
        DriftCapsError: malformed, or written by a newer DriftCaps.
    """
    return read_record(ensure_built(path) / "manifest.json", Manifest, "build DriftCaps again (`driftcaps data build`)")


def manifest_sha256(path: str | Path | None = None) -> str:
    """sha256 of ``manifest.json``: the identity of a DriftCaps build that results cite."""
    return sha256_file(ensure_built(path) / "manifest.json")


__all__ = ["FILES", "WHICH", "data_dir", "ensure_built", "load_items", "load_manifest", "manifest_sha256"]
