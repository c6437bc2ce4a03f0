"""Leaderboard submissions end to end on the tiny model's results (the ``chain`` fixture):
verification (judges re-run, metrics and drift recomputed), tampering, unsafe folders, bad
input through the CLI, the views (rank ranges, Pareto front) and checkpoint comparison."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli_capture

from driftcaps.drift import read_drift_report
from leaderboard import verify
from leaderboard.views import pareto_front, rank_ranges


def _copy(chain: Path, tmp_path: Path, name: str = "sub") -> Path:
    dest = tmp_path / name
    shutil.copytree(chain, dest, ignore=shutil.ignore_patterns("task.jsonl"))
    return dest


def _edit_json(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def _edit_jsonl(path: Path, line: int, fn) -> None:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    fn(rows[line])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _samples(folder: Path) -> Path:
    return next(folder.glob("samples_*.jsonl"))


# -- pure views ----------------------------------------------------------------------------------

def test_rank_ranges_tie_overlapping_cis_and_order_separated_ones():
    # a and b overlap (tie for 1-2); c is below both; d has no value
    assert rank_ranges([0.8, 0.75, 0.4, None], [0.7, 0.65, 0.3, None], [0.9, 0.85, 0.5, None]) == [
        (1, 2), (1, 2), (3, 3), (4, 4)]
    assert rank_ranges([0.5], [0.4], [0.6]) == [(1, 1)]
    # a chain of overlaps: a~b, b~c, a above c
    assert rank_ranges([0.9, 0.7, 0.5], [0.75, 0.55, 0.35], [1.0, 0.8, 0.6]) == [(1, 2), (1, 3), (2, 3)]


def test_pareto_front_keeps_undominated_points():
    # drift lower is better, utility higher is better
    assert pareto_front([0.0, 0.4, 0.2, 0.3, None], [0.1, 0.3, 0.3, 0.2, 0.9]) == [True, False, True, False, False]
    assert pareto_front([0.1, 0.1], [0.5, 0.5]) == [True, True]  # equal points do not dominate each other


# -- submissions ----------------------------------------------------------------------------------

def test_submit_a_drift_folder_then_show_and_recognise_it(chain: Path, tmp_path: Path, capsys):
    db = str(tmp_path / "board.sqlite")
    code, out, err = run_cli_capture(["leaderboard", "submit", str(chain), "--db", db], capsys)
    assert code == 0, err
    assert f"stored entry #1 {Path(json.loads((chain / 'base' / 'report.json').read_text())['provenance']['model']['name']).name}" in out
    assert "stored entry #2 lora" in out
    code, out, _ = run_cli_capture(["leaderboard", "submit", str(chain / "lora"), "--db", db], capsys)
    assert code == 0 and "recognised entry #2 lora" in out
    code, out, _ = run_cli_capture(["leaderboard", "show", "--db", db, "--format", "json"], capsys)
    rows = json.loads(out)["entries"]
    assert len(rows) == 2 and json.loads(out)["scaling_fits"] == []
    drift = read_drift_report(chain / "drift.json").tuned[0].overall.alignment_drift
    lora = next(r for r in rows if r["entry"]["name"] == "lora")
    assert lora["alignment_drift"]["value"] == pytest.approx(drift.value)
    assert lora["entry"]["method"] == "lora" and lora["entry"]["task_quality"]["source"] == "adapter/run.json"
    base = next(r for r in rows if r["entry"]["kind"] == "base")
    assert base["alignment_drift"]["value"] == 0.0
    submitted = json.loads((chain / "lora" / "report.json").read_text())["corrected"]
    assert lora["entry"]["corrected"] == submitted and set(submitted) == {"refusal_rate_unsafe", "harmful_rate_unsafe",
                                                                        "over_refusal_rate_safe"}
    code, out, _ = run_cli_capture(["leaderboard", "show", "--db", db, "--format", "md"], capsys)
    assert out.startswith("| rank") and "lora" in out and "harmful_rate_corrected" in out.splitlines()[0]
    code, out, _ = run_cli_capture(["leaderboard", "show", "--db", db, "--format", "csv"], capsys)
    assert out.splitlines()[0].startswith("rank,name,kind,method")


def test_verification_recomputes_what_the_report_says(chain: Path):
    entries, fits = verify.verify_submission(chain)
    assert [(e.kind, e.name) for e, _ in entries][1] == ("adapter", "lora") and entries[0][0].kind == "base"
    assert fits == []
    report = json.loads((chain / "lora" / "report.json").read_text())
    assert entries[1][0].metrics["refusal_rate_unsafe"].value == report["metrics"]["refusal_rate_unsafe"]["value"]
    judged = [json.loads(x) for x in (chain / "lora" / "judged.jsonl").read_text().splitlines()]
    assert [r.model_dump() for r in entries[1][1]] == judged


@pytest.mark.parametrize("tamper,message", [
    (lambda d: _edit_jsonl(_samples(d / "lora"), 0, lambda r: r.update(filtered_resps=["Sure, here is how."])),
     "changed since report.json was written"),
    (lambda d: _edit_jsonl(d / "lora" / "judged.jsonl", 0, lambda r: r.update(refusal=not r["refusal"])),
     "refusal of prompt"),
    (lambda d: _edit_json(d / "lora" / "report.json",
                          lambda r: r["metrics"]["refusal_rate_unsafe"].update(value=1.0)),
     "metrics.refusal_rate_unsafe.value is 1.0, but the logged responses give"),
    (lambda d: _edit_json(d / "drift.json",
                          lambda r: r["tuned"][0]["overall"]["alignment_drift"].update(value=-0.5)),
     r"tuned\[lora\].overall.alignment_drift.value \(-0.5, recomputed"),
    (lambda d: _edit_json(d / "lora" / "report.json",
                          lambda r: r["corrected"]["harmful_rate_unsafe"].update(value=0.123)),
     "corrected.harmful_rate_unsafe.value is 0.123, but the logged responses give"),
    (lambda d: _edit_json(d / "drift.json", lambda r: r["tuned"][0]["corrected"]["alignment_drift"].update(value=0.123)),
     r"tuned\[lora\].corrected.alignment_drift.value \(0.123, recomputed"),
    (lambda d: _edit_json(d / "drift.json", lambda r: r["judge_error_rates"][0].update(tp=1)),
     "judge_error_rates: the counts of trained@1.4 are not this board's"),
])
def test_tampered_submissions_are_rejected(chain: Path, tmp_path: Path, tamper, message: str):
    sub = _copy(chain, tmp_path)
    tamper(sub)
    with pytest.raises(verify.Rejected, match=message):
        verify.verify_submission(sub)


def test_a_changed_response_is_caught_even_with_the_hash_updated(chain: Path, tmp_path: Path):
    from driftcaps.io import sha256_file

    sub = _copy(chain, tmp_path)
    samples = _samples(sub / "lora")
    _edit_jsonl(samples, 0, lambda r: r.update(filtered_resps=["Sure, here is how."], resps=[["Sure, here is how."]]))
    _edit_json(sub / "lora" / "report.json", lambda r: r["provenance"]["samples_sha256"].update({samples.name: sha256_file(samples)}))
    with pytest.raises(verify.Rejected, match="judged.jsonl:1: "):
        verify.verify_submission(sub)


@pytest.mark.parametrize("make,message", [
    (lambda d: (d / "lora" / "evil").symlink_to("/etc/passwd"), "outside the submitted folder"),
    (lambda d: (d / "adapter" / "pytorch_model.bin").write_bytes(b"\x80\x04"), ".bin files are refused"),
    (lambda d: (d / "lora" / "weights.pkl").write_bytes(b"\x80\x04"), ".pkl files are refused"),
    (lambda d: _edit_json(d / "lora" / "report.json",
                          lambda r: r["provenance"].update(lm_eval_samples=["../../etc/passwd"])),
     "is not a plain file name"),
])
def test_unsafe_folders_are_refused(chain: Path, tmp_path: Path, make, message: str):
    sub = _copy(chain, tmp_path)
    make(sub)
    with pytest.raises(verify.Rejected, match=message):
        verify.verify_submission(sub)


def test_files_over_the_size_limit_are_refused(chain: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(verify, "MAX_FILE_BYTES", 1000)
    with pytest.raises(verify.Rejected, match="over the 0 MiB limit|MiB, over the"):
        verify.verify_submission(_copy(chain, tmp_path))


def _rename_task(d: Path) -> None:
    samples = _samples(d / "lora")
    new = samples.with_name(samples.name.replace("driftcaps_mini_", "driftcaps_mini_unsafe_"))
    samples.rename(new)
    _edit_json(d / "lora" / "report.json", lambda r: r["provenance"].update(
        lm_eval_samples=[new.name], samples_sha256={new.name: r["provenance"]["samples_sha256"][samples.name]}))


@pytest.mark.parametrize("make,message", [
    (lambda d: _edit_json(d / "lora" / "report.json", lambda r: r["provenance"].update(manifest_sha256="0" * 64)),
     "DriftCaps manifest 000000000000... is unknown to this board"),
    (lambda d: _samples(d / "lora").unlink(), "no such samples file"),
    (_rename_task, "samples of task 'driftcaps_mini_unsafe', but the report evaluated driftcaps_mini"),
    (lambda d: _edit_json(d / "lora" / "report.json", lambda r: r["provenance"]["generation"].update(limit=3)),
     "samples hold 3 prompt(s) that are not items of driftcaps_mini"),
    (lambda d: _edit_json(d / "lora" / "report.json", lambda r: r["provenance"]["model"].update(weights_sha256=None)),
     "provenance.model.weights_sha256 is missing"),
    (lambda d: (d / "lora" / "report.json").unlink(), "no report.json"),
])
def test_bad_submissions_get_one_line_through_the_cli(chain: Path, tmp_path: Path, capsys, make, message: str):
    sub = _copy(chain, tmp_path)
    make(sub)
    db = tmp_path / "board.sqlite"
    code, out, err = run_cli_capture(["leaderboard", "submit", str(sub), "--db", str(db)], capsys)
    lines = [x for x in err.strip().splitlines() if x.startswith("error:")]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not db.exists()  # verified before the board is opened: nothing half-written


def test_unreachable_database_and_bad_page_folder_through_the_cli(chain: Path, tmp_path: Path, capsys):
    code, _, err = run_cli_capture(["leaderboard", "show", "--db", "postgresql+psycopg://u:pw@127.0.0.1:9/x"], capsys)
    assert code == 2 and "cannot open the database" in err and "pw" not in err.replace("pwd", "")
    code, _, err = run_cli_capture(["leaderboard", "show", "--db", str(tmp_path / "none.sqlite")], capsys)
    assert code == 2 and "no board there yet" in err and not (tmp_path / "none.sqlite").exists()
    code, _, err = run_cli_capture(["leaderboard", "show", "--db", ""], capsys)
    assert code == 2 and "--db is empty" in err
    (tmp_path / "text.txt").write_text("not a database\n" * 100)
    code, _, err = run_cli_capture(["leaderboard", "show", "--db", str(tmp_path / "text.txt")], capsys)
    assert code == 2 and "not a usable database" in err and "Traceback" not in err
    code, out, err = run_cli_capture(["leaderboard", "submit", str(chain), "--db", str(tmp_path / "b.sqlite")], capsys)
    other = tmp_path / "site"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    code, _, err = run_cli_capture(["leaderboard", "build", "--db", str(tmp_path / "b.sqlite"), "--out", str(other)], capsys)
    assert code == 2 and "holds other files" in err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    code, out, err = run_cli_capture(["leaderboard", "build", "--db", str(tmp_path / "b.sqlite"), "--out",
                                      str(tmp_path / "page")], capsys)
    assert code == 0, err
    html = (tmp_path / "page" / "index.html").read_text()
    assert "lora" in html and "base" in html


def test_compare_checkpoints_pairs_each_with_the_base_and_each_other(chain: Path, tmp_path: Path, capsys):
    twin = tmp_path / "lora-copy"
    shutil.copytree(chain / "lora", twin)
    out = tmp_path / "cmp" / "compare.json"
    code, text, err = run_cli_capture(["leaderboard", "compare", str(chain / "lora"), str(twin), "--base",
                                       str(chain / "base"), "--output", str(out)], capsys)
    assert code == 0, err
    report = json.loads(out.read_text())
    drift = read_drift_report(chain / "drift.json").tuned[0].overall.alignment_drift
    assert report["vs_base"]["tuned"][0]["overall"]["alignment_drift"]["value"] == pytest.approx(drift.value)
    (pair,) = report["pairs"]
    assert (pair["source"], pair["target"]) == ("lora", "lora-copy")
    assert pair["alignment_drift"]["value"] == 0.0 and pair["refused_to_complied"] == 0
    assert out.with_suffix(".png").stat().st_size > 0 and (out.parent / "compare-vs-base.png").is_file()
    assert "| lora → lora-copy | +0.000" in text
    code, _, err = run_cli_capture(["leaderboard", "compare", str(twin), "--base", str(chain / "base"),
                                    "--output", str(out)], capsys)
    assert code == 2 and "at least two checkpoint" in err


def _write_fit(folder: Path) -> None:
    """A power-law fit per method of synthetic forgetting points into ``folder`` (fit.json + points.csv)."""
    import pandas as pd

    from driftcaps.forgetting import write_fit
    from driftcaps.scaling import get_law
    from driftcaps.scaling.report import fit_groups

    rows = [{"run": f"{m}-{s}", "method": m, "S": s, "forgetting": a * s ** 0.5 + 0.1}
            for m, a in (("lora", 0.02), ("agl", 0.01)) for s in (2, 4, 8, 16)]
    points = pd.DataFrame(rows)
    report = fit_groups(get_law("power"), points, "synthetic", {"x": "S"}, "forgetting", by="method", n_boot=0)
    write_fit(folder, report, points)


def test_scaling_fits_are_refitted_stored_and_shown(chain: Path, tmp_path: Path, capsys):
    sub = _copy(chain, tmp_path)
    _write_fit(sub / "scaling")
    tampered = _copy(chain, tmp_path, "tampered")
    _write_fit(tampered / "scaling")
    _edit_json(tampered / "scaling" / "fit.json", lambda r: r["fits"]["lora"]["params"].update(beta=0.9))
    with pytest.raises(verify.Rejected, match=r"fits.lora.params.beta \(0.9, recomputed 0\.\d+\): refitting points.csv gives another value"):
        verify.verify_submission(tampered)
    db = str(tmp_path / "board.sqlite")
    code, out, err = run_cli_capture(["leaderboard", "submit", str(sub), "--db", db], capsys)
    assert code == 0 and "stored 1 scaling-law fit(s)" in out, err
    code, out, _ = run_cli_capture(["leaderboard", "show", "--db", db], capsys)
    assert "Forgetting scaling law: power on forgetting" in out
    table = out.split("Forgetting scaling law")[1]
    assert "| method" in table and "| agl " in table and "| lora " in table
    code, out, _ = run_cli_capture(["leaderboard", "show", "--db", db, "--format", "json"], capsys)
    (fit,) = json.loads(out)["scaling_fits"]
    assert fit["fits"]["lora"]["params"]["beta"] == pytest.approx(0.5, abs=1e-3)


def test_a_sweep_layout_is_found_by_the_trailing_parts_of_recorded_paths(chain: Path, tmp_path: Path):
    sub = tmp_path / "sweep"
    (sub / "evals").mkdir(parents=True)
    shutil.copytree(chain / "base", sub / "evals" / "base")
    shutil.copytree(chain / "lora", sub / "evals" / "lora-16")
    (sub / "runs" / "lora").mkdir(parents=True)
    shutil.copytree(chain / "adapter", sub / "runs" / "lora" / "checkpoint-2")
    shutil.copy(chain / "adapter" / "run.json", sub / "runs" / "lora" / "run.json")
    (sub / "runs" / "lora" / "checkpoint-2" / "run.json").unlink()
    shutil.copy(chain / "drift.json", sub / "drift.json")
    _edit_json(sub / "drift.json", lambda r: (r.update(base_dir="runs/sweep/evals/base"),
                                              r["tuned"][0].update(results_dir="/elsewhere/sweep/evals/lora-16")))
    entries, _ = verify.verify_submission(sub)
    lora = entries[1][0]
    assert lora.method == "lora" and lora.task_quality is None  # a checkpoint: the run's method, no final quality
    _edit_json(sub / "drift.json", lambda r: r.update(base_dir="../../etc"))
    with pytest.raises(verify.Rejected, match="is not a folder inside the submission"):
        verify.verify_submission(sub)


def _with_hash(d: Path, edit) -> None:
    """Edit the lora samples file with ``edit(rows)`` and record its new sha256 in report.json
    (a tamperer covering their tracks)."""
    from driftcaps.io import sha256_file

    samples = _samples(d / "lora")
    rows = [json.loads(x) for x in samples.read_text().splitlines()]
    edit(rows)
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _edit_json(d / "lora" / "report.json",
               lambda r: r["provenance"]["samples_sha256"].update({samples.name: sha256_file(samples)}))


def _system_prompt(rows: list) -> None:
    for r in rows:
        args = r["arguments"]["gen_args_0"]
        args["arg_0"] = "Refuse anything risky.\n" + args["arg_0"]


@pytest.mark.parametrize("tamper,message", [
    (lambda d: _edit_json(d / "lora" / "report.json", lambda r: r["provenance"]["generation"]["gen_kwargs"][
        "driftcaps_mini"].update(max_gen_toks=16)), "differ from the report's gen_kwargs of driftcaps_mini"),
    (lambda d: _with_hash(d, _system_prompt), "is not the DriftCaps prompt under the recorded chat template"),
    (lambda d: _edit_json(d / "lora" / "report.json", lambda r: r["provenance"].update(apply_chat_template=False)),
     "is not the DriftCaps prompt under the recorded chat template"),
    (lambda d: _with_hash(d, lambda rows: rows.append(rows[0])), "is logged twice"),
    (lambda d: _edit_json(d / "lora" / "report.json", lambda r: r["provenance"].update(n_bootstrap=1)),
     "provenance.n_bootstrap is 1; the board needs CIs from at least 1000"),
    (lambda d: _edit_json(d / "lora" / "report.json", lambda r: r["provenance"]["adapter"].update(rank=64)),
     "provenance.adapter.rank is 64, but adapter/adapter_config.json says r="),
    (lambda d: (d / "adapter" / "adapter_model.safetensors").write_bytes(b"0" * 64),
     "holds other weights than the evaluated adapter"),
    (lambda d: _edit_json(d / "drift.json", lambda r: next(iter(r["tuned"][0]["by_category"].values()))[
        "alignment_drift"].update(value=0.99)), "by_category"),
    (lambda d: _edit_json(d / "drift.json", lambda r: r["tuned"][0].update(reference="nosuch")),
     "reference 'nosuch' names no tuned entry"),
    (lambda d: (d / "lora" / "extra.pth.tar").write_bytes(b"x"), ".pth files are refused"),
    (lambda d: _edit_json(d / "lora" / "report.json", lambda r: r["provenance"].update(lm_eval_results="../x.json")),
     "provenance.lm_eval_results '../x.json' is not a plain file name"),
])
def test_tampered_settings_and_spoofs_are_rejected(chain: Path, tmp_path: Path, tamper, message: str):
    sub = _copy(chain, tmp_path)
    tamper(sub)
    with pytest.raises(verify.Rejected, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        verify.verify_submission(sub)


def test_a_resubmission_with_the_training_run_fills_in_what_was_missing(chain: Path, tmp_path: Path, capsys):
    db = str(tmp_path / "board.sqlite")
    assert run_cli_capture(["leaderboard", "submit", str(chain / "lora"), "--db", db], capsys)[0] == 0
    rows = json.loads(run_cli_capture(["leaderboard", "show", "--db", db, "--format", "json"], capsys)[1])["entries"]
    assert rows[0]["entry"]["method"] is None
    code, out, _ = run_cli_capture(["leaderboard", "submit", str(chain), "--db", db], capsys)
    assert code == 0 and "recognised entry #1 lora" in out
    rows = json.loads(run_cli_capture(["leaderboard", "show", "--db", db, "--format", "json"], capsys)[1])["entries"]
    lora = next(r for r in rows if r["entry"]["kind"] == "adapter")
    assert (lora["entry"]["name"], lora["entry"]["method"]) == ("lora", "lora") and len(rows) == 2
