"""The demo's stage reuse: a folder made with other settings is refused, never silently reused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from driftcaps.demo import DemoSettings, _check_settings
from driftcaps.errors import DriftCapsError

SETTINGS = dict(model="qwen", model_path="/m", weights_sha256=None, steps=30, limit=None, training={"lr": 3e-4},
                eval={"max_gen_toks": 64}, methods={"lora": {"method": "lora"}}, driftcaps_manifest_sha256="ab" * 32)


def test_demo_settings_recorded_and_checked(tmp_path: Path):
    out = tmp_path / "demo"
    settings = DemoSettings(**SETTINGS)
    _check_settings(out, settings)
    written = json.loads((out / "demo.json").read_text())
    assert written == {"kind": "driftcaps.demo", "schema_version": 1, **SETTINGS}
    _check_settings(out, DemoSettings(**SETTINGS))  # same settings: reuse is fine
    with pytest.raises(DriftCapsError, match=r"other settings \(eval, limit, steps\); pass --fresh"):
        _check_settings(out, DemoSettings(**{**SETTINGS, "steps": 2, "limit": 4, "eval": {}}))
    (out / "demo.json").write_text(json.dumps({**written, "schema_version": 9}))
    with pytest.raises(DriftCapsError, match="schema_version 9 is unknown to this DriftCaps"):
        _check_settings(out, settings)


def test_demo_refuses_a_foreign_folder(tmp_path: Path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.txt").write_text("mine")
    with pytest.raises(DriftCapsError, match="not a demo folder"):
        _check_settings(tmp_path / "x", DemoSettings(**SETTINGS))


def test_demo_trains_both_adapters_and_reports_mitigation(tiny_model_dir: Path, data_dir: Path, tmp_path: Path,
                                                          monkeypatch):
    """The whole main job on a tiny random model: LoRA and AGL adapters, three evals, DM vs LoRA."""
    from driftcaps import demo
    from driftcaps.drift import DriftReport

    monkeypatch.setattr(demo, "DEMO_TRAINING", {**demo.DEMO_TRAINING, "task_data": "mmlu-affirmative",
                                                "batch_size": 2, "max_length": 64,
                                                "heldout": 2, "align_heldout": 2, "fisher_samples": 14,
                                                "dtype": "float32", "lr": 0.05, "save_steps": [1, 2, 3, 9]})
    out = tmp_path / "demo"
    demo.run_demo(out, str(tiny_model_dir), steps=4, limit=6, fresh=False)
    report = DriftReport.model_validate_json((out / "drift.json").read_text())
    lora, agl = report.tuned
    # the last stage: all three results verified onto a local board, the page built
    import leaderboard

    board = json.loads(leaderboard.show(str(out / "board.sqlite"), "json"))
    rows = board["entries"]
    assert [f["law"] for f in board["scaling_fits"]] == ["power"]  # the forgetting curve, refitted and stored
    assert sorted((r["entry"]["kind"], r["entry"]["name"]) for r in rows) == [
        ("adapter", "agl"), ("adapter", "lora"), ("base", tiny_model_dir.name)]
    assert {r["entry"]["method"] for r in rows} == {None, "lora", "agl"}
    assert (out / "leaderboard" / "index.html").stat().st_size > 10_000
    assert (lora.name, agl.name) == ("lora", "agl") and agl.reference == "lora"
    assert lora.drift_mitigation is None and agl.drift_mitigation is not None
    assert agl.drift_mitigation.n == lora.overall.n_unsafe
    runs = {k: json.loads((out / d / "run.json").read_text()) for k, d in (("lora", "adapter"), ("agl", "adapter-agl"))}
    assert runs["lora"]["method"] == "lora" and runs["agl"]["method"] == "agl"
    assert runs["agl"]["n_fisher"] == 14 and runs["lora"]["config"]["seed"] == runs["agl"]["config"]["seed"]
    # checkpoints inside the run only (9 > 4 steps is dropped); the forgetting curve: 4 points per method
    assert runs["lora"]["checkpoints"] == [1, 2, 3] and (out / "adapter" / "checkpoint-3").is_dir()
    log = [json.loads(line) for line in (out / "adapter" / "training_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if "eval_alignment_loss" in e] == [0, 1, 2, 3, 4]
    assert [e["step"] for e in log if "eval_task_loss" in e] == [0, 4]  # checkpoint_task_loss=False
    fit = json.loads((out / "scaling" / "fit.json").read_text())
    assert fit["law"] == "power" and sorted(fit["fits"]) == ["agl", "lora"]
    assert all(f["n_points"] == 4 and f["n_runs"] == 1 for f in fit["fits"].values())
    assert (out / "scaling" / "fit.png").stat().st_size > 10_000
    # --full's refusal curve: the probe at every checkpoint and at the end, the hill law per method
    from driftcaps.models import resolve_model

    demo.refusal_curve(out, [out / "adapter", out / "adapter-agl"], resolve_model(str(tiny_model_dir)))
    refit = json.loads((out / "scaling-refusals" / "fit.json").read_text())
    assert refit["law"] == "hill" and refit["y"] == "early_compliance" and sorted(refit["fits"]) == ["agl", "lora"]
    points = pd.read_csv(out / "scaling-refusals" / "points.csv")
    assert len(points) == 8 and points["early_refusal_rate"].between(0, 1).all()
    # the base + 4 points of each adapter, but one line per weight set: after step 1 both adapters
    # hold the same weights (AGL's terms and their gradients vanish at ΔW = BA = 0), so 8 lines
    cached = [json.loads(line) for line in (out / "probe.jsonl").read_text().splitlines()]
    assert len(cached) == 8 and len({c["key"] for c in cached}) == 8
    assert points.loc[points["S"] == 1, "early_refusal_rate"].nunique() == 1
    # a rerun with the same settings reuses every stage; other settings are refused
    before = (out / "agl" / "report.json").read_bytes()
    demo.run_demo(out, str(tiny_model_dir), steps=4, limit=6, fresh=False)
    assert (out / "agl" / "report.json").read_bytes() == before
    with pytest.raises(DriftCapsError, match=r"other settings \(methods\)"):
        demo.run_demo(out, str(tiny_model_dir), steps=4, limit=6, fresh=False, agl=False)
