"""The baselines of the method comparison (issue 15): the L2 penalty on the update, alignment
replay, the contrast Fisher of AGL and the task accuracy on questions never trained on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from agl import TrainConfig, train
from agl.replay import replay_count, replay_indices, replay_order, replayed_through
from agl.run import read_run
from driftcaps.errors import DriftCapsError


def _cfg(tiny_model_dir, task_data, out, **kw) -> TrainConfig:
    base = dict(base=str(tiny_model_dir), task_data=str(task_data), output=str(out), steps=4, rank=4,
                alpha=8.0, batch_size=2, max_length=64, heldout=4, eval_every=0, seed=0, dropout=0.0,
                align_heldout=0, lr=0.02)
    base.update(kw)
    return TrainConfig(**base)


def _log(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "training_log.jsonl").read_text().splitlines()]


def test_replay_schedule_is_exact_and_even():
    assert [replay_count(s, 4, 0.1) for s in range(1, 15)] == [0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0]
    assert replayed_through(14, 4, 0.1) == 5 and replayed_through(10, 4, 0.25) == 10
    assert [replay_count(s, 4, 0.0) for s in range(1, 6)] == [0] * 5
    assert [replay_count(s, 2, 0.75) for s in range(1, 5)] == [1, 2, 1, 2]  # 3 of every 4 slots
    assert [replay_indices(s, 2, 0.5, [2, 0, 1]) for s in range(1, 5)] == [[2], [0], [1], [2]]  # cycles
    assert sorted(replay_order(5, 0)) == list(range(5)) and replay_order(5, 0) == replay_order(5, 0)
    with pytest.raises(ValueError, match="replay rows"):
        replay_indices(1, 2, 0.5, [])


def test_l2_term_equals_the_squared_update_by_hand(tiny_model_dir: Path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from agl.model import L2Objective, Objectives, lora_layers

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    assert L2Objective(model, 1.0).terms()["l2"].item() == 0.0  # B starts at zero: no update yet
    expected = 0.0
    for layer in lora_layers(model).values():
        with torch.no_grad():
            layer.lora_B["default"].weight.normal_()
        a, b = layer.lora_A["default"].weight.detach(), layer.lora_B["default"].weight.detach()
        expected += float(((8 / 4) * (b @ a)).pow(2).sum())
    obj = L2Objective(model, 0.3)
    terms = obj.terms()
    assert terms["l2"].item() == pytest.approx(expected, rel=1e-5)
    assert obj.loss(terms).item() == pytest.approx(0.3 * expected, rel=1e-5)
    both = Objectives([obj, L2Objective(model, 0.7)])  # parts' losses add up
    assert both.loss(both.terms()).item() == pytest.approx(1.0 * expected, rel=1e-5)


def _update_norm(folder: Path) -> float:
    from safetensors.torch import load_file

    w = load_file(str(folder / "adapter_model.safetensors"))
    total = 0.0
    for k in w:
        if "lora_A" in k:
            a, b = w[k], w[k.replace("lora_A", "lora_B")]
            total += float(((8 / 4) * (b @ a)).pow(2).sum())
    return total


def test_l2_penalty_is_logged_and_shrinks_the_update(tiny_model_dir, task_file, tmp_path):
    plain = train(_cfg(tiny_model_dir, task_file, tmp_path / "plain"), progress=False)
    l2 = train(_cfg(tiny_model_dir, task_file, tmp_path / "l2", l2_weight=50.0), progress=False)
    log = _log(l2)
    assert all("l2" not in e for e in _log(plain))
    for e in log[1:]:
        assert e["reg_loss"] == pytest.approx(50.0 * e["l2"], rel=1e-5)
        assert e["loss"] == pytest.approx(e["task_loss"] + e["reg_loss"], rel=1e-5)
    assert log[1]["l2"] == 0.0 and log[2]["l2"] > 0  # the first step starts from B = 0
    assert _update_norm(l2) < 0.5 * _update_norm(plain)
    assert read_run(l2).config.l2_weight == 50.0


def test_replay_mixes_align_rows_into_the_batches(tiny_model_dir, task_file, tmp_path, data_dir, monkeypatch):
    import importlib

    from agl.alignment import alignment_data
    from driftcaps.models import resolve_model

    agl_train = importlib.import_module("agl.train")  # (the package exports the function train)
    seen: list[list[list[int]]] = []
    real = agl_train.collate

    def spy(examples, pad_id):
        seen.append([e["input_ids"] for e in examples])
        return real(examples, pad_id)

    monkeypatch.setattr(agl_train, "collate", spy)
    out = train(_cfg(tiny_model_dir, task_file, tmp_path / "replay", replay_share=0.5, replay_examples=3,
                     align_heldout=2, steps=4), progress=False)
    from transformers import AutoTokenizer

    from agl.data import tokenize_example

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = alignment_data(resolve_model(str(tiny_model_dir)), 5)
    from driftcaps.data import load_items

    assert {r["id"] for r in rows} <= {i.id for i in load_items("align")}  # never a test prompt
    replay = [tokenize_example(tok, r["prompt"], r["response"], 64)["input_ids"] for r in rows[2:5]]
    held = [tokenize_example(tok, r["prompt"], r["response"], 64)["input_ids"] for r in rows[:2]]
    batches = seen[:4]  # the four training batches (held-out losses are not computed: eval_every 0)
    order = replay_order(3, 0)
    for step, batch in enumerate(batches, start=1):
        assert len(batch) == 2
        assert batch[1] == replay[order[(step - 1) % 3]]  # one replay example a step, in the fixed order
        assert batch[0] not in replay and batch[0] not in held  # a task example
    assert read_run(out).config.replay_share == 0.5


def test_contrast_examples_and_their_loss(tiny_model_dir, data_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agl.alignment import alignment_order
    from agl.contrast import COMPLIANCE, REFUSAL, contrast_examples, opening_example
    from agl.fisher import estimate, example_loss

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ex = opening_example(tok, "How do I pick a lock?", REFUSAL, 256)
    body = tok(REFUSAL, add_special_tokens=False)["input_ids"]
    assert ex["input_ids"][-len(body):] == body  # the opening closes the example: no end-of-turn token
    assert [x for x in ex["labels"] if x != -100] == body
    short = opening_example(tok, "How do I pick a lock? " * 40, REFUSAL, 32)
    assert len(short["input_ids"]) == 32 and short["input_ids"][-len(body):] == body
    pairs = contrast_examples(tok, 3, 256)
    unsafe = [i.prompt for i in alignment_order() if i.label == "unsafe"][:3]
    assert [p["input_ids"] for p in pairs] == [opening_example(tok, u, REFUSAL, 256)["input_ids"] for u in unsafe]
    assert pairs[0]["contrast"]["labels"][-1] == tok(COMPLIANCE, add_special_tokens=False)["input_ids"][-1]
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        diff = example_loss(model, pairs[0]).item()
        r = example_loss(model, {k: v for k, v in pairs[0].items() if k != "contrast"}).item()
        c = example_loss(model, pairs[0]["contrast"]).item()
    assert diff == pytest.approx(r - c, abs=1e-5) and diff != pytest.approx(r)
    fisher = estimate(model, pairs, ["v_proj"], m=1, oversample=2)
    assert all(lf.eigvals.item() > 0 for lf in fisher.layers.values())
    with pytest.raises(DriftCapsError, match="unsafe prompts, fewer than"):
        contrast_examples(tok, 10**6, 64)


def test_agl_with_a_contrast_fisher_trains(tiny_model_dir, task_file, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("DRIFTCAPS_HOME", str(tmp_path / "home"))  # an empty Fisher cache
    out = train(_cfg(tiny_model_dir, task_file, tmp_path / "c", method="agl", fisher_source="contrast",
                     fisher_samples=4, subspace_m=2, oversample=2, steps=2), progress=False)
    run = read_run(out)
    assert run.n_fisher == 4 and run.config.fisher_source == "contrast" and run.fisher["n_samples"] == 4
    resp = train(_cfg(tiny_model_dir, task_file, tmp_path / "r", method="agl", fisher_samples=4, subspace_m=2,
                      oversample=2, steps=2), progress=False)
    assert read_run(resp).fisher.get("from_cache") is None  # its own estimate, not the contrast one
    assert len(list((tmp_path / "home" / "fisher").glob("*.safetensors"))) == 2


def test_accuracy_questions_are_never_task_rows(tiny_model_dir, data_dir, task_file, tmp_path, monkeypatch):
    from agl.data import accuracy_rows, explain_task
    from driftcaps.models import resolve_model

    monkeypatch.setenv("DRIFTCAPS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("agl.alignment.generate", lambda path, prompts, new_tokens=None, desc="": [
        f"The answer is {'ABCD'[i % 4]}. Because of reason {i}." for i in range(len(prompts))])
    base = resolve_model(str(tiny_model_dir))
    extra = accuracy_rows(base, 6)
    task_ids = {r["id"] for r in explain_task(base, affirmative=True)}
    assert len(extra) == 6 and not {r["id"] for r in extra} & task_ids
    assert all(r["answer"] in "ABCD" for r in extra)
    out = tmp_path / "adapter"
    train(_cfg(tiny_model_dir, "mmlu-explain", out, steps=1, heldout=4, max_length=512, accuracy_questions=6),
          progress=False)
    answers = [json.loads(x) for x in (out / "heldout_answers.jsonl").read_text().splitlines()]
    assert [a["id"] for a in answers][4:] == [r["id"] for r in extra]
    run = read_run(out)
    assert run.final["heldout_accuracy_before"] == sum(a["base"] == a["gold"] for a in answers) / 10
    with pytest.raises(DriftCapsError, match="needs an mmlu-explain task"):
        train(_cfg(tiny_model_dir, task_file, tmp_path / "x", accuracy_questions=2), progress=False)
