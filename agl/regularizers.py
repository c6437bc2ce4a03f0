"""The AlignGuard-LoRA regularisers as pure tensor functions (docs/agl.md).

Shapes, per adapted linear layer with frozen weight ``W0`` of shape (out, in):

- ``delta_w``: the LoRA update ``ΔW = (alpha / r) · B @ A``, shape (out, in).
- ``basis``: the alignment subspace, ``m`` orthonormal directions ``u_k`` of shape (m, out, in).
- ``eigvals``: their Fisher eigenvalues ``λ_k`` (normalised, >= 0), shape (m,).
- ``weights``: soft membership ``w_k = λ_k / (λ_k + κ)`` in (0, 1), shape (m,).

With the diagonal Fisher option, ``basis`` is absent and ``fisher`` is a (out, in) tensor of
diagonal Fisher values; the soft split is elementwise.

All functions are differentiable in ``delta_w`` (``torch.autograd.gradcheck`` passes in float64)
and return scalars unless stated.
"""

from __future__ import annotations

import torch
from torch import Tensor


def coefficients(delta_w: Tensor, basis: Tensor) -> Tensor:
    """``c_k = <u_k, ΔW>`` (Frobenius inner product): shape (m,). One matrix-vector product over
    the flattened basis (an ``einsum`` over (m, out, in) ran 3x slower on CPU)."""
    return basis.reshape(basis.shape[0], -1) @ delta_w.reshape(-1)


def soft_split(delta_w: Tensor, basis: Tensor, weights: Tensor, coeffs: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Split ``ΔW`` into an alignment-critical part and a task part by *soft* Fisher weighting:

    ``ΔW_A = Σ_k w_k c_k u_k`` and ``ΔW_T = ΔW − ΔW_A``, with ``w_k`` in (0, 1).

    An exact projection (all ``w_k = 1``) would make ``<ΔW_A, ΔW_T> = 0`` and the collision terms
    vanish (the trap described in docs/agl.md); with soft weights ``<ΔW_A, ΔW_T> = Σ_k w_k (1 − w_k) c_k²``.
    ``coeffs`` may pass :func:`coefficients` already computed (it reads the whole basis).
    Returns two (out, in) tensors.
    """
    c = coefficients(delta_w, basis) if coeffs is None else coeffs
    dw_a = ((weights * c) @ basis.reshape(basis.shape[0], -1)).view_as(delta_w)
    return dw_a, delta_w - dw_a


def soft_split_diagonal(delta_w: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Diagonal-Fisher version of :func:`soft_split`: ``ΔW_A = w ⊙ ΔW``, ``ΔW_T = (1 − w) ⊙ ΔW``
    with elementwise ``w`` in (0, 1) of shape (out, in)."""
    dw_a = weights * delta_w
    return dw_a, delta_w - dw_a


def fisher_penalty(delta_w: Tensor, basis: Tensor, eigvals: Tensor, coeffs: Tensor | None = None) -> Tensor:
    """The Fisher term ``Σ_k λ_k <u_k, ΔW>²`` (= ``‖F^{1/2} ΔW_A‖²`` on the subspace); ``coeffs``
    as in :func:`soft_split`."""
    c = coefficients(delta_w, basis) if coeffs is None else coeffs
    return (eigvals * c**2).sum()


def fisher_penalty_diagonal(delta_w: Tensor, fisher: Tensor) -> Tensor:
    """The diagonal Fisher term ``Σ_ij F_ij ΔW_ij²``; ``fisher`` has the shape of ``delta_w``."""
    return (fisher * delta_w**2).sum()


def task_penalty(dw_t: Tensor, curvature: Tensor | None = None) -> Tensor:
    """The task-specific stabiliser ``‖H^{1/2} ΔW_T‖² = Σ H ⊙ ΔW_T²`` (``H`` diagonal, shape of
    ``dw_t``; None means ``H = I``)."""
    sq = dw_t**2
    return (sq if curvature is None else curvature * sq).sum()


def riemannian_overlap(dw_a: Tensor, dw_t: Tensor, beta: float, tau: float) -> Tensor:
    """``E_rm = Σ_ij η_ij |ΔW_A,ij · ΔW_T,ij|`` with ``η = 1 + β · sigmoid(|ΔW_A + ΔW_T| − τ)``:
    coordinate-wise interference, weighted up where the update is large."""
    eta = 1.0 + beta * torch.sigmoid((dw_a + dw_t).abs() - tau)
    return (eta * (dw_a * dw_t).abs()).sum()


def geodesic_separation(dw_a: Tensor, dw_t: Tensor, eps: float) -> Tensor:
    """``E_geo = <ΔW_A, ΔW_T>² / (‖ΔW_A‖² ‖ΔW_T‖² + ε)``: the squared cosine of the two parts."""
    inner = (dw_a * dw_t).sum()
    return inner**2 / ((dw_a**2).sum() * (dw_t**2).sum() + eps)


def collision_mix(e_rm: Tensor, e_geo: Tensor, alpha: float) -> Tensor:
    """The collision-aware term from its two energies: ``α · E_rm + (1 − α) · E_geo``."""
    return alpha * e_rm + (1 - alpha) * e_geo


def collision_penalty(dw_a: Tensor, dw_t: Tensor, alpha: float, beta: float, tau: float, eps: float) -> Tensor:
    """The collision-aware term ``α · E_rm + (1 − α) · E_geo`` of one layer's split update."""
    return collision_mix(riemannian_overlap(dw_a, dw_t, beta, tau), geodesic_separation(dw_a, dw_t, eps), alpha)
