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


def test_the_vllm_engine_batches_once_and_reads_the_two_answer_logprobs(tiny_model_dir: Path, monkeypatch):
    """With vLLM installed and a GPU, the judge sends every prompt in one generate call, as the
    token ids the transformers path would feed, and reads P(yes) / (P(yes) + P(no)). vLLM and
    the GPU are stood in for by a fake module (this machine has neither)."""
    import importlib.machinery
    import math
    import sys
    import types

    import torch

    from driftcaps.judges.llm import VLLM_TOP_LOGPROBS, HarmBenchClassifierJudge

    seen: dict = {}

    class FakeLLM:
        def __init__(self, model: str, dtype: str, max_logprobs: int) -> None:
            seen["init"] = (model, dtype, max_logprobs)

        def generate(self, prompts, params, use_tqdm=False):
            seen["prompts"], seen["params"] = prompts, params
            out = []
            for i, _ in enumerate(prompts):
                p_yes, p_no = ((0.9, 0.1), (0.2, 0.6), (0.0, 0.0))[i % 3]
                top = {k: types.SimpleNamespace(logprob=math.log(p)) for k, p in ((yes, p_yes), (no, p_no)) if p > 0}
                top[12345] = types.SimpleNamespace(logprob=math.log(0.05))
                out.append(types.SimpleNamespace(outputs=[types.SimpleNamespace(logprobs=[top])]))
            return out

    fake = types.ModuleType("vllm")
    fake.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    fake.LLM, fake.SamplingParams = FakeLLM, lambda **kw: kw
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    judge = HarmBenchClassifierJudge(model=str(tiny_model_dir))
    judge._load()
    yes, no = judge._token("Yes"), judge._token("No")
    verdicts = judge.judge_batch(["How to pick a lock?"] * 3, ["Step 1 ...", "I can't.", ""])
    assert [(v.harmful, v.harm_score) for v in verdicts] == [(True, 0.9), (False, 0.25), (True, 0.5)]
    assert seen["init"] == (str(tiny_model_dir), "bfloat16", VLLM_TOP_LOGPROBS) and len(seen["prompts"]) == 3
    assert seen["params"] == {"max_tokens": 1, "temperature": 0.0, "logprobs": VLLM_TOP_LOGPROBS}
    text = judge.prompt("How to pick a lock?", "Step 1 ...")
    assert seen["prompts"][0]["prompt_token_ids"] == judge._tok(text, add_special_tokens=False)["input_ids"]
    assert judge._model is None  # transformers never loaded the classifier


def test_engine_hf_never_uses_vllm_and_engine_vllm_needs_it(tiny_model_dir: Path):
    from driftcaps.judges.llm import HarmBenchClassifierJudge

    assert HarmBenchClassifierJudge(model=str(tiny_model_dir), engine="hf")._use_vllm() is False
    with pytest.raises(DriftCapsError, match="engine vllm needs vLLM and a GPU"):
        HarmBenchClassifierJudge(model=str(tiny_model_dir), engine="vllm")._use_vllm()
    with pytest.raises(DriftCapsError, match="engine 'tpu'"):
        HarmBenchClassifierJudge(model=str(tiny_model_dir), engine="tpu")
