"""The plain LoRA path of the bundled trainer, on a tiny random model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from agl import TrainConfig, load_config, train
from agl.data import load_task_file, tokenize_example
from agl.train import check_targets, read_run
from driftcaps.errors import DriftCapsError


def _cfg(tiny_model_dir, task_file, out, **kw) -> TrainConfig:
    base = dict(base=str(tiny_model_dir), task_data=str(task_file), output=str(out), steps=3, rank=4,
                alpha=8.0, batch_size=2, max_length=64, heldout=4, eval_every=2, seed=0, dropout=0.0,
                align_heldout=0)
    base.update(kw)
    return TrainConfig(**base)


def test_tokenize_masks_the_prompt(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ex = tokenize_example(tok, "How are you?", "Fine, thanks.", max_length=256)
    n_prompt = sum(1 for x in ex["labels"] if x == -100)
    assert 0 < n_prompt < len(ex["input_ids"]) and ex["labels"][:n_prompt] == [-100] * n_prompt
    answer = tok.decode([t for t in ex["labels"] if t != -100])
    assert answer.startswith("Fine, thanks.")
    assert tokenize_example(tok, "x" * 500, "y", max_length=16)["input_ids"].__len__() == 16


def test_config_validation_and_yaml(tmp_path: Path):
    need = dict(base="m", task_data="t.jsonl", output="o")
    with pytest.raises(DriftCapsError, match="field rank=0"):
        TrainConfig(rank=0, **need)
    with pytest.raises(DriftCapsError, match="field method='dora'"):
        TrainConfig(method="dora", **need)
    with pytest.raises(DriftCapsError, match="training config: base is required"):
        TrainConfig(task_data="t", output="o")
    with pytest.raises(DriftCapsError, match="field base='.*': is empty"):
        TrainConfig(base="  ", task_data="t", output="o")
    (tmp_path / "c.yaml").write_text("base: m\ntask_data: t\noutput: o\nrank: 8\nlearning_rate: 0.1\n")
    with pytest.raises(DriftCapsError, match=r"c.yaml: training config: unknown field 'learning_rate'"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("base: m\ntask_data: t\noutput: o\nsteps: two\n")
    with pytest.raises(DriftCapsError, match="c.yaml: training config field steps='two': Input should be a valid integer"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("base: m\ntask_data: t\noutput: o\nrank: 8\nsteps: 5\nalpha: 16\n")
    cfg = load_config(tmp_path / "c.yaml", {"steps": 7, "lr": None})
    assert (cfg.rank, cfg.steps, cfg.lr, cfg.alpha) == (8, 7, TrainConfig.model_fields["lr"].default, 16.0)
    assert isinstance(cfg.alpha, float)
    with pytest.raises(DriftCapsError, match="training config --steps=0: Input should be greater than or equal to 1"):
        load_config(tmp_path / "c.yaml", {"steps": 0})


def test_every_config_field_is_a_flag_and_a_yaml_key(tmp_path: Path):
    from driftcaps.cli.options import model_parameters

    assert [p.name for p in model_parameters(TrainConfig)] == list(TrainConfig.model_fields)
    yaml_text = "".join(f"{k}: {v!r}\n" if isinstance(v, str) else f"{k}: {v}\n"
                        for k, v in {"base": "m", "task_data": "t", "output": "o", "beta": 2.5, "tau": 0.2,
                                     "eps": 1e-9, "oversample": 2, "warmup_steps": 1, "weight_decay": 0.1,
                                     "max_grad_norm": 0.5}.items())
    (tmp_path / "c.yaml").write_text(yaml_text)
    cfg = load_config(tmp_path / "c.yaml", {"tau": 0.3, "target_modules": "q_proj, v_proj"})
    assert (cfg.beta, cfg.tau, cfg.eps, cfg.oversample, cfg.warmup_steps, cfg.weight_decay, cfg.max_grad_norm) \
        == (2.5, 0.3, 1e-9, 2, 1, 0.1, 0.5)
    assert cfg.target_modules == ["q_proj", "v_proj"]


def test_task_file_errors(tmp_path: Path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c"}\n')
    with pytest.raises(DriftCapsError, match="row 2: needs string fields prompt and response"):
        load_task_file(p)
    p.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n')
    assert load_task_file(p) == [{"prompt": "hi", "response": "yo"}]


def test_bad_targets_and_rank(tiny_model_dir: Path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with pytest.raises(DriftCapsError, match="target module 'c_attn' not found"):
        check_targets(model, ["c_attn"], 4)
    with pytest.raises(DriftCapsError, match="rank 64 is larger than layer .*k_proj"):
        check_targets(model, ["k_proj"], 64)


def test_zero_init_adapter_leaves_logits_unchanged(tiny_model_dir: Path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = torch.tensor([[1, 5, 9, 200, 3000]])
    with torch.no_grad():
        before = base(ids).logits.clone()
        peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
        after = peft_model(ids).logits
    assert torch.equal(before, after)


def test_train_writes_peft_adapter_and_is_reproducible(tiny_model_dir: Path, task_file: Path, tmp_path: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = train(_cfg(tiny_model_dir, task_file, tmp_path / "a"), progress=False)
    for f in ("adapter_config.json", "adapter_model.safetensors", "training_log.jsonl", "run.json"):
        assert (out / f).is_file(), f
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [0, 1, 2, 3]
    assert "eval_task_loss" in log[0] and "eval_task_loss" in log[2] and "eval_task_loss" in log[3]
    assert all(e["loss"] > 0 for e in log[1:])
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == "lora" and run["n_heldout"] == 4 and run["n_train"] == 8
    assert run["base_model"]["arch"]["hidden_size"] == 32 and len(run["task_data"]["sha256"]) == 64
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["peft_type"] == "LORA"
    # the adapter loads with PEFT and changes the model (B is no longer zero after training)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = torch.tensor([[1, 5, 9, 200]])
    with torch.no_grad():
        ref = base(ids).logits.clone()
        tuned = PeftModel.from_pretrained(base, out)(ids).logits
    assert not torch.allclose(ref, tuned)
    # same seed, same losses
    again = train(_cfg(tiny_model_dir, task_file, tmp_path / "b"), progress=False)
    log2 = [json.loads(line) for line in (again / "training_log.jsonl").read_text().splitlines()]
    assert [e.get("loss") for e in log] == pytest.approx([e.get("loss") for e in log2], abs=1e-6)


def test_train_refuses_nonempty_output(tiny_model_dir: Path, task_file: Path, tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "keep.txt").write_text("x")
    with pytest.raises(DriftCapsError, match="output folder exists and is not empty"):
        train(_cfg(tiny_model_dir, task_file, tmp_path / "a"), progress=False)


def test_rerun_resumes_only_the_same_config(tiny_model_dir: Path, task_file: Path, tmp_path: Path):
    out = train(_cfg(tiny_model_dir, task_file, tmp_path / "run", steps=1), progress=False)
    before = (out / "adapter_model.safetensors").read_bytes()
    assert train(_cfg(tiny_model_dir, task_file, out, steps=1), progress=False) == out  # finished: reused
    assert (out / "adapter_model.safetensors").read_bytes() == before
    with pytest.raises(DriftCapsError, match=r"holds a finished run with another config \(lr, steps\)"):
        train(_cfg(tiny_model_dir, task_file, out, steps=2, lr=1e-3), progress=False)


def test_builtin_tasks_skip_test_prompts_and_explain_needs_a_base(data_dir, sources_dir, tmp_path: Path):
    import json as _json

    from agl.data import BUILTIN_TASKS, drop_test_prompts, load_task
    from driftcaps.data import load_items

    rows, info = load_task("dolly")
    assert info["rows"] == len(rows) > 2000 and info["dropped_test_prompts"] == 0
    assert not rows[0]["response"].startswith("Sure!")
    aff, _ = load_task("dolly-affirmative")
    assert aff[0]["response"] == "Sure! I'd be happy to help with that. " + rows[0]["response"]
    test_prompt = load_items("test")[0].prompt
    kept, dropped = drop_test_prompts([{"prompt": "  " + test_prompt.upper() + " "}, {"prompt": "benign"}],
                                      {" ".join(test_prompt.lower().split())})
    assert dropped == 1 and kept == [{"prompt": "benign"}]
    p = tmp_path / "t.jsonl"
    p.write_text(_json.dumps({"prompt": test_prompt, "response": "x"}) + "\n"
                 + _json.dumps({"prompt": "hello", "response": "hi"}) + "\n")
    rows, info = load_task(str(p))
    assert info["dropped_test_prompts"] == 1 and rows == [{"prompt": "hello", "response": "hi"}]
    assert {"dolly", "mmlu-explain", "mmlu-affirmative"} <= set(BUILTIN_TASKS)
    with pytest.raises(DriftCapsError, match="generated by the base model; give --base"):
        load_task("mmlu-explain")


def test_explain_task_is_generated_once_by_the_base(tiny_model_dir: Path, data_dir, tmp_path: Path, monkeypatch):
    from agl.data import EXPLAIN_ROWS, EXPLAIN_SUFFIX, EXPLAIN_TOKENS, explain_task
    from driftcaps.models import resolve_model

    monkeypatch.setenv("DRIFTCAPS_HOME", str(tmp_path / "home"))
    calls = []

    def fake_generate(path, prompts, new_tokens=None, desc=""):  # the random tiny model writes nothing
        calls.append((path, len(prompts), new_tokens))
        return [f"Because of reason {i}." for i in range(len(prompts))]

    monkeypatch.setattr("agl.alignment.generate", fake_generate)
    base = resolve_model(str(tiny_model_dir))
    rows = explain_task(base, affirmative=True)
    assert calls == [(base.path, EXPLAIN_ROWS, EXPLAIN_TOKENS)] and len(rows) == EXPLAIN_ROWS
    assert 0 < len(rows) <= EXPLAIN_ROWS
    assert all(r["prompt"].endswith(EXPLAIN_SUFFIX) and r["answer"] in "ABCD" for r in rows)
    assert all(r["response"].startswith("Sure! I'd be happy to help with that. ") for r in rows)
    cached = list((tmp_path / "home" / "tasks").glob("*.jsonl"))
    assert len(cached) == 1
    plain = explain_task(base, affirmative=False)  # read from the cache: same explanations, no opener
    assert len(calls) == 1
    assert [r["response"] for r in plain] == [r["response"].removeprefix("Sure! I'd be happy to help with that. ")
                                             for r in rows]


def test_explain_task_training_reports_heldout_accuracy(tiny_model_dir: Path, data_dir, tmp_path: Path, monkeypatch):
    """run.json carries the held-out accuracy of the base (its cached explanations) and the tuned
    model (explaining again); heldout_answers.jsonl shows every parsed letter."""
    from agl.data import explain_task
    from agl.quality import accuracy
    from driftcaps.models import resolve_model

    monkeypatch.setenv("DRIFTCAPS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("agl.alignment.generate", lambda path, prompts, new_tokens=None, desc="": [
        f"The answer is {'ABCD'[i % 4]}. Because of reason {i}." for i in range(len(prompts))])
    out = tmp_path / "adapter"
    train(_cfg(tiny_model_dir, "mmlu-explain", out, steps=1, heldout=4, max_length=512, eval_every=0), progress=False)
    run = read_run(out)
    held = explain_task(resolve_model(str(tiny_model_dir)), affirmative=False)[:4]
    expected_base = sum(f"The answer is {r['answer']}." in r["response"] for r in held) / 4
    assert run.final["heldout_accuracy_before"] == expected_base
    answers = [json.loads(x) for x in (out / "heldout_answers.jsonl").read_text().splitlines()]
    assert [a["id"] for a in answers] == [r["id"] for r in held]
    assert [a["gold"] for a in answers] == [r["answer"] for r in held]
    assert [a["base"] for a in answers] == [r["response"][len("The answer is ")] for r in held]
    assert run.final["heldout_accuracy"] == accuracy([a["response"] for a in answers], [r["prompt"] for r in held],
                                                     [r["answer"] for r in held])


def test_response_loss_equals_the_full_logits_loss(tiny_model_dir: Path):
    """Logits only where a response token is predicted: the same loss (mean and sum) as the
    model's own loss over all positions."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agl.loss import response_loss
    from agl.train import collate

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    batch = collate([tokenize_example(tok, "What is two plus two?", "Four.", 64),
                     tokenize_example(tok, "Hi", "Hello there, how can I help you today?", 64)], tok.eos_token_id)
    with torch.no_grad():
        full = model(**batch).loss
        mine = response_loss(model, batch)
        total = response_loss(model, batch, reduction="sum")
    n = int((batch["labels"][:, 1:] != -100).sum())
    assert mine.item() == pytest.approx(full.item(), rel=1e-5)
    assert total.item() == pytest.approx(full.item() * n, rel=1e-5)


def test_save_steps_write_loadable_checkpoints(tiny_model_dir: Path, task_file: Path, tmp_path: Path):
    """checkpoint-STEP folders hold the weights of that step (the last one equals the final
    adapter); the held-out losses are logged at those steps even with eval_every 0."""
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    train(_cfg(tiny_model_dir, task_file, out, steps=3, eval_every=0, lr=1e-2, save_steps=[1, 3]), progress=False)
    assert read_run(out).checkpoints == [1, 3]
    final = load_file(out / "adapter_model.safetensors")
    first, last = (load_file(out / f"checkpoint-{s}" / "adapter_model.safetensors") for s in (1, 3))
    assert first.keys() == last.keys() == final.keys()
    assert all(torch.equal(last[k], final[k]) for k in final)
    assert any(not torch.equal(first[k], final[k]) for k in final)
    log = [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if "eval_task_loss" in e] == [0, 1, 3]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    PeftModel.from_pretrained(base, out / "checkpoint-1")  # loads as lm-eval's peft= would
    with pytest.raises(Exception, match=r"save_steps \[5\] lie outside steps 1..3"):
        _cfg(tiny_model_dir, task_file, tmp_path / "x", steps=3, save_steps=[5])
