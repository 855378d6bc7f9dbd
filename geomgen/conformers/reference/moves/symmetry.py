r"""Symmetry and mirror moves.

* **symmetry moves** -- relabel the atoms by a graph automorphism: the energy terms are invariant
  under automorphisms (the ladder's :math:`E_{\mathrm{bar}}` bond set is too), and the set is
  closed under inverses, so the move is always accepted.
* **mirror moves** (option) -- for a molecule whose mirror image is the same stereoisomer
  (:func:`mirror_symmetric`: no tetrahedral stereocentre, assigned or not), replace x by -x with
  probability 1/2; the rung keeps the parity of its mirror moves, recorded with each sample.
  MMFF94's energy depends on distances, angles, squared out-of-plane angles and even functions of
  dihedrals, so :math:`E(-x) = E(x)`; the map is an involution with unit Jacobian, always
  accepted. It joins mirror-image basins (every dihedral negated), which rigid moves of one or two
  torsions cannot: chains sitting in the two enantiomeric states of a flexible chain were the
  commonest way an achiral molecule stayed unconverged.
"""

from __future__ import annotations

from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.options import Option
from geomgen.conformers.torsions import automorphisms


def mirror_symmetric(mol) -> bool:
    """Whether the mirror image of any conformer of ``mol`` is a conformer of the same
    stereoisomer: no tetrahedral stereocentre, assigned or not (a reflection inverts each;
    double-bond geometry is kept). Ring puckers are mirrored too, so samples record whether they
    are mirror images (:attr:`~geomgen.conformers.reference.sampler.ReferenceResult.mirrored`) to
    be rebuilt on the seed."""
    from rdkit import Chem

    return not Chem.FindMolChiralCenters(mol, includeUnassigned=True, useLegacyImplementation=False)


class SymmetryMove(Move):
    """One symmetry move (and, where allowed, one mirror move with probability 1/2) per sweep;
    always accepted, so it counts no tries."""

    name = "symmetry"
    options = (
        Option("mirror_moves", False, "add the mirror move to the symmetry move where :func:`mirror_symmetric` allows it "
                                      "(default False)."),
    )

    def __init__(self, system):
        super().__init__(system)
        self.perms = automorphisms(system.mol)
        self.mirror = bool(self.cfg.mirror_moves and mirror_symmetric(system.mol))

    @property
    def applicable(self) -> bool:
        return True

    def sweep(self, rung, adapt: bool) -> None:
        self.step(rung, adapt)

    def step(self, rung, adapt: bool = False) -> None:
        if len(self.perms):
            rung.pos = rung.pos[self.perms[rung.rng.integers(len(self.perms))]]
            rung.grad = None
        if self.mirror and rung.rng.random() < 0.5:  # E(-x) = E(x): always accepted
            rung.pos = -rung.pos
            rung.mirrored = not rung.mirrored
            rung.grad = None

    def diagnostics(self) -> dict:
        return {"mirror_moves": self.mirror}
