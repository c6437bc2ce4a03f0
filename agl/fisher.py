"""The alignment subspace: Fisher information of the *base* model on its own aligned behaviour.

For each adapted linear layer with weight ``W`` (out, in), the per-sample gradient of the
alignment loss (the base model's negative log-likelihood of its own response, mean over response
tokens) is ``G_i = dL_i/dW`` (out, in), obtained with one backward pass per sample (a batch of
one). The empirical Fisher in ``ΔW`` space is ``F = (1/n) Σ_i vec(G_i) vec(G_i)ᵀ``.

- ``mode="subspace"``: the top-``m`` eigen-directions of ``F`` per layer by a two-pass randomised
  SVD of the stacked gradients ``M = [vec G_1 … vec G_n]`` (Halko, Martinsson & Tropp 2011,
  Alg. 4.1): pass 1 accumulates the sketch ``Y = M Ω`` (Ω Gaussian, n × (m + p)), ``Q = orth(Y)``;
  pass 2 computes ``C = Qᵀ M``; ``C = Ũ S Vᵀ`` gives ``U = Q Ũ[:, :m]`` and ``λ_k = S_k² / n``.
- ``mode="diagonal"``: ``diag(F) = (1/n) Σ_i G_i ⊙ G_i`` (one pass).

Eigenvalues (and diagonal values) are kept raw: ``½ ΔWᵀ F ΔW`` is the second-order estimate of
how much the alignment loss rises under the update, so ``λ_A = 1`` weighs that predicted rise
like the task loss. Soft weights ``w = λ / (λ + κ)``, with ``κ`` the mean of ``λ`` in the layer,
place each direction partly in the alignment part and partly in the task part (docs/agl.md).

Peak memory beyond the model (float32): subspace mode ``(m + p) · D · 4`` bytes for the sketch and
``m · D · 4`` for the basis, with ``D = Σ_layers out · in`` (Qwen2.5-0.5B, q/k/v/o: D = 44M, so
m = 8, p = 4 needs about 2.1 GB); diagonal mode ``D · 4`` bytes. The estimate draws its random
numbers from its own generator, so it never changes the training run's random stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from agl.loss import response_loss
from driftcaps.errors import DriftCapsError
from driftcaps.io import atomic_open, atomic_path, load_tensors


@dataclass
class LayerFisher:
    """The alignment geometry of one layer.

    ``basis`` (m, out, in) and ``eigvals``/``weights`` (m,) in subspace mode; ``diag`` and
    ``diag_weights`` (out, in) in diagonal mode; ``eigvals`` and ``diag`` are raw Fisher values
    (per token of the alignment loss), ``weights`` lie in (0, 1).
    """

    basis: Tensor | None = None
    eigvals: Tensor | None = None
    weights: Tensor | None = None
    diag: Tensor | None = None
    diag_weights: Tensor | None = None


@dataclass
class AlignmentFisher:
    """Per-layer Fisher geometry keyed by module name in the base model (``model.layers.0...``)."""

    mode: str
    layers: dict[str, LayerFisher]
    meta: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        """Write tensors as safetensors and ``meta`` as JSON beside them (``path`` + ``.json``)."""
        from safetensors.torch import save_file

        tensors = {f"{name}::{k}": v.contiguous() for name, lf in self.layers.items()
                   for k, v in vars(lf).items() if v is not None}
        path = Path(path)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp))
        with atomic_open(path.with_suffix(path.suffix + ".json")) as f:
            json.dump({"mode": self.mode, "meta": self.meta}, f, indent=2)

    @classmethod
    def load(cls, path: str | Path) -> AlignmentFisher:
        """Read what :meth:`save` wrote. Raises DriftCapsError on a missing or malformed file."""
        path = Path(path)
        side = path.with_suffix(path.suffix + ".json")
        if not path.is_file() or not side.is_file():
            raise DriftCapsError(f"{path}: Fisher cache missing or incomplete; delete it and train again.")
        info = json.loads(side.read_text(encoding="utf-8"))
        layers: dict[str, LayerFisher] = {}
        for key, value in load_tensors(path).items():  # aligned copies: same numerics as a fresh estimate
            name, _, attr = key.partition("::")
            setattr(layers.setdefault(name, LayerFisher()), attr, value)
        return cls(info["mode"], layers, info.get("meta", {}))


def target_linears(model: torch.nn.Module, target_modules: list[str]) -> dict[str, torch.nn.Linear]:
    """The linear layers whose last name is in ``target_modules`` (PEFT's matching rule)."""
    return {n: m for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in target_modules}


def example_loss(model: torch.nn.Module, example: dict) -> Tensor:
    """Mean negative log-likelihood of the response tokens of one tokenised example
    (:func:`agl.loss.response_loss`); for an example with a ``contrast`` (:mod:`agl.contrast`),
    that NLL minus the contrast's: ``log p(compliance) − log p(refusal)`` per token."""
    ids = torch.tensor([example["input_ids"]])
    nll = response_loss(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                                "labels": torch.tensor([example["labels"]])})
    if "contrast" in example:
        nll = nll - example_loss(model, example["contrast"])
    return nll


def _soft(values: Tensor) -> Tensor:
    kappa = values.mean().clamp_min(1e-12)
    return values / (values + kappa)


def estimate(model: torch.nn.Module, examples: list[dict], target_modules: list[str], m: int = 8,
             oversample: int = 4, mode: str = "subspace", seed: int = 0,
             progress: Callable[[str, int], None] | None = None) -> AlignmentFisher:
    """Estimate the alignment Fisher geometry of ``model`` (the base, not yet adapted).

    Args:
        model: a causal LM in float32; its parameters are left as they were.
        examples: tokenised alignment examples (``input_ids``, ``labels`` with -100 on the prompt).
        target_modules: names of the layers to analyse (the LoRA targets).
        m: directions kept per layer (subspace mode); ``oversample``: extra sketch columns p.
        mode: ``subspace`` (randomised SVD) or ``diagonal``.
        seed: seed of the sketch's own generator.
        progress: called as ``progress(stage, done)`` after each sample.

    Raises:
        DriftCapsError: no examples, or ``m + oversample`` larger than the number of examples.
    """
    if not examples:
        raise DriftCapsError("alignment set is empty: the Fisher estimate needs examples (raise --fisher-samples).")
    if mode not in ("subspace", "diagonal"):
        raise DriftCapsError(f"fisher mode {mode!r}: choose subspace or diagonal.")
    n, k = len(examples), m + oversample
    if mode == "subspace" and k > n:
        raise DriftCapsError(f"subspace size m={m} plus oversampling {oversample} exceeds the {n} alignment "
                             "examples; lower --subspace-m or raise --fisher-samples.")
    t0 = time.time()
    layers = target_linears(model, target_modules)
    flags = {p: p.requires_grad for p in model.parameters()}
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    weights = [lin.weight for lin in layers.values()]
    for w in weights:
        w.requires_grad_(True)

    def grads(i: int) -> list[Tensor]:  # float32 whatever the model's dtype
        return [g.detach().float() for g in torch.autograd.grad(example_loss(model, examples[i]), weights)]

    try:
        out: dict[str, LayerFisher] = {}
        if mode == "diagonal":
            acc = [torch.zeros(w.shape) for w in weights]
            for i in range(n):
                for a, g in zip(acc, grads(i), strict=True):
                    a.add_(g**2, alpha=1.0 / n)
                if progress:
                    progress("fisher", i + 1)
            for name, d in zip(layers, acc, strict=True):
                out[name] = LayerFisher(diag=d, diag_weights=_soft(d))
        else:
            gen = torch.Generator().manual_seed(seed)
            omega = torch.randn(n, k, generator=gen)
            sketch = [torch.zeros(k, *w.shape) for w in weights]
            for i in range(n):  # pass 1: Y = M Ω
                for y, g in zip(sketch, grads(i), strict=True):
                    y.add_(omega[i].view(k, 1, 1) * g.unsqueeze(0))
                if progress:
                    progress("fisher pass 1/2", i + 1)
            qs = [torch.linalg.qr(y.reshape(k, -1).T).Q for y in sketch]  # (D, k), orthonormal columns
            del sketch
            coef = [torch.zeros(k, n) for _ in weights]
            for i in range(n):  # pass 2: C = Qᵀ M
                for c, q, g in zip(coef, qs, grads(i), strict=True):
                    c[:, i] = q.T @ g.reshape(-1)
                if progress:
                    progress("fisher pass 2/2", i + 1)
            eig = []
            for q, c, w in zip(qs, coef, weights, strict=True):
                u, s, _ = torch.linalg.svd(c, full_matrices=False)
                eig.append(((q @ u[:, :m]).T.reshape(m, *w.shape), s[:m] ** 2 / n))
            for name, (basis, lam) in zip(layers, eig, strict=True):
                out[name] = LayerFisher(basis=basis.contiguous(), eigvals=lam, weights=_soft(lam))
    finally:
        for p, flag in flags.items():
            p.requires_grad_(flag)
        model.train(was_training)
    meta = {"n_samples": n, "m": m, "oversample": oversample, "seed": seed, "layers": len(out),
            "seconds": round(time.time() - t0, 1)}
    return AlignmentFisher(mode, out, meta)
