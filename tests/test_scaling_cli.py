"""``driftcaps scaling laws|fit|predict`` and forgetting points from training runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_integration import assert_one_line_error, run_cli
from test_scaling import TRUE, synthetic

from driftcaps.errors import DriftCapsError
from driftcaps.scaling import get_law
from driftcaps.scaling.report import ScalingReport, fit_groups


@pytest.fixture()
def points_csv(tmp_path: Path) -> Path:
    lora = synthetic(noise=0.05, runs=6).assign(method="lora")
    agl = synthetic(params={**TRUE, "A": 0.01}, noise=0.05, seed=2, runs=6).assign(method="agl")
    path = tmp_path / "points.csv"
    pd.concat([lora, agl]).to_csv(path, index=False)
    return path


def test_fit_writes_report_plot_and_points_then_predicts(points_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "fit"
    code, stdout, err = run_cli(["scaling", "fit", "--points", str(points_csv), "--law", "kalajdzievski",
                                 "--by", "method", "--holdout", "top:S", "--n-boot", "100", "--output", str(out)], capsys)
    assert code == 0, err
    report = ScalingReport.model_validate_json((out / "fit.json").read_text())
    assert set(report.fits) == {"agl", "lora"} and report.reference == "lora" and report.n_points == 60
    assert all(f.converged for f in report.fits.values())
    assert report.fits["lora"].params["beta"] == pytest.approx(0.5, abs=0.1)
    assert {h.n_heldout for h in report.holdout.values()} == {6}
    amp = next(c for c in report.comparisons if c.param == "A")
    assert amp.group == "agl" and amp.ci_low < amp.ratio < amp.ci_high and amp.ratio < 1
    assert (out / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(pd.read_csv(out / "points.csv")) == 60
    assert "A: agl / lora" in stdout
    code, stdout, _ = run_cli(["scaling", "predict", "--fit", str(out / "fit.json"), "--at", "P=4e6,S=160",
                               "--group", "lora"], capsys)
    assert code == 0
    truth = get_law("kalajdzievski")({"P": [4e6], "S": [160.0]}, TRUE)[0]
    value, low, high = (float(v) for v in re.findall(r"\d+\.\d+(?:e[-+]\d+)?", stdout))
    assert low < value < high and low < truth < high


def test_formula_law_from_the_cli(points_csv: Path, tmp_path: Path, capsys):
    code, _, err = run_cli(["scaling", "fit", "--points", str(points_csv), "--formula", "A * S**beta + E",
                            "--x", "S=S", "--n-boot", "0", "--output", str(tmp_path / "f")], capsys)
    assert code == 0, err
    report = ScalingReport.model_validate_json((tmp_path / "f" / "fit.json").read_text())
    assert report.custom and report.law_object().params == ("A", "beta", "E")


K = ["--law", "kalajdzievski"]


@pytest.mark.parametrize("args,message", [
    (["--law", "chinchilla"], "unknown law 'chinchilla'"),
    (["--formula", "A.real * S", "--x", "S=S"], "'A.real' is not allowed"),
    ([*K, "--x", "S"], "give NAME=VALUE pairs"),
    (["--law", "power", "--x", "x=nope"], "no column(s) nope"),
    ([*K, "--by", "colour"], "--by colour: no such column"),
    ([*K, "--holdout", "top:S:0"], "use top:COLUMN or top:COLUMN:K"),
    ([*K, "--holdout", ""], "--holdout is empty"),
    ([*K, "--formula", "A * S**beta + E", "--x", "S=S"], "give --law or --formula, not both"),
    ([*K, "--x", "S=S,S=P"], "S is given twice"),
    ([*K, "--x", "Q=S"], "has no variable(s) Q"),
    ([*K, "--n-boot", "3"], "n_boot=3: percentile intervals need at least 20"),
])
def test_fit_mistakes_are_one_line_and_write_nothing(points_csv: Path, tmp_path: Path, capsys, args, message):
    out = tmp_path / "never"
    code, _, err = run_cli(["scaling", "fit", "--points", str(points_csv), "--n-boot", "20", *args,
                            "--output", str(out)], capsys)
    assert_one_line_error(code, err, message)
    assert not out.exists()


def test_output_is_never_overwritten_silently(points_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "keep"
    out.mkdir()
    (out / "mine.txt").write_text("precious")
    args = ["scaling", "fit", "--points", str(points_csv), "--law", "kalajdzievski", "--n-boot", "0", "--output", str(out)]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "exists and is not empty; choose a new folder or pass --overwrite")
    assert (out / "mine.txt").read_text() == "precious"
    code, _, err = run_cli([*args, "--overwrite"], capsys)  # not a fit folder: a sweep, a home...
    assert_one_line_error(code, err, "holds other files and no fit.json; --overwrite only replaces the folder of an earlier fit")
    assert (out / "mine.txt").read_text() == "precious"
    (out / "mine.txt").unlink()
    assert run_cli(args, capsys)[0] == 0 and (out / "fit.json").is_file()
    code, _, err = run_cli([*args, "--overwrite"], capsys)  # an earlier fit is replaced
    assert code == 0 and (out / "fit.json").is_file()
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli([*args[:-1], str(tmp_path / "afile" / "sub")], capsys)
    assert_one_line_error(code, err, "cannot write there")


def test_predict_takes_columns_or_variables_and_checks_them(points_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "f"
    assert run_cli(["scaling", "fit", "--points", str(points_csv), "--law", "power", "--x", "x=S", "--by", "method",
                    "--n-boot", "0", "--output", str(out)], capsys)[0] == 0
    by_column = run_cli(["scaling", "predict", "--fit", str(out / "fit.json"), "--at", "S=160"], capsys)
    by_variable = run_cli(["scaling", "predict", "--fit", str(out / "fit.json"), "--at", "x=160"], capsys)
    assert by_column[0] == 0 and by_column[1] == by_variable[1] and by_column[1].count("interval") == 2
    for at, message in [("S=160,y=3", "'y' is not a variable of law 'power'"), ("S=160,x=3", "x is given twice"),
                        ("S=abc", "S='abc' is not a number"), ("", "give NAME=VALUE pairs")]:
        code, _, err = run_cli(["scaling", "predict", "--fit", str(out / "fit.json"), "--at", at], capsys)
        assert_one_line_error(code, err, message)


def test_points_and_runs_are_exclusive_and_files_checked(points_csv: Path, tmp_path: Path, capsys):
    code, _, err = run_cli(["scaling", "fit", "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "give exactly one of --points FILE.csv and --runs DIR")
    (tmp_path / "bad.csv").write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = run_cli(["scaling", "fit", "--points", str(tmp_path / "bad.csv"), "--output", str(tmp_path / "o")], capsys)
    assert code == 2 and "error:" in err and "Traceback" not in err
    code, _, err = run_cli(["scaling", "predict", "--fit", str(tmp_path / "none.json"), "--at", "S=1"], capsys)
    assert code == 2 and "Traceback" not in err


def test_a_fit_refuses_mixed_base_models():
    data = synthetic(runs=4).assign(base_model=["a"] * 10 + ["b"] * 10)
    with pytest.raises(DriftCapsError, match="the points mix 2 values of base_model"):
        fit_groups(get_law("kalajdzievski"), data, "x", n_boot=0)
    with pytest.raises(DriftCapsError, match="--by method: 20 point"):
        fit_groups(get_law("kalajdzievski"), synthetic(runs=4).assign(method=None), "x", by="method", n_boot=0)


def test_points_from_training_runs(tiny_model_dir: Path, task_file: Path, data_dir: Path, tmp_path: Path, capsys):
    from agl import TrainConfig, train
    from driftcaps.forgetting import points_from_runs

    for rank in (2, 4):
        train(TrainConfig(base=str(tiny_model_dir), task_data=str(task_file), output=str(tmp_path / "runs" / f"r{rank}"),
                          steps=3, rank=rank, alpha=8.0, batch_size=2, max_length=64, heldout=4, eval_every=1,
                          align_heldout=2, seed=0, save_steps=[2], train_examples=6 if rank == 4 else None),
              progress=False)
    points = points_from_runs(tmp_path / "runs")
    assert points.groupby("run")["n_train"].first().to_dict() == {"r2": 8, "r4": 6}  # 12 rows - 4 held out; capped at 6
    with pytest.raises(DriftCapsError, match="train_examples=9 but only 8 usable examples remain"):
        train(TrainConfig(base=str(tiny_model_dir), task_data=str(task_file), output=str(tmp_path / "big"), steps=1,
                          batch_size=2, max_length=64, heldout=4, align_heldout=0, train_examples=9), progress=False)
    assert len(points) == 6 and sorted(points["run"].unique()) == ["r2", "r4"]
    assert points["S"].tolist() == [1, 2, 3, 1, 2, 3] and (points["forgetting"] > 0).all()
    log = [json.loads(x) for x in (tmp_path / "runs" / "r2" / "training_log.jsonl").read_text().splitlines()]
    assert points["forgetting"].iloc[0] == log[1]["eval_alignment_loss"]
    assert points["forgetting_rise"].iloc[0] == pytest.approx(log[1]["eval_alignment_loss"] - log[0]["eval_alignment_loss"])
    assert points["D"].iloc[2] == sum(e.get("tokens", 0) for e in log)
    assert points["checkpoint"].notna().tolist() == [False, True, False] * 2
    assert Path(points["checkpoint"].iloc[1]).name == "checkpoint-2" and Path(points["checkpoint"].iloc[1]).is_dir()
    assert points.loc[points["run"] == "r4", "P"].iloc[0] == 2 * points.loc[points["run"] == "r2", "P"].iloc[0]
    code, _, err = run_cli(["scaling", "fit", "--runs", str(tmp_path / "runs"), "--law", "power", "--x", "x=S",
                            "--n-boot", "20", "--output", str(tmp_path / "fit")], capsys)
    assert code == 0, err
    assert points_from_runs(tmp_path).equals(points)  # a sweep folder: its runs/ sub-folders
    (tmp_path / "empty").mkdir()
    with pytest.raises(DriftCapsError, match="no run.json here"):
        points_from_runs(tmp_path / "empty")
