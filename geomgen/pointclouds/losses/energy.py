r"""Energy-based sliced Wasserstein (EBSW): a slicing distribution that favours discriminative directions.

The uniform law on :math:`S^{d-1}` of SW is replaced by the law whose density is proportional to an
increasing *energy* function :math:`f` of the projected distance,

.. math::
    \sigma_{X,Y}(\theta) \propto f\big(W_p^p(\theta_\# X, \theta_\# Y)\big),\qquad
    \mathrm{EBSW}_p(X, Y) = \Big(\mathbb{E}_{\theta \sim \sigma_{X,Y}} W_p^p(\theta_\# X, \theta_\# Y)\Big)^{1/p},

estimated by self-normalised importance sampling with uniform proposals: draw
:math:`\theta_1, \dots, \theta_L \sim \mathcal{U}(S^{d-1})`, compute :math:`w_l = W_p^p(\theta_{l\#}X, \theta_{l\#}Y)`
and weight each by :math:`f(w_l) / \sum_j f(w_j)`. The projections are those of SW, so the cost is
SW's plus a softmax over L numbers. Nguyen & Ho, "Energy-based sliced Wasserstein distance"
(NeurIPS 2023).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

from geomgen.pointclouds.losses.sliced import (
    DEFAULT_N_PROJECTIONS,
    _check_p,
    _projected_checked,
    check_pair,
    pth_root,
    random_projections,
)

#: Energy functions f of the projected distance: ``"exp"`` (:math:`f(w) = e^w`, the paper's default)
#: or ``"poly"`` (:math:`f(w) = w^k`, ``k = power``).
Energy = Literal["exp", "poly"]
ENERGIES: tuple[str, ...] = get_args(Energy)


def _check_energy(energy: str, power: float, name: str) -> None:
    if energy not in ENERGIES:
        raise ValueError(f"{name}: energy must be one of {ENERGIES}, got {energy!r}")
    if energy == "poly" and not power > 0:
        raise ValueError(f"{name}: power must be > 0 for energy='poly', got {power}")


def energy_weights(wpp: Tensor, energy: Energy = "exp", power: float = 1.0) -> Tensor:
    r"""Self-normalised importance weights :math:`f(w_l) / \sum_j f(w_j)` over the last dim.

    ``"exp"`` is a softmax of the projected :math:`W_p^p` (numerically stable); ``"poly"`` is
    :math:`w_l^k / \sum_j w_j^k`, uniform where every :math:`w_j` is 0 (identical projections).

    Args:
        wpp (Tensor): projected :math:`W_p^p` values ``[..., L]``, non-negative.
        energy (str, optional): ``"exp"`` or ``"poly"`` (default ``"exp"``).
        power (float, optional): k of ``"poly"`` (default 1: :math:`f` the identity).

    Shapes:
        - output: ``[..., L]``, non-negative, summing to 1 over the last dim.
    """
    _check_energy(energy, power, "energy_weights")
    if energy == "exp":
        return torch.softmax(wpp, dim=-1)
    f = wpp.clamp_min(0).pow(power)
    total = f.sum(-1, keepdim=True)
    uniform = torch.full_like(f, 1.0 / f.shape[-1])
    return torch.where(total > 0, f / total.clamp_min(torch.finfo(f.dtype).tiny), uniform)


def energy_based_sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_projections: int = DEFAULT_N_PROJECTIONS,
    p: float = 2,
    energy: Energy = "exp",
    power: float = 1.0,
    detach_weights: bool = False,
    projections: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Energy-based sliced Wasserstein distance, importance-sampling estimate (IS-EBSW).

    .. math::
        \widehat{\mathrm{EBSW}}_p(X, Y) = \Big(\sum_{l=1}^{L} \frac{f(w_l)}{\sum_{j} f(w_j)}\, w_l\Big)^{1/p},
        \qquad w_l = W_p^p(\theta_{l\#} X, \theta_{l\#} Y),\quad \theta_l \sim \mathcal{U}(S^{d-1})

    with :math:`f(w) = e^w` (``energy="exp"``) or :math:`f(w) = w^k` (``energy="poly"``,
    ``k = power``). For the same directions it lies between SW and the largest projected distance
    (weights that increase with :math:`w_l` put more mass on the larger terms), hence below
    Max-SW; it is symmetric, zero on identical clouds, and the ``exp`` weights are a softmax, so
    the values depend on the scale of the clouds (for clouds of radius about 1, :math:`w_l` is
    small and the weights are close to uniform). The gradient is that of the estimator, weights
    included; ``detach_weights=True`` treats the weights as constants (the gradient is then a
    weighted SW gradient). Nguyen & Ho, "Energy-based sliced Wasserstein distance" (NeurIPS 2023).

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``, same dtype and device as ``x``.
        n_projections (int, optional): L, used when ``projections`` is None (default
            :data:`~geomgen.pointclouds.losses.DEFAULT_N_PROJECTIONS`, 100).
        p (float, optional): order (default 2).
        energy (str, optional): ``"exp"`` or ``"poly"`` (default ``"exp"``).
        power (float, optional): k of ``"poly"`` (default 1).
        detach_weights (bool, optional): no gradient through the weights (default False).
        projections (Tensor, optional): unit proposal directions ``[L, d]`` (shared) or ``[B, L, d]``.
        generator (torch.Generator, optional): random source for the directions.

    Shapes:
        - output: ``[B]``.
    """
    name = "energy_based_sliced_wasserstein"
    check_pair(x, y, name)
    _check_p(p, name)
    _check_energy(energy, power, name)
    if projections is None:
        if n_projections < 1:
            raise ValueError(f"{name}: n_projections must be >= 1, got {n_projections}")
        projections = random_projections(n_projections, x.shape[-1], generator=generator, like=x)
    wpp = _projected_checked(x, y, projections, p)  # [B, L]
    weights = energy_weights(wpp.detach() if detach_weights else wpp, energy, power)
    return pth_root((weights * wpp).sum(-1), p)


__all__ = ["ENERGIES", "energy_based_sliced_wasserstein", "energy_weights"]
