r"""Random-path projection sliced Wasserstein (RPSW) and its importance-weighted version (IWRPSW).

The slicing distribution is built from the two clouds without optimisation: a *random-path
projecting direction* is the unit vector along the path between a random point of X and a random
point of Y,

.. math::
    \theta = \frac{x - y}{\|x - y\|},\qquad x \sim \mu_X,\ y \sim \mu_Y \text{ independent},

which points where the clouds differ (for clouds that differ by a translation t, every such
direction leans towards t). To make the law continuous the direction is then perturbed by a
location-scale law on the sphere with concentration :math:`\kappa` around it; here the
von Mises-Fisher law :math:`\mathrm{vMF}(\theta, \kappa)` (the paper allows any location-scale
family and uses the power spherical one in its experiments; the vMF has the same role of
:math:`\kappa` and is the package's sampler). ``concentration=None`` keeps the unperturbed
direction. Sampling costs L gathers and normalisations, no optimisation. Nguyen, Zhang, Le & Ho,
"Sliced Wasserstein with random-path projecting directions" (ICML 2024).
"""

from __future__ import annotations

import torch
from torch import Tensor

from geomgen.distributions import VonMisesFisher
from geomgen.pointclouds.losses.energy import Energy, _check_energy, energy_weights
from geomgen.pointclouds.losses.sliced import (
    DEFAULT_N_PROJECTIONS,
    _check_p,
    _projected_checked,
    check_pair,
    pth_root,
    random_projections,
)


def _randint(high: int, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    dev = generator.device if generator is not None else device
    return torch.randint(0, high, shape, generator=generator, device=dev).to(device)


def _random_path_projections(
    x: Tensor, y: Tensor, n_projections: int, concentration: float | None, generator: torch.Generator | None, name: str
) -> Tensor:
    """Unchecked :func:`random_path_projections` (the pair is already checked)."""
    if n_projections < 1:
        raise ValueError(f"{name}: n_projections must be >= 1, got {n_projections}")
    if concentration is not None and concentration < 0:
        raise ValueError(f"{name}: concentration must be >= 0 or None, got {concentration}")
    b, n, d = x.shape
    m = y.shape[1]
    with torch.no_grad():
        i = _randint(n, (b, n_projections), generator, x.device)
        j = _randint(m, (b, n_projections), generator, x.device)
        diff = torch.gather(x, 1, i.unsqueeze(-1).expand(-1, -1, d)) - torch.gather(y, 1, j.unsqueeze(-1).expand(-1, -1, d))
        norm = diff.norm(dim=-1, keepdim=True)
        theta = diff / norm.clamp_min(torch.finfo(x.dtype).tiny)
        coincident = norm.squeeze(-1) == 0
        if bool(coincident.any()):  # a pair of coincident points gives no direction: draw uniform ones instead
            theta[coincident] = random_projections(int(coincident.sum()), d, generator=generator, like=x)
        if concentration is not None:
            theta = VonMisesFisher(theta, concentration).rsample(generator=generator).to(x.dtype)
    return theta.detach()


def random_path_projections(
    x: Tensor,
    y: Tensor,
    n_projections: int = DEFAULT_N_PROJECTIONS,
    *,
    concentration: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""``n_projections`` random-path directions per pair, optionally vMF-perturbed.

    .. math::
        \theta_{b,l} \sim \mathrm{vMF}\Big(\frac{x_{b,i} - y_{b,j}}{\|x_{b,i} - y_{b,j}\|}, \kappa\Big),
        \qquad i \sim \mathcal{U}\{1..N\},\ j \sim \mathcal{U}\{1..M\}

    A pair of coincident points (``x_i == y_j``) gives a uniform direction instead. The
    directions are detached: they are samples of the slicing law, not functions of the clouds
    that gradients should flow through.

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``.
        n_projections (int, optional): L (default 100).
        concentration (float, optional): :math:`\kappa \ge 0` of the perturbation, or None for
            none (default None).
        generator (torch.Generator, optional): random source (indices, perturbation).

    Shapes:
        - output: ``[B, L, d]``, unit rows.
    """
    check_pair(x, y, "random_path_projections")
    return _random_path_projections(x, y, n_projections, concentration, generator, "random_path_projections")


def random_path_sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_projections: int = DEFAULT_N_PROJECTIONS,
    concentration: float | None = 10.0,
    p: float = 2,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Random-path projection sliced Wasserstein distance (RPSW), Monte Carlo estimate.

    .. math::
        \mathrm{RPSW}_p(X, Y) = \Big(\frac{1}{L}\sum_{l=1}^{L} W_p^p(\theta_{l\#} X, \theta_{l\#} Y)\Big)^{1/p},
        \qquad \theta_l \sim \mathrm{vMF}\Big(\frac{x_{i_l} - y_{j_l}}{\|x_{i_l} - y_{j_l}\|}, \kappa\Big)

    with :math:`i_l, j_l` uniform point indices (:func:`random_path_projections`, one set of L
    directions per pair). Symmetric in law, zero on identical clouds; for one-point clouds
    without perturbation it is exactly :math:`\|x - y\| = W_p`. Same cost as SW. Nguyen, Zhang,
    Le & Ho, "Sliced Wasserstein with random-path projecting directions" (ICML 2024).

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``, same dtype and device as ``x``.
        n_projections (int, optional): L (default :data:`~geomgen.pointclouds.losses.DEFAULT_N_PROJECTIONS`, 100).
        concentration (float, optional): :math:`\kappa` of the vMF perturbation, None for none
            (default 10, the package's v-DSW value).
        p (float, optional): order (default 2).
        generator (torch.Generator, optional): random source.

    Shapes:
        - output: ``[B]``.
    """
    name = "random_path_sliced_wasserstein"
    check_pair(x, y, name)
    _check_p(p, name)
    theta = _random_path_projections(x, y, n_projections, concentration, generator, name)
    return pth_root(_projected_checked(x, y, theta, p).mean(-1), p)


def importance_weighted_random_path_sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_projections: int = DEFAULT_N_PROJECTIONS,
    concentration: float | None = 10.0,
    p: float = 2,
    energy: Energy = "exp",
    power: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Importance-weighted RPSW (IWRPSW): random-path directions, weighted as in EBSW.

    .. math::
        \mathrm{IWRPSW}_p(X, Y) = \Big(\sum_{l=1}^{L} \frac{f(w_l)}{\sum_j f(w_j)}\, w_l\Big)^{1/p},
        \qquad w_l = W_p^p(\theta_{l\#} X, \theta_{l\#} Y)

    with :math:`\theta_l` drawn as in :func:`random_path_sliced_wasserstein` and :math:`f` the
    energy of :func:`~geomgen.pointclouds.losses.energy_based_sliced_wasserstein` (``exp`` by
    default): the proposal is the random-path law, the weights move mass to the directions with
    larger projected distances. Between RPSW and the largest projected distance for the same
    directions. Nguyen, Zhang, Le & Ho (ICML 2024).

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``, same dtype and device as ``x``.
        n_projections (int, optional): L (default 100).
        concentration (float, optional): :math:`\kappa`, None for no perturbation (default 10).
        p (float, optional): order (default 2).
        energy (str, optional): ``"exp"`` or ``"poly"`` (default ``"exp"``).
        power (float, optional): k of ``"poly"`` (default 1).
        generator (torch.Generator, optional): random source.

    Shapes:
        - output: ``[B]``.
    """
    name = "importance_weighted_random_path_sliced_wasserstein"
    check_pair(x, y, name)
    _check_p(p, name)
    _check_energy(energy, power, name)
    theta = _random_path_projections(x, y, n_projections, concentration, generator, name)
    wpp = _projected_checked(x, y, theta, p)
    return pth_root((energy_weights(wpp, energy, power) * wpp).sum(-1), p)


__all__ = [
    "importance_weighted_random_path_sliced_wasserstein",
    "random_path_projections",
    "random_path_sliced_wasserstein",
]
