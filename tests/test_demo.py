"""The demo's stage reuse: a folder made with other settings is refused, never silently reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftcaps.demo import _check_settings
from driftcaps.errors import DriftCapsError


def test_demo_settings_recorded_and_checked(tmp_path: Path):
    out = tmp_path / "demo"
    settings = {"model": "qwen", "steps": 30, "limit": None, "training": {"lr": 3e-4}}
    _check_settings(out, settings)
    assert json.loads((out / "demo.json").read_text()) == settings
    _check_settings(out, dict(settings))  # same settings: reuse is fine
    with pytest.raises(DriftCapsError, match=r"other settings \(limit, steps\); pass --fresh"):
        _check_settings(out, {**settings, "steps": 2, "limit": 4})


def test_demo_refuses_a_foreign_folder(tmp_path: Path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.txt").write_text("mine")
    with pytest.raises(DriftCapsError, match="not a demo folder"):
        _check_settings(tmp_path / "x", {"model": "m"})
