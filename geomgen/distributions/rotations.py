"""Uniformly (Haar) distributed rotations: shared by the sliced losses' randomized directions
(:mod:`geomgen.pointclouds.losses.quasi`) and the sliced energy distance (:mod:`geomgen.metrics.energy`)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["random_rotation"]


def random_rotation(d: int, *, generator: torch.Generator | None = None, like: Tensor | None = None) -> Tensor:
    r"""A uniformly (Haar) distributed rotation of :math:`\mathbb{R}^d`: the Q factor of a Gaussian
    matrix with the signs of R's diagonal moved into Q, and one column flipped if needed so that
    :math:`\det Q = 1`.

    Args:
        d (int): dimension.
        generator (torch.Generator, optional): random source (default: torch's global one).
        like (Tensor, optional): the result takes its dtype and device (default float32, CPU).

    Shapes:
        - output: ``[d, d]``.
    """
    dev = generator.device if generator is not None else (like.device if like is not None else None)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=torch.float64, device=dev))
    q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones((), dtype=torch.float64, device=dev))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    return q.to(dtype=dtype, device=like.device if like is not None else dev)
