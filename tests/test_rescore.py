"""``driftcaps judge results``: saved generations judged again without the model (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli_capture
from tests.test_integration import assert_one_line_error


def _metrics(path: Path) -> dict:
    return json.loads(path.read_text())["metrics"]


def test_a_results_folder_judged_again_gives_the_reports_numbers(chain: Path, tmp_path: Path, capsys):
    """Same judges, resamples and seed as `driftcaps eval`: the same metrics and verdicts."""
    code, out, err = run_cli_capture(["judge", "results", str(chain / "lora"), "--output", str(tmp_path / "again"),
                                      "--n-boot", "1000"], capsys)
    assert code == 0, err
    assert _metrics(tmp_path / "again" / "judgement.json") == _metrics(chain / "lora" / "report.json")
    assert (tmp_path / "again" / "judged.jsonl").read_bytes() == (chain / "lora" / "judged.jsonl").read_bytes()
    j = json.loads((tmp_path / "again" / "judgement.json").read_text())
    report = json.loads((chain / "lora" / "report.json").read_text())
    assert j["kind"] == "driftcaps.judgement" and j["adapter"] == report["provenance"]["adapter"]
    assert j["manifest_sha256"] == report["provenance"]["manifest_sha256"]
    assert "judged 6 responses" in out


def test_samples_files_judged_with_another_judge(chain: Path, tmp_path: Path, capsys):
    samples = sorted((chain / "base").glob("samples_*.jsonl"))
    code, out, err = run_cli_capture(["judge", "results", *map(str, samples), "--output", str(tmp_path / "p"),
                                      "--refusal-judge", "pattern", "--harm-judge", "pattern-asr"], capsys)
    assert code == 0, err
    j = json.loads((tmp_path / "p" / "judgement.json").read_text())
    assert [(x["kind"], x["name"]) for x in j["judges"]] == [("refusal", "pattern"), ("harm", "pattern-asr")]
    assert j["model"] is None and list(j["inputs"]) == [str(s) for s in samples] and j["n_prompts"] == 6
    rows = [json.loads(line) for line in (tmp_path / "p" / "judged.jsonl").read_text().splitlines()]
    from driftcaps.judges import get_refusal_judge

    pattern = get_refusal_judge("pattern")
    assert [r["refusal_class"] for r in rows] == [pattern.judge(r["prompt"], r["response"]).refusal_class for r in rows]


def test_bad_inputs_are_one_line_errors(chain: Path, tmp_path: Path, capsys):
    code, _, err = run_cli_capture(["judge", "results", str(chain / "base"), str(chain / "lora"),
                                    "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "give one results folder on its own")
    code, _, err = run_cli_capture(["judge", "results", str(chain / "base" / "report.json"),
                                    "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "report.json: not an lm-eval samples file")
    code, _, err = run_cli_capture(["judge", "results", str(chain / "base"), "--output", str(tmp_path / "j")], capsys)
    assert code == 0
    code, _, err = run_cli_capture(["drift", "--base", str(tmp_path / "j"), "--tuned", str(chain / "lora"),
                                    "--output", str(tmp_path / "d.json")], capsys)
    assert_one_line_error(code, err, "a `driftcaps judge results` folder (verdicts, no generations)")
    code, _, err = run_cli_capture(["judge", "results", str(chain / "base"), "--output", str(tmp_path / "o"),
                                    "--harm-judge", "nope"], capsys)
    assert code == 2 and "nope" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_samples_of_different_runs_are_refused_and_partial_runs_noted(chain: Path, tmp_path: Path, capsys):
    base = sorted((chain / "base").glob("samples_*.jsonl"))[0]
    lora = sorted((chain / "lora").glob("samples_*.jsonl"))[0]
    code, _, err = run_cli_capture(["judge", "results", str(base), str(lora), "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "samples files of different runs")
    assert not (tmp_path / "o").exists()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / base.name).write_bytes(base.read_bytes())
    newer = lora.name.rsplit("_", 1)[0] + "_2099-01-01T00-00-00.000000.jsonl"
    (mixed / newer).write_bytes(lora.read_bytes())
    code, out, err = run_cli_capture(["judge", "results", str(mixed), "--output", str(tmp_path / "m")], capsys)
    assert code == 0 and f"not {base.name}" in err and f"judging the newest per task ({newer})" in err, err
    assert "6 of the 234 prompts of driftcaps_mini" in err  # the chain evaluates --limit 6
