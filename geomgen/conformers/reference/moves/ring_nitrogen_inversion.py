r"""Ring-nitrogen inversion: an exact Metropolis move between the two pyramids of an sp3 ring nitrogen.

A piperidine, morpholine or piperazine nitrogen with one substituent outside the ring (N-alkyl,
N-benzyl, N-H) inverts over a barrier of about 6-9 kcal/mol, moving its substituent between the
axial and the equatorial position of the ring. The ring flip
(:mod:`~geomgen.conformers.reference.ring_flip`) keeps every pyramid, so it swaps the axial and
equatorial positions of all substituents together; the acyclic inversion move
(:mod:`~.nitrogen_inversion`) leaves ring nitrogens out (it moves the nitrogen, which would
distort the ring). Without this move a chain keeps its start's pairing of the N-substituent's
position with the other substituents' (for ``CC[C@@H]1COCCN1C...``, ethyl and N-CH2 both
equatorial or both axial).

**Sites** (:func:`ring_nitrogens`): the pyramidal amine nitrogens
(:func:`~geomgen.conformers.discrete_states.pyramidal_amine`, the acyclic move's rule: N-aryl,
N-acyl and sulfonamide nitrogens are planar or conjugated, a chirality tag the user set is kept)
that are in a ring, with exactly two ring bonds and one bond outside every ring (the exocyclic
substituent :math:`x`; a nitrogen at a ring fusion has none and is left out).

**The map.** The nitrogen :math:`n` and its ring neighbours :math:`a_1, a_2` stay; the
substituent is reflected through their plane (unit normal :math:`\nu`),

.. math::
    x' = x - 2\,\nu\,\nu^\top (x - n),

and the branch :math:`B` behind it (the atoms reached from :math:`x` without passing :math:`n`)
is carried rigidly with its frame :math:`M = [e_1, e_2, e_1\times e_2]`, :math:`e_1` along
:math:`n - x`, :math:`e_2` along the part of :math:`m - x` orthogonal to it (:math:`m` the
midpoint of :math:`a_1, a_2`):

.. math::
    y' = x' + M' M^\top (y - x),\qquad y \in B .

The bond :math:`n`-:math:`x` keeps its length and its angles with both ring bonds (:math:`n`,
:math:`a_1`, :math:`a_2` lie in the mirror plane); the signed volume at the nitrogen changes
sign, which in a chair moves the substituent from equatorial to axial or back, with the lone
pair going the other way, as in a real inversion; every other atom, and so every stereocentre,
is unchanged, and the branch keeps its Newman projection about the :math:`x`-:math:`n` bond
relative to the ring.

**Invariance.** The plane and :math:`m` depend on atoms the map does not move, so reflecting
twice restores :math:`x`, the frames built from :math:`x'` and from :math:`x` undo each other,
and :math:`F(F(y)) = y`: :math:`F` is an involution. Its Jacobian is block lower-triangular in the
order (atoms not moved, :math:`x`, branch) with diagonal blocks the identity, a reflection
(determinant -1) and a rotation :math:`M'M^\top` (determinant 1): modulus 1. Proposed with a
probability that does not depend on the state and accepted with :math:`\min(1, \pi_r(Fy)/\pi_r(y))`,
it satisfies detailed balance on every rung (Tierney 1998; Neklyudov et al., ICML 2020), like the
ring flip and the acyclic inversion.

**Rate.** It shares ``nitrogen_inversions_per_sweep`` with the acyclic inversion move: each of
the two makes a Poisson number of tries of that mean per sweep, when the molecule has sites of
its kind.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from geomgen.conformers.discrete_states import (  # the acyclic inversion's frame (along n - x, towards m), rules, indicator
    _frame,
    configurational_nitrogens,
    nitrogen_states,
    pyramidal_amine,
)
from geomgen.conformers.reference.moves.base import Move


class RingNitrogen(NamedTuple):
    """One site: the nitrogen, its neighbours ordered by canonical rank (ties by index), its two
    ring neighbours, its exocyclic neighbour and the branch behind that neighbour."""

    n: int
    neighbours: np.ndarray
    ring: np.ndarray
    substituent: int
    branch: np.ndarray


def ring_nitrogens(mol) -> list[RingNitrogen]:
    """The sp3 ring nitrogens of ``mol`` that this move inverts (module docstring)."""
    from rdkit import Chem

    from geomgen.conformers.torsions import _side

    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    out = []
    for atom in mol.GetAtoms():
        if not atom.IsInRing() or not pyramidal_amine(atom):
            continue
        outside = [b for b in atom.GetBonds() if not b.IsInRing()]
        if len(outside) != 1:
            continue  # at a ring fusion: no substituent to move
        n = atom.GetIdx()
        x = outside[0].GetOtherAtomIdx(n)
        nbrs = [a.GetIdx() for a in atom.GetNeighbors()]
        ring = np.array(sorted(a for a in nbrs if a != x))
        order = np.array([i for _, i in sorted((ranks[a], a) for a in nbrs)])
        branch = np.array(sorted(b for b in _side(mol, x, n) if b != x), dtype=np.int64)
        out.append(RingNitrogen(n, order, ring, x, branch))
    return out


def invert_ring_nitrogen(pos: np.ndarray, site: RingNitrogen) -> np.ndarray:
    """The map of the module docstring: a copy of ``pos [N, 3]`` with the substituent of ``site``
    reflected through the plane of the nitrogen and its ring neighbours, its branch carried
    rigidly."""
    n, a1, a2 = pos[site.n], pos[site.ring[0]], pos[site.ring[1]]
    normal = np.cross(a1 - n, a2 - n)
    normal /= np.linalg.norm(normal)
    x = pos[site.substituent]
    new = pos.copy()
    new[site.substituent] = x - 2.0 * ((x - n) @ normal) * normal
    if len(site.branch):
        m = (a1 + a2) / 2.0
        rot = _frame(n, new[site.substituent], m) @ _frame(n, x, m).T
        new[site.branch] = (pos[site.branch] - x) @ rot.T + new[site.substituent]
    return new


class RingNitrogenInversionMove(Move):
    """A Poisson number (mean ``nitrogen_inversions_per_sweep``) of inversions per sweep, each of a
    random site of :func:`ring_nitrogens`. A site is monitored when its three neighbours differ by
    canonical rank (there its pyramid is a configuration relative to the rest of the molecule);
    in a symmetric ring (N-methylpiperidine) graph symmetry relabels it, and the axial share of
    the substituent is the ring-pucker monitor's business."""

    name = "ring_nitrogen_inversion"
    rate_option = "nitrogen_inversions_per_sweep"
    state_name = "ring-nitrogen"

    def __init__(self, system):
        super().__init__(system)
        self.sites = ring_nitrogens(system.mol)
        #: (n, neighbours, branch) per site: the shape the acyclic nitrogens' helpers take
        self._as_nitrogens = [(s.n, s.neighbours, s.branch) for s in self.sites]
        self._monitored = configurational_nitrogens(system.mol, self._as_nitrogens)

    @property
    def applicable(self) -> bool:
        return self.rate > 0 and bool(self.sites)

    @property
    def flip_sites(self) -> int:
        return len(self.sites)

    def flip_site(self, pos, k: int):
        return invert_ring_nitrogen(pos, self.sites[k])

    @property
    def monitored(self) -> list[int]:
        return self._monitored

    def state_labels(self) -> list[str]:
        return [f"ring-nitrogen-{self.sites[k].n}" for k in self._monitored]

    def states(self, positions):
        """Whether :math:`\\det[a_1 - n, a_2 - n, a_3 - n] > 0` (neighbours by canonical rank) at
        each monitored site (:func:`~geomgen.conformers.discrete_states.nitrogen_states`)."""
        return nitrogen_states([self._as_nitrogens[k] for k in self._monitored], positions)

    def step(self, rung, adapt: bool = False) -> None:
        self.metropolis(rung, self.flip_site(rung.pos, int(rung.rng.integers(len(self.sites)))))

    def extra_diagnostics(self) -> dict:
        return {"n_ring_nitrogens": len(self.sites) if self.applicable else 0}
