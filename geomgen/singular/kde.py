r"""The classical baselines for a law in R^D: the isotropic Gaussian kernel density estimate and
the empirical measure of the sample."""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import Tensor

__all__ = ["KernelDensity", "EmpiricalMeasure", "BandwidthRule"]

#: the bandwidth rules of :class:`KernelDensity`
BandwidthRule = Literal["scott", "silverman", "loo"]
_RULES = get_args(BandwidthRule)


class KernelDensity:
    r"""Gaussian kernel density estimate with one bandwidth h.

    .. math::
        \hat p_h(x) = \frac1n \sum_{i=1}^n \varphi_h(x - X_i),\qquad
        \varphi_h(r) = (2\pi h^2)^{-D/2} e^{-\|r\|^2/2h^2}

    The bandwidth is a number, Scott's rule :math:`h = \bar s\, n^{-1/(D+4)}`, Silverman's rule
    :math:`h = \bar s\,(4/(D+2))^{1/(D+4)} n^{-1/(D+4)}` (:math:`\bar s` the mean coordinate
    standard deviation), or ``"loo"``: the maximiser of the leave-one-out log-likelihood over
    a log-spaced grid. Samples of :math:`\hat p_h` are resampled data plus :math:`h\,N(0, I)`.
    No gradient training is involved, so this baseline is a plain class, not a LightningModule.

    Args:
        bandwidth (float or str, optional): h, ``"scott"``, ``"silverman"`` or ``"loo"`` (default ``"scott"``).
        grid_size (int, optional): grid points for ``"loo"`` (default 30).

    Shapes:
        - ``fit(x)``: ``x: [n, D]``.
        - ``log_prob(x)``: ``[m, D] -> [m]``.
        - ``sample(m)``: ``[m, D]``.
    """

    def __init__(self, bandwidth: float | str = "scott", grid_size: int = 30):
        if isinstance(bandwidth, str) and bandwidth not in _RULES:
            raise ValueError(f"bandwidth must be a positive number or one of {_RULES}, got {bandwidth!r}")
        if not isinstance(bandwidth, str) and bandwidth <= 0:
            raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
        self.bandwidth, self.grid_size = bandwidth, int(grid_size)
        self.data: Tensor | None = None
        self.h: float | None = None

    @staticmethod
    def _log_kernel_sum(x: Tensor, data: Tensor, h: float, exclude_self: bool = False, chunk: int = 2048) -> Tensor:
        out = []
        dim = data.shape[1]
        for i in range(0, len(x), chunk):
            d2 = torch.cdist(x[i : i + chunk], data) ** 2
            if exclude_self:
                idx = torch.arange(i, min(i + chunk, len(x)))
                d2[idx - i, idx] = float("inf")
            out.append(torch.logsumexp(-0.5 * d2 / h**2, dim=1) - dim * math.log(h) - 0.5 * dim * math.log(2 * math.pi))
        return torch.cat(out)

    def fit(self, x: Tensor) -> KernelDensity:
        if x.dim() != 2 or len(x) < 2:
            raise ValueError(f"KernelDensity.fit needs x of shape [n >= 2, D], got {tuple(x.shape)}")
        x = x.to(torch.float64)
        n, dim = x.shape
        spread = float(x.std(dim=0).mean())
        if self.bandwidth == "scott":
            h = spread * n ** (-1.0 / (dim + 4))
        elif self.bandwidth == "silverman":
            h = spread * (4.0 / (dim + 2)) ** (1.0 / (dim + 4)) * n ** (-1.0 / (dim + 4))
        elif self.bandwidth == "loo":
            grid = torch.logspace(math.log10(1e-3 * spread), math.log10(spread), self.grid_size, dtype=torch.float64)
            scores = [float((self._log_kernel_sum(x, x, float(g), exclude_self=True) - math.log(n - 1)).mean())
                      for g in grid]
            h = float(grid[int(torch.tensor(scores).argmax())])
        else:
            h = float(self.bandwidth)
        self.data, self.h = x, h
        return self

    def _check(self):
        if self.data is None:
            raise RuntimeError("KernelDensity is not fitted; call fit(x) first")

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density of the estimate at ``x`` ``[m, D]``."""
        self._check()
        return self._log_kernel_sum(x.to(torch.float64), self.data, self.h) - math.log(len(self.data))

    def sample(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``m`` samples ``[m, D]`` of the estimate."""
        self._check()
        idx = torch.randint(len(self.data), (m,), generator=generator)
        return self.data[idx] + self.h * torch.randn(m, self.data.shape[1], generator=generator, dtype=torch.float64)

    def held_out_log_likelihood(self, x: Tensor) -> float:
        """Mean log-density (nats per point) of held-out data ``[m, D]``."""
        return float(self.log_prob(x).mean())


class EmpiricalMeasure:
    r"""The empirical measure of the training sample, :math:`\hat P_n = \frac1n \sum_i \delta_{X_i}`.

    The baseline every estimator of a singular law must beat: it needs no model, and its W1
    error already attains the rate :math:`n^{-1/2}` when the intrinsic dimension d <= 2
    (:math:`n^{-1/2}\log n` at d = 2, :math:`n^{-1/d}` above), which is the rate of the
    likelihood estimators there. Samples are draws with replacement from the data (the
    kernel estimate with h = 0). It has no density: :meth:`held_out_log_likelihood` is NaN.

    Shapes:
        - ``fit(x)``: ``x: [n, D]``.
        - ``sample(m)``: ``[m, D]``.
    """

    h = 0.0

    def __init__(self):
        self.data: Tensor | None = None

    def fit(self, x: Tensor) -> EmpiricalMeasure:
        if x.dim() != 2 or len(x) < 1:
            raise ValueError(f"EmpiricalMeasure.fit needs x of shape [n >= 1, D], got {tuple(x.shape)}")
        self.data = x.to(torch.float64)
        return self

    def sample(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``m`` draws with replacement ``[m, D]`` from the training sample."""
        if self.data is None:
            raise RuntimeError("EmpiricalMeasure is not fitted; call fit(x) first")
        return self.data[torch.randint(len(self.data), (m,), generator=generator)]

    def held_out_log_likelihood(self, x: Tensor) -> float:
        """NaN: the empirical measure has no density."""
        return float("nan")
