"""DriftCaps data: the recipe, the source readers, the build and its loader (``docs/data.md``)."""

from driftcaps.data.build import build, default_data_dir
from driftcaps.data.load import data_dir, ensure_built, load_items, load_manifest, manifest_sha256
from driftcaps.data.recipe import CATEGORIES, load_recipe
from driftcaps.data.schema import DATA_VERSION, Item

__all__ = [
    "CATEGORIES", "DATA_VERSION", "Item", "build", "data_dir", "default_data_dir", "ensure_built",
    "load_items", "load_manifest", "load_recipe", "manifest_sha256",
]
