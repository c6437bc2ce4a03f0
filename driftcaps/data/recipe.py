"""Load and check the DriftCaps recipe (``data/sources.yaml`` and ``data/categories.yaml``).

Also the category mapping: pure functions that place a source's own label into one of the six
unsafe categories, or return None (unplaced).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from driftcaps.errors import DriftCapsError
from driftcaps.io import sha256_text
from driftcaps.paths import recipe_dir

CATEGORIES: tuple[str, ...] = (
    "violence", "hate_speech", "illegal_activity", "explicit", "privacy", "disinformation",
)


def _load_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DriftCapsError(f"{path}: recipe file missing; reinstall driftcaps.")
    try:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DriftCapsError(f"{path}: not valid YAML ({e}).") from None
    if not isinstance(obj, dict):
        raise DriftCapsError(f"{path}: expected a mapping at the top level.")
    return obj


@dataclass(frozen=True)
class Recipe:
    """The parsed recipe: ``sources`` (registry) and ``rules`` (categories.yaml), plus the sha256
    of both files' text (recorded in the manifest)."""

    sources: dict[str, Any]
    rules: dict[str, Any]
    sha256: str


@cache
def load_recipe(folder: str | None = None) -> Recipe:
    """Read and validate the recipe from ``folder`` (default: :func:`driftcaps.paths.recipe_dir`).

    Raises:
        DriftCapsError: a missing file, invalid YAML, or a mapping onto an unknown category.
    """
    d = Path(folder) if folder else recipe_dir()
    src_text = (d / "sources.yaml").read_text(encoding="utf-8") if (d / "sources.yaml").is_file() else ""
    cat_text = (d / "categories.yaml").read_text(encoding="utf-8") if (d / "categories.yaml").is_file() else ""
    sources = _load_yaml(d / "sources.yaml")["sources"]
    rules = _load_yaml(d / "categories.yaml")
    if tuple(rules.get("categories", ())) != CATEGORIES:
        raise DriftCapsError(f"{d / 'categories.yaml'}: field categories must list {list(CATEGORIES)}.")
    targets = [v for key in ("harmbench", "jbb", "xstest", "hatecheck") for v in rules[key].values()]
    targets += [c for _, c in rules["openai_moderation"]] + [c for c, _ in rules["advbench_rules"]]
    bad = sorted({t for t in targets if t is not None and t not in CATEGORIES})
    if bad:
        raise DriftCapsError(f"{d / 'categories.yaml'}: unknown categories {bad}; use one of {list(CATEGORIES)}.")
    split_total = sum(rules["splits"].values())
    if abs(split_total - 1.0) > 1e-9:
        raise DriftCapsError(f"{d / 'categories.yaml'}: field splits must sum to 1 (got {split_total}).")
    return Recipe(sources=sources, rules=rules, sha256=sha256_text(src_text + "\n---\n" + cat_text))


def map_table(rules: dict[str, Any], source: str, raw: str) -> str | None:
    """Map a source label through the table ``rules[source]``; unknown or null labels give None."""
    return rules[source].get(raw)


def map_moderation(rules: dict[str, Any], labels: dict[str, Any]) -> str | None:
    """The category of an OpenAI moderation sample: the first label (in the recipe's priority
    order) whose value is 1; None if no label is positive."""
    for key, category in rules["openai_moderation"]:
        if labels.get(key) == 1:
            return category
    return None


def map_advbench(rules: dict[str, Any], request: str) -> str | None:
    """The category of an AdvBench request by the recipe's ordered keyword rules; None if none match."""
    for category, pattern in rules["advbench_rules"]:
        if re.search(r"\b(?:" + pattern + ")", request, re.IGNORECASE):
            return category
    return None
