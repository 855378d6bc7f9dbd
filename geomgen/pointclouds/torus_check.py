r"""Does a reconstructed torus keep its hole? The share of reconstructed points near the axis.

A torus with ring radius :math:`R` and tube radius :math:`r < R` has no surface point closer to
its axis than :math:`R - r`. Its frame comes from the reference (input) cloud: centre = mean,
axis = the principal direction of least variance, hole radius
:math:`\rho_0` = the 1 % quantile of the reference points' distances to the axis (:math:`\approx R - r`).
The check counts the reconstructed points inside the cylinder of radius
:math:`\rho = \text{fraction}\cdot\rho_0` around the axis:

.. math::
    s = \frac{1}{M}\,\#\{\, j : \|(y_j - c) - ((y_j - c)\cdot a)\,a\| < \rho \,\}

and passes when :math:`s \le` ``max_share``. A true torus gives :math:`s = 0`; a blob without a
hole puts points on the axis (against the shipped example torus, :math:`r = 0.35 R`, with the
defaults: a filled unit ball about 8 %, an oblate ellipsoidal shell of the torus's extent about 3 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TorusCheck:
    """Result of :func:`torus_hole_check`: ``share`` of points within ``radius`` of the axis, ``passed``."""

    share: float
    radius: float
    hole_radius: float
    max_share: float

    @property
    def passed(self) -> bool:
        return self.share <= self.max_share


def torus_frame(reference) -> tuple[np.ndarray, np.ndarray, float]:
    """``(centre [3], axis [3] unit, hole_radius)`` of a torus cloud ``reference [N, 3]`` (see the module docstring)."""
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[1] != 3 or len(ref) < 4:
        raise ValueError(f"torus_frame: expected reference points [N, 3] with N >= 4, got {ref.shape}")
    centre = ref.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov((ref - centre).T))
    axis = vecs[:, 0]
    return centre, axis, float(np.quantile(axial_distance(ref, centre, axis), 0.01))


def axial_distance(points, centre, axis) -> np.ndarray:
    """Distance of each point ``[M, 3]`` to the line through ``centre`` along unit ``axis``."""
    d = np.asarray(points, dtype=np.float64) - centre
    return np.linalg.norm(d - np.outer(d @ axis, axis), axis=1)


def torus_hole_check(recon, reference, fraction: float = 0.5, max_share: float = 0.01) -> TorusCheck:
    """Share of ``recon [M, 3]`` within ``fraction`` x the hole radius of the axis of the torus ``reference [N, 3]``.

    Args:
        recon (array-like): reconstructed points ``[M, 3]``, in the reference's frame.
        reference (array-like): the input torus ``[N, 3]``.
        fraction (float, optional): radius of the tested cylinder, as a fraction of the hole radius (default 0.5).
        max_share (float, optional): largest share that passes (default 0.01).

    Raises:
        ValueError: bad shapes (quoting both).
    """
    y = np.asarray(recon, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != 3 or len(y) == 0:
        raise ValueError(f"torus_hole_check: expected recon [M, 3] and reference [N, 3], got {y.shape} and {np.shape(reference)}")
    centre, axis, hole = torus_frame(reference)
    radius = fraction * hole
    share = float((axial_distance(y, centre, axis) < radius).mean())
    return TorusCheck(share=share, radius=radius, hole_radius=hole, max_share=max_share)


__all__ = ["TorusCheck", "axial_distance", "torus_frame", "torus_hole_check"]
