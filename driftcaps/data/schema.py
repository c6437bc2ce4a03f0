"""The DriftCaps item and manifest schemas (``docs/data.md``)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from driftcaps.schema import Record, VersionedRecord

DATA_VERSION = "1.2"
"""DriftCaps data version: moves whenever a build from the same sources can change."""

Label = Literal["safe", "unsafe"]
Subset = Literal["core", "borderline", "statements"]
Split = Literal["test", "align", "dev"]


class Item(BaseModel):
    """One DriftCaps prompt.

    Attributes:
        id: ``dc_`` + the first 16 hex digits of sha256(``source:source_id``); stable across builds.
        prompt: the single-turn user message.
        label: ``safe`` or ``unsafe``.
        category: for unsafe items one of the six categories; for safe items the source's topic.
        source, source_id: where the item comes from (source_id is the source's own id or row).
        licence: the source's licence.
        subset: ``core`` (requests), ``borderline`` (over-refusal probes), ``statements`` (texts
            that are not requests: HateCheck cases, moderation samples).
        pair_id: groups matched safe/unsafe items (XSTest, JBB); None elsewhere.
        split: ``test`` (evaluated), ``align`` (AGL's alignment data), ``dev``.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    prompt: str
    label: Label
    category: str
    source: str
    source_id: str
    licence: str
    subset: Subset
    pair_id: str | None = None
    split: Split


def item_id(source: str, source_id: str) -> str:
    """The stable item id: ``dc_`` + sha256(``source:source_id``)[:16]."""
    return "dc_" + hashlib.sha256(f"{source}:{source_id}".encode()).hexdigest()[:16]


def unit_hash(salt: str, key: str) -> float:
    """A deterministic number in [0, 1) from sha256(``salt:key``) (first 8 bytes)."""
    h = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


class Counts(Record):
    """Item counts of a build (or of ``driftcaps_mini``): keys ``label``, ``split``,
    ``source:label``, ``subset:label`` and, per label, category."""

    total: int
    by_label: dict[str, int]
    by_split: dict[str, dict[str, int]]
    by_source: dict[str, int]
    by_subset: dict[str, int]
    by_category: dict[str, dict[str, int]]


class MiniCounts(Counts):
    """Counts of ``driftcaps_mini`` and its per-category quota shortfall (0 where filled)."""

    quota_shortfall: dict[str, int]


class Manifest(VersionedRecord):
    """``manifest.json`` of a build: version, recipe and source hashes, counts, what was left out
    and the sha256 of every built file. Its own sha256 identifies the build in every result."""

    KIND = "driftcaps.manifest"
    name: str
    data_version: str
    built_with: str
    recipe_sha256: str
    sources: dict[str, dict[str, Any]]
    counts: Counts
    mini: MiniCounts
    unplaced: dict[str, dict[str, int]]
    duplicates: dict[str, int]
    files: dict[str, dict[str, Any]]
