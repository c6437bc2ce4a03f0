"""The forgetting sweep: the link to AD, the early-refusal probe, sweep settings and points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_integration import assert_one_line_error, run_cli

from driftcaps.errors import DriftCapsError
from driftcaps.scaling.link import fit_link
from driftcaps.sweep import SweepConfig, link_measures, sweep_points

# --- the link from a cheap measure to AD -------------------------------------------------------


def test_link_of_an_exact_line_has_zero_width_intervals():
    x = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    link = fit_link(x, 0.05 + 0.8 * x, np.array(list("aabbcc")), "early_refusal_drop", "AD", n_boot=200)
    assert link.slope == pytest.approx(0.8) and link.intercept == pytest.approx(0.05) and link.r == pytest.approx(1.0)
    assert link.slope_ci == pytest.approx((0.8, 0.8)) and link.r_ci == pytest.approx((1.0, 1.0))
    assert (link.n_points, link.n_runs) == (6, 3)


def test_link_matches_numpy_and_resamples_runs_deterministically():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, 12)
    y = 0.3 * x + rng.normal(0, 0.05, 12)
    runs = np.repeat(["r1", "r2", "r3", "r4"], 3)
    link = fit_link(x, y, runs, n_boot=500, seed=3)
    slope, intercept = np.polyfit(x, y, 1)
    assert link.slope == pytest.approx(slope) and link.intercept == pytest.approx(intercept)
    assert link.r == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert link.slope_ci[0] < link.slope < link.slope_ci[1]
    assert fit_link(x, y, runs, n_boot=500, seed=3) == link
    # two runs: no interval (resampling two runs says nothing)
    assert fit_link(x[:6], y[:6], runs[:6]).slope_ci is None


@pytest.mark.parametrize("x, y, runs, message", [
    ([0.1, 0.2], [0.1, 0.2], ["a", "b"], "2 checkpoints with both measures; at least 3"),
    ([0.1, 0.2, 0.3], [0.1, np.nan, 0.3], ["a", "b", "c"], "non-finite values"),
    ([0.2, 0.2, 0.2], [0.1, 0.2, 0.3], ["a", "b", "c"], "the same at every checkpoint"),
    ([0.1, 0.2, 0.3], [0.1, 0.2], ["a", "b", "c"], "one value per checkpoint"),
])
def test_link_refuses_bad_input(x, y, runs, message):
    with pytest.raises(DriftCapsError, match=message):
        fit_link(np.array(x), np.array(y), np.array(runs))


# --- the early-refusal probe ------------------------------------------------------------------


def test_probe_prompts_are_short_unsafe_dev_prompts_in_a_fixed_prefix_stable_order(data_dir):
    from driftcaps.probe import PROBE_MAX_CHARS, probe_prompts

    items = probe_prompts(64)
    assert len(items) == 64 and len({i.id for i in items}) == 64
    assert all(i.split == "dev" and i.label == "unsafe" and len(i.prompt) <= PROBE_MAX_CHARS for i in items)
    assert [i.id for i in probe_prompts(10)] == [i.id for i in items[:10]]
    with pytest.raises(DriftCapsError, match="10000000 requested"):
        probe_prompts(10_000_000)


def test_probe_reads_its_cache_without_loading_a_model(data_dir, tmp_path: Path):
    """A cached result is returned as it is: the base path below does not exist, so any attempt
    to load the model would fail."""
    from driftcaps.models import ModelInfo
    from driftcaps.probe import _key, early_refusal_rates, probe_prompts

    base = ModelInfo(name="m", path=str(tmp_path / "no-model"), weights_sha256="ab" * 32)
    adapter = tmp_path / "ad"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    (adapter / "adapter_config.json").write_text("{}")
    cache = tmp_path / "probe.jsonl"
    keys = {n: _key(base, a, probe_prompts(8), 24, "trained", "bfloat16", 32) for n, a in (("base", None), ("x", str(adapter)))}
    cache.write_text("".join(json.dumps({"key": k, "early_refusal_rate": r, "n": 8, "refused": int(8 * r)}) + "\n"
                             for k, r in ((keys["base"], 0.75), (keys["x"], 0.25))))
    got = early_refusal_rates(base, {"base": None, "x": str(adapter)}, cache=cache, n=8)
    assert {k: v["early_refusal_rate"] for k, v in got.items()} == {"base": 0.75, "x": 0.25}
    # other weights, other prompts or other settings are another key
    assert _key(base, None, probe_prompts(9), 24, "trained", "bfloat16", 32) != keys["base"]
    assert _key(base, None, probe_prompts(8), 16, "trained", "bfloat16", 32) != keys["base"]
    assert _key(base, None, probe_prompts(8), 24, "trained", "bfloat16", 8) != keys["base"]
    (adapter / "adapter_config.json").write_text('{"lora_alpha": 8}')
    assert _key(base, str(adapter), probe_prompts(8), 24, "trained", "bfloat16", 32) != keys["x"]
    with pytest.raises(DriftCapsError, match="no adapter_model.safetensors"):
        _key(base, str(tmp_path), probe_prompts(8), 24, "trained", "bfloat16", 32)


# --- sweep settings, points and the CLI -------------------------------------------------------


def test_sweep_cells_are_the_grid_with_shared_settings(tmp_path: Path):
    cfg = SweepConfig(base="tiny", ranks=[4, 16], lrs=[1e-4, 7e-4], methods=["lora"], steps=8, save_steps=[2, 8],
                      drift_steps=[8])
    cells = cfg.cells(tmp_path)
    assert list(cells) == ["lora-r4-lr0.0001", "lora-r4-lr0.0007", "lora-r16-lr0.0001", "lora-r16-lr0.0007"]
    c = cells["lora-r16-lr0.0007"]
    assert (c.rank, c.lr, c.steps, c.save_steps, c.batch_size, c.dtype) == (16, 7e-4, 8, [2, 8], 4, "bfloat16")
    assert c.output == str(tmp_path / "runs" / "lora-r16-lr0.0007") and c.train_examples is None
    sized = SweepConfig(base="tiny", ranks=[4], methods=["agl"], train_examples=[32, None], steps=8, save_steps=[8],
                        drift_steps=[]).cells(tmp_path)
    assert {k: v.train_examples for k, v in sized.items()} == {"agl-r4-lr0.0007-n32": 32, "agl-r4-lr0.0007": None}


@pytest.mark.parametrize("fields, message", [
    ({"save_steps": [2, 4]}, "save_steps must include the last step"),
    ({"drift_steps": [3]}, r"drift_steps \[3\] are not in save_steps"),
    ({"training": {"rank": 8}}, "training: rank is set by the sweep itself"),
    ({"ranks": []}, "ranks"),
])
def test_sweep_config_refuses_bad_settings(fields, message):
    with pytest.raises(DriftCapsError, match=message):
        SweepConfig(**fields)


def test_sweep_cli_bad_config_is_one_line_and_writes_nothing(tmp_path: Path, capsys):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("ranks: [4]\ntraining: {batch_size: 0}\n")
    code, _, err = run_cli(["scaling", "sweep", "--config", str(cfg), "--output", str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, "batch_size")
    cfg.write_text("rank: [4]\n")
    code, _, err = run_cli(["scaling", "sweep", "--config", str(cfg), "--output", str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, "unknown field 'rank'")
    assert not (tmp_path / "out").exists()


def test_sweep_points_join_probe_and_drift_then_link(monkeypatch, tmp_path: Path):
    import driftcaps.sweep as sweep

    runs = pd.DataFrame({"run": ["a", "a", "b", "b", "c", "c"], "S": [2, 4] * 3,
                         "forgetting_rise": [0.0, 0.01, 0.02, 0.0, -0.01, 0.03]})
    monkeypatch.setattr(sweep, "points_from_runs", lambda folder: runs.copy())
    probe = {"base": {"early_refusal_rate": 0.8}, "a@2": {"early_refusal_rate": 0.7}, "a@4": {"early_refusal_rate": 0.5},
             "b@2": {"early_refusal_rate": 0.6}, "b@4": {"early_refusal_rate": 0.2}, "c@2": {"early_refusal_rate": 0.8},
             "c@4": {"early_refusal_rate": 0.4}}
    ad = {"a@4": 0.25, "b@4": 0.55, "c@4": 0.35, "a@2": 0.05}
    points = sweep_points(tmp_path, probe, ad)
    assert points["early_refusal_drop"].round(6).tolist() == [0.1, 0.3, 0.2, 0.6, 0.0, 0.4]
    assert points["early_compliance"].round(6).tolist() == [0.3, 0.5, 0.4, 0.8, 0.2, 0.6]
    assert points["AD"].isna().tolist() == [False, False, True, False, True, False]
    links = link_measures(points)
    assert set(links) == {"forgetting_rise", "early_refusal_drop"}
    drop = links["early_refusal_drop"]
    assert drop.n_points == 4 and drop.n_runs == 3
    assert drop.slope == pytest.approx(np.polyfit([0.1, 0.3, 0.6, 0.4], [0.05, 0.25, 0.55, 0.35], 1)[0])


def test_predict_takes_steps_and_rank(tmp_path: Path, capsys):
    from driftcaps.scaling import get_law

    law, truth = get_law("kalajdzievski"), {"A": 0.002, "alpha": 0.3, "beta": 0.5, "E": 0.1}
    rows = [{"run": f"r{rank}", "rank": rank, "P": 1000 * rank, "S": float(s),
             "early_compliance": law({"P": [1000.0 * rank], "S": [float(s)]}, truth)[0]}
            for rank in (4, 16, 64) for s in (2, 4, 8, 16)]
    pd.DataFrame(rows).to_csv(tmp_path / "points.csv", index=False)
    out = tmp_path / "fit"
    assert run_cli(["scaling", "fit", "--points", str(tmp_path / "points.csv"), "--law", "kalajdzievski",
                    "--y", "early_compliance", "--n-boot", "0", "--output", str(out)], capsys)[0] == 0
    short = run_cli(["scaling", "predict", "--fit", str(out / "fit.json"), "--steps", "32", "--rank", "32"], capsys)
    long = run_cli(["scaling", "predict", "--fit", str(out / "fit.json"), "--at", "S=32,P=32000"], capsys)
    assert short[0] == 0 and short[1] == long[1]
    assert float(short[1].split("= ")[1].split()[0]) == pytest.approx(law({"P": [32000.0], "S": [32.0]}, truth)[0], rel=1e-3)
    code, _, err = run_cli(["scaling", "predict", "--fit", str(out / "fit.json")], capsys)
    assert_one_line_error(code, err, "give the new setting")
    pd.DataFrame(rows).assign(P=lambda d: d["P"] + d["S"]).to_csv(out / "points.csv", index=False)
    code, _, err = run_cli(["scaling", "predict", "--fit", str(out / "fit.json"), "--rank", "8", "--steps", "3"], capsys)
    assert_one_line_error(code, err, "P / rank differs between the runs")


def test_predict_reads_the_forecast_as_ad_through_the_link(tmp_path: Path, capsys):
    from driftcaps.scaling import get_law
    from driftcaps.scaling.link import Link, LinkReport
    from driftcaps.schema import write_record

    law, truth = get_law("power"), {"A": 0.05, "beta": 0.8, "E": 0.1}
    rows = [{"run": f"r{r}", "S": float(s), "early_compliance": law({"x": [float(s)]}, truth)[0] * (1 + 0.01 * r)}
            for r in range(3) for s in (2, 4, 8, 16)]
    points = pd.DataFrame(rows).assign(early_refusal_drop=lambda d: d["early_compliance"] - 0.15)
    points.to_csv(tmp_path / "points.csv", index=False)
    out = tmp_path / "fit"
    assert run_cli(["scaling", "fit", "--points", str(tmp_path / "points.csv"), "--law", "power", "--x", "x=S",
                    "--y", "early_compliance", "--n-boot", "0", "--output", str(out)], capsys)[0] == 0
    link = Link(x="early_refusal_drop", y="AD", n_points=6, n_runs=3, slope=0.9, intercept=-0.02, r=0.95,
                slope_ci=(0.8, 1.1), r_ci=(0.9, 0.99), n_boot=100, seed=0)
    write_record(tmp_path / "link.json", LinkReport(links={"early_refusal_drop": link}))
    code, stdout, err = run_cli(["scaling", "predict", "--fit", str(out / "fit.json"), "--steps", "10",
                                 "--link", str(tmp_path / "link.json")], capsys)
    assert code == 0, err
    value = float(stdout.split("= ")[1].split()[0])
    ad = float(stdout.split("-> AD ")[1].split()[0])
    assert ad == pytest.approx(-0.02 + 0.9 * (value - 0.15), abs=1e-3)
    assert "the base's level" in stdout and "0.15" in stdout
    write_record(tmp_path / "link.json", LinkReport(links={"forgetting_rise": link.model_copy(update={"x": "forgetting_rise"})}))
    code, _, err = run_cli(["scaling", "predict", "--fit", str(out / "fit.json"), "--steps", "10",
                            "--link", str(tmp_path / "link.json")], capsys)
    assert_one_line_error(code, err, "no link for early_refusal_drop")
