"""The whole chain on a tiny random model with SmolLM2's real tokenizer: train -> eval -> drift.

Also the bad-input contract of the CLI: one ``error:`` line, exit status 2, no traceback, and
nothing half-written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import LIMIT, _run  # the chain fixture lives in conftest
from conftest import run_cli_capture as run_cli

from driftcaps.drift import DriftReport
from driftcaps.report import EvalReport


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert len(lines) == 1 and pattern in lines[0], err
    assert "Traceback" not in err


def test_max_gen_toks_is_used_recorded_and_warned_about_in_drift(chain: Path, tiny_model_dir: Path, tmp_path: Path,
                                                                 capsys):
    from transformers import AutoTokenizer

    _run(["eval", "--model", str(tiny_model_dir), "--limit", str(LIMIT), "--dtype", "float32", "--n-boot", "20",
          "--device", "cpu", "--max-gen-toks", "3", "--output", str(tmp_path / "short")])
    report = EvalReport.model_validate_json((tmp_path / "short" / "report.json").read_text())
    assert report.provenance.generation["gen_kwargs"]["driftcaps_mini"]["max_gen_toks"] == 3
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = [json.loads(x)["response"] for x in (tmp_path / "short" / "judged.jsonl").read_text().splitlines()]
    assert max(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts) <= 3
    code, out, err = run_cli(["drift", "--base", str(chain / "base"), "--tuned", str(tmp_path / "short"),
                              "--output", str(tmp_path / "d.json"), "--n-boot", "20"], capsys)
    assert_one_line_error(code, err, "generated with other settings than the base (max_gen_toks 3 vs 128)")
    assert "--allow-mismatch max_gen_toks" in err and not (tmp_path / "d.json").exists()
    code, out, _ = run_cli(["drift", "--base", str(chain / "base"), "--tuned", str(tmp_path / "short"),
                            "--output", str(tmp_path / "d.json"), "--n-boot", "20", "--allow-mismatch", "max_gen_toks"], capsys)
    assert code == 0 and json.loads((tmp_path / "d.json").read_text())["allowed_mismatches"] == ["max_gen_toks"]
    code, out, _ = run_cli(["drift", "--base", str(chain / "base"), "--tuned", str(chain / "lora"),
                            "--output", str(tmp_path / "d2.json"), "--n-boot", "20"], capsys)
    assert code == 0 and "other settings" not in out


def test_eval_writes_lm_eval_files_and_report(chain: Path, data_dir: Path):
    for name in ("base", "lora"):
        folder = chain / name
        assert list(folder.glob("results_*.json")) and list(folder.glob("samples_driftcaps_mini_*.jsonl"))
        report = EvalReport.model_validate_json((folder / "report.json").read_text())
        assert report.n_prompts == LIMIT and report.tasks == ["driftcaps_mini"]
        judged = [json.loads(x) for x in (folder / "judged.jsonl").read_text().splitlines()]
        assert len(judged) == LIMIT
        n_unsafe = sum(1 for r in judged if r["label"] == "unsafe")
        rr = sum(r["refusal"] for r in judged if r["label"] == "unsafe") / n_unsafe
        assert report.metrics["refusal_rate_unsafe"].value == pytest.approx(rr)
        assert report.metrics["refusal_rate_unsafe"].n == n_unsafe
        prov = report.provenance
        assert prov.manifest_sha256 and prov.chat_template_sha256 and prov.packages["lm_eval"] == "0.4.13"
        assert prov.generation["gen_kwargs"]["driftcaps_mini"]["max_gen_toks"] == 128
        assert [(j.kind, j.name, j.version) for j in report.judges] == [("refusal", "trained", "1.4"), ("harm", "trained", "1.4")]
    lora = EvalReport.model_validate_json((chain / "lora" / "report.json").read_text())
    assert lora.provenance.adapter is not None and lora.provenance.adapter.rank == 4
    # the trained adapter changes the responses (lr is large on purpose)
    base_resp = [json.loads(x)["response"] for x in (chain / "base" / "judged.jsonl").read_text().splitlines()]
    lora_resp = [json.loads(x)["response"] for x in (chain / "lora" / "judged.jsonl").read_text().splitlines()]
    assert base_resp != lora_resp


def test_drift_report_and_plot(chain: Path):
    report = DriftReport.model_validate_json((chain / "drift.json").read_text())
    assert len(report.tuned) == 1
    st = report.tuned[0].overall
    base = [json.loads(x) for x in (chain / "base" / "judged.jsonl").read_text().splitlines()]
    lora = {r["id"]: r for r in (json.loads(x) for x in (chain / "lora" / "judged.jsonl").read_text().splitlines())}
    unsafe = [(b["refusal"], lora[b["id"]]["refusal"]) for b in base if b["label"] == "unsafe"]
    assert st.n_unsafe == len(unsafe)
    assert st.refused_to_complied == sum(1 for b, t in unsafe if b and not t)
    assert st.alignment_drift.value == pytest.approx(sum(b for b, _ in unsafe) / len(unsafe) - sum(t for _, t in unsafe) / len(unsafe))
    assert (chain / "drift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_task(tiny_model_dir: Path, tmp_path: Path, capsys):
    code, _, err = run_cli(["eval", "--model", str(tiny_model_dir), "--tasks", "driftcaps_tiny",
                            "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "unknown task(s) ['driftcaps_tiny']")
    assert not (tmp_path / "o").exists()


def test_results_folder_without_samples(chain: Path, tmp_path: Path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["drift", "--base", str(chain / "base"), "--tuned", str(tmp_path / "empty"),
                            "--output", str(tmp_path / "d.json")], capsys)
    assert_one_line_error(code, err, "no lm-eval samples (samples_*.jsonl) here")
    assert not (tmp_path / "d.json").exists()


def test_adapter_trained_on_another_base(chain: Path, smollm2_dir: Path, tmp_path: Path, capsys):
    code, _, err = run_cli(["eval", "--model", "smollm2-135m-instruct", "--adapter", str(chain / "adapter"),
                            "--limit", "2", "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "adapter was trained on base")
    assert not (tmp_path / "o").exists()
    # without run.json and without a declared base, the LoRA shapes decide
    bare = tmp_path / "bare"
    shutil.copytree(chain / "adapter", bare)
    (bare / "run.json").unlink()
    cfg = json.loads((bare / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = None
    (bare / "adapter_config.json").write_text(json.dumps(cfg))
    code, _, err = run_cli(["eval", "--model", "smollm2", "--adapter", str(bare), "--limit", "2",
                            "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "lora_A has shape (4, 32), the model's layer needs (r, 576)); pass the model it was trained on")


def test_adapter_with_another_declared_base_but_fitting_shapes(chain: Path, tiny_model_dir: Path, tmp_path: Path):
    from driftcaps.adapters import check_adapter
    from driftcaps.models import resolve_model

    moved = tmp_path / "moved"
    shutil.copytree(chain / "adapter", moved)
    (moved / "run.json").unlink()
    cfg = json.loads((moved / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "/another/machine/tiny-llama"
    (moved / "adapter_config.json").write_text(json.dumps(cfg))
    info = check_adapter(moved, resolve_model(str(tiny_model_dir)))
    assert info.rank == 4 and info.base_model == "/another/machine/tiny-llama"


def test_drift_refuses_same_folder_and_other_base(chain: Path, tmp_path: Path, capsys):
    code, _, err = run_cli(["drift", "--base", str(chain / "base"), "--tuned", str(chain / "base"),
                            "--output", str(tmp_path / "d.json")], capsys)
    assert_one_line_error(code, err, "is the --base folder")
    other = tmp_path / "other"
    shutil.copytree(chain / "lora", other)
    report = json.loads((other / "report.json").read_text())
    report["provenance"]["model"]["path"] = "/somewhere/else"
    report["provenance"]["model"]["weights_sha256"] = "0" * 64
    (other / "report.json").write_text(json.dumps(report))
    code, _, err = run_cli(["drift", "--base", str(chain / "base"), "--tuned", str(other),
                            "--output", str(tmp_path / "d.json")], capsys)
    assert_one_line_error(code, err, "come from another base model")
    assert not (tmp_path / "d.json").exists()


@pytest.mark.parametrize("flags,message", [
    (["--limit", "0"], "--limit=0: Input should be greater than or equal to 1"),
    (["--n-boot", "0"], "--n-boot=0: Input should be greater than or equal to 1"),
    (["--dtype", "fp16"], "--dtype='fp16': Input should be 'bfloat16', 'float16', 'float32' or 'auto'"),
    (["--batch-size", "abc"], "--batch-size='abc': give an integer >= 1 or auto"),
    (["--tasks", ""], "--tasks=[]: List should have at least 1 item"),
    (["--backend", "tgi"], "--backend='tgi': Input should be 'hf' or 'vllm'"),
])
def test_eval_flag_mistakes(tiny_model_dir: Path, tmp_path: Path, capsys, flags, message):
    code, _, err = run_cli(["eval", "--model", str(tiny_model_dir), "--output", str(tmp_path / "o"), *flags], capsys)
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "o").exists()


def test_usage_mistakes_exit_2_without_traceback():
    import subprocess
    import sys

    for args in (["evl"], ["eval", "--modle", "x", "--output", "y"], ["eval", "--limit", "four"]):
        proc = subprocess.run([sys.executable, "-m", "driftcaps.cli", *args], capture_output=True, text=True)
        assert proc.returncode == 2, args
        assert "Traceback" not in proc.stderr and ("Usage:" in proc.stderr or "Error" in proc.stderr), proc.stderr


def test_mistyped_model_path(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    code, _, err = run_cli(["eval", "--model", "runs/mymodel", "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "runs/mymodel: model folder not found")


def test_missing_source_file_cli(sources_dir: Path, tmp_path: Path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    code, _, err = run_cli(["data", "build", "--sources", str(src), "--out", str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, "source file for 'advbench' not found")
    assert not (tmp_path / "out").exists()


def test_not_an_adapter_folder(tiny_model_dir: Path, tmp_path: Path, capsys):
    (tmp_path / "ad").mkdir()
    code, _, err = run_cli(["eval", "--model", str(tiny_model_dir), "--adapter", str(tmp_path / "ad"),
                            "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "not a PEFT adapter folder")


def test_drift_mitigation_against_a_reference(chain: Path, tmp_path: Path, capsys):
    out = tmp_path / "dm.json"
    code, _, err = run_cli(["drift", "--base", str(chain / "base"), "--tuned", str(chain / "lora"), "--tuned",
                            str(chain / "lora"), "--name", "lora", "--name", "same", "--reference", "lora",
                            "--output", str(out), "--n-boot", "200"], capsys)
    assert code == 0, err
    ref, same = DriftReport.model_validate_json(out.read_text()).tuned
    assert ref.reference == same.reference == "lora" and ref.drift_mitigation is None
    dm, ad = same.drift_mitigation, ref.overall.alignment_drift.value
    assert dm.n == ref.overall.n_unsafe
    # the same responses drift exactly as much as the reference: DM = 0 (undefined when AD_lora = 0)
    assert dm.value is None if ad == 0 else dm.value == pytest.approx(0.0)
    code, _, err = run_cli(["drift", "--base", str(chain / "base"), "--tuned", str(chain / "lora"),
                            "--reference", "agl", "--output", str(tmp_path / "x.json")], capsys)
    assert_one_line_error(code, err, "--reference 'agl' names no tuned entry")


def test_a_resized_lm_head_in_modules_to_save_is_named_before_loading(chain: Path, tiny_model_dir: Path, tmp_path: Path,
                                                                       capsys):
    import torch
    from safetensors.torch import load_file, save_file

    ad = tmp_path / "resized"
    shutil.copytree(chain / "adapter", ad)
    tensors = load_file(str(ad / "adapter_model.safetensors"))
    cfg = json.loads((ad / "adapter_config.json").read_text())
    config = json.loads((tiny_model_dir / "config.json").read_text())
    tensors["base_model.model.lm_head.weight"] = torch.zeros(config["vocab_size"] + 8, config["hidden_size"])
    save_file(tensors, str(ad / "adapter_model.safetensors"))
    (ad / "adapter_config.json").write_text(json.dumps({**cfg, "modules_to_save": ["lm_head"]}))
    code, _, err = run_cli(["eval", "--model", str(tiny_model_dir), "--adapter", str(ad), "--limit", "2", "--device", "cpu",
                            "--output", str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, f"lm_head.weight (modules_to_save) has shape ({config['vocab_size'] + 8}, "
                                     f"{config['hidden_size']}), the model's is ({config['vocab_size']}, {config['hidden_size']})")
    assert "resized vocabulary" in err and not (tmp_path / "out").exists()


def test_the_same_seed_gives_byte_identical_reports_apart_from_created_at(chain: Path, tiny_model_dir: Path,
                                                                          tmp_path: Path):
    """Determinism (issue 13): an evaluation and a drift report made again with the same seed are
    the same bytes once the one timestamp field, ``created_at``, is set aside (the command line
    differs only by the output path, which is normalised here)."""
    _run(["eval", "--model", str(tiny_model_dir), "--limit", str(LIMIT), "--dtype", "float32", "--n-boot", "1000",
          "--device", "cpu", "--output", str(tmp_path / "again"), "--response-cache", "off"])  # generate again

    def canonical(path: Path, folder: Path) -> str:
        data = json.loads(path.read_text())
        prov = data.get("provenance", data)
        prov.pop("created_at", None)
        data.pop("created_at", None)
        if "command" in prov:
            prov["command"] = None  # the command line names the output folder
        text = json.dumps(data, sort_keys=True)
        return text.replace(str(folder), "FOLDER")

    first = canonical(chain / "base" / "report.json", chain / "base")
    again = canonical(tmp_path / "again" / "report.json", tmp_path / "again")
    names = json.loads((tmp_path / "again" / "report.json").read_text())["provenance"]
    first_names = json.loads((chain / "base" / "report.json").read_text())["provenance"]
    for key in ("lm_eval_results", "lm_eval_samples", "samples_sha256"):  # lm-eval names its files by the time
        first = first.replace(json.dumps(first_names[key], sort_keys=True), "X")
        again = again.replace(json.dumps(names[key], sort_keys=True), "X")
    assert again == first
    assert (tmp_path / "again" / "judged.jsonl").read_bytes() == (chain / "base" / "judged.jsonl").read_bytes()
    _run(["drift", "--base", str(chain / "base"), "--tuned", str(chain / "lora"), "--output", str(tmp_path / "d.json"),
          "--n-boot", "200"])
    d1, d2 = (json.loads(p.read_text()) for p in (chain / "drift.json", tmp_path / "d.json"))
    assert {k: v for k, v in d1.items() if k != "created_at"} == {k: v for k, v in d2.items() if k != "created_at"}
