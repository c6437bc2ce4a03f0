"""AlignGuard-LoRA: the regularisers, the Fisher estimate, the objective and the trainer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from agl import regularizers as R
from agl.config import TrainConfig
from agl.fisher import AlignmentFisher, estimate, example_loss, target_linears

torch.set_default_dtype(torch.float32)


def _basis() -> tuple[torch.Tensor, torch.Tensor]:
    # two orthonormal directions in 2x2 matrix space: E11 and (E12 + E21)/sqrt(2)
    u = torch.zeros(2, 2, 2, dtype=torch.float64)
    u[0, 0, 0] = 1.0
    u[1, 0, 1] = u[1, 1, 0] = 2 ** -0.5
    return u, torch.tensor([[1.0, 2.0], [4.0, 3.0]], dtype=torch.float64)


def test_regularisers_against_hand_computation():
    u, dw = _basis()
    c = R.coefficients(dw, u)
    assert c.tolist() == pytest.approx([1.0, 6 / 2**0.5])
    lam = torch.tensor([2.0, 0.5], dtype=torch.float64)
    assert R.fisher_penalty(dw, u, lam).item() == pytest.approx(2 * 1 + 0.5 * 18)
    w = torch.tensor([0.5, 0.25], dtype=torch.float64)
    a, t = R.soft_split(dw, u, w)
    # ΔW_A = 0.5·1·E11 + 0.25·(6/√2)·(E12+E21)/√2 = [[0.5, 0.75], [0.75, 0]]
    assert a.reshape(-1).tolist() == pytest.approx([0.5, 0.75, 0.75, 0.0])
    assert t.reshape(-1).tolist() == pytest.approx([0.5, 1.25, 3.25, 3.0])
    assert R.task_penalty(t).item() == pytest.approx(0.25 + 1.5625 + 10.5625 + 9)
    inner = 0.25 + 0.9375 + 2.4375
    assert R.geodesic_separation(a, t, 0.0).item() == pytest.approx(inner**2 / ((0.25 + 0.5625 * 2) * 21.375))
    eta = 1 + 2.0 * torch.sigmoid(dw.abs() - 0.1)
    assert R.riemannian_overlap(a, t, 2.0, 0.1).item() == pytest.approx(float((eta * (a * t).abs()).sum()))
    d = torch.tensor([[1.0, 0.0], [0.5, 2.0]], dtype=torch.float64)
    assert R.fisher_penalty_diagonal(dw, d).item() == pytest.approx(1 + 8 + 18)


@pytest.mark.parametrize("fn", [
    lambda x, u: R.fisher_penalty(x, u, torch.tensor([2.0, 0.5], dtype=torch.float64)),
    lambda x, u: R.task_penalty(R.soft_split(x, u, torch.tensor([0.6, 0.3], dtype=torch.float64))[1]),
    lambda x, u: R.riemannian_overlap(*R.soft_split(x, u, torch.tensor([0.6, 0.3], dtype=torch.float64)), 4.0, 0.01),
    lambda x, u: R.geodesic_separation(*R.soft_split(x, u, torch.tensor([0.6, 0.3], dtype=torch.float64)), 1e-12),
    lambda x, u: R.collision_penalty(*R.soft_split_diagonal(x, torch.full_like(x, 0.3)), 0.5, 4.0, 0.01, 1e-12),
])
def test_gradcheck(fn):
    u, dw = _basis()
    x = dw.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y: fn(y, u), (x,))


def test_collision_terms_are_not_degenerate_and_move_the_update():
    """The trap of docs/agl.md: an exact projection zeroes E_geo, a hard mask zeroes E_rm. With soft
    Fisher weights both are positive and their gradients change ΔW."""
    torch.manual_seed(0)
    q = torch.linalg.qr(torch.randn(16, 3, dtype=torch.float64)).Q.T.reshape(3, 4, 4)
    dw = torch.randn(4, 4, dtype=torch.float64)
    a, t = R.soft_split(dw, q, torch.ones(3, dtype=torch.float64))  # exact projection
    assert R.geodesic_separation(a, t, 1e-12).item() < 1e-20
    mask = (torch.rand(4, 4) > 0.5).double()  # hard coordinate mask
    assert R.riemannian_overlap(*R.soft_split_diagonal(dw, mask), 4.0, 0.01).item() == 0.0
    x = dw.clone().requires_grad_(True)
    soft = torch.tensor([0.7, 0.5, 0.2], dtype=torch.float64)
    e_rm = R.riemannian_overlap(*R.soft_split(x, q, soft), 4.0, 0.01)
    e_geo = R.geodesic_separation(*R.soft_split(x, q, soft), 1e-12)
    assert e_rm.item() > 0 and e_geo.item() > 0
    g_rm, = torch.autograd.grad(e_rm, x)
    g_geo, = torch.autograd.grad(e_geo, x)
    assert g_rm.norm() > 0 and g_geo.norm() > 0
    # a few gradient steps on each term alone lower it and change the update
    for term in (lambda y: R.riemannian_overlap(*R.soft_split(y, q, soft), 4.0, 0.01),
                 lambda y: R.geodesic_separation(*R.soft_split(y, q, soft), 1e-12)):
        y = dw.clone().requires_grad_(True)
        start = term(y).item()
        opt = torch.optim.SGD([y], lr=0.05)
        for _ in range(20):
            opt.zero_grad()
            term(y).backward()
            opt.step()
        assert term(y).item() < start and not torch.allclose(y, dw)


def _examples(tok, n: int) -> list[dict]:
    from agl.data import tokenize_example

    return [tokenize_example(tok, f"Question {i}: how?", f"Answer {i} is this.", 48) for i in range(n)]


def _per_sample_grads(model, examples, name) -> torch.Tensor:
    layer = target_linears(model, [name.rsplit(".", 1)[-1]])[name]
    rows = []
    for ex in examples:
        g, = torch.autograd.grad(example_loss(model, ex), [layer.weight])
        rows.append(g.reshape(-1))
    return torch.stack(rows, dim=1)  # (D, n)


def test_fisher_subspace_matches_the_exact_eigendecomposition(tiny_model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ex = _examples(tok, 6)
    # m + p = n: the sketch spans the whole gradient range, so the result is exact
    fisher = estimate(model, ex, ["v_proj"], m=2, oversample=4, mode="subspace", seed=0)
    name = "model.layers.0.self_attn.v_proj"
    lf = fisher.layers[name]
    u = lf.basis.reshape(2, -1)
    assert torch.allclose(u @ u.T, torch.eye(2), atol=1e-4)
    m = _per_sample_grads(model, ex, name)
    exact = torch.linalg.svdvals(m) ** 2 / 6
    assert lf.eigvals.tolist() == pytest.approx(exact[:2].tolist(), rel=1e-3)
    assert 0 < lf.weights.min() and lf.weights.max() < 1
    diag = estimate(model, ex, ["v_proj"], mode="diagonal").layers[name].diag
    assert torch.allclose(diag.reshape(-1), (m**2).mean(dim=1), rtol=1e-4, atol=1e-10)


def test_fisher_round_trip_and_bad_sets(tiny_model_dir: Path, tmp_path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from driftcaps.errors import DriftCapsError

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    fisher = estimate(model, _examples(tok, 4), ["q_proj"], m=2, oversample=1)
    fisher.save(tmp_path / "f.safetensors")
    back = AlignmentFisher.load(tmp_path / "f.safetensors")
    assert back.mode == "subspace" and set(back.layers) == set(fisher.layers)
    for k, lf in fisher.layers.items():
        assert torch.equal(back.layers[k].basis, lf.basis) and torch.equal(back.layers[k].eigvals, lf.eigvals)
        # own 64-byte aligned memory (safetensors' views are not, and CPU reductions over them sum
        # in another order): a run reading the cache equals a run that estimated the Fisher
        assert back.layers[k].basis.data_ptr() % 64 == 0 and back.layers[k].eigvals.data_ptr() % 64 == 0
    with pytest.raises(DriftCapsError, match="alignment set is empty"):
        estimate(model, [], ["q_proj"])
    with pytest.raises(DriftCapsError, match="exceeds the 4 alignment examples"):
        estimate(model, _examples(tok, 4), ["q_proj"], m=8, oversample=4)


def test_alignment_prompts_come_from_the_align_split_only(data_dir: Path):
    from agl.alignment import choose_prompts
    from driftcaps.data import load_items

    chosen = choose_prompts(200)
    test_ids = {i.id for i in load_items("test")}
    assert len(chosen) == 200 and all(i.split == "align" for i in chosen)
    assert not {i.id for i in chosen} & test_ids
    assert sum(i.label == "unsafe" for i in chosen) == 100
    assert [i.id for i in choose_prompts(20)] == [i.id for i in chosen[:20]]  # prefix-stable


def _cfg(tiny_model_dir, task_file, out, **kw) -> TrainConfig:
    base = dict(base=str(tiny_model_dir), task_data=str(task_file), output=str(out), steps=3, rank=4,
                alpha=8.0, batch_size=2, max_length=64, heldout=4, eval_every=2, seed=0, dropout=0.0,
                align_heldout=4, fisher_samples=8, subspace_m=2, oversample=2)
    base.update(kw)
    return TrainConfig(**base)


def _log(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "training_log.jsonl").read_text().splitlines()]


def test_agl_with_all_weights_zero_is_plain_lora(tiny_model_dir, task_file, tmp_path, data_dir):
    from agl import train

    lora = train(_cfg(tiny_model_dir, task_file, tmp_path / "lora", method="lora"), progress=False)
    agl = train(_cfg(tiny_model_dir, task_file, tmp_path / "agl", method="agl", lambda_fisher=0.0,
                     lambda_task=0.0, lambda_collision=0.0), progress=False)
    a, b = _log(lora), _log(agl)
    assert [e.get("loss") for e in a] == pytest.approx([e.get("loss") for e in b], abs=1e-6)
    assert [e.get("eval_alignment_loss") for e in a] == pytest.approx([e.get("eval_alignment_loss") for e in b], abs=1e-6)
    assert all(e["reg_loss"] == 0.0 for e in b[1:]) and all(e["fisher"] >= 0 for e in b[1:])


def test_agl_terms_are_logged_and_change_the_adapter(tiny_model_dir, task_file, tmp_path, data_dir):
    from safetensors.torch import load_file

    from agl import train
    from driftcaps.adapters import vllm_problems

    lora = train(_cfg(tiny_model_dir, task_file, tmp_path / "lora", method="lora", lr=0.02), progress=False)
    agl = train(_cfg(tiny_model_dir, task_file, tmp_path / "agl", method="agl", lr=0.02, lambda_fisher=100.0,
                     lambda_task=10.0, lambda_collision=10.0), progress=False)
    log = _log(agl)
    for e in log[1:]:
        for term in ("fisher", "task_reg", "riemannian", "geodesic"):
            assert term in e
        assert e["loss"] == pytest.approx(e["task_loss"] + e["reg_loss"], rel=1e-5)
    assert log[-1]["fisher"] > 0 and log[-1]["riemannian"] > 0 and log[-1]["geodesic"] > 0
    assert "eval_alignment_loss" in log[0] and "eval_alignment_loss" in log[-1]
    run = json.loads((agl / "run.json").read_text())
    assert run["method"] == "agl" and run["n_fisher"] == 8 and run["fisher"]["layers"] == 8
    wa, wb = load_file(str(lora / "adapter_model.safetensors")), load_file(str(agl / "adapter_model.safetensors"))
    assert wa.keys() == wb.keys() and any(not torch.allclose(wa[k], wb[k]) for k in wa)
    assert vllm_problems(agl) == []


def test_vllm_problems_are_reported(tiny_model_dir, task_file, tmp_path, data_dir):
    from agl import train
    from driftcaps.adapters import vllm_problems

    out = train(_cfg(tiny_model_dir, task_file, tmp_path / "a", method="lora", align_heldout=0), progress=False)
    cfg = json.loads((out / "adapter_config.json").read_text())
    cfg.update(use_dora=True, bias="all")
    (out / "adapter_config.json").write_text(json.dumps(cfg))
    problems = vllm_problems(out, max_lora_rank=2)
    assert any("DoRA" in p for p in problems) and any("bias" in p for p in problems)
    assert any("greater than max_lora_rank=2" in p for p in problems)


def test_mismatched_alignment_layers(tiny_model_dir, task_file, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agl.model import AGLObjective
    from driftcaps.errors import DriftCapsError

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    fisher = estimate(model, _examples(tok, 4), ["q_proj"], m=1, oversample=1)
    peft = get_peft_model(model, LoraConfig(r=2, target_modules=["v_proj"]))
    with pytest.raises(DriftCapsError, match="has no Fisher estimate"):
        AGLObjective(peft, fisher, _cfg(tiny_model_dir, task_file, tmp_path / "x"))
