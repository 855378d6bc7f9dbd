r"""Torsion-pair moves: rotate two neighbouring rotatable torsions at once.

Two rotatable torsions whose bonds share an atom or are joined by a bond rotate by
:math:`(\delta_1, \delta_2)`, drawn independently from the rigid torsion moves' law
(:func:`~geomgen.conformers.reference.moves.rigid_torsion.rotation_angle`). *Invariance:* both
moving sides are taken away from one anchor atom, so they are nested or disjoint and the two
rotations commute: the move adds :math:`(\delta_1, \delta_2)` to the two dihedrals and leaves
every other internal coordinate as it is, an isometry of each side with a proposal symmetric
under :math:`\delta \to -\delta`, accepted with :math:`\min(1, \pi_r(x')/\pi_r(x))`. Neighbouring
torsions that are locked together (a crankshaft: changing one alone breaks a contact or makes a
clash) can only change their joint state this way.
"""

from __future__ import annotations

import numpy as np

from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.moves.rigid_torsion import rotate_side, rotation_angle
from geomgen.conformers.reference.options import Option
from geomgen.conformers.torsions import TorsionSet


def torsion_pairs(mol, torsions: TorsionSet) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Pairs of torsions whose central bonds share an atom or are joined by a bond, each with the
    atoms its two rotations move, taken away from a common anchor (atom j of the first
    torsion's bond).

    The side of a bridge away from a fixed atom is a subtree of the bridge tree seen from that
    atom, so the two sides are nested or disjoint and the rotations commute.

    Returns:
        ``(t1, t2, moving1, moving2)`` per pair: indices into ``torsions`` and the indices of the
        atoms each rotation moves (axis atoms excluded).
    """
    from rdkit import Chem

    from geomgen.conformers.torsions import side_away

    dist = Chem.GetDistanceMatrix(mol)
    out = []
    for t1 in range(len(torsions)):
        j1, k1 = (int(a) for a in torsions.atoms[t1, 1:3])
        for t2 in range(t1 + 1, len(torsions)):
            j2, k2 = (int(a) for a in torsions.atoms[t2, 1:3])
            if min(dist[a, b] for a in (j1, k1) for b in (j2, k2)) <= 1:
                out.append((t1, t2, side_away(mol, j1, k1, j1)[0], side_away(mol, j2, k2, j1)[0]))
    return out


class TorsionPairMove(Move):
    """A Poisson number (mean ``pair_moves_per_sweep``) of moves per sweep, each on a random pair
    of :func:`torsion_pairs`."""

    name = "pair"
    rate_option = "pair_moves_per_sweep"
    options = (
        Option("pair_moves_per_sweep", 0.0, "expected torsion-pair moves per sweep (a Poisson number), each on a random "
                                            "pair of :func:`torsion_pairs`; 0 for none (default 0).", low=0.0),
    )

    def __init__(self, system):
        super().__init__(system)
        ts = system.torsions
        self.pairs = [(ts.atoms[t1, 1:3], m1, ts.atoms[t2, 1:3], m2)
                      for t1, t2, m1, m2 in torsion_pairs(system.mol, ts)] if self.rate > 0 else []

    @property
    def applicable(self) -> bool:
        return bool(self.pairs)

    def step(self, rung, adapt: bool = False) -> None:
        (j1, k1), m1, (j2, k2), m2 = self.pairs[int(rung.rng.integers(len(self.pairs)))]
        d1, d2 = rotation_angle(rung.rng, self.cfg), rotation_angle(rung.rng, self.cfg)
        self.metropolis(rung, rotate_side(rotate_side(rung.pos, j1, k1, m1, d1), j2, k2, m2, d2))

    def extra_diagnostics(self) -> dict:
        return {"n_torsion_pairs": len(self.pairs)}
