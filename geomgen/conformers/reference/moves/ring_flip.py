r"""Ring-flip moves: the chair-to-chair involution of
:mod:`~geomgen.conformers.reference.ring_flip` on a random isolated, spiro or aryl-fused saturated ring (a fused
ring's branches without a stereocentre mirrored through the aromatic plane, ``ring_flip_mirror``), unit Jacobian,
accepted with :math:`\min(1, \pi_r(F x)/\pi_r(x))`.

A ring's pucker is a monitored discrete state when one substituent labels it as a quantity
(:func:`~geomgen.conformers.reference.ring_flip.pucker_reporter`: the indicator is whether that
substituent is axial): the convergence rule then checks its R-hat, ESS and inter-half population,
and the over-dispersed starts put half the chains in each pucker. It has to be monitored: the
substituents' torsions alone did not show slow chair-chair mixing (a 4-piperidine ester and a
2-ethylmorpholine passed the torsion rule in two runs that disagreed, flip acceptance 0.3-1 %;
evaluation/conformers/v4_pilot.md). A ring without such a substituent (cyclohexane; a ring whose
only substituent sits on its nitrogen; two equivalent substituents) is not monitored, and each
chain's start flips it with probability 1/2.
"""

from __future__ import annotations

from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.options import Option
from geomgen.conformers.reference.ring_flip import axial, flippable_rings, pucker_reporter


class RingFlipMove(Move):
    """A Poisson number (mean ``ring_flips_per_sweep``) of flips per sweep."""

    name = "ring_flip"
    rate_option = "ring_flips_per_sweep"
    options = (
        Option("ring_flips_per_sweep", 0.0, "expected ring-flip moves per sweep on isolated, spiro and aryl-fused saturated rings (a Poisson "
                                            "number; chair to chair); 0 for none (default 0): without them a chain keeps "
                                            "the ring pucker of its start.", ("--ring-flips",), low=0.0),
        Option("ring_flip_mirror", True, "a fused ring's flip reflects its branches without a stereocentre through the "
                                         "aromatic plane (revision 13, default True); False: every branch carried by its "
                                         "atom's frame (revision 12), whose flips of bulky fused rings are hardly ever "
                                         "accepted."),
    )

    state_name = "ring"

    def __init__(self, system):
        super().__init__(system)
        #: every flippable ring (a chain's start flips each with probability 1/2, moves or not)
        self.sites = flippable_rings(system.mol, mirror=self.cfg.ring_flip_mirror)
        self.rings = self.sites if self.rate > 0 else []

    @property
    def applicable(self) -> bool:
        return bool(self.rings)

    @property
    def flip_sites(self) -> int:
        return len(self.sites)

    def flip_site(self, pos, k: int):
        return self.sites[k].flip(pos)

    def step(self, rung, adapt: bool = False) -> None:
        self.metropolis(rung, self.rings[int(rung.rng.integers(len(self.rings)))].flip(rung.pos))

    @property
    def monitored(self) -> list[int]:
        """The rings whose pucker one substituent labels (:func:`pucker_reporter`)."""
        return [k for k, r in enumerate(self._reporters) if r is not None]

    @property
    def _reporters(self) -> list:
        if not hasattr(self, "_reporter_cache"):
            self._reporter_cache = [pucker_reporter(self.system.mol, ring) for ring, _ in self.sites]
        return self._reporter_cache

    def states(self, positions):
        """``[S, K]`` bool: whether each monitored ring's reporting substituent is axial (:func:`axial`)."""
        import numpy as np

        pos = np.asarray(positions, dtype=np.float64)
        pos = pos[None] if pos.ndim == 2 else pos
        cols = [axial(pos, self.sites[k][0], self._reporters[k]) for k in self.monitored]
        return np.stack(cols, axis=1) if cols else np.zeros((len(pos), 0), dtype=bool)

    def extra_diagnostics(self) -> dict:
        return {"n_flippable_rings": len(self.rings)}
