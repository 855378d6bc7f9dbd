r"""Rigid torsion moves: rotate the moving side of a movable bond.

A move rotates the moving side of a movable bond (:func:`~geomgen.conformers.torsions.movable_bonds`)
by :math:`\delta`, uniform on :math:`[-\pi, \pi)`, a well-to-well jump or Gaussian. *Invariance:*
the rotation is an isometry of the moving side, and the law of :math:`\delta` is symmetric under
:math:`\delta \to -\delta`, so the proposal is symmetric and the Metropolis ratio is
:math:`\pi_r(x')/\pi_r(x)`.
"""

from __future__ import annotations

import math

import numpy as np

from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.options import Option
from geomgen.conformers.torsions import rotate_side


def rotation_angle(rng: np.random.Generator, cfg) -> float:
    """A rotation angle of the rigid torsion moves' law (symmetric under delta -> -delta):
    uniform with probability ``p_uniform``, a jump of +-pi or +-2 pi / 3 with Gaussian jitter of
    ``small_sigma / 2`` with probability ``p_jump``, else Gaussian of scale ``small_sigma``."""
    x = rng.random()
    if x < cfg.p_uniform:
        return rng.uniform(-math.pi, math.pi)
    if x < cfg.p_uniform + cfg.p_jump:  # well-to-well jump
        centre = math.pi if rng.random() < 0.5 else 2 * math.pi / 3
        return (centre + rng.normal(0.0, cfg.small_sigma / 2)) * (1.0 if rng.random() < 0.5 else -1.0)
    return rng.normal(0.0, cfg.small_sigma)


class RigidTorsionMove(Move):
    """``torsion_passes`` rigid moves per movable bond per sweep, the bonds in random order."""

    name = "torsion"
    options = (
        Option("p_uniform", 0.5, "fraction of rigid torsion moves drawn uniformly (default 0.5).", low=0.0),
        Option("p_jump", 0.0, "fraction of rigid torsion moves that are well-to-well jumps of +-pi or +-2 pi / 3 with "
                              "Gaussian jitter of ``small_sigma / 2`` (default 0).", low=0.0),
        Option("small_sigma", 0.35, "scale (rad) of the Gaussian rigid torsion moves, the rest (default 0.35).", low=0.0),
        Option("torsion_passes", 2, "rigid torsion moves per movable bond per sweep (default 2).", low=0),
    )

    def __init__(self, system):
        super().__init__(system)
        self.bonds = system.movable
        self.moving = [np.flatnonzero(m) for m in self.bonds.moving]

    @property
    def applicable(self) -> bool:
        return True  # draws its permutations even with no movable bond, as it always has

    def sweep(self, rung, adapt: bool) -> None:
        for _ in range(self.cfg.torsion_passes):
            for t in rung.rng.permutation(len(self.bonds)):
                self.step(rung, adapt, int(t))

    def step(self, rung, adapt: bool = False, t: int | None = None) -> None:
        if t is None:
            t = int(rung.rng.integers(len(self.bonds)))
        j, k = self.bonds.atoms[t, 1], self.bonds.atoms[t, 2]
        self.metropolis(rung, rotate_side(rung.pos, j, k, self.moving[t], rotation_angle(rung.rng, self.cfg)))
