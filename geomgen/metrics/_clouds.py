"""Inputs of the point-cloud metrics: numpy arrays or torch tensors, checked alike."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def as_cloud_pair(x, y, name: str) -> tuple[Tensor, Tensor, bool]:
    """``(x, y, numpy_in)``: both clouds as tensors, and whether the caller passed arrays only
    (then the result goes back as a numpy array).

    A tensor keeps its dtype and device (and autograd graph); an array becomes a float64 tensor
    (float32 stays float32), moved next to the other input when that is a tensor.

    Raises:
        ValueError: complex or non-numeric values.
    """
    numpy_in = not isinstance(x, Tensor) and not isinstance(y, Tensor)
    like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else None
    out = []
    for label, c in (("x", x), ("y", y)):
        if not isinstance(c, Tensor):
            c = np.asarray(c)
            if c.dtype.kind not in "biuf":
                raise ValueError(f"{name}: {label} has {'complex' if c.dtype.kind == 'c' else 'non-numeric'} values (dtype {c.dtype})")
            c = torch.from_numpy(np.ascontiguousarray(c, dtype=np.float32 if c.dtype == np.float32 else np.float64))
            if like is not None:
                c = c.to(dtype=like.dtype, device=like.device)
        out.append(c)
    return out[0], out[1], numpy_in


def check_finite(x: Tensor, y: Tensor, name: str) -> None:
    """Raise ``ValueError`` naming ``x`` or ``y`` and the count when a cloud holds NaN or inf."""
    for label, c in (("x", x), ("y", y)):
        bad = int((~torch.isfinite(c.detach())).sum())
        if bad:
            raise ValueError(f"{name}: {label} {tuple(c.shape)} holds {bad} non-finite value(s) (NaN or inf)")
