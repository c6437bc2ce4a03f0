"""The AGL objective on a PEFT LoRA model (docs/agl.md).

``AGLObjective`` reads each LoRA layer's update ``ΔW = scaling · B @ A`` and adds, summed over
the adapted layers::

    λ_A · Σ_k λ_k <u_k, ΔW>²                       Fisher term            (term "fisher")
    λ_T · ‖H^{1/2} ΔW_T‖²                           task stabiliser, H = I (term "task_reg")
    λ_NC · [α · E_rm(ΔW_A, ΔW_T) + (1 − α) · E_geo]  collision terms       ("riemannian", "geodesic")

Every term is computed and logged each step; a weight of 0 switches it off. With all weights 0
the loss is exactly the task loss (plain LoRA).
"""

from __future__ import annotations

import torch
from torch import Tensor

from agl import regularizers as R
from agl.config import TrainConfig
from agl.fisher import AlignmentFisher, LayerFisher
from driftcaps.errors import DriftCapsError

TERMS = ("fisher", "task_reg", "riemannian", "geodesic")


def lora_layers(peft_model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """PEFT LoRA layers keyed by the base model's module name (``model.layers.0.self_attn.q_proj``)."""
    out = {}
    for name, module in peft_model.named_modules():
        if hasattr(module, "lora_A") and hasattr(module, "lora_B") and "default" in getattr(module, "lora_A", {}):
            out[name.removeprefix("base_model.model.")] = module
    return out


def delta_w(layer: torch.nn.Module) -> Tensor:
    """The layer's LoRA update ``scaling · B @ A``, shape (out, in), float32."""
    a = layer.lora_A["default"].weight.float()
    b = layer.lora_B["default"].weight.float()
    return layer.scaling["default"] * (b @ a)


class AGLObjective:
    """Computes the AGL regularisers of a PEFT model against an :class:`AlignmentFisher`.

    Raises:
        DriftCapsError: an adapted layer without Fisher geometry (the Fisher estimate and the
            adapter target different layers).
    """

    def __init__(self, peft_model: torch.nn.Module, fisher: AlignmentFisher, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.mode = fisher.mode
        self.layers: list[tuple[torch.nn.Module, LayerFisher]] = []
        for name, layer in lora_layers(peft_model).items():
            if name not in fisher.layers:
                raise DriftCapsError(f"adapted layer {name} has no Fisher estimate; estimate it with the same "
                                     "--target-modules as the adapter.")
            self.layers.append((layer, fisher.layers[name]))

    def terms(self) -> dict[str, Tensor]:
        """The unweighted terms, each summed over layers (scalar tensors with gradients)."""
        c = self.cfg
        total = {t: torch.zeros(()) for t in TERMS}
        for layer, lf in self.layers:
            dw = delta_w(layer)
            if self.mode == "subspace":
                coef = R.coefficients(dw, lf.basis)  # once: it reads the whole (m, out, in) basis
                total["fisher"] = total["fisher"] + R.fisher_penalty(dw, lf.basis, lf.eigvals, coef)
                dw_a, dw_t = R.soft_split(dw, lf.basis, lf.weights, coef)
            else:
                total["fisher"] = total["fisher"] + R.fisher_penalty_diagonal(dw, lf.diag)
                dw_a, dw_t = R.soft_split_diagonal(dw, lf.diag_weights)
            total["task_reg"] = total["task_reg"] + R.task_penalty(dw_t)
            total["riemannian"] = total["riemannian"] + R.riemannian_overlap(dw_a, dw_t, c.beta, c.tau)
            total["geodesic"] = total["geodesic"] + R.geodesic_separation(dw_a, dw_t, c.eps)
        return total

    def loss(self, terms: dict[str, Tensor]) -> Tensor:
        """``λ_A · fisher + λ_T · task_reg + λ_NC · (α · riemannian + (1 − α) · geodesic)``."""
        c = self.cfg
        return (c.lambda_fisher * terms["fisher"] + c.lambda_task * terms["task_reg"]
                + c.lambda_collision * R.collision_mix(terms["riemannian"], terms["geodesic"], c.collision_alpha))


class L2Objective:
    """The L2 baseline (``docs/agl.md#baselines``): ``weight · Σ_layers ‖ΔW‖²_F`` over every LoRA
    layer of a PEFT model, logged as term ``l2``. It pulls the whole update towards zero, as AGL's
    task stabiliser does on ``ΔW_T`` (which is almost all of ``ΔW``), without any alignment
    geometry: the baseline that tells whether AGL is more than a smaller update."""

    def __init__(self, peft_model: torch.nn.Module, weight: float) -> None:
        self.weight = weight
        self.layers = list(lora_layers(peft_model).values())

    def terms(self) -> dict[str, Tensor]:
        """``{"l2": Σ ‖ΔW‖²_F}`` (a scalar tensor with gradients)."""
        total = torch.zeros(())
        for layer in self.layers:
            total = total + (delta_w(layer) ** 2).sum()
        return {"l2": total}

    def loss(self, terms: dict[str, Tensor]) -> Tensor:
        """``weight · l2``."""
        return self.weight * terms["l2"]


class Objectives:
    """Several regularisers added to the task loss: their terms merged (names must differ), their
    losses summed."""

    def __init__(self, parts: list) -> None:
        self.parts = parts

    def terms(self) -> dict[str, Tensor]:
        """Every part's terms in one dict."""
        return {k: v for part in self.parts for k, v in part.terms().items()}

    def loss(self, terms: dict[str, Tensor]) -> Tensor:
        """The sum of the parts' weighted losses."""
        return sum((part.loss(terms) for part in self.parts), torch.zeros(()))
