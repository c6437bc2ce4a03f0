"""Comparable runs: the response-changing settings read from lm-eval's results file, and
``driftcaps drift`` refusing pairs that differ (chat template, batch size, lm-eval's response
cache, system instruction), with ``--allow-mismatch`` recorded in the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from driftcaps.comparable import FIELDS, mismatches, response_settings
from driftcaps.compare import run_drift
from driftcaps.errors import DriftCapsError


def results(folder: Path, template: str | None = "t" * 64, batch: int | str = 32, cache: str | None = None,
            system: str | None = None, max_gen_toks: int = 128, model: str = "hf") -> Path:
    """A minimal lm-eval results file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"config": {"model": model, "model_dtype": "torch.bfloat16", "batch_size": batch, "use_cache": cache},
            "configs": {"driftcaps_mini": {"generation_kwargs": {"until": [], "max_gen_toks": max_gen_toks,
                                                                 "do_sample": False, "temperature": 0.0}}},
            "chat_template_sha": template, "system_instruction_sha": system}
    (folder / "results_2026-11-30T00-00-00.json").write_text(json.dumps(data))
    return folder


def test_settings_are_read_from_lm_evals_results_file(tmp_path: Path):
    s = response_settings(results(tmp_path / "a", batch=8, cache="/tmp/cache"))
    assert s == {"chat_template": "t" * 64, "system_instruction": None, "max_gen_toks": 128, "until": [],
                 "do_sample": False, "temperature": 0.0, "dtype": "bfloat16", "batch_size": 8, "backend": "hf",
                 "use_cache": "/tmp/cache"}
    assert list(s) == list(FIELDS)
    assert response_settings(results(tmp_path / "b", model="/models/qwen"), backend="vllm")["backend"] == "vllm"
    with pytest.raises(DriftCapsError, match="no lm-eval results file"):
        response_settings(tmp_path / "empty")


@pytest.mark.parametrize("tuned,field", [
    (dict(template=None), "chat_template None vs tttttttttttt..."),
    (dict(batch=1), "batch_size 1 vs 32"),
    (dict(system="s" * 64), "system_instruction ssssssssssss... vs None"),
    (dict(max_gen_toks=64), "max_gen_toks 64 vs 128"),
])
def test_mismatches_name_each_differing_field(tmp_path: Path, tuned: dict, field: str):
    base = response_settings(results(tmp_path / "base"))
    other = response_settings(results(tmp_path / "tuned", **tuned))
    assert mismatches(base, other) == [field]
    assert mismatches(base, other, allow={field.split(" ")[0]}) == []
    assert mismatches(base, base) == []


def test_a_run_through_lm_evals_cache_is_never_comparable(tmp_path: Path):
    base = response_settings(results(tmp_path / "base", cache="lm_cache"))
    tuned = response_settings(results(tmp_path / "tuned", cache="lm_cache"))
    (bad,) = mismatches(base, tuned)
    assert bad.startswith("use_cache 'lm_cache' vs 'lm_cache' (lm-eval's cache keys only the request")
    assert mismatches(base, tuned, allow={"use_cache"}) == []


def test_drift_refuses_a_pair_made_with_and_without_the_chat_template(chain: Path, tmp_path: Path):
    tuned = tmp_path / "no-template"
    shutil.copytree(chain / "lora", tuned)
    res = next(tuned.glob("results_*.json"))
    data = json.loads(res.read_text())
    data["chat_template_sha"] = None
    res.write_text(json.dumps(data))
    with pytest.raises(DriftCapsError, match=r"generated with other settings than the base \(chat_template None vs "):
        run_drift(chain / "base", [tuned], tmp_path / "d.json", n_boot=20)
    assert not (tmp_path / "d.json").exists()
    report, _ = run_drift(chain / "base", [tuned], tmp_path / "d.json", n_boot=20, allow_mismatch=["chat_template"])
    assert report.allowed_mismatches == ["chat_template"]
    with pytest.raises(DriftCapsError, match="--allow-mismatch colour: not a setting"):
        run_drift(chain / "base", [tuned], None, n_boot=20, allow_mismatch=["colour"])


def test_eval_system_instruction_reaches_the_chat_and_drift_refuses_the_pair(chain: Path, tiny_model_dir: Path,
                                                                              tmp_path: Path):
    from conftest import LIMIT, _run

    from driftcaps.io import sha256_text
    from leaderboard.checks import check_samples, lm_eval_results

    out = tmp_path / "sys"
    _run(["eval", "--model", str(tiny_model_dir), "--limit", str(LIMIT), "--dtype", "float32", "--n-boot", "1000",
          "--device", "cpu", "--system-instruction", "Answer safely.", "--output", str(out)])
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["generation"]["system_instruction"] == "Answer safely."
    assert response_settings(out)["system_instruction"] == sha256_text("Answer safely.")
    samples = next(out.glob("samples_*.jsonl"))
    first = json.loads(samples.read_text().splitlines()[0])["arguments"]["gen_args_0"]["arg_0"]
    assert "Answer safely." in first and first.index("Answer safely.") < first.index(
        json.loads(samples.read_text().splitlines()[0])["doc"]["prompt"][:20])
    prov = report["provenance"]
    results_file = lm_eval_results(out, prov["lm_eval_results"], prov["chat_template_sha256"], True)
    check_samples(samples, "driftcaps_mini", prov["generation"]["gen_kwargs"]["driftcaps_mini"], results_file, True)
    with pytest.raises(DriftCapsError, match=r"system_instruction [0-9a-f]{12}\.\.\. vs None"):
        run_drift(chain / "base", [out], None, n_boot=20)
