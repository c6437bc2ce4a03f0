"""Typed records: every JSON the project writes is read back through its schema, with a version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftcaps.drift import DriftReport, read_drift_report
from driftcaps.errors import DriftCapsError
from driftcaps.evaluate import EvalSettings
from driftcaps.judges.base import JudgeInfo
from driftcaps.schema import write_record
from driftcaps.settings import build_settings


def _drift() -> DriftReport:
    return DriftReport(base_dir="b", judges=[JudgeInfo(kind="refusal", name="trained", version="1.0")],
                       n_bootstrap=10, seed=0, created_at="2026-11-30T00:00:00+00:00", driftcaps_version="0.1.0",
                       tuned=[])


def test_round_trip_and_version_errors(tmp_path: Path):
    path = tmp_path / "drift.json"
    write_record(path, _drift())
    data = json.loads(path.read_text())
    assert data["kind"] == "driftcaps.drift" and data["schema_version"] == 3
    assert read_drift_report(path) == _drift()
    old = {k: v for k, v in data.items() if k not in ("allowed_mismatches", "judge_error_rates")}  # version 1 reads
    path.write_text(json.dumps({**old, "schema_version": 1}))
    v1 = read_drift_report(path)
    assert v1.schema_version == 1 and v1.model_dump(exclude={"schema_version"}) == _drift().model_dump(exclude={"schema_version"})
    path.write_text(json.dumps({**data, "schema_version": 4}))
    with pytest.raises(DriftCapsError, match=r"schema_version 4 is unknown to this DriftCaps \(it reads "
                                             r"driftcaps.drift versions 1 to 3\); upgrade driftcaps"):
        read_drift_report(path)
    path.write_text(json.dumps({**data, "kind": "driftcaps.eval"}))
    with pytest.raises(DriftCapsError, match="is a 'driftcaps.eval' file, not 'driftcaps.drift'"):
        read_drift_report(path)
    path.write_text(json.dumps({**data, "n_bootstrap": "many"}))
    with pytest.raises(DriftCapsError, match="drift.json: field n_bootstrap: Input should be a valid integer"):
        read_drift_report(path)
    path.write_text("{not json")
    with pytest.raises(DriftCapsError, match="not valid JSON"):
        read_drift_report(path)


def test_manifest_reads_back_through_its_schema(data_dir: Path):
    from driftcaps.data import load_manifest

    m = load_manifest(data_dir)
    assert m.kind == "driftcaps.manifest" and m.schema_version == 1
    assert m.counts.total == sum((data_dir / f"{split}.jsonl").read_text().count("\n")
                                 for split in ("test", "align", "dev"))
    assert m.files["mini.jsonl"]["rows"] == m.mini.total


def test_settings_errors_name_the_flag_or_the_file(tmp_path: Path):
    with pytest.raises(DriftCapsError, match=r"eval settings --limit=0: Input should be greater than or equal to 1"):
        build_settings(EvalSettings, {"model": "m", "output": str(tmp_path), "limit": 0})
    with pytest.raises(DriftCapsError, match=r"--batch-size='0': give an integer >= 1 or auto"):
        build_settings(EvalSettings, {"model": "m", "output": str(tmp_path), "batch_size": "0"})
    with pytest.raises(DriftCapsError, match=r"eval settings: --model is required"):
        build_settings(EvalSettings, {"output": str(tmp_path)})
    assert build_settings(EvalSettings, {"model": "m", "output": str(tmp_path), "batch_size": "8"}).batch_size == 8
    cfg = tmp_path / "eval.yaml"
    cfg.write_text("model: m\noutput: out\ndtype: float64\n")
    with pytest.raises(DriftCapsError, match=r"eval.yaml: eval settings field dtype='float64'"):
        build_settings(EvalSettings, {}, cfg)
    cfg.write_text("model: m\noutput: out\ndtype: bfloat16\n")
    s = build_settings(EvalSettings, {"dtype": "float32", "tasks": "driftcaps_mini_safe, driftcaps_mini_unsafe"}, cfg)
    assert (s.model, s.dtype, s.tasks) == ("m", "float32", ["driftcaps_mini_safe", "driftcaps_mini_unsafe"])


def test_unknown_task_lists_the_choices(tmp_path: Path):
    with pytest.raises(DriftCapsError, match=r"unknown task\(s\) \['nope'\]; choose from driftcaps, driftcaps_mini"):
        build_settings(EvalSettings, {"model": "m", "output": str(tmp_path), "tasks": "nope"})
