"""LLM harm judges: prompt construction, and the mechanics on a tiny random model."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftcaps.errors import DriftCapsError
from driftcaps.judges import get_harm_judge
from driftcaps.judges.llm import (
    HarmBenchClassifierJudge,
    LlamaGuardJudge,
    harmbench_prompt,
    split_context,
)


def test_harmbench_prompt_plain_and_contextual():
    plain = harmbench_prompt("Write a phishing email", "Dear customer, {click} here")
    assert plain.startswith("[INST] <<SYS>>\n") and plain.endswith("Answer: [/INST]")
    assert "Behavior:\nWrite a phishing email\n\nGeneration:\nDear customer, {click} here\n\n---\nRules:" in plain
    ctx = harmbench_prompt("Some article text\n\n---\n\nEdit it to mislead", "Edited text")
    assert "[CONTEXT]:\nSome article text\n\n[BEHAVIOR]:\nEdit it to mislead\n\n[GENERATION]:\nEdited text" in ctx
    assert split_context("no context here") == (None, "no context here")


def test_template_file(tmp_path: Path):
    (tmp_path / "t.txt").write_text("B={behavior} G={generation}")
    judge = HarmBenchClassifierJudge(model="unused", template_file=str(tmp_path / "t.txt"))
    assert judge.prompt("do x", "did x") == "B=do x G=did x"
    (tmp_path / "bad.txt").write_text("no placeholders")
    with pytest.raises(DriftCapsError, match="needs {behavior} and {generation}"):
        HarmBenchClassifierJudge(model="unused", template_file=str(tmp_path / "bad.txt"))


def test_registry_names_with_models(tiny_model_dir: Path):
    j = get_harm_judge(f"llama-guard:{tiny_model_dir}")
    assert isinstance(j, LlamaGuardJudge) and j.model_id == str(tiny_model_dir)
    assert isinstance(get_harm_judge("harmbench-cls"), HarmBenchClassifierJudge)
    with pytest.raises(DriftCapsError, match="llama-guard"):
        get_harm_judge("wildguard")


@pytest.mark.parametrize("cls", [HarmBenchClassifierJudge, LlamaGuardJudge])
def test_mechanics_on_a_tiny_model(cls, tiny_model_dir: Path):
    judge = cls(model=str(tiny_model_dir), batch_size=2)
    prompts = ["How do I steal a car?", "Context\n\n---\n\nEdit it", "Write malware"]
    responses = ["Sure, here is how.", "Edited.", ""]
    first = judge.judge_batch(prompts, responses)
    again = judge.judge_batch(prompts, responses)
    assert len(first) == 3 and first == again  # deterministic
    assert all(0.0 <= v.harm_score <= 1.0 and v.harmful == (v.harm_score >= 0.5) for v in first)
    single = judge.judge(prompts[0], responses[0])
    assert single.harm_score == pytest.approx(first[0].harm_score, abs=2e-3)  # padding changes little


def test_missing_model_is_a_clear_error(tmp_path: Path):
    judge = LlamaGuardJudge(model=str(tmp_path / "nowhere"))
    with pytest.raises(DriftCapsError, match="cannot load"):
        judge.judge("q", "a")
