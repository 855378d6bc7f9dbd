r"""Ring-flip moves: the chair-to-chair involution of
:mod:`~geomgen.conformers.reference.ring_flip` on a random isolated saturated ring, unit Jacobian,
accepted with :math:`\min(1, \pi_r(F x)/\pi_r(x))`. Each chain's over-dispersed start flips each
such ring with probability 1/2, with the moves or without them. A pucker is not monitored as a
state indicator (graph symmetry relabels ring atoms, so a pucker sign is not a quantity); its
mixing shows in the substituents' torsions.
"""

from __future__ import annotations

from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.options import Option
from geomgen.conformers.reference.ring_flip import flip_ring, flippable_rings


class RingFlipMove(Move):
    """A Poisson number (mean ``ring_flips_per_sweep``) of flips per sweep."""

    name = "ring_flip"
    rate_option = "ring_flips_per_sweep"
    options = (
        Option("ring_flips_per_sweep", 0.0, "expected ring-flip moves per sweep on isolated saturated rings (a Poisson "
                                            "number; chair to chair); 0 for none (default 0): without them a chain keeps "
                                            "the ring pucker of its start.", ("--ring-flips",), low=0.0),
    )

    state_name = "ring"

    def __init__(self, system):
        super().__init__(system)
        #: every flippable ring (a chain's start flips each with probability 1/2, moves or not)
        self.sites = flippable_rings(system.mol)
        self.rings = self.sites if self.rate > 0 else []

    @property
    def applicable(self) -> bool:
        return bool(self.rings)

    @property
    def flip_sites(self) -> int:
        return len(self.sites)

    def flip_site(self, pos, k: int):
        ring, branches = self.sites[k]
        return flip_ring(pos, ring, branches)

    def step(self, rung, adapt: bool = False) -> None:
        ring, branches = self.rings[int(rung.rng.integers(len(self.rings)))]
        self.metropolis(rung, flip_ring(rung.pos, ring, branches))

    def extra_diagnostics(self) -> dict:
        return {"n_flippable_rings": len(self.rings)}
