r"""Nitrogen-inversion moves: an exact Metropolis move between the two pyramids of an sp3 nitrogen.

A trivalent sp3 nitrogen (a pyramidal amine: trialkylamines, a dimethylamino group) inverts over
a barrier of about 6-8 kcal/mol through its planar form; rigid torsion moves cannot invert it and
Langevin steps rarely do, so without a dedicated move every chain keeps the configuration of its
start, and a dimethylamino rotor is not two-fold symmetric (its methyl dihedrals differ by about
120 degrees, not 180).

**Which nitrogens.** :func:`~geomgen.conformers.discrete_states.invertible_nitrogens` (defined,
with the map and the indicator, in :mod:`geomgen.conformers.discrete_states`): neutral, three neighbours, sp3, not aromatic,
not in a ring (a ring nitrogen cannot invert without moving the ring), no conjugated bond and no
sp2/sp or aromatic neighbour (amides, anilines, enamines, sulfonamides are planar or conjugated,
their slow states are torsions), and no chirality tag the user set (a stereocentre to keep).

**The map.** For nitrogen :math:`n` with neighbours :math:`a_1, a_2, a_3` (unit normal :math:`\nu`
of their plane), :math:`F` reflects the nitrogen through that plane (the "umbrella" flip),

.. math::
    n' = n - 2\,\nu\,\nu^\top (n - a_1),

and carries the *branch* :math:`B_i` behind every neighbour (the atoms reached from :math:`a_i`
without passing :math:`n`, :math:`a_i` excluded; empty for a hydrogen) rigidly with the
neighbour's local frame :math:`M_i = [e_1, e_2, e_1 \times e_2]`, :math:`e_1` along
:math:`n - a_i` and :math:`e_2` along the part of :math:`m_i - a_i` orthogonal to it
(:math:`m_i` the midpoint of the two other neighbours):

.. math::
    x' = a_i + M_i' M_i^\top (x - a_i),\qquad x \in B_i .

Every bond length is kept (:math:`|n' - a_i| = |n - a_i|`: :math:`a_i` lies in the mirror plane),
every bond angle at :math:`n` (its neighbours do not move) and at each :math:`a_i` (the bond to
the nitrogen turns with the branch); the signed volume at the nitrogen changes sign, and each
branch keeps its Newman projection about the :math:`a_i`-:math:`n` bond relative to the two other
neighbours' midpoint (a staggered branch stays staggered, the two other neighbours trading places
in the projection), as in a real inversion.

**Invariance.** :math:`F` is an involution: the plane depends only on :math:`a_1, a_2, a_3`,
which :math:`F` does not move, so reflecting again restores :math:`n`; the frames are built from
:math:`n` and fixed atoms only, so the second application uses :math:`M_i'` and then
:math:`M_i`, :math:`M_i M_i'^\top M_i' M_i^\top = I`, and :math:`F(F(x)) = x`. Its Jacobian determinant
has modulus 1: ordering the coordinates as (atoms not moved, nitrogen, branches), the Jacobian is
block lower-triangular (the nitrogen's image depends on the fixed atoms and itself, a branch's on
those and itself); the diagonal blocks are the identity, a reflection (determinant -1) and
proper rotations :math:`M_i' M_i^\top` (determinant 1). A deterministic involution with unit Jacobian, proposed with a
probability that does not depend on the state and accepted with :math:`\min(1, \pi_r(Fx)/\pi_r(x))`,
satisfies detailed balance (Tierney 1998; Neklyudov et al., ICML 2020), as the ring flip of
:mod:`~geomgen.conformers.reference.ring_flip` does.
"""

from __future__ import annotations

from geomgen.conformers.discrete_states import (  # noqa: F401 (the sites, map and indicator: re-exported)
    configurational_nitrogens,
    invert_nitrogen,
    invertible_nitrogens,
    nitrogen_configurations,
    nitrogen_states,
)
from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.options import Option


class NitrogenInversionMove(Move):
    """A Poisson number (mean ``nitrogen_inversions_per_sweep``) of inversions per sweep, each of
    a random nitrogen of :func:`invertible_nitrogens`."""

    name = "nitrogen_inversion"
    rate_option = "nitrogen_inversions_per_sweep"
    options = (
        Option("nitrogen_inversions_per_sweep", 0.0, "expected nitrogen-inversion moves per sweep on pyramidal sp3 "
                                                     "nitrogens (a Poisson number); 0 for none (default 0): without them "
                                                     "a chain keeps the nitrogen configurations of its start.",
               ("--nitrogen-inversions",), low=0.0),
    )

    state_name = "nitrogen"

    def __init__(self, system):
        super().__init__(system)
        self.sites = invertible_nitrogens(system.mol)
        #: sites whose three neighbours differ by rank: there the pyramid is a configuration
        self._monitored = configurational_nitrogens(system.mol, self.sites)

    @property
    def applicable(self) -> bool:
        return self.rate > 0 and bool(self.sites)

    @property
    def inverting(self) -> list[int]:
        """The nitrogens whose inversion this move samples (none when it is off)."""
        return [n for n, _, _ in self.sites] if self.applicable else []

    @property
    def flip_sites(self) -> int:
        return len(self.sites)

    def flip_site(self, pos, k: int):
        n, nbrs, branches = self.sites[k]
        return invert_nitrogen(pos, n, nbrs, branches)

    @property
    def monitored(self) -> list[int]:
        return self._monitored

    def state_labels(self) -> list[str]:
        return [f"nitrogen-{self.sites[k][0]}" for k in self._monitored]

    def states(self, positions):
        return nitrogen_states([self.sites[k] for k in self._monitored], positions)

    def step(self, rung, adapt: bool = False) -> None:
        n, nbrs, branches = self.sites[int(rung.rng.integers(len(self.sites)))]
        self.metropolis(rung, invert_nitrogen(rung.pos, n, nbrs, branches))

    def extra_diagnostics(self) -> dict:
        return {"n_invertible_nitrogens": len(self.sites) if self.applicable else 0}
