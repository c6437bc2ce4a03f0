"""Build DriftCaps from the public sources (``docs/data.md``).

``build()`` reads every source of the recipe, maps categories, de-duplicates, caps MMLU, assigns
stable ids and deterministic splits, selects ``driftcaps_mini`` and writes::

    OUT/test.jsonl  OUT/align.jsonl  OUT/dev.jsonl  OUT/mini.jsonl  OUT/manifest.json

The folder is staged and renamed when complete, so a failed build leaves nothing half-written.
The manifest holds no paths or timestamps: the same sources and recipe give the same bytes, hence
the same manifest sha256, which every result cites.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from driftcaps import __version__
from driftcaps.data import sources as src
from driftcaps.data.recipe import CATEGORIES, Recipe, load_recipe
from driftcaps.data.schema import DATA_VERSION, Item, Manifest, item_id, unit_hash
from driftcaps.errors import DriftCapsError
from driftcaps.io import sha256_file, staged_dir, write_jsonl
from driftcaps.paths import cache_home, default_sources
from driftcaps.progress import progress
from driftcaps.schema import write_record

SPLITS = ("test", "align", "dev")
FILES = ("test.jsonl", "align.jsonl", "dev.jsonl", "mini.jsonl")


def default_data_dir() -> Path:
    """The cached build: ``$DRIFTCAPS_HOME/data/driftcaps-v<DATA_VERSION>``."""
    return cache_home() / "data" / f"driftcaps-v{DATA_VERSION}"


def assign_split(key: str, shares: dict[str, float]) -> str:
    """The split of an item from a hash of ``key`` (its pair_id, else its id): the first split
    whose cumulative share exceeds ``unit_hash('split', key)``, in the order test, align, dev."""
    u, acc = unit_hash("split", key), 0.0
    for name in SPLITS:
        acc += shares[name]
        if u < acc:
            return name
    return SPLITS[-1]


_IGNORED = str.maketrans({c: " " for c in "'\"`´‘’‚“”„«»[](){}.,;:!?"})


def normalise(text: str) -> str:
    """The text two prompts must not share (``docs/data.md#de-duplication``): Unicode NFKC, case
    folded, quote marks, apostrophes, brackets and sentence punctuation (``. , ; : ! ?``) replaced
    by spaces, runs of spaces collapsed. So ``Don’t "hack" [NAME] .`` and ``don't hack {name}.``
    are one prompt; symbols that change meaning (``+ - * / = < > % $``, digits) are kept."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().translate(_IGNORED).split())


def make_items(raw: list[src.RawItem], recipe: Recipe) -> tuple[list[Item], dict, dict]:
    """Turn raw items into DriftCaps items.

    Items come in a fixed pseudo-random order (by ``unit_hash('order', id)``), so that the first
    N prompts of any file (lm-eval's ``--limit N``) mix sources, labels and categories.

    Returns ``(items, unplaced, duplicates)``: ``unplaced[source][raw_label]`` counts items the
    recipe could not place (unknown label, no category, empty prompt); ``duplicates[source]``
    counts prompts whose normalised text was already taken (first occurrence kept).
    """
    rules, shares = recipe.rules, recipe.rules["splits"]
    unplaced: dict[str, Counter] = defaultdict(Counter)
    duplicates: Counter = Counter()
    seen: set[str] = set()
    per_subject: dict[str, list[src.RawItem]] = defaultdict(list)
    kept: list[src.RawItem] = []
    for r in raw:
        if r.label not in ("safe", "unsafe") or r.category is None:
            unplaced[r.source][r.raw_label] += 1
        elif not r.prompt.strip():
            unplaced[r.source]["empty prompt"] += 1
        elif r.source == "mmlu":
            per_subject[r.category].append(r)
        else:
            kept.append(r)
    cap = int(rules["mmlu_per_subject"])
    for subject in sorted(per_subject):
        rows = sorted(per_subject[subject], key=lambda r: unit_hash("mmlu", item_id(r.source, r.source_id)))
        kept.extend(sorted(rows[:cap], key=lambda r: int(r.source_id.rsplit("/", 1)[1])))
    items = []
    for r in kept:
        key = normalise(r.prompt)
        if key in seen:
            duplicates[r.source] += 1
            continue
        seen.add(key)
        iid = item_id(r.source, r.source_id)
        items.append(Item(
            id=iid, prompt=r.prompt, label=r.label, category=r.category, source=r.source,
            source_id=r.source_id, licence=recipe.sources[r.source]["licence"], subset=r.subset,
            pair_id=r.pair_id, split=assign_split(r.pair_id or iid, shares),
        ))
    items.sort(key=lambda it: unit_hash("order", it.id))  # a fixed shuffle: --limit N takes a mix
    return items, {k: dict(sorted(v.items())) for k, v in sorted(unplaced.items())}, dict(sorted(duplicates.items()))


def select_mini(items: list[Item], quotas: dict[str, int]) -> tuple[list[Item], dict[str, int]]:
    """The fixed, stratified ``driftcaps_mini`` subset of the test split.

    Strata and quotas (recipe ``mini``): unsafe core per category, unsafe statements, safe
    borderline, safe core, safe statements. Within a stratum, items are taken in order of
    ``unit_hash('mini', id)``. Prompts longer than ``max_prompt_chars`` are left out of mini (a
    CPU batch is padded to its longest prompt; the full ``driftcaps`` task keeps them). Returns
    the items (in test-file order) and the shortfall per stratum where a quota could not be filled.
    """
    quotas = dict(quotas)
    max_chars = int(quotas.pop("max_prompt_chars", 10**9))
    test = [it for it in items if it.split == "test" and len(it.prompt) <= max_chars]
    strata: dict[str, list[Item]] = defaultdict(list)
    for it in test:
        if it.label == "unsafe" and it.subset == "core":
            strata[f"unsafe_core:{it.category}"].append(it)
        else:
            kind = "core" if it.subset == "core" else it.subset
            strata[f"{it.label}_{kind}"].append(it)
    want = {f"unsafe_core:{c}": quotas["unsafe_core_per_category"] for c in CATEGORIES}
    want.update({k: v for k, v in quotas.items() if k != "unsafe_core_per_category"})
    chosen: set[str] = set()
    shortfall = {}
    for name, n in want.items():
        pool = sorted(strata.get(name, []), key=lambda it: unit_hash("mini", it.id))
        chosen.update(it.id for it in pool[:n])
        if len(pool) < n:
            shortfall[name] = n - len(pool)
    return [it for it in items if it.id in chosen], shortfall


def _counts(items: list[Item]) -> dict[str, Any]:
    by_cat: dict[str, Counter] = defaultdict(Counter)
    by_split: dict[str, Counter] = defaultdict(Counter)
    for it in items:
        by_cat[it.label][it.category] += 1
        by_split[it.split][it.label] += 1
    return {
        "total": len(items),
        "by_label": dict(sorted(Counter(it.label for it in items).items())),
        "by_split": {s: dict(sorted(by_split[s].items())) for s in SPLITS if s in by_split},
        "by_source": dict(sorted(Counter(f"{it.source}:{it.label}" for it in items).items())),
        "by_subset": dict(sorted(Counter(f"{it.subset}:{it.label}" for it in items).items())),
        "by_category": {lab: dict(sorted(c.items())) for lab, c in sorted(by_cat.items())},
    }


def read_sources(sources: str, recipe: Recipe, verify: bool = True) -> tuple[list[src.RawItem], dict]:
    """Read every source of the recipe from folder ``sources`` or from the Hub (``"hub"``)."""
    raw: list[src.RawItem] = []
    info: dict[str, Any] = {}
    folder = None if sources == "hub" else Path(sources).expanduser()
    if folder is not None and not folder.is_dir():
        raise DriftCapsError(f"{folder}: sources folder not found; pass --sources DIR with the public "
                             "files, set DRIFTCAPS_SOURCES, or use --sources hub.")
    with progress(desc="reading sources", unit="source", total=len(recipe.sources)) as bar:
        for name, spec in recipe.sources.items():
            if folder is None:
                rows, hashes = src.read_hub(name, spec, recipe.rules)
            else:
                rows, hashes = src.read_local(name, folder, spec, recipe.rules, verify)
            raw.extend(rows)
            info[name] = {"location": "hub" if folder is None else "local", "licence": spec["licence"],
                          "upstream": spec["upstream"], "rows_read": len(rows), "files": hashes}
            bar.update(1)
    return raw, info


def build(sources: str | None = None, out: str | Path | None = None, verify: bool = True) -> Path:
    """Build DriftCaps and return the output folder.

    Args:
        sources: a folder of public source files, or ``"hub"``; default :func:`default_sources`.
        out: the output folder: new, empty, or an earlier build (replaced when complete);
            default :func:`default_data_dir`.
        verify: refuse source files whose sha256 differs from ``data/sources.yaml``.

    Raises:
        DriftCapsError: missing or malformed sources (the message names the file and the fix).
    """
    recipe = load_recipe()
    target = Path(out) if out else default_data_dir()
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / "manifest.json").is_file())):
        raise DriftCapsError(f"{target}: exists and is not a DriftCaps build (no manifest.json); "
                             "choose a new or empty --out.")
    raw, source_info = read_sources(sources or default_sources(), recipe, verify)
    items, unplaced, duplicates = make_items(raw, recipe)
    mini, shortfall = select_mini(items, recipe.rules["mini"])
    with staged_dir(target, overwrite=True) as stage:
        files = {}
        for split in SPLITS:
            rows = [it.model_dump() for it in items if it.split == split]
            write_jsonl(stage / f"{split}.jsonl", rows)
            files[f"{split}.jsonl"] = {"rows": len(rows), "sha256": sha256_file(stage / f"{split}.jsonl")}
        write_jsonl(stage / "mini.jsonl", (it.model_dump() for it in mini))
        files["mini.jsonl"] = {"rows": len(mini), "sha256": sha256_file(stage / "mini.jsonl")}
        write_record(stage / "manifest.json", Manifest(
            name="DriftCaps", data_version=DATA_VERSION, built_with=f"driftcaps {__version__}",
            recipe_sha256=recipe.sha256, sources=source_info, counts=_counts(items),
            mini={**_counts(mini), "quota_shortfall": shortfall}, unplaced=unplaced,
            duplicates=duplicates, files=files))
    return target.resolve()
