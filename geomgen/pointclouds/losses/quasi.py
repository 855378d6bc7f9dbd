r"""Quasi-sliced Wasserstein (QSW): SW with quasi-Monte Carlo directions on the sphere, and its randomized version.

SW is an integral over :math:`S^{d-1}`; its Monte Carlo estimate averages :math:`W_p^p` over L
i.i.d. uniform directions, with an error of order :math:`L^{-1/2}`. QSW averages over a
deterministic *low-discrepancy* point set instead, whose points cover the sphere more evenly than
random ones, so the error of the average falls faster with L for smooth integrands (the
projected distance is Lipschitz in the direction). Randomized QSW (RQSW) applies one uniformly
random rotation to the point set at every call (or scrambles the Sobol sequence it is built from):
each rotated point is uniform on the sphere, so the estimate of :math:`\mathrm{SW}_p^p` is
unbiased, while the points keep their even spread. Nguyen, Bariletto & Ho, "Quasi-Monte Carlo
for 3D sliced Wasserstein" (ICLR 2024).

Point sets (:func:`sphere_points`), for :math:`S^2` unless said otherwise:

* ``"fibonacci"``: the spherical Fibonacci lattice, an equal-area construction: heights
  :math:`z_l = 1 - (2l + 1)/L` (the midpoints of L bands of equal area) and azimuths advancing by
  the golden angle :math:`\pi(3 - \sqrt 5)`, :math:`l = 0, \dots, L - 1`.
* ``"sobol_equal_area"``: the first L points :math:`(u, v)` of the 2-D Sobol sequence
  mapped by Lambert's cylindrical equal-area map,
  :math:`z = 1 - 2u,\ \phi = 2\pi v,\ r = \sqrt{1 - z^2}`.
* ``"sobol_gaussian"`` (any d): the first L points of the d-dimensional Sobol sequence
  through the standard normal inverse CDF coordinate-wise, then normalised (the Gaussian
  construction of uniform directions, applied to quasi-random inputs).
* ``"spiral"``: the generalized spiral points of Rakhmanov, Saff & Zhou (1994): heights evenly
  spaced from pole to pole, :math:`h_l = -1 + 2l/(L-1)`, azimuths
  :math:`\phi_l = \phi_{l-1} + 3.6 / \sqrt{L(1 - h_l^2)}` (mod :math:`2\pi`), both poles included.

The Sobol sequences are Owen-scrambled with a fixed seed (:data:`SOBOL_SEED`) for the
deterministic point sets: the plain sequence starts at the origin and the centre of the cube.

Not implemented: the point sets that the paper optimises (maximal minimum distance, minimal
Coulomb energy), which need an iterative solver per L.
"""

from __future__ import annotations

import functools
import math
from typing import Literal, get_args

import torch
from torch import Tensor

from geomgen.distributions.rotations import random_rotation
from geomgen.pointclouds.losses.sliced import (
    DEFAULT_N_PROJECTIONS,
    _check_p,
    _projected_checked,
    check_pair,
    pth_root,
)

#: Quasi-Monte Carlo point sets on the sphere, see :func:`sphere_points`.
Construction = Literal["fibonacci", "sobol_equal_area", "sobol_gaussian", "spiral"]
CONSTRUCTIONS: tuple[str, ...] = get_args(Construction)

#: Randomizations of a point set: a uniformly random rotation (any construction), or Owen
#: scrambling of the Sobol sequence (the two Sobol constructions).
Randomization = Literal["rotation", "scramble"]
RANDOMIZATIONS: tuple[str, ...] = get_args(Randomization)

_SOBOL = ("sobol_equal_area", "sobol_gaussian")


#: Scrambling seed of the deterministic Sobol point sets.
SOBOL_SEED = 0


def _sobol(n: int, dim: int, seed: int) -> Tensor:
    """The first ``n`` points of the Owen-scrambled Sobol sequence with ``seed``, float64. Scrambled
    always: the plain sequence starts at the origin and then the centre (0.5, ..., 0.5), which the
    Gaussian construction maps to -inf and to the zero vector, and its next points lie on the
    diagonals of the cube (directions +-(1, 1, 1) / sqrt(3) only)."""
    return torch.quasirandom.SobolEngine(dim, scramble=True, seed=seed).draw(n, dtype=torch.float64)


def _equal_area(u: Tensor, v: Tensor) -> Tensor:
    z = 1.0 - 2.0 * u
    r = (1.0 - z * z).clamp_min(0).sqrt()
    phi = 2.0 * math.pi * v
    return torch.stack((r * torch.cos(phi), r * torch.sin(phi), z), dim=-1)


@functools.lru_cache(maxsize=64)
def _points(n: int, construction: str, d: int, seed: int) -> Tensor:
    if construction == "sobol_gaussian":
        u = _sobol(n, d, seed).clamp(1e-12, 1 - 1e-12)
        g = math.sqrt(2.0) * torch.special.erfinv(2.0 * u - 1.0)
        return g / g.norm(dim=-1, keepdim=True)
    if construction == "sobol_equal_area":
        uv = _sobol(n, 2, seed)
        return _equal_area(uv[:, 0], uv[:, 1])
    idx = torch.arange(n, dtype=torch.float64)
    if construction == "fibonacci":
        z = 1.0 - (2.0 * idx + 1.0) / n
        phi = torch.remainder(idx * math.pi * (3.0 - math.sqrt(5.0)), 2.0 * math.pi)
    else:  # spiral
        if n == 1:
            return torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
        h = -1.0 + 2.0 * idx / (n - 1)
        inner = (1.0 - h[1:-1] ** 2).sqrt()
        steps = torch.cat((h.new_zeros(1), 3.6 / (math.sqrt(n) * inner), h.new_zeros(1)))
        phi = torch.remainder(torch.cumsum(steps, 0), 2.0 * math.pi)
        phi[-1] = 0.0
        z = h
    r = (1.0 - z * z).clamp_min(0).sqrt()
    return torch.stack((r * torch.cos(phi), r * torch.sin(phi), z), dim=-1)


def sphere_points(
    n: int, construction: Construction = "fibonacci", *, d: int = 3, seed: int | None = None, like: Tensor | None = None
) -> Tensor:
    r"""``n`` quasi-Monte Carlo points on :math:`S^{d-1}` (see the module docstring for the constructions).

    Deterministic for a given ``(n, construction, d, seed)``; computed in float64 and cached.

    Args:
        n (int): number of points.
        construction (str, optional): ``"fibonacci"``, ``"sobol_equal_area"``, ``"sobol_gaussian"``
            or ``"spiral"`` (default ``"fibonacci"``); all but ``"sobol_gaussian"`` need ``d = 3``.
        d (int, optional): ambient dimension (default 3).
        seed (int, optional): Owen-scrambling seed of the Sobol constructions (default None:
            :data:`SOBOL_SEED`).
        like (Tensor, optional): the result takes its dtype and device (default float32, CPU).

    Shapes:
        - output: ``[n, d]``, unit rows.
    """
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"sphere_points: construction must be one of {CONSTRUCTIONS}, got {construction!r}")
    if n < 1:
        raise ValueError(f"sphere_points: n must be >= 1, got {n}")
    if construction != "sobol_gaussian" and d != 3:
        raise ValueError(f"sphere_points: construction {construction!r} is a point set on S^2 (d = 3), got d = {d}; use 'sobol_gaussian'")
    if seed is not None and construction not in _SOBOL:
        raise ValueError(f"sphere_points: seed scrambles a Sobol sequence; construction {construction!r} has none")
    pts = _points(n, construction, d, SOBOL_SEED if seed is None else seed)
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None
    return pts.to(dtype=dtype, device=device, copy=True)


def quasi_projections(
    n: int,
    construction: Construction = "fibonacci",
    *,
    d: int = 3,
    randomize: Randomization | None = None,
    generator: torch.Generator | None = None,
    like: Tensor | None = None,
) -> Tensor:
    r"""The directions of QSW (``randomize=None``) or of randomized QSW.

    ``randomize="rotation"`` rotates :func:`sphere_points` by one :func:`random_rotation`;
    ``randomize="scramble"`` builds a Sobol construction from an Owen-scrambled sequence whose
    seed is drawn from ``generator``.

    Shapes:
        - output: ``[n, d]``.
    """
    if randomize is not None and randomize not in RANDOMIZATIONS:
        raise ValueError(f"quasi_projections: randomize must be None or one of {RANDOMIZATIONS}, got {randomize!r}")
    if randomize == "scramble":
        if construction not in _SOBOL:
            raise ValueError(f"quasi_projections: randomize='scramble' needs a Sobol construction {_SOBOL}, got {construction!r}")
        seed = int(torch.randint(0, 2**31 - 1, (), generator=generator, device=generator.device if generator is not None else None))
        return sphere_points(n, construction, d=d, seed=seed, like=like)
    pts = sphere_points(n, construction, d=d, like=like)
    if randomize == "rotation":
        pts = pts @ random_rotation(d, generator=generator, like=pts).T
    return pts


def quasi_sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_projections: int = DEFAULT_N_PROJECTIONS,
    p: float = 2,
    construction: Construction = "fibonacci",
    randomize: Randomization | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Quasi-sliced Wasserstein distance: SW averaged over a quasi-Monte Carlo point set.

    .. math::
        \mathrm{QSW}_p(X, Y) = \Big(\frac{1}{L}\sum_{l=1}^{L} W_p^p(\theta_{l\#} X, \theta_{l\#} Y)\Big)^{1/p},
        \qquad \{\theta_l\} = \text{a low-discrepancy point set on } S^{d-1}

    With ``randomize=None`` the directions are fixed (a deterministic, slightly biased estimate
    of :math:`\mathrm{SW}_p^p`); with ``randomize="rotation"`` the point set is rotated by a
    uniformly random rotation at each call, ``"scramble"`` draws a new Owen scrambling of the
    Sobol sequence (Sobol constructions only); either makes :math:`\mathrm{QSW}_p^p` an unbiased
    estimate of :math:`\mathrm{SW}_p^p`. One point set (one rotation) is shared by the batch, as
    :func:`~geomgen.pointclouds.losses.sliced_wasserstein` shares its directions. Same cost as SW.
    Nguyen, Bariletto & Ho, "Quasi-Monte Carlo for 3D sliced Wasserstein" (ICLR 2024).

    Args:
        x (Tensor): ``[B, N, d]``.
        y (Tensor): ``[B, M, d]``, same dtype and device as ``x``.
        n_projections (int, optional): L (default :data:`~geomgen.pointclouds.losses.DEFAULT_N_PROJECTIONS`, 100).
        p (float, optional): order (default 2).
        construction (str, optional): point set, see :func:`sphere_points` (default ``"fibonacci"``).
        randomize (str, optional): None, ``"rotation"`` or ``"scramble"`` (default None).
        generator (torch.Generator, optional): random source of the randomization.

    Shapes:
        - output: ``[B]``.
    """
    name = "quasi_sliced_wasserstein"
    check_pair(x, y, name)
    _check_p(p, name)
    if n_projections < 1:
        raise ValueError(f"{name}: n_projections must be >= 1, got {n_projections}")
    theta = quasi_projections(n_projections, construction, d=x.shape[-1], randomize=randomize, generator=generator, like=x)
    return pth_root(_projected_checked(x, y, theta, p).mean(-1), p)


__all__ = [
    "CONSTRUCTIONS",
    "RANDOMIZATIONS",
    "quasi_projections",
    "quasi_sliced_wasserstein",
    "sphere_points",
]  # random_rotation, imported above, is documented in geomgen.distributions.rotations
