r"""Nitrogen-inversion moves: an exact Metropolis move between the two pyramids of an sp3 nitrogen.

A trivalent sp3 nitrogen (a pyramidal amine: trialkylamines, a dimethylamino group) inverts over
a barrier of about 6-8 kcal/mol through its planar form; rigid torsion moves cannot invert it and
Langevin steps rarely do, so without a dedicated move every chain keeps the configuration of its
start, and a dimethylamino rotor is not two-fold symmetric (its methyl dihedrals differ by about
120 degrees, not 180).

**Which nitrogens.** :func:`invertible_nitrogens`: neutral, three neighbours, sp3, not aromatic,
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

import numpy as np

from geomgen.conformers.reference.moves.base import Move
from geomgen.conformers.reference.options import Option


def invertible_nitrogens(mol) -> list[tuple[int, np.ndarray, list[np.ndarray]]]:
    """The nitrogens of ``mol`` the inversion move acts on (see the module docstring).

    Returns:
        list of ``(n, neighbours [3], branches)``: the nitrogen, its neighbours ordered by
        canonical rank (ties by index), and per neighbour the atoms behind it (possibly empty).
    """
    from rdkit import Chem

    from geomgen.conformers.torsions import _side

    hyb = Chem.rdchem.HybridizationType
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    out = []
    for atom in mol.GetAtoms():
        if (atom.GetAtomicNum() != 7 or atom.GetDegree() != 3 or atom.GetFormalCharge() != 0 or atom.GetIsAromatic()
                or atom.IsInRing() or atom.GetHybridization() != hyb.SP3
                or atom.GetChiralTag() != Chem.rdchem.ChiralType.CHI_UNSPECIFIED):
            continue
        if any(b.GetIsConjugated() for b in atom.GetBonds()):
            continue
        nbrs = list(atom.GetNeighbors())
        if any(a.GetIsAromatic() or a.GetHybridization() in (hyb.SP, hyb.SP2)
               or any(b.GetBondType() != Chem.BondType.SINGLE for b in a.GetBonds()) for a in nbrs):
            continue  # amide-, aniline-, enamine-, sulfonamide-like: conjugated or planar
        n = atom.GetIdx()
        order = sorted((ranks[a.GetIdx()], a.GetIdx()) for a in nbrs)
        idx = np.array([i for _, i in order])
        branches = [np.array([x for x in _side(mol, int(a), n) if x != a], dtype=int) for a in idx]
        out.append((n, idx, branches))
    return out


def _frame(n: np.ndarray, a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Right-handed frame [3, 3] (columns) at ``a``: along n - a, then towards m."""
    e1 = (n - a) / np.linalg.norm(n - a)
    w = m - a
    e2 = w - (w @ e1) * e1
    e2 /= np.linalg.norm(e2)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=1)


def invert_nitrogen(pos: np.ndarray, n: int, neighbours: np.ndarray, branches: list[np.ndarray]) -> np.ndarray:
    """The umbrella flip :math:`F` of the module docstring: a copy of ``pos [N, 3]`` with
    nitrogen ``n`` reflected through the plane of its ``neighbours`` and each branch carried
    rigidly with its neighbour's frame."""
    a = pos[neighbours]
    normal = np.cross(a[1] - a[0], a[2] - a[0])
    normal /= np.linalg.norm(normal)
    new = pos.copy()
    new[n] = pos[n] - 2.0 * ((pos[n] - a[0]) @ normal) * normal
    for i, branch in enumerate(branches):
        if not len(branch):
            continue
        m = (a.sum(0) - a[i]) / 2.0
        rot = _frame(new[n], a[i], m) @ _frame(pos[n], a[i], m).T
        new[branch] = (pos[branch] - a[i]) @ rot.T + a[i]
    return new


def nitrogen_configurations(mol, positions: np.ndarray) -> np.ndarray:
    """Configuration indicator of every invertible nitrogen: whether the signed volume
    :math:`\\det[a_1 - n, a_2 - n, a_3 - n]` of the nitrogen and its neighbours (ordered by
    canonical rank, ties by index) is positive.

    For a nitrogen with three distinct neighbours (by rank) this is its configuration; with two
    equivalent ones (a dimethylamino group) the graph symmetry that swaps them also swaps it.

    Shapes:
        positions: ``[S, N, 3]`` (or ``[N, 3]``); returns ``[S, K]`` bool, K =
        ``len(invertible_nitrogens(mol))``.
    """
    pos = np.asarray(positions, dtype=np.float64)
    pos = pos[None] if pos.ndim == 2 else pos
    sites = invertible_nitrogens(mol)
    out = np.zeros((len(pos), len(sites)), dtype=bool)
    for k, (n, nbrs, _) in enumerate(sites):
        out[:, k] = np.linalg.det(pos[:, nbrs] - pos[:, n, None]) > 0
    return out


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
        from rdkit import Chem

        ranks = list(Chem.CanonicalRankAtoms(system.mol, breakTies=False))
        #: sites whose three neighbours differ by rank: there the pyramid is a configuration
        self._monitored = [k for k, (_, nbrs, _) in enumerate(self.sites) if len({ranks[int(a)] for a in nbrs}) == 3]

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
        pos = np.asarray(positions, dtype=np.float64)
        out = np.zeros((len(pos), len(self._monitored)), dtype=bool)
        for j, k in enumerate(self._monitored):
            n, nbrs, _ = self.sites[k]
            out[:, j] = np.linalg.det(pos[:, nbrs] - pos[:, n, None]) > 0
        return out

    def step(self, rung, adapt: bool = False) -> None:
        n, nbrs, branches = self.sites[int(rung.rng.integers(len(self.sites)))]
        self.metropolis(rung, invert_nitrogen(rung.pos, n, nbrs, branches))

    def extra_diagnostics(self) -> dict:
        return {"n_invertible_nitrogens": len(self.sites) if self.applicable else 0}
