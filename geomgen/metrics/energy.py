r"""The energy distance between two samples: an unbiased U-statistic with a jackknife standard error."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["UStatistic", "energy_distance"]


class UStatistic(NamedTuple):
    """An unbiased estimate and its standard error (``float(u)`` is the estimate)."""

    value: float
    se: float

    def __float__(self) -> float:
        return float(self.value)


def _as_points(x, name: str) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float64))
    t = t.to(torch.float64)
    if t.dim() == 1:
        t = t[:, None]
    if t.dim() != 2:
        raise ValueError(f"energy_distance: {name} must be [n] or [n, D], got {tuple(t.shape)}")
    bad = int((~torch.isfinite(t)).sum())
    if bad:
        raise ValueError(f"energy_distance: {name} has {bad} non-finite value(s) (NaN or inf) of {t.numel()}")
    return t


def _block_sums(a: torch.Tensor, b: torch.Tensor, ga: torch.Tensor, gb: torch.Tensor, groups: int,
                chunk: int) -> torch.Tensor:
    r"""``S[g, h] = \sum_{i \in g, j \in h} \|a_i - b_j\|`` for the group labels ``ga`` of a and ``gb`` of b."""
    out = torch.zeros(groups, groups, dtype=torch.float64)
    onehot_b = torch.nn.functional.one_hot(gb, groups).to(torch.float64)  # [nb, G]
    for i in range(0, len(a), chunk):
        d = torch.cdist(a[i : i + chunk], b)  # [c, nb]
        per_row = d @ onehot_b  # [c, G]: sum over each group of b
        out.index_add_(0, ga[i : i + chunk], per_row)
    return out


def energy_distance(x, y, *, groups: int = 20, chunk: int = 2048) -> UStatistic:
    r"""Squared energy distance between the laws of two samples, as an unbiased U-statistic.

    .. math::
        \mathcal E^2(P, Q) = 2\,\mathbb E\|X - Y\| - \mathbb E\|X - X'\| - \mathbb E\|Y - Y'\|,
        \qquad X, X' \sim P,\ Y, Y' \sim Q

    (Székely & Rizzo, "Energy statistics: a class of statistics based on distances", J. Stat.
    Plan. Inference 2013). :math:`\mathcal E^2 \ge 0`, with equality iff P = Q (finite first
    moments); :math:`\sqrt{\mathcal E^2}` is a metric on laws. The estimate replaces each
    expectation by the mean over distinct pairs,

    .. math::
        \widehat{\mathcal E^2} = \frac{2}{nm}\sum_{i,j}\|x_i - y_j\|
        - \frac{1}{n(n-1)}\sum_{i \ne i'}\|x_i - x_{i'}\| - \frac{1}{m(m-1)}\sum_{j \ne j'}\|y_j - y_{j'}\|,

    which is unbiased: two samples of one law give estimates that average 0 (and may be negative);
    no bandwidth, no floor. SciPy's ``scipy.stats.energy_distance`` (1-D) is the square root of the
    V-statistic, the same sums with the i = i' terms kept and divided by :math:`n^2`, :math:`m^2`.

    The standard error is the delete-a-group jackknife: both samples are split into ``groups``
    groups (in their given order), the statistic is recomputed with group g of x and of y removed,
    and :math:`\mathrm{se}^2 = \frac{G-1}{G}\sum_g (\hat{\mathcal E}^2_{-g} - \bar{\mathcal E}^2_{-\cdot})^2`;
    it is valid for equal and for different laws (where the first-order, delta-method error vanishes);
    for equal laws it is conservative (about 1.3 times the spread of the estimate over repeats, measured
    on the sphere S^2 at n = m = 200 and 800), for different laws close to it.
    Cost: :math:`O((n + m)^2 D)` time, :math:`O(\text{chunk}\cdot(n + m))` memory (about 10 s for
    n = m = 10,000 in D = 30 on one busy core).

    Args:
        x: sample ``[n, D]`` (or ``[n]`` in 1-D), numpy array or tensor; n >= 2.
        y: sample ``[m, D]``; m >= 2.
        groups (int, optional): jackknife groups, at most min(n, m) (default 20).
        chunk (int, optional): rows per block of the pairwise distances (default 2048).

    Returns:
        UStatistic: ``(value, se)``; the value in units of distance.

    Raises:
        ValueError: bad shapes (both are quoted), fewer than 2 points, NaN/inf values, groups < 2.

    Shapes:
        x: ``[n, D]``, y: ``[m, D]``.
    """
    a, b = _as_points(x, "x"), _as_points(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"energy_distance: x and y must be [n, D] and [m, D], got {tuple(a.shape)} and {tuple(b.shape)}")
    n, m = len(a), len(b)
    if n < 2 or m < 2:
        raise ValueError(f"energy_distance: needs at least 2 points in each sample, got {tuple(a.shape)} and {tuple(b.shape)}")
    g = min(int(groups), n, m)
    if g < 2:
        raise ValueError(f"energy_distance: groups must be >= 2, got {groups}")
    ga = torch.arange(n) * g // n  # contiguous, balanced groups
    gb = torch.arange(m) * g // m
    sxx = _block_sums(a, a, ga, ga, g, chunk)
    syy = _block_sums(b, b, gb, gb, g, chunk)
    sxy = _block_sums(a, b, ga, gb, g, chunk)
    na = torch.bincount(ga, minlength=g).to(torch.float64)
    nb = torch.bincount(gb, minlength=g).to(torch.float64)

    def stat(txy, txx, tyy, nx, ny):
        return 2 * txy / (nx * ny) - txx / (nx * (nx - 1)) - tyy / (ny * (ny - 1))

    full = float(stat(sxy.sum(), sxx.sum(), syy.sum(), float(n), float(m)))
    # group g removed from both samples
    loo = stat(sxy.sum() - sxy.sum(1) - sxy.sum(0) + sxy.diagonal(),
               sxx.sum() - 2 * sxx.sum(1) + sxx.diagonal(),
               syy.sum() - 2 * syy.sum(1) + syy.diagonal(), n - na, m - nb)
    se = math.sqrt(float((g - 1) / g * ((loo - loo.mean()) ** 2).sum()))
    return UStatistic(full, se)
