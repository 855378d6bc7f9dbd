"""Point-cloud transforms (PyG-style ``forward(points)``, composable): unit-ball normalisation,
random rotation, jitter."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor


class PointTransform:
    """Base class of point-cloud transforms (the PyG ``BaseTransform`` habit): ``forward(points)``
    maps ``[N, 3] -> [N, 3]``; instances are callable and compose with :class:`Compose`."""

    def forward(self, points: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward(points)")

    def __call__(self, points: Tensor) -> Tensor:
        if points.dim() != 2 or points.shape[-1] != 3:
            raise ValueError(f"{type(self).__name__}: expected points [N, 3], got {tuple(points.shape)}")
        return self.forward(points)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Compose(PointTransform):
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def forward(self, points: Tensor) -> Tensor:
        for t in self.transforms:
            points = t(points)
        return points

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class NormalizeUnitBall(PointTransform):
    r"""Centre at the mean and scale into the unit ball (the paper's normalisation).

    .. math::
        x_i \mapsto \frac{x_i - \bar{x}}{\max_j \|x_j - \bar{x}\|}
    """

    def forward(self, points: Tensor) -> Tensor:
        centred = points - points.mean(dim=0, keepdim=True)
        return centred / centred.norm(dim=-1).max().clamp_min(torch.finfo(points.dtype).tiny)


class RandomRotate(PointTransform):
    """Random rotation, uniform (Haar) on SO(3) (augmentation)."""

    def forward(self, points: Tensor) -> Tensor:
        q = torch.randn(4, dtype=points.dtype, device=points.device)
        w, x, y, z = (q / q.norm()).unbind()
        rot = torch.stack([
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)]),
            torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)]),
            torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]),
        ])  # fmt: skip
        return points @ rot.T


class Jitter(PointTransform):
    """Add Gaussian noise of standard deviation ``sigma`` to every coordinate (augmentation)."""

    def __init__(self, sigma: float = 0.01):
        self.sigma = sigma

    def forward(self, points: Tensor) -> Tensor:
        return points + self.sigma * torch.randn_like(points)

    def __repr__(self) -> str:
        return f"Jitter(sigma={self.sigma})"


__all__ = ["PointTransform", "Compose", "NormalizeUnitBall", "RandomRotate", "Jitter"]
