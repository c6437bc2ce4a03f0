"""The real SmolLM2-135M-Instruct, a handful of prompts: `driftcaps eval` and the plain lm_eval
command line of the README (with and without an adapter made by `driftcaps agl train`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from driftcaps.paths import tasks_dir
from driftcaps.report import EvalReport

pytestmark = pytest.mark.slow  # real models / torchrun: `make test-all`


def _lm_eval(model_args: str, out: Path, data_dir: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", model_args,
           "--tasks", "driftcaps_mini", "--include_path", str(tasks_dir()), "--apply_chat_template",
           "--limit", "5", "--device", "cpu", "--batch_size", "8", "--output_path", str(out), "--log_samples"]
    env = {**os.environ, "DRIFTCAPS_DATA": str(data_dir)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def smol_adapter(smollm2_dir: Path, data_dir: Path, sources_dir: Path, tmp_path_factory) -> Path:
    from driftcaps.cli import main

    out = tmp_path_factory.mktemp("smol") / "adapter"
    try:
        main(["agl", "train", "--method", "lora", "--base", "smollm2", "--task-data", "mmlu-affirmative",
              "--steps", "2", "--rank", "4", "--batch-size", "2", "--max-length", "96", "--heldout", "2", "--align-heldout", "0",
              "--output", str(out)])
    except SystemExit as e:
        assert not e.code
    return out


@pytest.mark.parametrize("with_adapter", [False, True], ids=["base", "adapter"])
def test_plain_lm_eval_command(smollm2_dir: Path, smol_adapter: Path, data_dir: Path, tmp_path: Path, with_adapter):
    args = f"pretrained={smollm2_dir},dtype=float32" + (f",peft={smol_adapter}" if with_adapter else "")
    proc = _lm_eval(args, tmp_path / "out", data_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = proc.stdout
    assert "refusal_rate_unsafe" in table and "over_refusal_rate_safe" in table and "balanced_safety" in table
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())
    assert results["n-samples"]["driftcaps_mini"]["effective"] == 5
    assert 0.0 <= results["results"]["driftcaps_mini"]["refusal_rate_unsafe,none"] <= 1.0
    if with_adapter:
        assert results["config"]["model_args"]["peft"] == str(smol_adapter)


def test_driftcaps_eval_on_smollm2(smollm2_dir: Path, data_dir: Path, tmp_path: Path):
    from driftcaps.evaluate import EvalSettings, run_eval

    report = run_eval(EvalSettings(model="smollm2", output=tmp_path / "r", limit=4, n_boot=200))
    assert report.n_prompts == 4
    assert report.provenance.model.weights_sha256 and report.provenance.model.source == "registry"
    judged = [json.loads(x) for x in (tmp_path / "r" / "judged.jsonl").read_text().splitlines()]
    assert all(r["response"].strip() for r in judged)  # a real model writes real text
    EvalReport.model_validate_json((tmp_path / "r" / "report.json").read_text())
